"""A one-line bar refreshed every second (status, probes) that costs nothing when unchanged."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class OneLine(Static):
    """``Static.update`` re-lays out the whole screen; a bar whose height stays the same never
    changes the layout, and an unchanged text needs no repaint at all.

    A bar that goes from empty to one line (or back), or is shown or hidden, changes its
    height: that change gets a layout pass, or the widgets below keep their old places and
    the screen shows stale rows (a vanished tab row, a table header drawn twice).
    """

    _shown: Text | None = None

    def show_line(self, text: Text) -> None:
        if text == self._shown:
            return
        resized = self._shown is None or bool(self._shown.plain) != bool(text.plain)
        self._shown = text
        self.update(text, layout=resized)
        if resized:
            self._repaint_screen()

    def set_shown(self, shown: bool) -> None:
        """Show or hide the bar; a change of height always gets a layout pass."""
        if self.display != shown:
            self.display = shown
            self.refresh(layout=True)
            self._repaint_screen()

    def _repaint_screen(self) -> None:
        """Everything below the bar moved: repaint the whole screen after the layout pass.
        A layout pass repaints only the widgets it moved and drops what other widgets asked
        to repaint in the same frame (the program list's changed cells): in a real terminal
        the tab row vanished and the table header was drawn twice."""
        if self.is_attached and self.screen.is_attached:
            self.screen.refresh(repaint=True, layout=True)
