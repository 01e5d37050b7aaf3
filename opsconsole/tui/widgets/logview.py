"""LogView: one or more log sources, merged, followed live, searchable and filterable.

Untrusted log text is only ever drawn as ``rich.text.Text`` built from sanitised strings
(:mod:`opsconsole.core.logs.parse`), so ``[bold red]`` shows literally and no escape sequence
reaches the terminal. Lines are drawn with Textual's line API from a bounded store (the ring
size from the config): only the visible rows are rendered, and a poll's whole batch is added
with a single refresh.

The view reads :class:`~opsconsole.core.logs.LogSource` objects merged by a
:class:`~opsconsole.core.logs.LogStream`; the console gives it
:class:`~opsconsole.core.logs.HostLogSource` ones, which read through the host
(:meth:`Host.log <opsconsole.core.host.Host.log>`: the tail to open, ``after`` a cursor to
follow, ``before`` the oldest line shown to scroll back), so the view works the same on any
host.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict, deque
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input
from textual.worker import Worker

from opsconsole.core.errors import OpsError
from opsconsole.core.logs import DEFAULT_RING, LogSource, LogStream
from opsconsole.core.logs.parse import LEVEL_TAG, LogLine, compile_filter, line_matches
from opsconsole.core.memory import trim_after_burst
from opsconsole.tui.keys import bindings
from opsconsole.tui.tcss import load_tcss
from opsconsole.tui.widgets.oneline import OneLine

LEVEL_STYLE: dict[str | None, str] = {
    "CRITICAL": "bold reverse red",
    "ERROR": "bold red",
    "WARNING": "yellow",
    "INFO": "",
    "DEBUG": "dim",
    None: "",
}
TEXT_STYLE: dict[str | None, str] = {
    "CRITICAL": "red",
    "ERROR": "red",
    "WARNING": "yellow",
    "INFO": "",
    "DEBUG": "dim",
    None: "",
}
MATCH_STYLE = Style(reverse=True, bold=True)
NOWRAP_MAX = 20000  # cells drawn of one line when not wrapping (wrap shows all of it)
#: a row is one int, (absolute line index << PART_BITS) | wrapped part: 20,000 rows as
#: (index, part) tuples held ~1 MB more (a tuple and an int each); a line of at most
#: DEFAULT_MAX_LINE characters wraps into fewer than 2**PART_BITS parts at 10 columns
PART_BITS = 20
PART_MASK = (1 << PART_BITS) - 1
SOURCE_WIDTH_MAX = 18


def line_text(line: LogLine, source_width: int = 0, search: re.Pattern[str] | None = None) -> Text:
    """One row: level tag (readable without colour), source column, the line itself."""
    text = Text(no_wrap=True, end="")
    text.append(LEVEL_TAG.get(line.level, "    "), style=LEVEL_STYLE.get(line.level, ""))
    text.append(" ")
    if source_width:
        label = line.source[:source_width].ljust(source_width)
        text.append(label, style="cyan")
        text.append(" ")
    start = len(text)
    text.append(line.text, style=TEXT_STYLE.get(line.level, ""))
    if search is not None:
        for m in search.finditer(line.text):
            if m.end() > m.start():
                text.stylize(MATCH_STYLE, start + m.start(), start + m.end())
    return text


class LogLines(ScrollView, can_focus=True):
    """The scrolling body of a LogView (line API: renders only what is visible)."""

    DEFAULT_CSS = load_tcss(__file__, "log_lines.tcss")

    class NearTop(Message):
        """Scrolled to the top: the view may load older lines."""

    def __init__(self, ring_size: int = DEFAULT_RING, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.store: deque[LogLine] = deque(maxlen=max(1, ring_size))
        self.base = 0  # absolute index of store[0]
        self.rows: deque[int] = deque()  # (absolute line index << PART_BITS) | wrapped part
        self.pattern: re.Pattern[str] | None = None
        self.invert = False
        self.search: re.Pattern[str] | None = None
        self.wrap = False
        self.source_width = 0
        self._max_width = 0
        self._cache: OrderedDict[int, Strip] = OrderedDict()
        self._wrap_width = 0

    # -- store ---------------------------------------------------------------------

    def line(self, index: int) -> LogLine:
        return self.store[index - self.base]

    def _width(self) -> int:
        return max(10, self.scrollable_content_region.width or self.size.width or 80)

    def _parts(self, line: LogLine) -> int:
        if not self.wrap:
            return 1
        cells = 5 + (self.source_width + 1 if self.source_width else 0) + len(line.text)
        return max(1, math.ceil(cells / self._width()))

    def _add_rows(self, index: int, line: LogLine) -> None:
        if not line_matches(line, self.pattern, self.invert):
            return
        parts = min(self._parts(line), PART_MASK + 1)
        if parts == 1:
            self.rows.append(index << PART_BITS)
        else:
            self.rows.extend((index << PART_BITS) | part for part in range(parts))
        if not self.wrap:
            width = 5 + (self.source_width + 1 if self.source_width else 0) + len(line.text)
            self._max_width = max(self._max_width, min(width, NOWRAP_MAX))

    def append(self, lines: Sequence[LogLine], passed: int = 0) -> None:
        """Add a batch at the end (one refresh for the whole batch). ``passed`` lines came
        before it and were pushed out by it (the stream passed over them): everything held
        goes, and the line numbers move on by that many."""
        if passed > 0:
            self.base += len(self.store) + passed
            self.store.clear()
            self.rows.clear()
            self._cache.clear()
            self._max_width = 0
        if not lines:
            if passed > 0:
                self._update_size()
                self.refresh()
            return
        for line in lines:
            if len(self.store) == self.store.maxlen:
                self.store.popleft()
                self.base += 1
                self._cache.pop(self.base - 1, None)
            index = self.base + len(self.store)
            self.store.append(line)
            self._add_rows(index, line)
        dropped_rows = 0
        while self.rows and self.rows[0] >> PART_BITS < self.base:
            self.rows.popleft()
            dropped_rows += 1
        self._update_size()
        if dropped_rows and self.scroll_y > 0:
            self.scroll_to(y=max(0, self.scroll_y - dropped_rows), animate=False, immediate=True)
        self.refresh()
        trim_after_burst(len(lines) + passed)  # what reading the burst freed goes back

    def prepend(self, lines: Sequence[LogLine]) -> int:
        """Add older lines at the top (as many as the store has room for); keeps the view
        on the same lines. Returns how many were added."""
        room = (self.store.maxlen or 0) - len(self.store)
        take = list(lines)[-room:] if room > 0 else []
        if not take:
            return 0
        start = self.base - len(take)
        held, self.rows = self.rows, deque()
        for offset, line in enumerate(take):
            self._add_rows(start + offset, line)
        added = len(self.rows)
        self.rows.extend(held)  # rows of the new lines first; indexes are absolute
        self.store.extendleft(reversed(take))
        self.base = start
        self._update_size()
        self.refresh()
        self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True)
        trim_after_burst(len(take))
        return len(take)

    def clear(self) -> None:
        self.store.clear()
        self.rows.clear()
        self._cache.clear()
        self.base = 0
        self._max_width = 0
        self._update_size()
        self.refresh()

    def rebuild(self, keep_position: bool = True) -> None:
        """Recompute rows after a filter, wrap or width change."""
        anchor = self.top_line() if keep_position else None
        self.rows.clear()
        self._max_width = 0
        self._cache.clear()
        self._wrap_width = self._width()
        for offset, line in enumerate(self.store):
            self._add_rows(self.base + offset, line)
        self._update_size()
        if anchor is not None:
            self.scroll_to_line(anchor)
        self.refresh()

    def _update_size(self) -> None:
        width = self._width() if self.wrap else max(self._max_width, 1)
        self.virtual_size = Size(width, len(self.rows))

    def top_line(self) -> int | None:
        y = int(self.scroll_y)
        return self.rows[y] >> PART_BITS if 0 <= y < len(self.rows) else None

    def scroll_to_line(self, index: int) -> None:
        for y, row in enumerate(self.rows):
            if row >> PART_BITS >= index and not row & PART_MASK:
                self.scroll_to(y=y, animate=False, immediate=True)
                return

    @property
    def at_end(self) -> bool:
        return self.scroll_y >= self.max_scroll_y - 1

    # -- search ----------------------------------------------------------------------

    def set_search(self, pattern: re.Pattern[str] | None) -> None:
        self.search = pattern
        self._cache.clear()
        self.refresh()

    def find(self, forward: bool = True) -> bool:
        """Scroll so the next (previous) line with a match is the top row; False if none."""
        if self.search is None or not self.rows:
            return False
        start = int(self.scroll_y)
        n = len(self.rows)
        # like vim: search on from the top row, wrapping around the ends
        if forward:
            order = [*range(start + 1, n), *range(0, start + 1)]
        else:
            order = [*range(start - 1, -1, -1), *range(n - 1, start - 1, -1)]
        for y in order:
            index, part = divmod(self.rows[y], PART_MASK + 1)
            if part == 0 and self.search.search(self.line(index).text):
                self.scroll_to(y=y, animate=False, immediate=True)
                return True
        return False

    # -- rendering ---------------------------------------------------------------------

    def _strip(self, index: int) -> Strip:
        strip = self._cache.get(index)
        if strip is None:
            text = line_text(self.line(index), self.source_width, self.search)
            if not self.wrap and len(text) > NOWRAP_MAX:
                text.truncate(NOWRAP_MAX)
            segments = list(text.render(self.app.console, end=""))
            strip = Strip(segments)
            self._cache[index] = strip
            if len(self._cache) > 2000:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(index)
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width or self.size.width
        if row >= len(self.rows) or row < 0:
            return Strip.blank(width, self.rich_style)
        index, part = divmod(self.rows[row], PART_MASK + 1)
        if index - self.base < 0 or index - self.base >= len(self.store):
            return Strip.blank(width, self.rich_style)
        strip = self._strip(index)
        if self.wrap:
            w = self._width()
            strip = strip.crop_extend(part * w, (part + 1) * w, self.rich_style)
        else:
            strip = strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)
        # the widget's background under the text too, not the terminal's own colour
        return strip.apply_style(self.rich_style)

    def on_resize(self, event: events.Resize) -> None:
        if self.wrap and self._width() != self._wrap_width:
            self.rebuild()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new <= 0 < old:
            self.post_message(self.NearTop())

    def get_plain(self) -> str:
        """The rows on screen as plain text (for tests and copying)."""
        height = self.scrollable_content_region.height or self.size.height
        return "\n".join(self.render_line(y).text.rstrip() for y in range(height))


class LogView(Vertical):
    """Shows sources (merged by time with a source column when several) and follows them.

    Keys: space pause/resume following, / search (n / N next/previous), f filter (regex,
    leading ``!`` inverts; ``F`` toggles invert), w wrap, G end (resumes following),
    g top (loads older lines of a single source), j/k scroll, esc closes the prompt.
    """

    BINDINGS = bindings("log")  # from the registry of operations (core.operations)

    DEFAULT_CSS = load_tcss(__file__, "log_view.tcss")

    def __init__(
        self,
        sources: Sequence[LogSource] = (),
        *,
        ring_size: int = DEFAULT_RING,
        interval: float = 0.5,
        initial: int = 200,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.ring_size = ring_size
        self.interval = interval
        self.initial = initial
        self.following = True
        self.stream: LogStream | None = None
        self.filter_expr = ""
        self.search_expr = ""
        self.new_while_paused = 0
        self._prompt_mode = ""
        self._pending = list(sources)
        self._worker: Worker[None] | None = None
        self._loading_older = False

    def compose(self) -> ComposeResult:
        yield OneLine("", id="log-status")
        yield LogLines(self.ring_size, id="log-lines")
        yield Input(id="log-prompt")

    @property
    def lines_widget(self) -> LogLines:
        return self.query_one(LogLines)

    def on_mount(self) -> None:
        if self._pending:
            self.set_sources(self._pending)
        self._show_status()

    # -- sources -----------------------------------------------------------------------

    def set_sources(self, sources: Sequence[LogSource]) -> None:
        """Show these sources instead of the current ones (closes the old ones)."""
        old = self.stream
        if self._worker is not None:
            self._worker.cancel()
        self.stream = LogStream(list(sources), self.ring_size, pass_over=True) if sources else None
        body = self.lines_widget
        body.clear()
        labels = [s.label for s in sources]
        body.source_width = (
            min(SOURCE_WIDTH_MAX, max(len(x) for x in labels)) if len(sources) > 1 else 0
        )
        self.following = True
        self.new_while_paused = 0
        self._worker = self.run_worker(
            self._follow(self.stream, old), group="logview", exclusive=True
        )
        self._show_status()

    async def _follow(self, stream: LogStream | None, old: LogStream | None) -> None:
        if old is not None:
            await old.aclose()
        if stream is None:
            return
        try:
            await self._follow_loop(stream)
        except NoMatches:
            pass  # the view was removed (app closing) while a poll was in flight
        finally:
            await stream.aclose()

    async def _follow_loop(self, stream: LogStream) -> None:
        self._add(await stream.open(self.initial))
        busy = False
        while True:
            self._show_status()
            # A log growing faster than a batch per interval is read again at once
            # (after yielding to the UI), so the viewer keeps up instead of capping.
            await _sleep(0 if busy else self.interval)
            lines = await stream.poll()
            self._add(lines, stream.passed)
            busy = len(lines) >= BUSY_BATCH or stream.passed > 0
            if not busy and stream.short:
                # after a burst: the newest lines are shown; fill the ring back from the
                # file, a slice per round (a new burst is read first)
                self._add_older(await stream.fill())
                busy = stream.short

    def on_resize(self, event: events.Resize) -> None:
        """Following, the newest line stays in view when the view changes size (the probe
        line appearing above it takes a row); a quiet log sends nothing to scroll to it."""
        if self.following:
            body = self.lines_widget
            self.call_after_refresh(lambda: body.scroll_end(animate=False, x_axis=False))

    def _add(self, lines: list[LogLine], passed: int = 0) -> None:
        if not lines and not passed:
            return
        body = self.lines_widget
        body.append(lines, passed)
        if self.following:
            body.scroll_end(animate=False, x_axis=False)
        else:
            self.new_while_paused += passed + len(lines)

    def _add_older(self, lines: list[LogLine]) -> None:
        if not lines:
            return
        body = self.lines_widget
        body.prepend(lines)
        if self.following:
            body.scroll_end(animate=False, x_axis=False)

    def _show_status(self) -> None:
        if not self.is_mounted:
            return
        stream = self.stream
        t = Text(no_wrap=True, overflow="ellipsis")
        if stream is None:
            t.append("no log open", style="dim")
        else:
            names = ", ".join(s.label for s in stream.sources)
            t.append("● follow " if self.following else "‖ PAUSED ", style="bold")
            if not self.following and self.new_while_paused:
                t.append(f"(+{self.new_while_paused} new) ", style="yellow")
            t.append(names)
            if self.filter_expr:
                t.append(f"  filter: {self.filter_expr}", style="magenta")
            if self.search_expr:
                t.append(f"  search: {self.search_expr}", style="cyan")
            if self.lines_widget.wrap:
                t.append("  wrap", style="dim")
            # Sources of one supervisord fail together (stdout and stderr of a program):
            # each distinct message once, not once per source.
            for message in dict.fromkeys(e.message for e in stream.errors.values()):
                t.append(f"  ✖ {message}", style="bold red")
        self.query_one("#log-status", OneLine).show_line(t)

    # -- actions -----------------------------------------------------------------------

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        if self.following:
            self.new_while_paused = 0
            self.lines_widget.scroll_end(animate=False, x_axis=False)
        self._show_status()

    def action_end(self) -> None:
        self.following = True
        self.new_while_paused = 0
        self.lines_widget.scroll_end(animate=False, x_axis=False)
        self._show_status()

    def action_top(self) -> None:
        self.following = False
        self.lines_widget.scroll_home(animate=False, immediate=True)
        self.load_older()
        self._show_status()

    def action_down(self) -> None:
        self.lines_widget.scroll_down(animate=False)

    def action_up(self) -> None:
        self.following = False
        self.lines_widget.scroll_up(animate=False)
        self._show_status()

    def action_wrap(self) -> None:
        body = self.lines_widget
        body.wrap = not body.wrap
        body.rebuild()
        if self.following:
            body.scroll_end(animate=False, x_axis=False)
        self._show_status()

    def action_prompt(self, mode: str) -> None:
        prompt = self.query_one("#log-prompt", Input)
        self._prompt_mode = mode
        prompt.placeholder = (
            "search (regex), enter to find"
            if mode == "search"
            else "filter (regex; !regex hides matches), enter to apply, empty clears"
        )
        prompt.value = self.search_expr if mode == "search" else self.filter_expr
        prompt.add_class("open")
        prompt.focus()

    def action_close_prompt(self) -> None:
        prompt = self.query_one("#log-prompt", Input)
        if prompt.has_class("open"):
            prompt.remove_class("open")
            self.lines_widget.focus()
        elif self.search_expr:
            self.set_search("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "log-prompt":
            return
        event.stop()
        if self._prompt_mode == "search":
            self.set_search(event.value)
            self.action_find(True)
        else:
            self.set_filter(event.value)
        event.input.remove_class("open")
        self.lines_widget.focus()

    def set_search(self, expr: str) -> None:
        self.search_expr = expr
        pattern, _ = compile_filter(expr)
        self.lines_widget.set_search(pattern)
        self._show_status()

    def set_filter(self, expr: str) -> None:
        """Show only lines matching ``expr`` (regex; ``!`` prefix: lines not matching)."""
        self.filter_expr = expr
        body = self.lines_widget
        body.pattern, body.invert = compile_filter(expr)
        body.rebuild()
        if self.following:
            body.scroll_end(animate=False, x_axis=False)
        self._show_status()

    def action_invert(self) -> None:
        if self.filter_expr:
            expr = self.filter_expr
            self.set_filter(expr[1:] if expr.startswith("!") else "!" + expr)

    def action_find(self, forward: bool) -> None:
        if not self.search_expr:
            return
        if self.lines_widget.find(forward):
            self.following = False
            self._show_status()
        else:
            self.app.bell()

    # -- scroll back ---------------------------------------------------------------------

    def on_log_lines_near_top(self, message: LogLines.NearTop) -> None:
        self.load_older()

    def load_older(self, n: int = 500) -> None:
        """Load older lines of a single source above the oldest shown (in the background)."""
        if self.stream is None or self.stream.merged or self._loading_older:
            return
        self._loading_older = True
        self.run_worker(self._older(self.stream, n), group="logview-older")

    async def _older(self, stream: LogStream, n: int) -> None:
        try:
            body = self.lines_widget
            if not body.store:
                return
            first = body.store[0]
            if first.offset <= 0:
                return
            try:
                lines = await stream.sources[0].before(first.offset, n, first.gen)
            except OpsError as exc:
                self.notify(exc.message, severity="error")
                return
            if stream is self.stream:
                body.prepend(lines)
        finally:
            self._loading_older = False


#: a poll that returned at least this many lines means the log is busy: read again at once
BUSY_BATCH = 1000


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
