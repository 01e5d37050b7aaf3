"""A gunicorn worker's Python stack (``py-spy dump``), read without killing the worker.

The title names the worker, its age and its master; the body is what py-spy printed, the
functions of each thread highlighted. ``r`` reads it again (a stuck worker that is still in
the same place is stuck there), esc closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Label, Static

from opsconsole.core.format import short_duration
from opsconsole.tui.tcss import load_tcss


def stack_text(text: str) -> Text:
    """py-spy's output: thread lines bold, each frame's function highlighted."""
    out = Text(no_wrap=True)
    for line in text.splitlines():
        if line.startswith("Thread "):
            out.append(line + "\n", style="bold")
        elif line.startswith("    ") and " (" in line:
            func, _, rest = line.strip().partition(" (")
            out.append("    ")
            out.append(func, style="bold cyan")
            out.append(f" ({rest}\n", style="dim")
        else:
            out.append(line + "\n", style="" if line.strip() else "dim")
    return out


def title_of(data: dict[str, Any]) -> str:
    flags = ", ".join(data.get("worker_flags") or [])
    flag_text = f"  [{flags}]" if flags else ""
    age = short_duration(float(data.get("worker_age") or 0.0)) or "?"
    return f"worker {data['worker_pid']}  up {age}{flag_text}  of {data['master_label']}"


class StackViewer(Screen[None]):
    """What ``py-spy dump`` printed for one worker (``data``: the result's data)."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
        Binding("r", "again", "Read again"),
        Binding("j", "scroll(1)", "Down", show=False),
        Binding("k", "scroll(-1)", "Up", show=False),
        Binding("g", "top", "Top", show=False),
        Binding("G", "bottom", "Bottom", show=False),
    ]

    DEFAULT_CSS = load_tcss(__file__, "stack_viewer.tcss")

    def __init__(
        self, data: dict[str, Any], again: Callable[[StackViewer], None] | None = None
    ) -> None:
        super().__init__()
        self.data = data
        self.again = again

    def compose(self) -> ComposeResult:
        yield Label("", id="stack-title")
        with ScrollableContainer(id="stack-scroll"):
            yield Static("", id="stack-text")
        yield Label(
            Text("r read again (pauses it a moment)  j/k scroll  esc back", style="dim"),
            id="stack-keys",
        )

    def on_mount(self) -> None:
        self.show(self.data)
        self.query_one("#stack-scroll").focus()

    def show(self, data: dict[str, Any]) -> None:
        self.data = data
        title = Text(title_of(data), style="bold")
        title.truncate(max(20, (self.size.width or 80) - 2), overflow="ellipsis")
        self.query_one("#stack-title", Label).update(title)
        self.query_one("#stack-text", Static).update(stack_text(str(data.get("text", ""))))

    def action_again(self) -> None:
        if self.again is not None:
            self.again(self)

    def action_scroll(self, step: int) -> None:
        self.query_one("#stack-scroll", ScrollableContainer).scroll_relative(y=step, animate=False)

    def action_top(self) -> None:
        self.query_one("#stack-scroll", ScrollableContainer).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one("#stack-scroll", ScrollableContainer).scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
