"""``:`` command mode: an input line with completion (→ or tab) and history (↑/↓)."""

from __future__ import annotations

from collections.abc import Callable

from textual.binding import Binding
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input

from opsconsole.core.commands import complete


class CommandSuggester(Suggester):
    def __init__(self, programs: Callable[[], list[str]], themes: Callable[[], list[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.programs = programs
        self.themes = themes

    async def get_suggestion(self, value: str) -> str | None:
        line = value if value.startswith(":") else f":{value}"
        done = complete(line, self.programs(), self.themes())
        if done is None:
            return None
        return done if value.startswith(":") else done[1:]


class CommandBar(Input):
    BINDINGS = [
        Binding("escape", "close", "Close", show=False),
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("tab", "accept", "Complete", show=False),
    ]

    class Entered(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    class Closed(Message):
        """The bar closed (entered or cancelled): the view it covered takes the keys back."""

    def __init__(self, suggester: Suggester) -> None:
        super().__init__(
            placeholder=":command  (tab completes, ↑ history, esc closes)",
            suggester=suggester,
            id="commandbar",
            select_on_focus=False,
        )
        self.history: list[str] = []
        self._pos = 0

    def open(self) -> None:
        """Show the bar with ``:`` typed and give it the keyboard *now*.

        ``Widget.focus()`` only schedules the focus change behind the messages already
        queued, so keys typed right after ``:`` (a fast typist, a paste, a laggy SSH link)
        would reach the view below and run its bindings (``l`` logs, ``s`` start ...).
        """
        self.display = True
        self.value = ":"
        self.cursor_position = 1
        self._pos = len(self.history)
        self.screen.set_focus(self)

    def action_close(self) -> None:
        self.value = ""
        self.display = False
        self._refocus()

    def _refocus(self) -> None:
        self.post_message(self.Closed())

    def action_accept(self) -> None:
        if self._suggestion:
            self.value = self._suggestion
            self.cursor_position = len(self.value)

    def action_history(self, delta: int) -> None:
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + delta))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ":"
        self.cursor_position = len(self.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.value.strip()
        if line and line != ":":
            if not self.history or self.history[-1] != line:
                self.history.append(line)
            self.history = self.history[-200:]
        self.value = ""
        self.display = False
        self._refocus()
        if line and line != ":":
            self.post_message(self.Entered(line))
