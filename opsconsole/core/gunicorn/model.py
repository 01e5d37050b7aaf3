"""Gunicorn as opsconsole shows it: masters and workers, their flags, defaults and errors.

Plain data and pure functions; nothing here reads the machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import psutil

from opsconsole.core.errors import OpsError
from opsconsole.core.gunicorn.control import CtlStats
from opsconsole.core.host import GunicornMaster
from opsconsole.core.procs import ProcIdentity

DEFAULT_TIMEOUT = 30
DEFAULT_WORKER_CLASS = "sync"
DEFAULT_BIND = "127.0.0.1:8000"
#: shown for a setting that cannot be read without running code (never gunicorn's default)
UNKNOWN = "unknown"
#: A worker's heartbeat is refreshed at least every timeout/2 (gunicorn passes timeout/2 to
#: the worker as its select timeout), so "older than timeout/2" needs a little slack.
STUCK_GRACE = 1.0
#: How long live < target may last (workers booting) before the master is marked.
UNDER_TARGET_GRACE = 5.0
#: A worker with RSS above this many times the median of its siblings is marked.
RSS_FACTOR = 2.0

#: Flags → (symbol, words). Shown as text, never as colour only.
FLAG_TEXT: dict[str, tuple[str, str]] = {
    "stuck": ("◆", "stuck"),
    "stopped": ("‖", "stopped"),
    "rss-high": ("▲", "RSS>2×median"),
    "under-target": ("▼", "below target"),
    "pidfile-stale": ("≠", "pidfile stale"),
    "ctl-down": ("✗", "control socket down"),
    "ctl-shared": ("⇄", "ctl: shared path, not used"),
    "aborted": ("†", "aborted"),
}


class GunicornError(OpsError):
    """A gunicorn operation could not be done."""


class ScaleRefused(GunicornError):
    """A scale request was refused before anything was sent."""


class MasterNotFound(GunicornError):
    """No gunicorn master matches what the operator named."""


def worker_flags(
    heartbeat_age: float | None,
    timeout: float,
    rss: int | None,
    median_rss: float | None,
    status: str = "",
) -> list[str]:
    """Flags for one worker (pure): stuck heartbeat, RSS above 2× the median, stopped."""
    flags: list[str] = []
    if heartbeat_age is not None and heartbeat_age > timeout / 2 + STUCK_GRACE:
        flags.append("stuck")
    if status == psutil.STATUS_STOPPED:
        flags.append("stopped")
    if rss is not None and median_rss and rss > RSS_FACTOR * median_rss:
        flags.append("rss-high")
    return flags


def flag_label(flags: Sequence[str]) -> str:
    """``["stuck"]`` → ``"◆ stuck"`` (symbol and words, readable without colour)."""
    return "  ".join(
        f"{FLAG_TEXT.get(f, ('!', f))[0]} {FLAG_TEXT.get(f, ('!', f))[1]}" for f in flags
    )


# --------------------------------------------------------------------------- models


@dataclass
class Worker:
    """One worker process of a master."""

    pid: int
    identity: ProcIdentity
    age: float  # seconds since it started
    cpu_percent: float | None = None  # None on the first sample
    rss: int | None = None
    threads: int | None = None
    connections: int | None = None  # open TCP connections (listening socket not counted)
    heartbeat_age: float | None = None  # seconds since its last heartbeat
    status: str = ""
    flags: list[str] = field(default_factory=list)


@dataclass
class Master:
    """One gunicorn master (arbiter) with what is known about it."""

    pid: int
    identity: ProcIdentity
    name: str
    program: str | None = None  # supervisor program (fullname) when under supervisor
    server: str | None = None  # which supervisord
    binds: list[str] = field(default_factory=list)
    worker_class: str = DEFAULT_WORKER_CLASS
    configured: int | None = None  # -w / --workers / config file; None = unknown
    live: int = 0
    target: int | None = None
    target_source: str = "configured"  # control socket | requested | configured | unknown
    uptime: float = 0.0
    timeout: int = DEFAULT_TIMEOUT  # what waits use; gunicorn's default when unknown
    #: settings that cannot be read (``worker_class``, ``timeout``): shown as unknown
    unknown: list[str] = field(default_factory=list)
    control_socket: str | None = None
    error_log: str | None = None
    pidfile: str | None = None
    cwd: str | None = None
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    stats: CtlStats | None = None
    found_by: str = "scan"  # supervisor | pidfile | scan

    @property
    def label(self) -> str:
        """``gunicorn master 1234 (web)`` — how messages name it."""
        return f"gunicorn master {self.pid} ({self.program or self.name})"

    @property
    def ctl_usable(self) -> bool:
        """A control socket proven to be this master's at the last scan (and not down)."""
        return self.control_socket is not None and not (
            {"ctl-down", "ctl-shared"} & set(self.flags)
        )

    @property
    def timeout_text(self) -> str:
        """``"30s"``, or ``"unknown"`` when the master's timeout cannot be read."""
        return UNKNOWN if "timeout" in self.unknown else f"{self.timeout}s"

    @property
    def unknown_settings(self) -> list[str]:
        """Every setting shown as unknown, the worker count included."""
        return (["workers"] if self.configured is None else []) + list(self.unknown)

    @property
    def scale_base(self) -> int:
        """The worker count a relative scale starts from: the master's own target when known
        (control socket, or what opsconsole asked for last), else the live count."""
        if self.target is not None and self.target_source in ("control socket", "requested"):
            return self.target
        return self.live

    @property
    def drift_note(self) -> str | None:
        """Says so when the live count differs from the configured one (TTIN/TTOU do not
        survive a restart)."""
        if self.configured is None or self.live == self.configured:
            return None
        return (
            f"running {self.live} workers, configured {self.configured}: "
            f"restarting the program returns to {self.configured}"
        )


#: a scanned master, or the host snapshot of one (both are looked up alike)
_M = TypeVar("_M", "Master", "GunicornMaster")


def find_master(masters: Sequence[_M], target: str, server: str | None = None) -> _M:
    """The master an operator named: a master pid, a supervisor program name (``web`` or
    ``group:web``), or gunicorn's ``--name``. Raises MasterNotFound (none or ambiguous)."""
    text = target.strip()
    pool = [m for m in masters if server is None or m.server == server]
    if text.isdigit():
        pid = int(text)
        hits = [m for m in pool if m.pid == pid]
        if not hits:
            hits = [m for m in pool if any(w.pid == pid for w in m.workers)]
    else:
        hits = [m for m in pool if m.program is not None and text in (m.program, _short(m.program))]
        if not hits:
            hits = [m for m in pool if m.name == text]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        known = ", ".join(sorted({m.program or f"{m.name} (pid {m.pid})" for m in pool})) or "none"
        raise MasterNotFound(f"no gunicorn master matches {target!r}", f"masters found: {known}")
    where = ", ".join(f"{m.pid} ({m.server or 'no supervisor'})" for m in hits)
    raise MasterNotFound(
        f"{target!r} matches {len(hits)} gunicorn masters: {where}",
        "name the master by pid, or pick the server with --server",
    )


def _short(fullname: str) -> str:
    return fullname.split(":", 1)[1] if ":" in fullname else fullname
