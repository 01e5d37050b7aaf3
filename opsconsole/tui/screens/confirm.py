"""A confirmation that says exactly what will happen and needs an explicit ``y``."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes, do it"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, title: str, detail: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(Text(self.title_text, style="bold"), id="confirm-title")
            if self.detail:
                yield Static(Text(self.detail), id="confirm-detail")
            yield Label(Text("y  confirm    n / esc  cancel", style="dim"), id="confirm-keys")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
