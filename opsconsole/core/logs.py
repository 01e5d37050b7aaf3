"""Log sources behind one async interface, merged into one bounded stream.

Sources:

* :class:`FileSource` — any file (gunicorn/nginx access and error logs, user paths), read
  with :class:`~opsconsole.core.logfile.LogFile` in a thread (``tail -F`` semantics).
* :class:`ProgramLogSource` — a program's stdout or stderr as captured by supervisord, read
  over XML-RPC with byte offsets (works over HTTP and without permission on the files).
  ``tailProcess*Log(name, 0, 0)`` gives the log's size; a size below our offset means the log
  was cleared (``clearProcessLogs``) or rotated: we restart at 0 of the new file, so what was
  written since is shown once, and nothing is repeated.
* :class:`MainLogSource` — supervisord's own log through ``readLog`` with offsets.

Every source has ``open_tail(n)`` (last ``n`` lines, never reading a log whole),
``poll()`` (new complete lines, capped per call), ``before(offset, n, gen)`` (scroll back)
and ``aclose()``. :class:`LogStream` polls several and merges them by time into a ring
buffer of bounded size.

Bytes that supervisord cannot send over XML-RPC (invalid UTF-8 makes it answer HTTP 500,
control bytes such as ESC or NUL make its XML invalid) are recovered: the answer is re-read
tolerantly, and a byte that still cannot be read is shown as U+FFFD.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import xmlrpc.client
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from opsconsole.core.errors import OpsError
from opsconsole.core.logfile import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_LINES,
    DEFAULT_CHUNK,
    LineSplitter,
    LogFile,
    RawLine,
    rewind,
    scan_back,
)
from opsconsole.core.logparse import (
    DEFAULT_MAX_LINE,
    Annotator,
    LogLine,
    decode_line,
    gunicorn_log_paths,
    merge_streams,
)
from opsconsole.core.monitor import ServerSnapshot
from opsconsole.core.supervisor import READ_METHODS, ProtocolError, SupervisorClient

__all__ = [
    "FileSource",
    "LogError",
    "LogSource",
    "LogStream",
    "MainLogSource",
    "ProgramLogSource",
    "RingBuffer",
    "SourceSpec",
    "available_sources",
    "gunicorn_log_paths",
    "make_source",
]

DEFAULT_RING = 20000


class LogError(OpsError):
    """A log source cannot be read."""


class LogSource(Protocol):
    """What the stream and the views need from any log."""

    key: str
    label: str

    async def open_tail(self, n: int) -> list[LogLine]:
        """The last ``n`` complete lines; following continues after them."""
        ...

    async def poll(self) -> list[LogLine]:
        """Lines completed since the last call, in order, at most one batch."""
        ...

    async def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        """The ``n`` lines before ``offset`` (oldest first); [] at the top or after rotation."""
        ...

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------- files


class FileSource:
    """A log file followed like ``tail -F``; the blocking reads run in a thread."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        label: str | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        chunk: int = DEFAULT_CHUNK,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        batch_lines: int = DEFAULT_BATCH_LINES,
    ) -> None:
        path = os.path.expanduser(os.fspath(path))
        self.key = f"file:{path}"
        self.label = label or os.path.basename(path)
        self.file = LogFile(
            path,
            source=self.label,
            max_line=max_line,
            chunk=chunk,
            batch_bytes=batch_bytes,
            batch_lines=batch_lines,
        )

    @property
    def bytes_read(self) -> int:
        return self.file.bytes_read

    async def open_tail(self, n: int) -> list[LogLine]:
        try:
            return await asyncio.to_thread(self.file.open_tail, n)
        except OSError as exc:
            raise _file_error(self.file.path, exc) from exc

    async def poll(self) -> list[LogLine]:
        try:
            return await asyncio.to_thread(self.file.poll)
        except OSError as exc:
            raise _file_error(self.file.path, exc) from exc

    async def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        return await asyncio.to_thread(self.file.before, offset, n, gen)

    async def aclose(self) -> None:
        self.file.close()


