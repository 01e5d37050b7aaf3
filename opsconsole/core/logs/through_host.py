"""A log read through a :class:`~opsconsole.core.host.Host`: :class:`HostLogSource`.

It is a :class:`~opsconsole.core.logs.model.LogSource` like the others, so
:class:`~opsconsole.core.logs.stream.LogStream` (merging, the ring buffer, errors and notices)
and the views (search, filter, pause/follow, scroll-back) use it unchanged, whatever machine
the log is on. Every read is one :meth:`Host.log <opsconsole.core.host.Host.log>` call: the
last lines to open, ``after`` the cursor to follow, ``before`` a line to scroll back. The
bounds are the host's (a batch per poll, a fixed XML-RPC budget per read). A view's stream
(``pass_over``) follows with ``keep``: the host reads a file to its end and sends only the
ring-full of lines the view keeps, counting the rest (a log written at a million lines a
second is followed to its end, every line counted).
"""

from __future__ import annotations

from dataclasses import replace

from opsconsole.core.errors import OpsError
from opsconsole.core.host import MAX_BEFORE_LINES, Host, LogChunk, LogCursor, LogRef
from opsconsole.core.logs.parse import LogLine


class HostLogSource:
    """The log ``ref`` names, read through ``host``; ``key`` and ``label`` are the source's
    name in the stream and its column (known before the log is opened). With ``since`` (epoch
    seconds) it opens with every line since then (bounded by the host) instead of the last."""

    def __init__(
        self, host: Host, ref: LogRef, *, key: str, label: str, since: float | None = None
    ) -> None:
        self.host = host
        self.since = since
        self.ref = ref
        self.key = key
        self.label = label
        #: why part of the log is not shown as written (the host's words), else None
        self.notice: OpsError | None = None
        self._cursor: LogCursor | None = None
        self._tail = 10

    async def open_tail(self, n: int) -> list[LogLine]:
        """The last ``n`` lines; following continues after them. Raises LogError (unknown
        source, unreadable file) as the host words it."""
        self._tail = n
        await self.aclose()
        if self.since is not None:
            chunk = await self.host.log(self.ref, since=self.since)
        else:
            chunk = await self.host.log(self.ref, lines=n)
        self._cursor = chunk.cursor
        return self._lines(chunk)

    async def poll(self) -> list[LogLine]:
        """Lines written since the last call (one host batch at most). A log that could not
        be opened is tried again (its last lines, as when it was opened). Raises LogError."""
        if self._cursor is None:
            return await self.open_tail(self._tail)
        return self._lines(await self.host.log(self.ref, after=self._cursor))

    async def follow(self, keep: int, first: int | None = None) -> tuple[int, list[LogLine]]:
        """For a ring of ``keep`` lines (``LogStream(pass_over=True)``): what was written since
        the last call, the host sending only the last ``keep`` lines (``first`` at the end of
        a burst) and counting the ones before them: ``(passed, lines)``. A host that cannot
        pass over lines sends a batch with ``passed`` 0. Raises LogError."""
        if self._cursor is None:
            return 0, await self.open_tail(self._tail)
        chunk = await self.host.log(self.ref, after=self._cursor, keep=keep, first=first)
        return chunk.passed, self._lines(chunk)

    async def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        """The ``n`` lines (at most :data:`~opsconsole.core.host.MAX_BEFORE_LINES`) above the
        line at ``offset`` of rotation ``gen`` (None: 0), oldest first; [] at the top, after a
        rotation, or when the log is not open. Raises LogError."""
        if self._cursor is None or offset <= 0 or n <= 0:
            return []
        at = replace(self._cursor, offset=offset, gen=gen or 0)
        chunk = await self.host.log(self.ref, before=at, lines=min(n, MAX_BEFORE_LINES))
        return self._lines(chunk)

    async def aclose(self) -> None:
        """Stop following (the host closes the log). Raises nothing the host does not."""
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            await self.host.close_log(cursor)

    def _lines(self, chunk: LogChunk) -> list[LogLine]:
        self.notice = chunk.notice.exception() if chunk.notice is not None else None
        label = self.label
        return [
            LogLine(e.text, label, e.level, e.ts, e.ts_own, e.offset, e.gen, e.order_ts)
            for e in chunk.lines
        ]
