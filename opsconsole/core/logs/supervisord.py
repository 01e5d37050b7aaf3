"""Logs that supervisord holds: a program's stdout/stderr and supervisord's own log.

Over 600 lines on purpose: one reader (:class:`_RemoteLog`, bounded and tolerant of bytes
supervisord cannot send) and its two sources, which share its private state.

* :class:`ProgramLogSource` — a program's stdout or stderr as captured by supervisord, read
  over XML-RPC with byte offsets (works over HTTP and without permission on the files).
  ``tailProcess*Log(name, 0, 0)`` gives the log's size; a size below our offset means the log
  was cleared (``clearProcessLogs``) or rotated: we restart at 0 of the new file, so what was
  written since is shown once, and nothing is repeated.
* :class:`MainLogSource` — supervisord's own log through ``readLog`` with offsets.

A program's log is read from its file when this console can read it (supervisord names the
file in ``getProcessInfo``): that costs supervisord nothing and shows every byte. Over
XML-RPC, bytes supervisord cannot send (invalid UTF-8 makes it answer HTTP 500, control bytes
such as ESC or NUL make its XML invalid) are recovered: the answer is re-read tolerantly; a
range supervisord cannot send is halved down to a few hundred bytes, which are read byte by
byte in one ``system.multicall``, and a byte that is part of no character is shown as U+FFFD.
Every read has a fixed budget of calls (:data:`RPC_BUDGET`), whatever the bytes: a log with
bad bytes on every line shows what the budget could read, skips the rest with a line saying
so, and the source's ``notice`` says why in words.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
import time
import xmlrpc.client
from collections.abc import Sequence
from typing import Any

from opsconsole.core.logs.file import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_LINES,
    DEFAULT_CHUNK,
    LineSplitter,
    LogFile,
    RawLine,
    rewind,
    scan_back,
)
from opsconsole.core.logs.model import LogError, file_error
from opsconsole.core.logs.parse import (
    DEFAULT_MAX_LINE,
    Annotator,
    LogLine,
    decode_line,
)
from opsconsole.core.supervisor import READ_METHODS, ProtocolError, SupervisorClient

# --------------------------------------------------------------------------- supervisord

_XML_INVALID = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\r]")
_FROM_PRIVATE = {0xE000 + c: c for c in range(0x20)}


async def _raw_call(client: SupervisorClient, method: str, *params: Any) -> Any:
    """Call a read method and parse its answer tolerantly: control bytes (which supervisord
    puts raw into its XML) and ``\\r`` survive byte for byte. None when that fails too.

    Goes through the client (:meth:`SupervisorClient.call_raw`): its read-only check, timeout,
    size cap and error mapping apply; a connection failure raises as from any other call.
    """
    if method not in READ_METHODS:  # pragma: no cover - programming error
        raise ValueError(f"{method} is not a read method")
    try:
        body = await client.call_raw(method, *params)
    except ProtocolError:  # not HTTP 200, or too large: the caller falls back further
        return None
    fixed = _XML_INVALID.sub(lambda m: b"&#x%X;" % (0xE000 + m.group()[0]), body)
    try:
        values, _ = xmlrpc.client.loads(fixed, use_builtin_types=True)
    except Exception:  # any fault or parse failure: the caller falls back further
        return None
    if len(values) != 1:
        return None
    return _unfix(values[0])


def _unfix(value: Any) -> Any:
    if isinstance(value, str):
        return value.translate(_FROM_PRIVATE)
    if isinstance(value, list):
        return [_unfix(v) for v in value]
    return value


#: Read calls one ``open_tail``, ``poll`` or ``before`` of a supervisord log may make,
#: whatever its bytes (a call inside a ``system.multicall`` counts as one; supervisord spends
#: about 25 µs on each, against about 500 µs for a request of its own). supervisord answers
#: HTTP 500 for a range with bytes that are not UTF-8; those ranges are read byte by byte, so
#: a log with bad bytes on every line is read only as far as this allows per refresh, and the
#: rest is skipped, with a line saying so.
RPC_BUDGET = 512
#: Bytes read byte by byte at a time around bytes supervisord cannot send.
_BAD_SPAN = 256
_UNSENDABLE = b"\xff"  # one byte supervisord would not send; decoded, it shows as U+FFFD


class _Spent(Exception):
    """The call budget of this read is used up."""


class _RemoteLog:
    """Offset bookkeeping shared by the XML-RPC sources."""

    key: str
    label: str

    def __init__(
        self,
        client: SupervisorClient,
        *,
        max_line: int,
        chunk: int,
        batch_bytes: int,
        batch_lines: int,
        budget: int = RPC_BUDGET,
    ) -> None:
        self.client = client
        self.max_line = max_line
        self.chunk = chunk
        self.batch_bytes = batch_bytes
        self.batch_lines = batch_lines
        self.budget = max(8, budget)
        self.offset = 0
        self.gen = 0
        self.truncations = 0
        self.rpc_bytes = 0
        self.rpc_calls = 0
        self.unsendable = 0  # bytes supervisord would not send, shown as U+FFFD
        self.skipped = 0  # bytes not shown at all: reading around bad bytes cost too much
        self.spent = 0  # reads that used up their call budget
        self.file_note = ""  # why the log file is not read directly instead (if tried)
        self._left = self.budget
        self._step = chunk  # bytes asked for per call; smaller near bytes that fail
        self._back_step = chunk  # the same, reading backwards
        self._bad = False  # has supervisord answered HTTP 500 for this log?
        self._bad_here = False  # did the last bytes read hold some it cannot send?
        self._behind = False  # did the last poll stop on its budget among bad bytes?
        self._fragment = False  # is the next line read a fragment after a skip?
        self._splitter = LineSplitter(0, max_line)
        self._annotator = Annotator("")

    # subclasses: the method to read with and its leading arguments
    method = ""
    _exact = True  # does a read of ``length`` bytes inside the file return exactly that?

    @property
    def bytes_read(self) -> int:
        return self.rpc_bytes

    @property
    def notice(self) -> LogError | None:
        """Why part of this log is not shown as written (None while all of it is)."""
        if not self._bad:
            return None
        message = "supervisord cannot send parts of this log (bytes that are not UTF-8)"
        if self.unsendable:
            message += f": {self.unsendable} shown as \ufffd"
        if self.skipped:
            message += f"{';' if self.unsendable else ':'} {self.skipped} bytes skipped"
            message += " (reading around them would cost supervisord too many calls)"
        hint = "fix the program's output encoding"
        if self.file_note:
            hint = f"reading the log file instead is not possible: {self.file_note}"
        return LogError(message, hint)

    def _args(self) -> tuple[Any, ...]:
        return ()

    async def _size(self) -> int:
        raise NotImplementedError

    def _charge(self, calls: int = 1) -> None:
        if self._left < calls:
            raise _Spent
        self._left -= calls
        self.rpc_calls += calls

    async def _call(self, offset: int, length: int) -> str | None:
        """One read: its text, or None when supervisord cannot send those bytes (it answers
        HTTP 500 for bytes that are not UTF-8). Raises _Spent when the budget is used up."""
        self._charge()
        try:
            return str(await self.client.call(self.method, *self._args(), offset, length))
        except ProtocolError as exc:
            if exc.status == 500:
                self._bad = True
                return None
            if exc.status:
                raise
        # an answer that is not valid XML: control bytes supervisord put into it raw
        self._charge()
        text = await _raw_call(self.client, self.method, *self._args(), offset, length)
        return text if isinstance(text, str) else None

    async def _multi(self, reads: Sequence[tuple[int, int]]) -> list[str | None]:
        """Several reads in one ``system.multicall``: each one's text, or None if it failed."""
        self._charge(len(reads))
        calls = [
            {"methodName": self.method, "params": [*self._args(), offset, length]}
            for offset, length in reads
        ]
        results = await _raw_call(self.client, "system.multicall", calls)
        if not isinstance(results, list) or len(results) != len(reads):
            raise LogError(
                f"{self.label}: supervisord did not answer a system.multicall of log reads",
                "opsconsole tries again on the next refresh",
            )
        # supervisord answers each result bare; the multicall convention wraps it in a list
        unwrapped = [r[0] if isinstance(r, list) and len(r) == 1 else r for r in results]
        return [r if isinstance(r, str) else None for r in unwrapped]

    async def _read(self, offset: int, length: int) -> tuple[bytes, int]:
        """Bytes at ``offset`` (up to ``length``) -> (data, bytes of the log consumed).

        A range supervisord cannot send is halved down to :data:`_BAD_SPAN` bytes (each
        readable half is progress), which are then read byte by byte (:meth:`_recover`).
        Raises _Spent when the budget is used up.
        """
        size = max(1, min(length, self._step))
        if not self._bad_here:
            while True:
                text = await self._call(offset, size)
                if text is not None:
                    data = text.encode("utf-8", errors="surrogatepass")
                    if size == self._step or size < length:  # grow back after bad bytes
                        self._step = min(self.chunk, max(self._step, size * 2))
                    return data, (size if self._exact else len(data))
                if size <= _BAD_SPAN:
                    break
                size = max(_BAD_SPAN, size // 2)
                self._step = size
        return await self._recover(offset, min(size, _BAD_SPAN, max(1, self._left // 4)))

    async def _recover(self, offset: int, n: int, context: int = 0) -> tuple[bytes, int]:
        """Read ``n`` bytes supervisord cannot send as one range: byte by byte in one
        multicall (a byte that is not ASCII fails alone), then, in a second, the characters
        of 2 to 4 bytes that runs of failing bytes may hold. A byte that is part of no
        character is returned as ``\\xff`` (shown as U+FFFD). ``context`` bytes before
        ``offset`` are read too (not returned): a character that starts there is whole."""
        base = max(0, offset - context)
        context = offset - base
        n += context
        singles = await self._multi([(base + i, 1) for i in range(n)])
        probes: list[tuple[int, int]] = []
        i = 0
        while i < n:
            if singles[i] is not None:
                i += 1
                continue
            run = 1
            while i + run < n and singles[i + run] is None:
                run += 1
            longest = run + 3 if i + run >= n else run  # one at the end may go on past it
            probes += [(i + j, k) for j in range(run) for k in range(2, min(4, longest - j) + 1)]
            i += run
        chars: dict[int, str] = {}
        if probes:
            got = await self._multi([(base + at, k) for at, k in probes])
            for (at, _), text in zip(probes, got, strict=True):
                if text is not None and len(text) == 1 and at not in chars:
                    chars[at] = text
        out = bytearray()  # byte i of it is byte ``base + i`` of the log (or _UNSENDABLE)
        bad = 0
        i = 0
        while i < n:
            text = singles[i] if singles[i] is not None else chars.get(i)
            if text is None:
                out += _UNSENDABLE
                bad += i >= context
                i += 1
                continue
            data = text.encode("utf-8", errors="surrogatepass")
            if not data:  # the end of the log (readLog answers '' there)
                break
            out += data
            i += len(data)
        self.unsendable += bad
        self._bad = self._bad or bad > 0
        self._bad_here = bad > 0  # more are likely next to them: skip the whole-range try
        self._step = _BAD_SPAN
        return bytes(out[context:]), max(0, i - context)

    async def _span_back(self, end: int) -> tuple[int, bytes]:
        """Bytes that end at ``end`` -> (their offset, them): :meth:`_read` backwards. A range
        supervisord cannot send is halved towards ``end`` (each readable half is progress),
        down to :data:`_BAD_SPAN` bytes, which are read byte by byte."""
        size = max(1, min(end, self._back_step))
        if not self._bad_here:
            while True:
                text = await self._call(end - size, size)
                if text is not None:
                    data = text.encode("utf-8", errors="surrogatepass")
                    if size == self._back_step or size < end:  # grow back after bad bytes
                        self._back_step = min(self.chunk, max(self._back_step, size * 2))
                    self.rpc_bytes += len(data)
                    return end - len(data), data
                if size <= _BAD_SPAN:
                    break
                size = max(_BAD_SPAN, size // 2)
                self._back_step = size
        n = max(1, min(size, _BAD_SPAN, self._left // 4))
        data, _ = await self._recover(end - n, n, context=3)  # a character cut by the start
        data = data[:n]  # a character read whole past ``end`` belongs to the next span
        self.rpc_bytes += len(data)
        return end - len(data), data

    def _lines(self, raw: Sequence[RawLine], ann: Annotator | None = None) -> list[LogLine]:
        ann = ann or self._annotator
        now = time.time()
        return [
            ann.annotate(decode_line(b, self.max_line, d), offset=o, gen=self.gen, now=now)
            for o, b, d in raw
        ]

    async def _read_back(self, end: int, n: int) -> list[RawLine]:
        """The ``n`` lines before ``end`` (a line boundary); fewer when the budget runs out."""
        pos = end
        buf = b""
        while True:
            try:
                start, data = await self._span_back(pos)
            except _Spent:
                self.spent += 1
                return scan_back(buf, pos, n, self.max_line)[0]
            buf = data + buf
            pos = start
            lines, need_more = scan_back(buf, pos, n, self.max_line)
            if not need_more:
                return lines

    async def open_tail(self, n: int) -> list[LogLine]:
        self._annotator = Annotator(self.label)
        self._left = self.budget
        size = await self._size()
        pos, buf = size, b""
        end: int | None = None  # where following goes on: after the last complete line
        raw: list[RawLine] = []
        try:
            while pos > 0:
                start, data = await self._span_back(pos)
                buf = data + buf
                pos = start
                nl = buf.rfind(b"\n")
                if nl < 0:
                    if size - pos > self.max_line:  # one huge unfinished line: follow its end
                        end = size
                        raw = scan_back(buf, pos, n, self.max_line)[0] if n > 0 else []
                        break
                    continue
                end = pos + nl + 1
                if n <= 0:
                    break
                raw, need_more = scan_back(buf[: nl + 1], pos, n, self.max_line)
                if not need_more:
                    break
        except _Spent:  # show what could be read; follow from the end
            self.spent += 1
        if end is None:  # no newline read: from the start, or after the cut line
            end = 0 if pos == 0 else size
            self._fragment = end > 0
        self.offset = end
        self._splitter.reset(end)
        return self._lines(raw)

    async def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        if offset <= 0 or (gen is not None and gen != self.gen):
            return []
        self._left = self.budget
        return self._lines(await self._read_back(offset, n), Annotator(self.label))

    def _restart(self, out: list[RawLine]) -> None:
        out.extend(self._splitter.flush())
        self.truncations += 1
        self.gen += 1
        self.offset = 0
        self._splitter.reset(0)
        self._fragment = False

    def _skip_to(self, to: int, out: list[RawLine]) -> None:
        """Skip the bytes up to ``to`` (too costly to read around), marked by a line; the
        partial line held so far is skipped with them."""
        start = self._splitter.start
        skipped = to - start
        text = f"[… {skipped} bytes not shown: supervisord cannot send them (not UTF-8)]"
        out.append((start, text.encode(), 0))
        self.skipped += skipped
        self.offset = to
        self._splitter.reset(to)
        self._fragment = True

    def _drop_fragment(self, out: list[RawLine], first: int) -> None:
        """After a skip, the first line read is the end of a line cut by the skip: drop it."""
        if self._fragment and len(out) > first:
            self.skipped += len(out[first][1]) + out[first][2] + 1
            del out[first]
            self._fragment = False

    async def aclose(self) -> None:
        return None


class ProgramLogSource(_RemoteLog):
    """A supervisor program's captured stdout or stderr.

    Read from the log file itself when this console can read it (supervisord names it in
    ``getProcessInfo``): following a file costs supervisord nothing and shows every byte.
    Otherwise over XML-RPC, within a call budget per read.
    """

    def __init__(
        self,
        client: SupervisorClient,
        name: str,
        stream: str = "stdout",
        *,
        label: str | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        chunk: int = DEFAULT_CHUNK,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        batch_lines: int = DEFAULT_BATCH_LINES,
        budget: int = RPC_BUDGET,
        prefer_file: bool = True,
    ) -> None:
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"stream must be stdout or stderr, not {stream!r}")
        super().__init__(
            client,
            max_line=max_line,
            chunk=chunk,
            batch_bytes=batch_bytes,
            batch_lines=batch_lines,
            budget=budget,
        )
        self.name = name
        self.stream = stream
        self.prefer_file = prefer_file
        self.file: LogFile | None = None
        server = client.target.name
        self.key = f"program:{server}/{name}:{stream}"
        self.label = label or (name if stream == "stdout" else f"{name}:err")
        self.method = (
            "supervisor.readProcessStdoutLog"
            if stream == "stdout"
            else "supervisor.readProcessStderrLog"
        )

    @property
    def bytes_read(self) -> int:
        return self.rpc_bytes + (self.file.bytes_read if self.file is not None else 0)

    def _args(self) -> tuple[Any, ...]:
        return (self.name,)

    async def _size(self) -> int:
        """The log's size: ``tail(name, 0, 0)`` answers with the end offset and no data."""
        self.rpc_calls += 1
        _, end, _ = await self.client.tail_log(self.name, 0, 0, self.stream)
        return end

    async def _log_file(self) -> LogFile | None:
        """The file supervisord writes this log to, if this console can read it; else None
        and ``file_note`` says why."""
        self.rpc_calls += 1
        info = await self.client.get_process_info(self.name)
        path = info.stdout_logfile if self.stream == "stdout" else info.stderr_logfile
        if not path or path.upper() == "NONE" or not os.path.isabs(path):
            return None  # reading over XML-RPC says what supervisord makes of it
        if not self.client.is_local:
            self.file_note = f"supervisord at {self.client.target.url} is on another machine"
            return None
        size = await self._size()
        try:
            st = await asyncio.to_thread(_readable_file, path)
        except OSError as exc:
            self.file_note = file_error(path, exc).message
            return None
        if not stat.S_ISREG(st.st_mode) or st.st_size < size:
            self.file_note = f"{path} here is not the file supervisord writes"
            return None
        self.file_note = ""
        return LogFile(
            path,
            source=self.label,
            max_line=self.max_line,
            chunk=self.chunk,
            batch_bytes=self.batch_bytes,
            batch_lines=self.batch_lines,
        )

    async def _from_file(self, file: LogFile, call: Any, *args: Any) -> list[LogLine]:
        try:
            lines: list[LogLine] = await asyncio.to_thread(call, *args)
        except OSError as exc:
            raise file_error(file.path, exc) from exc
        return lines

    async def open_tail(self, n: int) -> list[LogLine]:
        if self.prefer_file and self.file is None:
            self.file = await self._log_file()
        if self.file is not None:
            return await self._from_file(self.file, self.file.open_tail, n)
        return await super().open_tail(n)

    async def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        if self.file is not None:
            return await self._from_file(self.file, self.file.before, offset, n, gen)
        return await super().before(offset, n, gen)

    async def poll(self) -> list[LogLine]:
        if self.file is not None:
            return await self._from_file(self.file, self.file.poll)
        out: list[RawLine] = []
        self._left = self.budget
        size = await self._size()
        if size < self.offset:  # cleared or rotated: all of the new log is new to us
            self._restart(out)
        if self._behind and size - self.offset > _BAD_SPAN:
            # the last poll could not read it all within its budget: jump near the end
            self._skip_to(size - _BAD_SPAN, out)
        first = len(out)
        end = min(size, self.offset + self.batch_bytes)
        self._behind = False
        try:
            while self.offset < end and len(out) < self.batch_lines:
                data, used = await self._read(self.offset, min(self.chunk, end - self.offset))
                self.rpc_bytes += len(data)
                self.offset += used
                out.extend(self._splitter.feed(data))
                self.offset = rewind(out, self.batch_lines, self._splitter, self.offset)
        except _Spent:  # behind only if bad bytes are dense here, not for one now and then
            self.spent += 1
            self._behind = self._bad_here
        self._drop_fragment(out, first)
        return self._lines(out)

    async def follow(self, keep: int, first: int | None = None) -> tuple[int, list[LogLine]]:
        """Read from its file: everything appended, of which only the last ``keep`` lines are
        made (:meth:`LogFile.follow <opsconsole.core.logs.file.LogFile.follow>`). Over
        XML-RPC: one :meth:`poll` (its budget per read), nothing passed over."""
        file = self.file
        if file is None:
            return 0, await self.poll()
        try:
            return await asyncio.to_thread(file.follow, keep, first=first)
        except OSError as exc:
            raise file_error(file.path, exc) from exc

    async def aclose(self) -> None:
        if self.file is not None:
            self.file.close()


def _readable_file(path: str) -> os.stat_result:
    """``os.stat`` of ``path`` once it was opened for reading (raises OSError if it cannot)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


class MainLogSource(_RemoteLog):
    """supervisord's own log (``logfile=`` of ``[supervisord]``) through ``readLog``."""

    method = "supervisor.readLog"
    _exact = False

    def __init__(
        self,
        client: SupervisorClient,
        *,
        label: str | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        chunk: int = DEFAULT_CHUNK,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        batch_lines: int = DEFAULT_BATCH_LINES,
    ) -> None:
        super().__init__(
            client,
            max_line=max_line,
            chunk=chunk,
            batch_bytes=batch_bytes,
            batch_lines=batch_lines,
        )
        server = client.target.name
        self.key = f"supervisord:{server}"
        self.label = label or "supervisord"

    async def _exists(self, offset: int) -> bool:
        """Does the log have a byte at ``offset``? (readLog past the end answers ''.)"""
        self.rpc_calls += 1
        try:
            return bool(await self.client.call(self.method, offset, 1))
        except ProtocolError:
            return True  # a byte supervisord cannot decode is still a byte

    async def _size(self) -> int:
        """readLog has no size call: find the end by doubling, then bisecting."""
        if not await self._exists(0):
            return 0
        lo, hi = 0, 1  # a byte exists at lo
        while await self._exists(hi):
            lo, hi = hi, hi * 2
        while hi - lo > 1:  # byte at lo, none at hi
            mid = (lo + hi) // 2
            if await self._exists(mid):
                lo = mid
            else:
                hi = mid
        return hi

    async def poll(self) -> list[LogLine]:
        out: list[RawLine] = []
        got = 0
        self._left = self.budget
        try:
            while got < self.batch_bytes and len(out) < self.batch_lines:
                data, used = await self._read(self.offset, self.chunk)
                if used <= 0:
                    break
                got += used
                self.rpc_bytes += len(data)
                self.offset += used
                out.extend(self._splitter.feed(data))
                if len(out) >= self.batch_lines:
                    self.offset = rewind(out, self.batch_lines, self._splitter, self.offset)
                    break
                if used < self.chunk:
                    break
        except _Spent:
            self.spent += 1
        if not got and self.offset > 0 and not await self._exists(self.offset - 1):
            # shorter than our offset: cleared (clearLog) or rotated (logfile_maxbytes)
            self._restart(out)
            return self._lines(out) + await self.poll()
        return self._lines(out)
