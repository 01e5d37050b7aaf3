"""The event timeline and the action results, newest at the bottom."""

from __future__ import annotations

import time

from rich.text import Text
from textual.binding import Binding
from textual.widgets import RichLog

from opsconsole.core.events import Event

LEVEL_STYLE = {"info": "", "warning": "yellow", "error": "bold red"}
LEVEL_TAG = {"info": "   ", "warning": "WRN", "error": "ERR"}


def event_text(e: Event) -> Text:
    t = Text(no_wrap=False)
    t.append(time.strftime("%H:%M:%S ", time.localtime(e.time)), style="dim")
    t.append(LEVEL_TAG.get(e.level, "   ") + " ", style=LEVEL_STYLE.get(e.level, ""))
    t.append(f"{e.kind:<7} ", style="dim")
    t.append(f"{e.source}: ", style="bold")
    t.append(e.text, style=LEVEL_STYLE.get(e.level, ""))
    return t


class EventsView(RichLog):
    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=5000, wrap=True, markup=False, highlight=False, **kwargs)  # type: ignore[arg-type]

    def add(self, event: Event) -> None:
        # wrap inside the visible width (the scrollbar's columns excluded)
        width = self.scrollable_content_region.width
        self.write(event_text(event), width=width - 1 if width > 20 else None)
