"""The same log on several hosts, merged by time: :class:`MergedSource`.

Each host's log is a :class:`~opsconsole.core.logs.model.LogSource` of its own (usually a
:class:`~opsconsole.core.logs.through_host.HostLogSource`); the merged one is a LogSource too,
so :class:`~opsconsole.core.logs.stream.LogStream` and the log views (search, filter,
pause/follow) show it unchanged. Every line it gives starts with ``[host] `` (what a search or
a filter sees, so they work across hosts) and is ordered by its own time where the log's
format has one (:func:`~opsconsole.core.logs.parse.parse_timestamp`), else by when it reached
the console. The merge is stable: lines of the same time keep the hosts' order and a host's
own lines are never reordered.

Bounded: each poll takes at most ``budget`` lines from a host (the rest are counted in a
marker line) and waits at most ``timeout`` seconds for the hosts. A host that has not
answered by then is *stale*: the others' lines are given without it, a marker line says so
(``[host] ⋯ no answer for 2.0 s``) and ``notice`` names it; its read goes on in the
background and its lines come in a later poll, after a marker that it answers again. A host
that fails (ssh down, unknown program) is said the same way and the others go on.

Lines already given are never taken back, so lines a stale host sends late follow lines of
other hosts that are newer: merging is by time within each poll.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from opsconsole.core.errors import OpsError
from opsconsole.core.host import Host, LogRef
from opsconsole.core.logs.model import LogError, LogSource
from opsconsole.core.logs.parse import LogLine, merge_streams
from opsconsole.core.logs.through_host import HostLogSource

#: How long a poll waits for the hosts before giving what the others sent (seconds).
DEFAULT_HOST_TIMEOUT = 2.0
#: How long opening waits for the hosts (a first read may connect: ssh, the agent's start).
DEFAULT_OPEN_TIMEOUT = 10.0
#: At most this many lines of one host per poll (the newest; the rest are counted).
DEFAULT_HOST_BUDGET = 2000
#: What starts a marker line (after the host's prefix).
MARK = "\u22ef"
#: The ``gen`` of a marker line: the merge wrote it (about a host); no log has it.
MARK_GEN = -1


def is_mark(line: LogLine) -> bool:
    """Is this a line the merge wrote about a host (no answer, an error, lines cut)?"""
    return line.gen == MARK_GEN and line.ts is None


class StaleHosts(LogError):
    """Some hosts of a merged log did not answer in time or could not be read."""


@dataclass
class _Host:
    """One host's log in the merge, and how it has been answering."""

    name: str
    source: LogSource
    prefix: str
    task: asyncio.Task[list[LogLine]] | None = None
    #: when a read of it was first seen waiting past the timeout (console clock), else None
    stale_since: float | None = None
    error: OpsError | None = None
    #: lines left out by the budget so far
    skipped: int = 0
    opened: bool = False
    said: set[str] = field(default_factory=set)


