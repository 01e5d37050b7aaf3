"""The event timeline: every observed change, timestamped, bounded."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from opsconsole.core.host import BAD_STATES, Program
from opsconsole.core.supervisor import ProcessInfo


@dataclass(frozen=True)
class Event:
    time: float
    kind: str  # state | restart | server | action | worker | nginx | probe
    level: str  # info | warning | error
    source: str
    text: str


@dataclass
class Timeline:
    maxlen: int = 5000
    events: deque[Event] = field(init=False)
    listeners: list[Callable[[Event], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events = deque(maxlen=self.maxlen)

    def add(self, kind: str, level: str, source: str, text: str, at: float | None = None) -> Event:
        event = Event(at if at is not None else time.time(), kind, level, source, text)
        self.events.append(event)
        for listener in list(self.listeners):
            listener(event)
        return event

    def extend(self, events: Iterable[Event]) -> None:
        for e in events:
            self.events.append(e)
            for listener in list(self.listeners):
                listener(e)


def process_changes(
    before: Mapping[tuple[str, str], ProcessInfo | Program],
    after: Sequence[ProcessInfo | Program],
    at: float | None = None,
    qualify: bool = False,
) -> list[Event]:
    """State transitions and unexpected restarts between two polls (pure).

    ``qualify`` names the supervisord in each source (``server/name``): for several servers.
    Programs are supervisor's ProcessInfo or a host snapshot's Program (compared by state name).
    """
    now = at if at is not None else time.time()
    events: list[Event] = []
    seen = set()
    for proc in after:
        seen.add(proc.key)
        old = before.get(proc.key)
        source = f"{proc.server}/{proc.fullname}" if qualify else proc.fullname
        if old is None:
            if before:
                events.append(Event(now, "state", "info", source, f"appeared ({proc.statename})"))
            continue
        if old.statename != proc.statename:
            level = "info"
            if proc.statename in BAD_STATES:
                level = "error"
            elif proc.statename == "EXITED":
                level = "warning"
            text = f"{old.statename} → {proc.statename}"
            if proc.statename == "EXITED":
                text += f" (exit status {proc.exitstatus})"
            if proc.spawnerr:
                text += f": {proc.spawnerr}"
            events.append(Event(now, "state", level, source, text))
        elif proc.statename == "RUNNING" and old.pid and proc.pid and old.pid != proc.pid:
            events.append(
                Event(now, "restart", "warning", source, f"restarted: pid {old.pid} → {proc.pid}")
            )
    for key, old in before.items():
        if key not in seen and after:
            src = f"{old.server}/{old.fullname}" if qualify else old.fullname
            events.append(Event(now, "state", "info", src, "removed from supervisord"))
    return events


@dataclass(frozen=True)
class WorkerSet:
    """What the timeline remembers of a gunicorn master between scans."""

    label: str  # program name, or gunicorn's --name
    master_pid: int
    workers: frozenset[int]


def worker_key(program: str | None, server: str | None, name: str) -> str:
    """The stable key of a master for :func:`worker_changes`: its supervisor program (with
    the supervisord), else its gunicorn name. Apart, so that a master of another supervisord
    named like one of ours (``--name api``) is never taken for our ``api`` restarted."""
    return f"program {server}:{program}" if program else f"name {name}"


def worker_changes(
    before: dict[str, WorkerSet],
    after: dict[str, WorkerSet],
    at: float | None = None,
    alive: Callable[[int], bool] = lambda pid: False,
) -> list[Event]:
    """Worker count changes, workers replaced by their master, masters restarted (pure).

    Keys are stable names (the supervisor program, else gunicorn's name), so a restarted
    master is recognised as the same service.
    """
    now = at if at is not None else time.time()
    events: list[Event] = []
    for key, new in after.items():
        old = before.get(key)
        if old is None:
            continue
        if old.master_pid != new.master_pid:
            if alive(old.master_pid):
                continue  # the old master still runs: not a restart (two masters, one name)
            events.append(
                Event(
                    now,
                    "worker",
                    "warning",
                    new.label,
                    f"gunicorn master restarted: pid {old.master_pid} → {new.master_pid}",
                )
            )
            continue
        gone = old.workers - new.workers
        born = new.workers - old.workers
        if len(new.workers) != len(old.workers):
            events.append(
                Event(
                    now,
                    "worker",
                    "info",
                    new.label,
                    f"workers {len(old.workers)} → {len(new.workers)}",
                )
            )
        elif gone and born:
            pids = ", ".join(str(p) for p in sorted(gone))
            new_pids = ", ".join(str(p) for p in sorted(born))
            events.append(
                Event(
                    now,
                    "worker",
                    "warning",
                    new.label,
                    f"worker {pids} replaced by {new_pids} (killed by the master's timeout, "
                    "crashed, or a reload: see the error log)",
                )
            )
    for key, old in before.items():
        if key not in after:
            events.append(
                Event(
                    now, "worker", "warning", old.label, f"gunicorn master {old.master_pid} is gone"
                )
            )
    return events
