"""Polling several supervisords: one ``getAllProcessInfo`` per refresh and server.

The monitor turns each poll into a :class:`ServerSnapshot` (connected, or why not), backs off
when calls are slow, and retries a failed server at the normal interval so a restarted
supervisord is seen again within one refresh. A supervisord of this machine that shows no
sign of a change since the last poll (:mod:`.quiet`) is not asked again, for up to
``quiet.FULL_EVERY`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field, replace

from opsconsole.core.config import SupervisorTarget
from opsconsole.core.supervisor.client import SupervisorClient
from opsconsole.core.supervisor.model import (
    AuthFailed,
    NotResponding,
    ProcessInfo,
    ServerInfo,
    SupervisorError,
    Unreachable,
)
from opsconsole.core.supervisor.quiet import QuietCheck, early_signs


@dataclass
class ServerSnapshot:
    """The latest view of one supervisord."""

    name: str
    url: str
    status: str = "connecting"  # connected | unreachable | not responding | auth failed | error
    error: SupervisorError | None = None
    processes: list[ProcessInfo] = field(default_factory=list)
    info: ServerInfo | None = None
    latency: float = 0.0
    at: float = 0.0
    stale: bool = False  # processes are from an earlier successful poll
    #: supervisord's answer was byte-identical to the last one: ``processes`` is the very
    #: same list object as the previous snapshot's (a view may skip its redraw)
    unchanged: bool = False

    @property
    def ok(self) -> bool:
        """True when the last poll was answered."""
        return self.status == "connected"


def status_of(error: SupervisorError) -> str:
    """The word the status bar shows for a failed poll (``unreachable``, ``auth failed``, …)."""
    if isinstance(error, NotResponding):
        return "not responding"
    if isinstance(error, AuthFailed):
        return "auth failed"
    if isinstance(error, Unreachable):
        return "unreachable"
    return "error"


class SupervisorMonitor:
    """Owns one client per configured supervisord and polls them."""

    def __init__(
        self,
        targets: list[SupervisorTarget],
        *,
        timeout: float = 5.0,
        refresh: float = 1.0,
        read_only: bool = False,
    ) -> None:
        self.refresh = refresh
        self.clients: dict[str, SupervisorClient] = {
            t.name: SupervisorClient(t, timeout=timeout, read_only=read_only) for t in targets
        }
        self.snapshots: dict[str, ServerSnapshot] = {
            t.name: ServerSnapshot(t.name, t.url) for t in targets
        }
        self._info_at: dict[str, float] = {}
        #: per server: may a poll be answered from the last one (nothing changed there)?
        self.quiet: dict[str, QuietCheck] = {
            name: QuietCheck(client.target.url, client.socket_path)
            for name, client in self.clients.items()
        }
        #: per server: the quiet check's mark of the last poll, made in a thread
        self._marks: dict[str, asyncio.Future[None]] = {}

    def client(self, server: str) -> SupervisorClient:
        """The client of ``server`` (a configured name). Raises KeyError for another name."""
        return self.clients[server]

    async def poll(self, server: str) -> ServerSnapshot:
        """One refresh of ``server``. Never raises a SupervisorError: it is in the snapshot."""
        client = self.clients[server]
        prev = self.snapshots[server]
        started = time.monotonic()
        quiet = self.quiet[server]
        marking = self._marks.pop(server, None)
        if marking is not None:  # long done: it had a refresh interval
            with contextlib.suppress(Exception):
                await marking
        if prev.ok and not prev.stale and quiet.quiet():
            # the same supervisord, the same children, its log untouched, nothing between
            # states: it would answer what it answered (see quiet.py)
            snap = replace(prev, at=time.time(), unchanged=True)
            self.snapshots[server] = snap
            return snap
        try:
            # Identity (version, pid) on (re)connect and every 30 s: detects a restart.
            if not prev.ok or prev.info is None or started - self._info_at.get(server, 0) > 30:
                info = await client.get_server_info()
                self._info_at[server] = started
            else:
                info = prev.info
            processes = await client.get_all_process_info()
        except SupervisorError as exc:
            snap = ServerSnapshot(
                server,
                client.target.url,
                status=status_of(exc),
                error=exc,
                processes=prev.processes,
                info=prev.info,
                latency=time.monotonic() - started,
                at=time.time(),
                stale=True,
            )
        else:
            snap = ServerSnapshot(
                server,
                client.target.url,
                status="connected",
                processes=processes,
                info=info,
                latency=time.monotonic() - started,
                at=time.time(),
                unchanged=prev.ok and processes is prev.processes and info == prev.info,
            )
            if quiet.proven(info.pid):  # its signs now, right after the answer
                quiet.mark(info.pid, processes)
            else:  # off the event loop: the first proof reads supervisord's files and sockets
                loop = asyncio.get_running_loop()
                early = early_signs(info.pid, quiet.socket_path)  # as of the answer
                self._marks[server] = loop.run_in_executor(
                    None, quiet.mark, info.pid, processes, quiet.generation, early
                )
        self.snapshots[server] = snap
        return snap

    def expect_change(self) -> None:
        """The console acted on supervisord: the next poll of every server asks it."""
        for quiet in self.quiet.values():
            quiet.forget()

    def next_delay(self, server: str) -> float:
        """Seconds until the next poll: the refresh interval, longer when calls are slow."""
        snap = self.snapshots[server]
        if snap.ok:
            # Never spend more than ~1/4 of the time waiting on supervisord.
            return max(self.refresh, snap.latency * 4)
        return self.refresh

    def all_processes(self) -> list[ProcessInfo]:
        """Every program of every supervisord, as last polled (stale ones included)."""
        result: list[ProcessInfo] = []
        for snap in self.snapshots.values():
            result.extend(snap.processes)
        return result

    async def aclose(self) -> None:
        """Close every client. Raises nothing."""
        for client in self.clients.values():
            await client.aclose()
