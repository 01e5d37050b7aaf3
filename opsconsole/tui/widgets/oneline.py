"""A one-line bar refreshed every second (status, probes) that costs nothing when unchanged."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class OneLine(Static):
    """``Static.update`` re-lays out the whole screen; a bar of fixed height never changes the
    layout, and an unchanged text needs no repaint at all."""

    _shown: Text | None = None

    def show_line(self, text: Text) -> None:
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)