def _file_error(path: str, exc: OSError) -> LogError:
    if isinstance(exc, PermissionError):
        return LogError(
            f"no permission to read {path}",
            "run as a user who can read it (e.g. in the adm group), or read it through "
            "supervisord if it is a program's captured output",
        )
    if isinstance(exc, IsADirectoryError):
        return LogError(f"{path} is a directory, not a log file")
    return LogError(f"cannot read {path}: {exc.strerror or exc}")


# --------------------------------------------------------------------------- supervisord

_XML_INVALID = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\r]")
_FROM_PRIVATE = {0xE000 + c: c for c in range(0x20)}


async def _raw_text(client: SupervisorClient, method: str, *params: Any) -> str | None:
    """Call a read method and parse its answer tolerantly: control bytes (which supervisord
    puts raw into its XML) and ``\\r`` survive byte for byte. None when that fails too.

    Uses the client's HTTP session directly; only read methods are allowed here.
    """
    if method not in READ_METHODS:  # pragma: no cover - programming error
        raise ValueError(f"{method} is not a read method")
    http = getattr(client, "_http", None)
    if not isinstance(http, httpx.AsyncClient):
        return None
    body = xmlrpc.client.dumps(params, methodname=method, allow_none=True).encode("utf-8")
    try:
        response = await http.post("/RPC2", content=body)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    fixed = _XML_INVALID.sub(lambda m: b"&#x%X;" % (0xE000 + m.group()[0]), response.content)
    try:
        values, _ = xmlrpc.client.loads(fixed, use_builtin_types=True)
    except Exception:  # any fault or parse failure: the caller falls back further
        return None
    if len(values) != 1:
        return None
    return str(values[0]).translate(_FROM_PRIVATE)


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
    ) -> None:
        self.client = client
        self.max_line = max_line
        self.chunk = chunk
        self.batch_bytes = batch_bytes
        self.batch_lines = batch_lines
        self.offset = 0
        self.gen = 0
        self.truncations = 0
        self.bytes_read = 0
        self.rpc_calls = 0
        self._splitter = LineSplitter(0, max_line)
        self._annotator = Annotator("")

    # subclasses: the method to read with and its leading arguments
    method = ""
    _exact = True  # does a read of ``length`` bytes inside the file return exactly that?

    def _args(self) -> tuple[Any, ...]:
        return ()

    async def _size(self) -> int:
        raise NotImplementedError

    async def _fetch(self, offset: int, length: int) -> str:
        self.rpc_calls += 1
        return str(await self.client.call(self.method, *self._args(), offset, length))

    async def _read(self, offset: int, length: int) -> tuple[bytes, int]:
        """Bytes at ``offset`` (up to ``length``) -> (data, bytes of the log consumed)."""
        try:
            data = (await self._fetch(offset, length)).encode("utf-8")
            return data, (length if self._exact else len(data))
        except ProtocolError:
            pass
        self.rpc_calls += 1
        raw = await _raw_text(self.client, self.method, *self._args(), offset, length)
        if raw is not None:
            data = raw.encode("utf-8", errors="surrogatepass")
            return data, (length if self._exact else len(data))
        # supervisord could not decode part of the range (invalid UTF-8, or a character cut
        # by the end of the range): read less.
        for k in (1, 2, 3):
            if length - k >= 1:
                try:
                    data = (await self._fetch(offset, length - k)).encode("utf-8")
                    return data, (length - k if self._exact else len(data))
                except ProtocolError:
                    continue
        if length <= 4:
            return b"\xff", 1  # one unreadable byte, shown as U+FFFD
        return await self._read(offset, length // 2)

    async def _read_span(self, start: int, end: int) -> bytes:
        parts: list[bytes] = []
        pos = start
        while pos < end:
            data, used = await self._read(pos, min(self.chunk, end - pos))
            if used <= 0:
                break
            parts.append(data)
            pos += used
        out = b"".join(parts)
        self.bytes_read += len(out)
        return out

    def _lines(self, raw: Sequence[RawLine], ann: Annotator | None = None) -> list[LogLine]:
        ann = ann or self._annotator
        now = time.time()
        return [
            ann.annotate(decode_line(b, self.max_line, d), offset=o, gen=self.gen, now=now)
            for o, b, d in raw
        ]

    async def _read_back(self, end: int, n: int) -> list[RawLine]:
        pos = end
        buf = b""
        while True:
            start = max(0, pos - self.chunk)
            buf = await self._read_span(start, pos) + buf
            pos = start
            lines, need_more = scan_back(buf, pos, n, self.max_line)
            if not need_more:
                return lines

    async def open_tail(self, n: int) -> list[LogLine]:
        self._annotator = Annotator(self.label)
        size = await self._size()
        end = size
        while end > 0:
            start = max(0, end - self.chunk)
            tail = await self._read_span(start, end)
            nl = tail.rfind(b"\n")
            if nl >= 0:
                end = start + nl + 1
                break
            if size - start > self.max_line:
                end = size
                break
            end = start
        raw = await self._read_back(end, n) if n > 0 and end > 0 else []
        self.offset = end
        self._splitter.reset(end)
        return self._lines(raw)

    async def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        if offset <= 0 or (gen is not None and gen != self.gen):
            return []
        return self._lines(await self._read_back(offset, n), Annotator(self.label))

    def _restart(self, out: list[RawLine]) -> None:
        out.extend(self._splitter.flush())
        self.truncations += 1
        self.gen += 1
        self.offset = 0
        self._splitter.reset(0)

    async def aclose(self) -> None:
        return None


class ProgramLogSource(_RemoteLog):
    """A supervisor program's captured stdout or stderr, read over XML-RPC."""

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
    ) -> None:
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"stream must be stdout or stderr, not {stream!r}")
        super().__init__(
            client,
            max_line=max_line,
            chunk=chunk,
            batch_bytes=batch_bytes,
            batch_lines=batch_lines,
        )
        self.name = name
        self.stream = stream
        server = client.target.name
        self.key = f"program:{server}/{name}:{stream}"
        self.label = label or (name if stream == "stdout" else f"{name}:err")
        self.method = (
            "supervisor.readProcessStdoutLog"
            if stream == "stdout"
            else "supervisor.readProcessStderrLog"
        )

    def _args(self) -> tuple[Any, ...]:
        return (self.name,)

    async def _size(self) -> int:
        """The log's size: ``tail(name, 0, 0)`` answers with the end offset and no data."""
        self.rpc_calls += 1
        _, end, _ = await self.client.tail_log(self.name, 0, 0, self.stream)
        return end

    async def poll(self) -> list[LogLine]:
        out: list[RawLine] = []
        size = await self._size()
        if size < self.offset:  # cleared or rotated: all of the new log is new to us
            self._restart(out)
        end = min(size, self.offset + self.batch_bytes)
        while self.offset < end and len(out) < self.batch_lines:
            data, used = await self._read(self.offset, min(self.chunk, end - self.offset))
            if used <= 0:
                break
            self.bytes_read += len(data)
            self.offset += used
            out.extend(self._splitter.feed(data))
            self.offset = rewind(out, self.batch_lines, self._splitter, self.offset)
        return self._lines(out)


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
        try:
            return bool(await self._fetch(offset, 1))
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
        while got < self.batch_bytes and len(out) < self.batch_lines:
            data, used = await self._read(self.offset, self.chunk)
            if used <= 0:
                break
            got += used
            self.bytes_read += len(data)
            self.offset += used
            out.extend(self._splitter.feed(data))
            if len(out) >= self.batch_lines:
                self.offset = rewind(out, self.batch_lines, self._splitter, self.offset)
                break
            if used < self.chunk:
                break
        if not got and self.offset > 0 and not await self._exists(self.offset - 1):
            # shorter than our offset: cleared (clearLog) or rotated (logfile_maxbytes)
            self._restart(out)
            return self._lines(out) + await self.poll()
        return self._lines(out)


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class SourceSpec:
    """Names a log: ``kind`` is ``program`` (with ``server``, ``name``, ``stream``),
    ``supervisord`` (with ``server``) or ``file`` (with ``path``)."""

    kind: str
    server: str = ""
    name: str = ""
    stream: str = "stdout"
    path: str = ""
    title: str = ""

    @property
    def key(self) -> str:
        if self.kind == "program":
            return f"program:{self.server}/{self.name}:{self.stream}"
        if self.kind == "supervisord":
            return f"supervisord:{self.server}"
        return f"file:{os.path.expanduser(self.path)}"

    @property
    def label(self) -> str:
        """Short name for the source column."""
        if self.title:
            return self.title
        if self.kind == "program":
            return self.name if self.stream == "stdout" else f"{self.name}:err"
        if self.kind == "supervisord":
            return "supervisord"
        return os.path.basename(self.path) or self.path

    @property
    def description(self) -> str:
        """One line for the source list."""
        if self.kind == "program":
            return f"{self.name} {self.stream} (supervisord {self.server})"
        if self.kind == "supervisord":
            return f"supervisord's own log ({self.server})"
        return self.path


