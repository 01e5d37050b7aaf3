"""Ask for an exact number (the gunicorn view's ``=``: a worker count)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from opsconsole.tui.tcss import load_tcss


class CountScreen(ModalScreen[int | None]):
    """Ask for an exact worker count."""

    DEFAULT_CSS = load_tcss(__file__, "count_screen.tcss")

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, current: int) -> None:
        super().__init__()
        self.title_text = title
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="count-box"):
            yield Label(Text(self.title_text, style="bold"))
            yield Input(placeholder=f"now {self.current}", type="integer", id="count-input")
            yield Label(Text("enter  scale to this count    esc  cancel", style="dim"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(int(event.value))
        except ValueError:
            self.notify("type a whole number of workers", severity="error")

    def action_cancel(self) -> None:
        self.dismiss(None)