class MergedSource:
    """``sources`` — ``(host name, that host's log)`` pairs — merged by time into one log whose
    lines start with ``[host] ``. ``key`` and ``label`` name it in a stream and a view."""

    def __init__(
        self,
        sources: Sequence[tuple[str, LogSource]],
        *,
        key: str,
        label: str,
        timeout: float = DEFAULT_HOST_TIMEOUT,
        open_timeout: float | None = DEFAULT_OPEN_TIMEOUT,
        budget: int = DEFAULT_HOST_BUDGET,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not sources:
            raise LogError("no hosts to merge the log of")
        names = [name for name, _ in sources]
        if len(set(names)) != len(names):
            raise LogError(f"a host is named twice in the merged log: {', '.join(names)}")
        self.key = key
        self.label = label
        self.timeout = max(0.0, timeout)
        #: how long :meth:`open_tail` waits (None: until every host answered or failed)
        self.open_timeout = open_timeout
        self.budget = max(1, budget)
        self.clock = clock
        self._hosts = [_Host(name, source, f"[{name}] ") for name, source in sources]
        #: why part of the merged log is not shown (the stale and failing hosts), else None
        self.notice: OpsError | None = None
        self._tail = 10

    @classmethod
    def over_hosts(
        cls,
        hosts: Sequence[Host],
        ref: LogRef,
        *,
        key: str,
        label: str,
        since: float | None = None,
        timeout: float = DEFAULT_HOST_TIMEOUT,
        open_timeout: float | None = DEFAULT_OPEN_TIMEOUT,
        budget: int = DEFAULT_HOST_BUDGET,
    ) -> MergedSource:
        """The log ``ref`` names, on every host (each read through ``host.log``; ``since``:
        opened with every line since that time instead of the last lines)."""
        sources: list[tuple[str, LogSource]] = [
            (h.name, HostLogSource(h, ref, key=f"{h.name}:{key}", label=label, since=since))
            for h in hosts
        ]
        return cls(
            sources,
            key=key,
            label=label,
            timeout=timeout,
            open_timeout=open_timeout,
            budget=budget,
        )

    # -- what the views and the CLI read -------------------------------------------------

    @property
    def hosts(self) -> list[str]:
        return [h.name for h in self._hosts]

    @property
    def stale(self) -> dict[str, float]:
        """The hosts waited for past the timeout now, and for how long (seconds)."""
        now = self.clock()
        return {h.name: now - h.stale_since for h in self._hosts if h.stale_since is not None}

    @property
    def failing(self) -> dict[str, OpsError]:
        """The hosts whose last read failed, with the error in their words."""
        return {h.name: h.error for h in self._hosts if h.error is not None}

    @property
    def skipped(self) -> dict[str, int]:
        """Lines of each host left out by the per-poll budget so far."""
        return {h.name: h.skipped for h in self._hosts if h.skipped}

    async def open_tail(self, n: int) -> list[LogLine]:
        """The last ``n`` lines of every host, merged, waiting at most ``open_timeout`` for
        them. Raises nothing: a host that fails or does not answer in time is a marker line
        and in ``notice``."""
        self._tail = n
        for h in self._hosts:
            if h.task is not None and not h.task.done():
                h.task.cancel()
            h.task = asyncio.ensure_future(h.source.open_tail(n))
            h.opened = True
        return await self._collect(self.open_timeout)

    async def poll(self) -> list[LogLine]:
        """Lines written on every host since the last call, merged (at most ``budget`` per
        host). Waits at most ``timeout`` for the hosts; a host still reading is left to
        answer in a later poll. Raises nothing (as :meth:`open_tail`)."""
        for h in self._hosts:
            if h.task is None:
                h.task = asyncio.ensure_future(
                    h.source.poll() if h.opened else h.source.open_tail(self._tail)
                )
                h.opened = True
        return await self._collect(self.timeout)

    async def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        """Merged views start where they were opened: nothing before it."""
        return []

    async def aclose(self) -> None:
        """Stop every host's reads and close its log (a host that does not answer is given
        up after the timeout). Raises nothing."""
        for h in self._hosts:
            if h.task is not None and not h.task.done():
                h.task.cancel()
            h.task = None
        await asyncio.gather(*(self._close(h.source) for h in self._hosts), return_exceptions=True)

    async def _close(self, source: LogSource) -> None:
        try:
            await asyncio.wait_for(source.aclose(), max(self.timeout, 1.0))
        except (OpsError, OSError, asyncio.TimeoutError):
            pass

    # -- merging -------------------------------------------------------------------------

    async def _collect(self, timeout: float | None) -> list[LogLine]:
        # a host already stale is not waited for again (its read is only looked at): one hung
        # host costs the others one timeout, not one per poll
        waiting = {h.task for h in self._hosts if h.task is not None and h.stale_since is None}
        started = self.clock()
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)
        now = self.clock()
        batches: list[list[LogLine]] = []
        first: list[LogLine] = []  # said before the merged lines (a host back, lines cut)
        marks: list[LogLine] = []  # said after them (a host not answering, failing)
        for h in self._hosts:
            task = h.task
            if task is None:
                continue
            if not task.done():
                if h.stale_since is None:
                    h.stale_since = started
                    if h.error is None:  # a failing host was said already
                        late = f"no answer for {now - started:.1f} s"
                        marks.append(
                            self._mark(h, f"{late}: its lines follow when it answers", now)
                        )
                continue
            h.task = None
            waited, h.stale_since = h.stale_since, None
            if h.error is not None:
                waited = None  # "read again" says it
            try:
                lines = task.result()
            except asyncio.CancelledError:
                continue
            except OpsError as exc:
                self._failed(h, exc, now, marks)
                continue
            except Exception as exc:  # one host's surprise is said, never raised
                self._failed(h, LogError(f"{h.name}: {exc}"), now, marks)
                continue
            if waited is not None:
                first.append(self._mark(h, f"answering again after {now - waited:.1f} s", now))
            if h.error is not None:
                h.error = None
                h.said.clear()
                first.append(self._mark(h, "read again", now))
            own = getattr(h.source, "notice", None)
            if isinstance(own, OpsError) and own.message not in h.said:
                h.said.add(own.message)
                marks.append(self._mark(h, own.message, now, level="WARNING"))
            batches.append(self._tagged(h, lines, now, first))
        self.notice = self._notice(now)
        merged = merge_streams(batches) if batches else []
        return first + merged + marks

    def _failed(self, h: _Host, exc: OpsError, now: float, marks: list[LogLine]) -> None:
        h.error = exc
        if exc.message not in h.said:
            h.said.add(exc.message)
            marks.append(self._mark(h, f"cannot read: {exc.message}", now, level="ERROR"))

    def _tagged(
        self, h: _Host, lines: list[LogLine], now: float, marks: list[LogLine]
    ) -> list[LogLine]:
        """The host's lines (its newest ``budget``) with its prefix, ordered by their own
        time or else by now (their arrival here)."""
        if len(lines) > self.budget:
            cut = len(lines) - self.budget
            h.skipped += cut
            marks.append(
                self._mark(h, f"{cut} lines not shown (more than {self.budget} in one read)", now)
            )
            lines = lines[cut:]
        prefix = h.prefix
        return [
            LogLine(
                prefix + line.text,
                self.label,
                line.level,
                line.ts,
                line.ts_own,
                -1,
                0,
                line.ts if line.ts is not None else now,
            )
            for line in lines
        ]

    def _mark(self, h: _Host, words: str, now: float, level: str = "WARNING") -> LogLine:
        return LogLine(
            f"{h.prefix}{MARK} {words}", self.label, level, None, False, -1, MARK_GEN, now
        )

    def _notice(self, now: float) -> OpsError | None:
        parts = [
            f"{h.name} no answer for {now - h.stale_since:.1f} s"
            for h in self._hosts
            if h.stale_since is not None
        ]
        parts += [f"{h.name}: {h.error.message}" for h in self._hosts if h.error is not None]
        if not parts:
            return None
        return StaleHosts(
            "; ".join(parts),
            "the other hosts' lines go on; a host's lines follow when it answers again",
        )