def make_source(
    spec: SourceSpec,
    clients: Mapping[str, SupervisorClient],
    *,
    label: str | None = None,
    max_line: int = DEFAULT_MAX_LINE,
) -> LogSource:
    """Build the source a spec names. Raises LogError for an unknown server."""
    if spec.kind == "file":
        return FileSource(spec.path, label=label or spec.label, max_line=max_line)
    client = clients.get(spec.server)
    if client is None:
        if len(clients) == 1 and not spec.server:
            client = next(iter(clients.values()))
        else:
            raise LogError(
                f"no supervisord named {spec.server!r} is configured",
                f"configured: {', '.join(clients) or 'none'}",
            )
    if spec.kind == "supervisord":
        return MainLogSource(client, label=label or spec.label, max_line=max_line)
    return ProgramLogSource(
        client, spec.name, spec.stream, label=label or spec.label, max_line=max_line
    )


def available_sources(
    snapshots: Mapping[str, ServerSnapshot] | Iterable[ServerSnapshot],
    files: Iterable[str] = (),
) -> list[SourceSpec]:
    """Every log the operator can open: each program's stdout and stderr (when supervisord
    keeps one), each supervisord's own log, then the given files (deduplicated)."""
    snaps = list(snapshots.values()) if isinstance(snapshots, Mapping) else list(snapshots)
    out: list[SourceSpec] = []
    seen: set[str] = set()
    several = len(snaps) > 1
    for snap in snaps:
        for p in snap.processes:
            for stream, logfile in (("stdout", p.stdout_logfile), ("stderr", p.stderr_logfile)):
                if not logfile or logfile.upper() == "NONE":
                    continue
                name = p.fullname
                title = ""
                if several:
                    base = name if stream == "stdout" else f"{name}:err"
                    title = f"{snap.name}/{base}"
                spec = SourceSpec("program", snap.name, name, stream, title=title)
                if spec.key not in seen:
                    seen.add(spec.key)
                    out.append(spec)
        spec = SourceSpec(
            "supervisord", snap.name, title=f"{snap.name}/supervisord" if several else ""
        )
        out.append(spec)
        seen.add(spec.key)
    for path in files:
        spec = SourceSpec("file", path=os.path.expanduser(path))
        if spec.key not in seen:
            seen.add(spec.key)
            out.append(spec)
    return out


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
            line.seq = self.appended
            self._lines.append(line)

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

    def lines(self) -> list[LogLine]:
        return list(self._lines)


@dataclass
class LogStream:
    """Several sources as one stream ordered by time, kept in a ring buffer.

    ``open(n)`` loads each source's last ``n`` lines and merges them; ``poll()`` merges what
    every source added since. A source that fails is reported in ``errors`` (its message) and
    retried on the next poll; the others carry on.
    """

    sources: list[LogSource]
    ring_size: int = DEFAULT_RING
    ring: RingBuffer = field(init=False)
    errors: dict[str, OpsError] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.ring = RingBuffer(self.ring_size)

    @property
    def merged(self) -> bool:
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
                self.errors.pop(source.key, None)
                batches.append(result)
        return batches

    async def open(self, n: int) -> list[LogLine]:
        batches = await self._each([s.open_tail(n) for s in self.sources])
        lines = merge_streams(batches)
        self.ring.extend(lines)
        return lines

    async def poll(self) -> list[LogLine]:
        batches = await self._each([s.poll() for s in self.sources])
        lines = merge_streams(batches)
        self.ring.extend(lines)
        return lines

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
        for source in self.sources:
            await source.aclose()
