"""Log sources by name: files, and the way from a :class:`SourceSpec` to a source.

* :class:`FileSource` — any file (gunicorn/nginx access and error logs, user paths), read
  with :class:`~opsconsole.core.logs.file.LogFile` in a thread (``tail -F`` semantics).
* :class:`~opsconsole.core.logs.supervisord.ProgramLogSource` and
  :class:`~opsconsole.core.logs.supervisord.MainLogSource` — what supervisord captured.

:func:`make_source` turns a spec (``file:PATH``, ``PROGRAM``, ``PROGRAM:stderr``,
``supervisord``) into a source; :func:`available_sources` lists what can be read.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from opsconsole.core.logs.file import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_LINES,
    DEFAULT_CHUNK,
    LogFile,
)
from opsconsole.core.logs.model import LogError, LogSource, file_error
from opsconsole.core.logs.parse import (
    DEFAULT_MAX_LINE,
    LogLine,
)
from opsconsole.core.logs.supervisord import MainLogSource, ProgramLogSource
from opsconsole.core.supervisor import SupervisorClient
from opsconsole.core.supervisor.monitor import ServerSnapshot

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
        """Bytes read from the file so far (tests and benchmarks prove reads are bounded)."""
        return self.file.bytes_read

    async def open_tail(self, n: int) -> list[LogLine]:
        """The last ``n`` lines, read backwards (never the whole file). Raises LogError
        (missing, no permission, a directory) in words."""
        try:
            return await asyncio.to_thread(self.file.open_tail, n)
        except OSError as exc:
            raise file_error(self.file.path, exc) from exc

    async def poll(self) -> list[LogLine]:
        """Lines completed since the last call, one batch at most; follows rotation and
        truncation as ``tail -F``. Raises LogError as :meth:`open_tail`."""
        try:
            return await asyncio.to_thread(self.file.poll)
        except OSError as exc:
            raise file_error(self.file.path, exc) from exc

    async def follow(self, keep: int, first: int | None = None) -> tuple[int, list[LogLine]]:
        """Everything appended since the last call, of which the last ``keep`` lines are
        made and the ones before them counted: ``(passed, lines)``
        (:meth:`LogFile.follow <opsconsole.core.logs.file.LogFile.follow>`). For a view
        that shows a ring of ``keep`` lines of a log growing faster than lines can be made.
        Raises LogError as :meth:`open_tail`."""
        try:
            return await asyncio.to_thread(self.file.follow, keep, first=first)
        except OSError as exc:
            raise file_error(self.file.path, exc) from exc

    async def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        """The ``n`` lines ending at ``offset`` of generation ``gen``, oldest first ([] at the
        top, or when the file was rotated since)."""
        return await asyncio.to_thread(self.file.before, offset, n, gen)

    async def aclose(self) -> None:
        """Close the file. Raises nothing."""
        self.file.close()


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
