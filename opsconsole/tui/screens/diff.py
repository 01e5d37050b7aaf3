"""The config diff viewer: what changed since the last good nginx config, file by file.

Styled as the config viewer (a title line, the text with line numbers, a key line): each
file has a header (its path, what happened to it, +added -removed), then its hunks with the
old and the new line number in the gutter, removed lines red, added lines green. ``[``/``]``
jump between files; with a rollback on offer, ``U`` asks to roll back (the view then asks
the one confirmation that lists the files written back).
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Label, Static

from opsconsole.tui.screens.config import short_path
from opsconsole.tui.tcss import load_tcss

if TYPE_CHECKING:  # the nginx backend is imported once a diff is asked for
    from opsconsole.core.nginx.history import ConfigDiff, FileDiff

#: lines shown per file (a rewritten 100k-line file stays responsive); the rest is counted
MAX_LINES_PER_FILE = 2000

STATUS_WORDS = {
    "changed": "changed",
    "added": "added since (a rollback leaves it)",
    "removed": "gone from disk",
    "mode": "mode changed",
}
KIND_STYLE = {"-": "red", "+": "green", "@": "cyan", " ": ""}


def _when(ts: float) -> str:
    """``12:04:05`` today, ``2026-11-28 12:04`` before."""
    at = datetime.datetime.fromtimestamp(ts)
    if at.date() == datetime.date.today():
        return at.strftime("%H:%M:%S")
    return at.strftime("%Y-%m-%d %H:%M")


def render_file(f: FileDiff) -> Text:
    """One file of the diff: a header, then numbered lines (old, new, mark, text)."""
    out = Text(no_wrap=True)
    header = Text(f"{f.path}  ", style="bold")
    header.append(STATUS_WORDS.get(f.status, f.status), style="yellow")
    if f.status == "mode":
        header.append(f"  {f.old_mode:04o} → {f.new_mode:04o}", style="yellow")
    else:
        header.append(f"  +{f.added_lines} -{f.removed_lines}", style="dim")
    out.append_text(header)
    out.append("\n")
    for i, (kind, old, new, text) in enumerate(f.lines):
        if i >= MAX_LINES_PER_FILE:
            out.append(f"… {len(f.lines) - i} more lines (opsconsole nginx diff shows all)\n")
            break
        if kind == "@":
            out.append(f"{'':>11}{text}\n", style="cyan")
            continue
        a = "" if old is None else str(old)
        b = "" if new is None else str(new)
        out.append(f"{a:>5} {b:>5}", style="dim")
        out.append(f" {kind} {text}\n", style=KIND_STYLE.get(kind, ""))
    return out


class DiffViewer(Screen[str | None]):
    """The diff since the last good config; dismisses with ``"rollback"`` when the operator
    asks for one (``U``, only when ``offer_rollback``), else None."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
        Binding("right_square_bracket", "file(1)", "Next file"),
        Binding("left_square_bracket", "file(-1)", "Prev file", show=False),
        Binding("U", "rollback", "Roll back"),
        Binding("j", "scroll(1)", "Down", show=False),
        Binding("k", "scroll(-1)", "Up", show=False),
        Binding("g", "top", "Top", show=False),
        Binding("G", "bottom", "Bottom", show=False),
    ]

    DEFAULT_CSS = load_tcss(__file__, "diff_viewer.tcss")

    def __init__(self, diff: ConfigDiff, label: str, *, offer_rollback: bool = False) -> None:
        super().__init__()
        self.diff = diff
        self.label = label
        self.offer_rollback = offer_rollback and bool(diff.to_write)
        self.index = 0
        #: the first line of each file in the text
        self.starts: list[int] = []

    def compose(self) -> ComposeResult:
        yield Label("", id="diff-title")
        with ScrollableContainer(id="diff-scroll"):
            yield Static("", id="diff-code")
        keys = "[ ] file  j/k scroll  esc back"
        if self.offer_rollback:
            keys = "U roll back to it  " + keys
        yield Label(Text(keys, style="dim"), id="diff-keys")

    def on_mount(self) -> None:
        self.render_diff()
        self.query_one("#diff-scroll").focus()

    def title_text(self) -> Text:
        """``N file(s) differ from the good config of TIME (USER)  file k/N``, the label in
        front when it fits (80 columns: the counts win)."""
        good = self.diff.good
        width = max(20, (self.size.width or 80) - 2)
        if good is None:
            title = Text(f"{self.label}: no last good config yet", style="bold")
            title.truncate(width, overflow="ellipsis")
            return title
        files = len(self.diff.files)
        title = Text()
        what = f"{files} file(s) differ from" if files else "no change since"
        title.append(what, style="bold yellow" if files else "bold")
        title.append(f" the good config of {_when(good['at'])} ", style="bold")
        title.append(f"({good['user']})", style="dim")
        if files:
            title.append(f"  file {self.index + 1}/{files}", style="dim")
        if len(self.label) + 2 + len(title.plain) <= width:
            title = Text(f"{self.label}: ", style="bold") + title
        title.truncate(width, overflow="ellipsis")
        return title

    def body(self) -> Text:
        diff = self.diff
        out = Text(no_wrap=True)
        self.starts = []
        if diff.good is None:
            out.append(
                "No config has been reloaded and verified by opsconsole yet: nothing to "
                "compare with.\nA verified reload (R) keeps the config as the last good one.",
                style="dim",
            )
            return out
        if not diff.files:
            out.append(f"No change since the last good config ({_when(diff.good['at'])}).")
            return out
        if not diff.test_ok:
            out.append("nginx -t fails now: the current files were read from disk\n", style="red")
        line = out.plain.count("\n")
        for f in diff.files:
            self.starts.append(line)
            part = render_file(f)
            part.append("\n")
            line += part.plain.count("\n")
            out.append_text(part)
        for why in diff.unread:
            out.append(f"unread: {why}\n", style="red")
        if diff.added:
            out.append(
                f"left by a rollback (not in the good config): {', '.join(diff.added)}\n",
                style="yellow",
            )
        return out

    def render_diff(self) -> None:
        self.query_one("#diff-code", Static).update(self.body())
        self.query_one("#diff-title", Label).update(self.title_text())

    def action_file(self, step: int) -> None:
        if not self.starts:
            return
        self.index = (self.index + step) % len(self.starts)
        self.query_one("#diff-scroll", ScrollableContainer).scroll_to(
            y=self.starts[self.index], animate=False
        )
        self.query_one("#diff-title", Label).update(self.title_text())

    def action_rollback(self) -> None:
        if not self.offer_rollback:
            why = "nothing to write back" if self.diff.good is not None else "no last good config"
            self.notify(f"no rollback from here: {why}", severity="warning")
            return
        self.dismiss("rollback")

    def action_scroll(self, step: int) -> None:
        self.query_one("#diff-scroll", ScrollableContainer).scroll_relative(y=step, animate=False)

    def action_top(self) -> None:
        self.query_one("#diff-scroll", ScrollableContainer).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one("#diff-scroll", ScrollableContainer).scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["DiffViewer", "render_file", "short_path"]
