"""One host, read on the console's intervals, kept for the exporter and the alert rules.

A :class:`Poller` reads a :class:`~opsconsole.core.host.Host` part by part (programs,
gunicorn, nginx, probes, the topology, ``nginx -T``), each with a timeout, and keeps the
latest good value of each with when it was read, how long the read took and, when the
latest read failed, why (in words). A part that fails or times out keeps its last good
value, marked stale. Every read feeds the :class:`~opsconsole.core.metrics.track.Tracker`.

Intervals: programs and gunicorn every ``interval`` (the console's refresh, 1 s), nginx too,
probes every ``probe_interval`` (2 s, as the TUI), the topology every ``topology_interval``
and ``nginx -T`` every ``config_interval`` (30 s: nginx -T costs a process), and at once when
nginx was reloaded or restarted. Reads only: nothing here goes through ``perform``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    GunicornSnapshot,
    Host,
    NginxConfigDump,
    NginxSnapshot,
    ProbesSnapshot,
    ProgramsSnapshot,
    TopologySnapshot,
)
from opsconsole.core.metrics.track import Tracker

T = TypeVar("T")

#: The parts of a collection, in the order they are read.
PARTS = ("programs", "gunicorn", "nginx", "probes", "topology", "nginx_config")


@dataclass
class Part(Generic[T]):
    """The latest good value of one part and the state of its latest read."""

    name: str
    interval: float
    value: T | None = None
    #: when the latest good value was read (monotonic), and its wall-clock time
    at: float = 0.0
    wall: float = 0.0
    #: how long the latest read took (seconds), whatever its outcome
    duration: float = 0.0
    #: why the latest read failed (empty: it did not)
    error: str = ""
    #: when a read was last attempted (monotonic; 0: never)
    tried: float = 0.0
    reads: int = 0
    failures: int = 0

    @property
    def ok(self) -> bool:
        return self.value is not None and not self.error

    def due(self, now: float) -> bool:
        return self.tried == 0.0 or now - self.tried >= self.interval


def _words(exc: BaseException) -> str:
    if isinstance(exc, OpsError):
        return exc.message
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


class Poller:
    """Reads ``host`` part by part and keeps the latest values (see the module docstring)."""

    def __init__(
        self,
        host: Host,
        *,
        interval: float = 1.0,
        probe_interval: float = 2.0,
        topology_interval: float = 30.0,
        config_interval: float = 30.0,
        timeout: float = 10.0,
        tracker: Tracker | None = None,
    ) -> None:
        self.host = host
        self.timeout = timeout
        self.tracker = tracker or Tracker()
        self.programs: Part[ProgramsSnapshot] = Part("programs", interval)
        self.gunicorn: Part[GunicornSnapshot] = Part("gunicorn", interval)
        self.nginx: Part[NginxSnapshot] = Part("nginx", interval)
        self.probes: Part[ProbesSnapshot] = Part("probes", probe_interval)
        self.topology: Part[TopologySnapshot] = Part("topology", topology_interval)
        self.nginx_config: Part[NginxConfigDump] = Part("nginx_config", config_interval)
        self._locks = {name: asyncio.Lock() for name in PARTS}
        self.rounds = 0

    @property
    def parts(self) -> list[Part[Any]]:
        return [
            self.programs,
            self.gunicorn,
            self.nginx,
            self.probes,
            self.topology,
            self.nginx_config,
        ]

    async def _read(
        self, part: Part[T], read: Callable[[], Awaitable[T]], feed: Callable[[T], object]
    ) -> None:
        lock = self._locks[part.name]
        if lock.locked():  # a read of this part is under way: its answer will do
            async with lock:
                return
        async with lock:
            started = time.monotonic()
            part.tried = started
            part.reads += 1
            try:
                value = await asyncio.wait_for(read(), timeout=self.timeout)
            except Exception as exc:  # a part that cannot be read keeps its last value
                part.error = _words(exc)
                part.failures += 1
            else:
                part.value, part.error = value, ""
                part.at, part.wall = time.monotonic(), time.time()
                feed(value)
            part.duration = time.monotonic() - started

    async def refresh_programs(self) -> None:
        await self._read(self.programs, self.host.programs, self.tracker.observe_programs)

    def feed_programs(self, snap: ProgramsSnapshot) -> None:
        """Take programs read by someone else (the console's own refresh loops) as this
        poller's latest, instead of reading them again."""
        part = self.programs
        part.value, part.error, part.tried = snap, "", time.monotonic()
        part.at, part.wall, part.duration = part.tried, snap.at, 0.0
        self.tracker.observe_programs(snap)

    async def refresh_gunicorn(self) -> None:
        await self._read(self.gunicorn, self.host.gunicorn, self.tracker.observe_gunicorn)

    async def refresh_nginx(self) -> None:
        await self._read(self.nginx, self.host.nginx, self.tracker.observe_nginx)

    async def refresh_probes(self) -> None:
        await self._read(self.probes, self.host.probes, lambda _: None)

    async def refresh_topology(self) -> None:
        await self._read(self.topology, self.host.topology, lambda _: None)

    async def refresh_nginx_config(self) -> None:
        await self._read(
            self.nginx_config, self.host.nginx_config, self.tracker.observe_nginx_config
        )

    async def refresh(self, *, programs: bool = True) -> None:
        """Read every part that is due (programs first: the others tie pids to them)."""
        now = time.monotonic()
        if programs and self.programs.due(now):
            await self.refresh_programs()
        jobs = []
        if self.gunicorn.due(now):
            jobs.append(self.refresh_gunicorn())
        if self.nginx.due(now):
            jobs.append(self.refresh_nginx())
        if self.probes.due(now):
            jobs.append(self.refresh_probes())
        if self.topology.due(now):
            jobs.append(self.refresh_topology())
        await asyncio.gather(*jobs)
        running = self.nginx.value is not None and self.nginx.value.running
        if running and (self.nginx_config.due(time.monotonic()) or self.tracker.nginx_changed):
            await self.refresh_nginx_config()
        self.rounds += 1

    async def run(self, stop: asyncio.Event, *, programs: bool = True) -> None:
        """Refresh until ``stop`` is set. A bug in one round never stops the next."""
        step = min(p.interval for p in self.parts)
        while not stop.is_set():
            try:
                await self.refresh(programs=programs)
            except Exception:  # pragma: no cover - _read catches what a host raises
                pass
            try:
                await asyncio.wait_for(stop.wait(), timeout=step)
            except asyncio.TimeoutError:
                pass
