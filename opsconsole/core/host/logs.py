"""Log chunks: which log (LogRef), its lines, and the cursor to read on from."""

from __future__ import annotations

from dataclasses import dataclass

from opsconsole.core.host.codec import Snapshot
from opsconsole.core.host.errors import HostError


@dataclass(frozen=True)
class LogRef(Snapshot):
    """Names a log: ``kind`` program (``server``, ``name``, ``stream``), supervisord
    (``server``) or file (``path``). An empty ``server`` means the first configured one."""

    kind: str
    server: str = ""
    name: str = ""
    stream: str = "stdout"
    path: str = ""


@dataclass(frozen=True)
class LogEntry(Snapshot):
    """One sanitised line: ``ts`` its own or inherited time, ``offset`` its byte offset in
    the log (-1 unknown) and ``gen`` the log's rotation count."""

    text: str
    level: str | None = None
    ts: float | None = None
    offset: int = -1
    gen: int = 0
    #: ``ts`` is the line's own time (not inherited from the line above)
    ts_own: bool = False
    #: what merging several logs by time sorts by (``ts``, or when the line was read)
    order_ts: float = 0.0


@dataclass(frozen=True)
class LogCursor(Snapshot):
    """Where a chunk ended: pass it back as ``after`` to get what was written since.

    A chunk read with ``before`` carries the position of its first line instead (``offset``
    in the log and ``gen``, its rotation count): pass it back as ``before`` to read further
    up. ``offset`` 0 means the top was reached (or the log was rotated since)."""

    key: str
    handle: int
    offset: int = -1
    gen: int = 0


@dataclass(frozen=True)
class LogChunk(Snapshot):
    """Lines of one log. ``notice`` says why part of it is not shown as written.

    ``passed``: lines written before ``lines`` that a read with ``keep`` passed over
    (counted, not sent: a newer ``keep`` lines push them out of the reader's ring anyway)."""

    host: str
    at: float
    source: LogRef
    label: str
    lines: tuple[LogEntry, ...] = ()
    cursor: LogCursor | None = None
    notice: HostError | None = None
    passed: int = 0


#: An agent that names this among its ``capabilities`` honours ``keep`` and ``first`` in
#: ``log`` (an older one would ignore them and send every line, up to a batch per read).
LOG_KEEP = "log.keep"

#: ``Host.log(before=...)`` reads at most this many lines at a time.
MAX_BEFORE_LINES = 5000
