"""The config viewer: an nginx config file with line numbers and colouring, searchable.

The nginx view opens it at a diagnostic's or a topology node's ``file:line`` with the files
the host gave (``host.nginx_config()``: the effective config, or the files on disk).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from opsconsole.tui.tcss import load_tcss


def short_path(path: str, width: int) -> str:
    """``path`` cut from the left to ``width`` characters (``…`` marks the cut)."""
    return path if len(path) <= width else "…" + path[-(width - 1) :]


class ConfigViewer(Screen[None]):
    """A config file with line numbers and nginx colouring; ``/`` searches, ``n``/``N`` move
    between matches, ``[``/``]`` switch files, esc closes."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match", "Next"),
        Binding("N", "prev_match", "Prev", show=False),
        Binding("right_square_bracket", "file(1)", "Next file"),
        Binding("left_square_bracket", "file(-1)", "Prev file", show=False),
        Binding("j", "scroll(1)", "Down", show=False),
        Binding("k", "scroll(-1)", "Up", show=False),
        Binding("g", "top", "Top", show=False),
        Binding("G", "bottom", "Bottom", show=False),
    ]

    DEFAULT_CSS = load_tcss(__file__, "config_viewer.tcss")

    def __init__(self, files: list[tuple[str, str]], path: str, line: int | None = None) -> None:
        super().__init__()
        self.files = files or [(path, "")]
        self.index = next((i for i, (p, _) in enumerate(self.files) if p == path), 0)
        self.line = line
        self.query_text = ""
        self.matches: list[int] = []
        self.match_index = -1

    @property
    def path(self) -> str:
        return self.files[self.index][0]

    @property
    def text(self) -> str:
        return self.files[self.index][1]

    def compose(self) -> ComposeResult:
        yield Label("", id="viewer-title")
        with ScrollableContainer(id="viewer-scroll"):
            yield Static("", id="viewer-code")
        yield Label(
            Text("/ search  n/N next/prev  [ ] file  j/k scroll  esc back", style="dim"),
            id="viewer-keys",
        )
        yield Input(placeholder="search (enter to find, esc to cancel)", id="viewer-search")

    def on_mount(self) -> None:
        self.render_file()
        self.query_one("#viewer-scroll").focus()

    def render_file(self) -> None:
        from rich.syntax import Syntax  # pygments: imported when a config is shown

        highlight = set(self.matches)
        if self.line is not None:
            highlight.add(self.line)
        syntax = Syntax(
            self.text,
            "nginx",
            line_numbers=True,
            highlight_lines=highlight,
            word_wrap=False,
            theme="ansi_dark",
            background_color="default",
        )
        self.query_one("#viewer-code", Static).update(syntax)
        where = f":{self.line}" if self.line is not None else ""
        tail = Text(f"  file {self.index + 1}/{len(self.files)}", style="dim")
        if self.query_text:
            found = len(self.matches)
            pos = self.match_index + 1 if found else 0
            tail.append(f"  /{self.query_text} {pos}/{found}", style="yellow")
        room = max(12, (self.size.width or 80) - 2 - len(tail.plain) - len(where))
        title = Text(short_path(self.path, room) + where, style="bold")
        title.append_text(tail)
        self.query_one("#viewer-title", Label).update(title)
        if self.line is not None:
            self.call_after_refresh(self._scroll_to_line, self.line)

    def _scroll_to_line(self, line: int) -> None:
        scroll = self.query_one("#viewer-scroll", ScrollableContainer)
        scroll.scroll_to(y=max(0, line - 1 - scroll.size.height // 3), animate=False)

    def find(self, query: str) -> list[int]:
        """1-based numbers of the lines containing ``query`` (case-insensitive)."""
        q = query.lower()
        return [i + 1 for i, ln in enumerate(self.text.splitlines()) if q and q in ln.lower()]

    def action_search(self) -> None:
        box = self.query_one("#viewer-search", Input)
        box.add_class("visible")
        box.value = self.query_text
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.input.remove_class("visible")
        self.query_text = event.value
        self.matches = self.find(event.value)
        self.match_index = -1
        self.query_one("#viewer-scroll").focus()
        self.action_next_match()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#viewer-search", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            box.remove_class("visible")
            self.query_one("#viewer-scroll").focus()

    def _goto_match(self, step: int) -> None:
        if not self.matches:
            self.render_file()
            if self.query_text:
                self.notify(f"{self.query_text!r} not found in {self.path}", severity="warning")
            return
        after = self.line or 0
        if self.match_index == -1:
            self.match_index = (
                next((i for i, m in enumerate(self.matches) if m > after), 0)
                if step > 0
                else len(self.matches) - 1
            )
        else:
            self.match_index = (self.match_index + step) % len(self.matches)
        self.line = self.matches[self.match_index]
        self.render_file()

    def action_next_match(self) -> None:
        self._goto_match(1)

    def action_prev_match(self) -> None:
        self._goto_match(-1)

    def action_file(self, step: int) -> None:
        self.index = (self.index + step) % len(self.files)
        self.line = None
        self.matches = self.find(self.query_text) if self.query_text else []
        self.match_index = -1
        self.render_file()
        self.query_one("#viewer-scroll", ScrollableContainer).scroll_home(animate=False)

    def action_scroll(self, step: int) -> None:
        self.query_one("#viewer-scroll", ScrollableContainer).scroll_relative(y=step, animate=False)

    def action_top(self) -> None:
        self.query_one("#viewer-scroll", ScrollableContainer).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one("#viewer-scroll", ScrollableContainer).scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
