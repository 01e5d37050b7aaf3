"""The event timeline and the action results, newest at the bottom.

Events are kept as they are (up to ``MAX_EVENTS``) and drawn only when on screen, like the log
viewer's lines: a session with programs flapping for hours holds thousands of them, and a
rendered line costs far more memory than the event itself.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.strip import Strip

from opsconsole.core.events import Event
from opsconsole.tui.widgets.logview import PART_MASK, LogLines

LEVEL_STYLE = {"info": "", "warning": "yellow", "error": "bold red"}
LEVEL_TAG = {"info": "   ", "warning": "WRN", "error": "ERR"}
MAX_EVENTS = 5000
#: rendered events kept for repaints: a few screenfuls (an event is ~0.5 KB, its strip ~3 KB)
CACHED_LINES = 200


def event_text(e: Event) -> Text:
    t = Text(no_wrap=False)
    t.append(time.strftime("%H:%M:%S ", time.localtime(e.time)), style="dim")
    t.append(LEVEL_TAG.get(e.level, "   ") + " ", style=LEVEL_STYLE.get(e.level, ""))
    t.append(f"{e.kind:<7} ", style="dim")
    t.append(f"{e.source}: ", style="bold")
    t.append(e.text, style=LEVEL_STYLE.get(e.level, ""))
    return t


class EventsView(LogLines):
    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(ring_size=MAX_EVENTS, **kwargs)
        self.wrap = True
        #: keep the newest in view; scrolling up stops that, G or scrolling to the end resumes
        self.following = True
        #: a scroll to the end is queued for after the next refresh (one for a burst of events)
        self._end_pending = False

    def add(self, event: Event) -> None:
        """Append an event; the view follows the newest unless the operator scrolled up.
        A burst of events (a flapping group) queues one scroll to the end, made after the
        layout has taken them all in, not one per event."""
        self.append([event])  # type: ignore[list-item]
        if self.following and not self._end_pending:
            self._end_pending = True
            self.call_after_refresh(self._follow_end)

    def on_resize(self, event: events.Resize) -> None:
        """A view that changes size (the probe line appearing above it takes a row) keeps
        following the newest: its end moved, and no new event may come to scroll to it."""
        if self.following and not self._end_pending:
            self._end_pending = True
            self.call_after_refresh(self._follow_end)

    def _follow_end(self) -> None:
        self._end_pending = False
        if self.following:
            self.scroll_end(animate=False, x_axis=False, immediate=True)

    def action_scroll_up(self) -> None:
        self.following = False
        super().action_scroll_up()

    def action_scroll_home(self) -> None:
        self.following = False
        super().action_scroll_home()

    def action_page_up(self) -> None:
        self.following = False
        super().action_page_up()

    def action_scroll_down(self) -> None:
        super().action_scroll_down()
        self.following = self.scroll_target_y >= self.max_scroll_y - 1

    def action_scroll_end(self) -> None:
        self.following = True
        super().action_scroll_end()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.following = False
        super()._on_mouse_scroll_up(event)

    @property
    def events(self) -> Sequence[Event]:
        return self.store  # type: ignore[return-value]

    def _wrapped(self, event: Event) -> list[Text]:
        """The event's text word-wrapped at the view's width (what one event's rows show)."""
        return list(event_text(event).wrap(self.app.console, self._width()))

    def _parts(self, line: Any) -> int:
        return max(1, len(self._wrapped(line)))

    def _strips(self, index: int) -> list[Strip]:
        cached = self._cache.get(index)
        if cached is None:
            console = self.app.console
            event: Any = self.line(index)
            strips = [Strip(list(part.render(console, end=""))) for part in self._wrapped(event)]
            self._cache[index] = strips  # type: ignore[assignment]
            if len(self._cache) > CACHED_LINES:
                self._cache.popitem(last=False)
            return strips
        self._cache.move_to_end(index)
        return cached  # type: ignore[return-value]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        row = self.scroll_offset.y + y
        if not 0 <= row < len(self.rows):
            return Strip.blank(width, self.rich_style)
        index, part = divmod(self.rows[row], PART_MASK + 1)  # a row is one int (logview)
        if not 0 <= index - self.base < len(self.store):
            return Strip.blank(width, self.rich_style)
        strips = self._strips(index)
        if part >= len(strips):
            return Strip.blank(width, self.rich_style)
        return strips[part].crop_extend(0, width, self.rich_style).apply_style(self.rich_style)
