"""Several log sources merged by time into one bounded stream.

:class:`LogStream` polls its sources and keeps their lines in a :class:`RingBuffer` of
bounded size (:data:`DEFAULT_RING` lines).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsconsole.core.errors import OpsError
from opsconsole.core.logs.model import LogError, LogSource
from opsconsole.core.logs.parse import (
    LogLine,
    merge_streams,
)

DEFAULT_RING = 20000
#: at the end of a burst a view's newest lines are made first, this many; fill() reads the
#: rest back FILL_SLICE lines at a time
FIRST_LINES = 500
FILL_SLICE = 2000


# --------------------------------------------------------------------------- stream


class RingBuffer:
    """The newest ``size`` lines; older ones fall off (memory stays flat)."""

    def __init__(self, size: int = DEFAULT_RING) -> None:
        self.size = max(1, size)
        self._lines: deque[LogLine] = deque(maxlen=self.size)
        self.dropped = 0  # lines that fell off the front
        self.appended = 0

    def extend(self, lines: Iterable[LogLine]) -> None:
        for line in lines:
            if len(self._lines) == self.size:
                self.dropped += 1
            self.appended += 1
            self._lines.append(line)

    def skip(self, count: int) -> None:
        """``count`` lines came before the lines the caller appends next and were pushed out
        by newer ones, so everything held now goes too. Counted in ``appended`` and
        ``dropped`` like any line. (When the batch that follows is shorter than the ring,
        :meth:`LogStream.fill` reads the lines just before it back.)"""
        if count <= 0:
            return
        self.appended += count
        self.dropped += count + len(self._lines)
        self._lines.clear()

    def prepend(self, lines: Sequence[LogLine]) -> int:
        """Add older lines at the front, as many as fit; returns how many were added."""
        room = self.size - len(self._lines)
        take = list(lines)[-room:] if room > 0 else []
        for line in reversed(take):
            self._lines.appendleft(line)
        return len(take)

    def clear(self) -> None:
        self._lines.clear()

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Any:
        return iter(self._lines)

    def __getitem__(self, index: int) -> LogLine:
        return self._lines[index]

    def seqs(self) -> list[int]:
        """The number of each line held in the order the log has them (the newest is
        ``appended``; lines read back before the first held come just before it). Worked out
        from the ring, not kept on each line: 36 bytes a line, 2 MB for three full rings."""
        first = self.appended - len(self._lines) + 1
        return list(range(first, first + len(self._lines)))

    def lines(self) -> list[LogLine]:
        return list(self._lines)


@dataclass
class LogStream:
    """Several sources as one stream ordered by time, kept in a ring buffer.

    ``open(n)`` loads each source's last ``n`` lines and merges them; ``poll()`` merges what
    every source added since. A source that fails is reported in ``errors`` (its message) and
    retried on the next poll; the others carry on. A source that reads but cannot show all of
    its log as written says why in its ``notice``, reported in ``errors`` too.
    """

    sources: list[LogSource]
    ring_size: int = DEFAULT_RING
    #: let a poll pass over lines that a full ring of newer ones would push out anyway,
    #: counted in ``passed`` (a view of the ring; never for a reader that wants every line)
    pass_over: bool = False
    ring: RingBuffer = field(init=False)
    errors: dict[str, OpsError] = field(init=False, default_factory=dict)
    #: lines the last poll passed over (with ``pass_over``): they came before its lines
    passed: int = field(init=False, default=0)
    #: the ring has room that :meth:`fill` can fill from the file (after a burst)
    short: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.ring = RingBuffer(self.ring_size)
        #: merged: the sources whose lines passed over in a burst :meth:`fill` reads back
        self._refill: list[LogSource] = []

    @property
    def merged(self) -> bool:
        """True when the stream interleaves several sources by time."""
        return len(self.sources) > 1

    async def _each(self, calls: list[Any]) -> list[list[LogLine]]:
        results = await asyncio.gather(*calls, return_exceptions=True)
        batches: list[list[LogLine]] = []
        for source, result in zip(self.sources, results, strict=True):
            if isinstance(result, OpsError):
                self.errors[source.key] = result
                batches.append([])
            elif isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                self.errors[source.key] = LogError(f"{source.label}: {result}")
                batches.append([])
            else:
                notice = getattr(source, "notice", None)  # part of it cannot be shown
                if isinstance(notice, OpsError):
                    self.errors[source.key] = notice
                else:
                    self.errors.pop(source.key, None)
                batches.append(result)
        return batches

    async def open(self, n: int) -> list[LogLine]:
        """The last ``n`` lines of each source, merged by time, into the ring. Raises nothing:
        a source that fails is left out and its error, in words, is in ``errors``."""
        batches = await self._each([s.open_tail(n) for s in self.sources])
        lines = merge_streams(batches)
        self.ring.extend(lines)
        return lines

    async def poll(self) -> list[LogLine]:
        """New lines of every source, merged by time, into the ring. Raises nothing (as
        :meth:`open`: failures are in ``errors``).

        With ``pass_over``, a source that can (a file) reads everything appended and makes
        only its last ring-full of lines; the lines before them are counted in ``passed``
        (they would have been pushed out of the ring by those). So a log written faster
        than lines can be made is still followed to its end, every line through the ring."""
        self.passed = 0
        passed: dict[int, int] = {}
        if self.pass_over and all(hasattr(s, "follow") for s in self.sources):
            size = self.ring.size
            # in a burst the newest lines first, the rest by fill() (merged: each source's
            # lines are told by their label, so only when the labels differ)
            labels = {s.label for s in self.sources}
            first = min(size, FIRST_LINES) if len(labels) == len(self.sources) else None
            batches = await self._each(
                [self._follow(s, size, first, passed, i) for i, s in enumerate(self.sources)]
            )
            self.passed = sum(passed.values())
        else:
            batches = await self._each([s.poll() for s in self.sources])
        lines = merge_streams(batches)
        self.ring.skip(self.passed)
        self.ring.extend(lines)
        if self.passed:
            self._refill = [s for i, s in enumerate(self.sources) if passed.get(i)]
            self.short = len(self.ring) < self.ring.size
        return lines

    @staticmethod
    async def _follow(
        source: Any, keep: int, first: int | None, passed: dict[int, int], index: int
    ) -> list[LogLine]:
        """``source.follow(keep, first)``: its lines; how many it passed over to
        ``passed[index]``."""
        count, lines = await source.follow(keep, first)
        passed[index] = count
        return list(lines)

    async def fill(self, n: int = FILL_SLICE) -> list[LogLine]:
        """After a burst left the ring short (its newest lines made first): up to ``n`` of
        the lines before the oldest held, read back from the source (merged: from each source
        that passed lines over, merged by time), added at the front of the ring (they were
        counted when passed over). Returns them, oldest first; [] when
        the ring is full, or the top of the log or a rotation was reached."""
        room = self.ring.size - len(self.ring)
        if not self.short or room <= 0:
            self.short = False
            return []
        if self.merged:
            added = await self._fill_merged(min(n, room))
        else:
            added = await self.before(min(n, room))
        if not added:
            self.short = False
            return []
        ring = self.ring
        ring.dropped = max(0, ring.dropped - len(added))
        self.short = len(ring) < ring.size
        return added

    async def _fill_merged(self, n: int) -> list[LogLine]:
        """Merged: of each source that passed over lines in the burst, up to ``n`` lines
        before its oldest line held, merged by time; the newest ``n`` of them go to the front
        of the ring. A source at its top (or rotated since) is not read again."""
        batches: list[list[LogLine]] = []
        for source in list(self._refill):
            oldest = next((x for x in self.ring if x.source == source.label), None)
            older: list[LogLine] = []
            if oldest is not None and oldest.offset > 0:
                try:
                    older = await source.before(oldest.offset, n, oldest.gen)
                except OpsError as exc:
                    self.errors[source.key] = exc
            if older:
                batches.append(older)
            else:
                self._refill.remove(source)
        take = merge_streams(batches)[-n:] if batches else []
        added = self.ring.prepend(take)
        return take[len(take) - added :] if added else []

    async def before(self, n: int) -> list[LogLine]:
        """Older lines before the oldest held (single source only; merged views start at
        their opening point). Added to the front of the ring when there is room."""
        if len(self.sources) != 1 or not len(self.ring):
            return []
        first = self.ring[0]
        if first.offset <= 0:
            return []
        lines = await self.sources[0].before(first.offset, n, first.gen)
        added = self.ring.prepend(lines)
        return lines[len(lines) - added :] if added else []

    async def aclose(self) -> None:
        """Close every source."""
        for source in self.sources:
            await source.aclose()
