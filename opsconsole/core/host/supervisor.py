"""Supervisor snapshots: programs and the supervisords that run them."""

from __future__ import annotations

from dataclasses import dataclass

from opsconsole.core.host.codec import Snapshot
from opsconsole.core.host.errors import HostError

#: States an operator must look at (supervisor's words).
BAD_STATES = frozenset({"FATAL", "BACKOFF", "UNKNOWN"})


@dataclass(frozen=True)
class Program(Snapshot):
    """One supervisor program (process) as its supervisord reported it.

    ``exitcodes`` are the exit codes its config expects (None when not read: 0 is expected);
    ``startsecs`` how long it must stay up to count as started (None when not read).
    """

    server: str
    name: str
    group: str
    state: str  # statename: RUNNING, FATAL ...
    pid: int = 0
    description: str = ""
    start: int = 0
    stop: int = 0
    now: int = 0
    spawnerr: str = ""
    exitstatus: int = 0
    stdout_logfile: str = ""
    stderr_logfile: str = ""
    exitcodes: tuple[int, ...] | None = None
    startsecs: int | None = None

    @property
    def fullname(self) -> str:
        return self.name if self.group == self.name else f"{self.group}:{self.name}"

    @property
    def statename(self) -> str:
        """``state`` under the name supervisor's ProcessInfo gives it (views use either)."""
        return self.state

    @property
    def key(self) -> tuple[str, str]:
        """``(server, fullname)``: unique across every supervisord of the host."""
        return (self.server, self.fullname)

    @property
    def uptime(self) -> float | None:
        """How long it has run, by supervisord's clock when it was read (``now``)."""
        return self.uptime_at(None)

    def uptime_at(self, clock: float | None) -> float | None:
        """How long it has run at ``clock``, the host's clock (epoch seconds; None: its own
        ``now``). A pushed program's ``now`` is the clock of its last change (an agent does
        not send an uptime that only grew): what shows it passes the host's clock."""
        if self.state == "RUNNING" and self.start and self.now:
            now = self.now if clock is None else max(self.now, clock)
            return float(max(0, now - self.start))
        return None

    @property
    def trouble(self) -> bool:
        """FATAL, BACKOFF, UNKNOWN, or EXITED with a code its config does not expect."""
        if self.state in BAD_STATES:
            return True
        if self.state == "EXITED":
            return self.exitstatus not in (self.exitcodes or (0,))
        return False


@dataclass(frozen=True)
class Supervisord(Snapshot):
    """One configured supervisord and its programs.

    ``status``: connected, unreachable, not responding, auth failed or error (``error`` then
    says why); ``stale`` means the programs are from an earlier poll. ``local`` is true when
    its pids are this host's (a unix socket or a loopback URL): only those are matched to
    gunicorn masters and nginx.
    """

    name: str
    url: str
    local: bool = True
    status: str = "connected"
    error: HostError | None = None
    version: str = ""
    pid: int = 0
    state: str = ""
    latency: float = 0.0
    stale: bool = False
    programs: tuple[Program, ...] = ()
    identification: str = ""

    @property
    def reachable(self) -> bool:
        return self.status == "connected"


@dataclass(frozen=True)
class ProgramsSnapshot(Snapshot):
    """Every configured supervisord of one host, at one time."""

    host: str
    at: float
    servers: tuple[Supervisord, ...] = ()

    @property
    def programs(self) -> tuple[Program, ...]:
        return tuple(p for s in self.servers for p in s.programs)

    def server(self, name: str) -> Supervisord | None:
        return next((s for s in self.servers if s.name == name), None)
