"""Gunicorn snapshots: masters, workers, control-socket stats."""

from __future__ import annotations

from dataclasses import dataclass, replace

from opsconsole.core.host.codec import JSONValue, Snapshot


@dataclass(frozen=True)
class GunicornWorker(Snapshot):
    """One worker of a master. ``create_time`` proves which process ``pid`` was."""

    pid: int
    create_time: float
    age: float
    cpu_percent: float | None = None
    rss: int | None = None
    threads: int | None = None
    connections: int | None = None
    heartbeat_age: float | None = None
    status: str = ""
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class GunicornStats(Snapshot):
    """The master's ``show stats`` from its control socket (None: not given)."""

    pid: int | None = None
    uptime: float | None = None
    workers_current: int | None = None
    workers_target: int | None = None
    workers_spawned: int | None = None
    workers_killed: int | None = None
    reloads: int | None = None


@dataclass(frozen=True)
class GunicornMaster(Snapshot):
    """One gunicorn master, as ``opsconsole tree`` shows it. ``create_time`` proves which
    process ``pid`` was (a request naming it is refused if the pid now is another)."""

    pid: int
    create_time: float
    name: str
    program: str | None = None
    server: str | None = None
    binds: tuple[str, ...] = ()
    worker_class: str = "sync"
    configured: int | None = None
    live: int = 0
    target: int | None = None
    target_source: str = "configured"
    uptime: float = 0.0
    timeout: int = 30
    unknown: tuple[str, ...] = ()  # settings that cannot be read (worker_class, timeout)
    control_socket: str | None = None
    error_log: str | None = None
    pidfile: str | None = None
    cwd: str | None = None
    found_by: str = "scan"
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    workers: tuple[GunicornWorker, ...] = ()
    stats: GunicornStats | None = None
    #: its error log, then its access log: the absolute paths among them (for log views)
    log_files: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"gunicorn master {self.pid} ({self.program or self.name})"

    @property
    def scale_base(self) -> int:
        """The worker count a relative scale starts from (the scanned master's rule): the
        master's own target when known (control socket, or what opsconsole asked for
        last), else the live count."""
        if self.target is not None and self.target_source in ("control socket", "requested"):
            return self.target
        return self.live

    @property
    def ctl_usable(self) -> bool:
        """A control socket proven to be this master's at the scan (and not down)."""
        return self.control_socket is not None and not (
            {"ctl-down", "ctl-shared"} & set(self.flags)
        )

    @property
    def timeout_text(self) -> str:
        return "unknown" if "timeout" in self.unknown else f"{self.timeout}s"

    @property
    def unknown_settings(self) -> list[str]:
        return (["workers"] if self.configured is None else []) + list(self.unknown)

    def tree_json(self) -> dict[str, JSONValue]:
        """What ``opsconsole tree --json`` prints for this master (its stable shape)."""
        return {
            "pid": self.pid,
            "name": self.name,
            "program": self.program,
            "server": self.server,
            "binds": list(self.binds),
            "worker_class": self.worker_class,
            "configured": self.configured,
            "live": self.live,
            "target": self.target,
            "target_source": self.target_source,
            "uptime": round(self.uptime, 1),
            "timeout": None if "timeout" in self.unknown else self.timeout,
            "unknown": self.unknown_settings,
            "control_socket": self.control_socket,
            "error_log": self.error_log,
            "pidfile": self.pidfile,
            "found_by": self.found_by,
            "flags": list(self.flags),
            "notes": list(self.notes),
            "workers": [
                {
                    "pid": w.pid,
                    "age": round(w.age, 1),
                    "cpu_percent": w.cpu_percent,
                    "rss": w.rss,
                    "threads": w.threads,
                    "connections": w.connections,
                    "heartbeat_age": None if w.heartbeat_age is None else round(w.heartbeat_age, 2),
                    "status": w.status,
                    "flags": list(w.flags),
                }
                for w in self.workers
            ],
        }


@dataclass(frozen=True)
class GunicornSnapshot(Snapshot):
    """Every gunicorn master on the host. ``problems``: supervisords that could not be read
    (their masters are shown unattached). ``summary``: each master without its workers, its
    stats and its uptime (:meth:`summarised`)."""

    host: str
    at: float
    masters: tuple[GunicornMaster, ...] = ()
    problems: tuple[str, ...] = ()
    summary: bool = False

    def summarised(self) -> GunicornSnapshot:
        """What a fleet's hosts view shows of the host's gunicorn: each master, its settings
        and its worker counts (live, target), not its workers, stats or uptime. Their ages,
        heartbeats and CPU move at every read; this moves only when a master or a count does
        (what a subscription for a summary pushes, core.agent)."""
        return replace(
            self,
            masters=tuple(replace(m, workers=(), stats=None, uptime=0.0) for m in self.masters),
            summary=True,
        )
