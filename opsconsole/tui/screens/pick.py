"""Pick one of a few choices (signal names) from the keyboard."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class PickScreen(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("j", "down", show=False),
        Binding("k", "up", show=False),
    ]

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="pick-box"):
            yield Label(self.title_text, id="pick-title")
            yield OptionList(*[Option(f"{v:<6} {d}", id=v) for v, d in self.choices])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()


SIGNALS = [
    ("HUP", "reload configuration (gunicorn, nginx: graceful reload)"),
    ("USR1", "reopen log files"),
    ("USR2", "gunicorn: fork a new master (binary upgrade)"),
    ("TERM", "graceful stop"),
    ("INT", "interrupt / quick stop"),
    ("QUIT", "quick stop (nginx: graceful)"),
    ("TTIN", "gunicorn: one more worker"),
    ("TTOU", "gunicorn: one worker fewer"),
    ("WINCH", "gunicorn/nginx: stop workers"),
    ("KILL", "kill immediately, no cleanup"),
]
