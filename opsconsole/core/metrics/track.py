"""What one snapshot cannot say: the starts, flaps, reloads and worker deaths seen between
snapshots, and whether nginx serves the config on disk.

A :class:`Tracker` is fed every collection (programs, gunicorn, nginx, the nginx config) and
keeps small counters per program and per gunicorn master. Everything is "seen": a console
that polls once a second can miss a restart that happened and ended between two polls, so
the counters are lower bounds since the console started, never a history.

Pure (no I/O): the poller (:mod:`opsconsole.core.metrics.poll`) feeds it, the exporter and
the alert rules read it.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from opsconsole.core.host import (
    GunicornSnapshot,
    NginxConfigDump,
    NginxSnapshot,
    Program,
    ProgramsSnapshot,
)

#: A program is flapping after this many unexpected exits within FLAP_WINDOW seconds.
FLAP_COUNT = 3
FLAP_WINDOW = 300.0

_UP = frozenset({"RUNNING", "STARTING"})


@dataclass
class ProgramTrack:
    """One program across collections."""

    state: str
    start: int
    starts: int = 0
    flaps: int = 0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=64))


@dataclass
class MasterTrack:
    """One gunicorn master (by its program, else its name) across collections."""

    pid: int
    workers: frozenset[int]
    reloads_stat: int | None = None
    reloads: int = 0
    deaths: int = 0


@dataclass(frozen=True)
class NginxConfigState:
    """The last ``nginx -T`` the console ran, and whether the serving workers run it."""

    at: float
    test_ok: bool
    summary: str
    #: the workers serving now started after the config on disk last changed (None: unknown)
    applied: bool | None


def config_digest(dump: NginxConfigDump) -> str:
    """A digest of the config's files as nginx -T printed them (or as they are on disk)."""
    h = hashlib.sha256()
    for f in sorted((*dump.files, *dump.on_disk), key=lambda f: f.path):
        h.update(f.path.encode() + b"\0" + f.text.encode("utf-8", "replace") + b"\0")
    return h.hexdigest()


def unexpected_exit(old: Program | None, new: Program) -> bool:
    """``new`` shows an exit nobody asked for since ``old``: the program was up and is now
    FATAL, BACKOFF, UNKNOWN or EXITED with a code its config does not expect, or it was
    running and runs again under a new start time (it exited and was restarted between
    two polls)."""
    if old is None:
        return False
    if old.state in _UP and new.trouble and new.state != old.state:
        return True
    return (
        old.state == "RUNNING" and new.state in _UP and bool(new.start) and new.start != old.start
    )


class Tracker:
    """Counters and incidents derived across collections (see the module docstring)."""

    def __init__(
        self,
        *,
        flap_count: int = FLAP_COUNT,
        flap_window: float = FLAP_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.flap_count = flap_count
        self.flap_window = flap_window
        self.clock = clock
        self.programs: dict[tuple[str, str], ProgramTrack] = {}
        self._last: dict[tuple[str, str], Program] = {}
        self.masters: dict[str, MasterTrack] = {}
        self.nginx_config: NginxConfigState | None = None
        self._serving_digest: str | None = None
        self._serving_marker: tuple[object, ...] | None = None
        self._marker: tuple[object, ...] | None = None

    # -- supervisor ----------------------------------------------------------------------

    def observe_programs(self, snap: ProgramsSnapshot) -> None:
        now = self.clock()
        for server in snap.servers:
            if not server.reachable or server.stale:
                continue  # nothing new was read: keep the counters as they are
            for p in server.programs:
                old = self._last.get(p.key)
                track = self.programs.get(p.key)
                if track is None:
                    track = self.programs[p.key] = ProgramTrack(p.state, p.start)
                elif p.start and p.start != track.start:
                    track.starts += 1
                if unexpected_exit(old, p):
                    track.flaps += 1
                    track.recent.append(now)
                track.state, track.start = p.state, p.start or track.start
                self._last[p.key] = p

    def flapping(self, key: tuple[str, str]) -> bool:
        """At least ``flap_count`` unexpected exits seen within ``flap_window`` seconds."""
        track = self.programs.get(key)
        if track is None:
            return False
        since = self.clock() - self.flap_window
        return sum(1 for t in track.recent if t >= since) >= self.flap_count

    def program(self, key: tuple[str, str]) -> ProgramTrack | None:
        return self.programs.get(key)

    # -- gunicorn ------------------------------------------------------------------------

    def observe_gunicorn(self, snap: GunicornSnapshot) -> None:
        for m in snap.masters:
            key = master_key(m.program, m.name, m.pid)
            workers = frozenset(w.pid for w in m.workers)
            stat = m.stats.reloads if m.stats is not None else None
            track = self.masters.get(key)
            if track is None or track.pid != m.pid:
                counts = (track.reloads, track.deaths) if track is not None else (0, 0)
                track = self.masters[key] = MasterTrack(m.pid, workers, stat)
                track.reloads, track.deaths = counts
                continue
            gone, born = track.workers - workers, workers - track.workers
            if stat is not None and track.reloads_stat is not None and stat > track.reloads_stat:
                track.reloads += stat - track.reloads_stat
            elif track.workers and gone == track.workers and len(born) >= len(gone) > 1:
                track.reloads += 1  # every worker replaced at once: a reload (HUP)
            else:
                track.deaths += min(len(gone), len(born))  # replaced, not scaled away
            track.workers, track.reloads_stat = workers, stat

    # -- nginx ---------------------------------------------------------------------------

    def observe_nginx(self, snap: NginxSnapshot) -> None:
        """Remember which worker generation serves (a reload or a restart changes it)."""
        self._marker = (snap.instance.master_pid, snap.reloads_seen, snap.last_reload)

    @property
    def nginx_changed(self) -> bool:
        """nginx was reloaded or restarted since the config was last checked."""
        return self._marker is not None and self._marker != self._serving_marker

    def observe_nginx_config(self, dump: NginxConfigDump) -> NginxConfigState:
        """Record an ``nginx -T``. The config is applied when it is the one on disk when the
        serving workers were first seen (or when the console first looked)."""
        digest = config_digest(dump)
        if self._serving_digest is None or self.nginx_changed:
            self._serving_digest = digest
            self._serving_marker = self._marker
        applied = digest == self._serving_digest
        self.nginx_config = NginxConfigState(
            at=dump.at, test_ok=dump.test.ok, summary=dump.test.summary, applied=applied
        )
        return self.nginx_config


def master_key(program: str | None, name: str, pid: int) -> str:
    """A gunicorn master's stable name: its supervisor program; a master no supervisord of
    the host runs is named ``NAME@PID`` (its pid is all that tells two of them apart)."""
    return program or f"{name or 'gunicorn'}@{pid}"
