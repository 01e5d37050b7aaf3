"""FleetHost: the Host protocol over the hosts of a console's fleet (:mod:`opsconsole.tui.fleet`).

A supervisord's reads and requests go to its host, under the host's own name for it (the
console names each after its host: ``host1``, or ``host1:NAME`` when a host has several); a
log is followed, scrolled back and closed on the host that opened it (each host numbers its
logs from 1: the console's cursors carry numbers of its own); what has no supervisord in it
(gunicorn, nginx, topology) goes to the focused host (the narrowed one, else the first).
``programs()`` and, unless narrowed, ``probes()`` answer the latest of every host without
waiting for any (the fleet's refresh loops read them).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    GunicornSnapshot,
    Host,
    HostInfo,
    LogChunk,
    LogCursor,
    LogRef,
    NginxConfigDump,
    NginxSnapshot,
    OperationRequest,
    OperationResult,
    ProbeOutcome,
    ProbesSnapshot,
    ProgramsSnapshot,
    Supervisord,
    TopologySnapshot,
)

if TYPE_CHECKING:
    from opsconsole.tui.fleet import Fleet


class FleetHost:
    """The Host protocol over the fleet's hosts (see the module's doc)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.name = "fleet"
        self.max_open_logs = 1024
        self.poll_max_age = 0.0
        #: the console's log handle -> (the host, its own handle), and back
        self._handles: dict[int, tuple[Host, int]] = {}
        self._handle_of: dict[tuple[int, int], int] = {}
        self._next_handle = 1

    @property
    def _focus(self) -> Host:
        return self.fleet.focus().host

    async def info(self) -> HostInfo:
        return await self._focus.info()

    async def programs(self) -> ProgramsSnapshot:
        """What the console shows (never waits for a host: the latest of each)."""
        session = self.fleet._session
        servers = tuple(session.servers.values()) if session is not None else ()
        return ProgramsSnapshot(self.name, time.time(), servers)

    async def supervisord(self, name: str) -> Supervisord:
        state, raw = self.fleet.route(name)
        snap = await state.host.supervisord(raw)
        return replace(
            snap,
            name=name,
            local=snap.local and state.link() is None,
            programs=tuple(replace(p, server=name) for p in snap.programs),
        )

    async def gunicorn(self) -> GunicornSnapshot:
        return await self._focus.gunicorn()

    async def nginx(self) -> NginxSnapshot:
        return await self._focus.nginx()

    async def nginx_config(self) -> NginxConfigDump:
        return await self._focus.nginx_config()

    async def topology(self) -> TopologySnapshot:
        return await self._focus.topology()

    async def probes(self) -> ProbesSnapshot:
        """Narrowed: that host's probes, read now. Else the latest round of every host, each
        probe named after its host (``host1 web``)."""
        fleet = self.fleet
        if fleet.narrowed is not None:
            return await self._focus.probes()
        results: list[ProbeOutcome] = []
        for state in fleet.states.values():
            if state.probes is not None:
                results += [replace(o, name=f"{state.name} {o.name}") for o in state.probes.results]
        return ProbesSnapshot(self.name, time.time(), tuple(results))

    def _log_host(self, source: LogRef) -> tuple[Host, LogRef]:
        if source.server:
            state, raw = self.fleet.route(source.server)
            return state.host, replace(source, server=raw)
        return self._focus, source

    async def log(
        self,
        source: LogRef,
        *,
        lines: int | None = None,
        since: float | None = None,
        after: LogCursor | None = None,
        before: LogCursor | None = None,
        keep: int | None = None,
        first: int | None = None,
    ) -> LogChunk:
        host, ref = self._log_host(source)
        chunk = await host.log(
            ref,
            lines=lines,
            since=since,
            after=self._theirs(after),
            before=self._theirs(before),
            keep=keep,
            first=first,
        )
        if chunk.cursor is None:
            return chunk
        # each host numbers its open logs from 1: the console's cursor carries a number of
        # the fleet's own, so that after, before and close reach the host that opened it
        mine = self._handle_of.get((id(host), chunk.cursor.handle))
        if mine is None:
            mine = self._next_handle
            self._next_handle += 1
            self._handle_of[(id(host), chunk.cursor.handle)] = mine
            self._handles[mine] = (host, chunk.cursor.handle)
        return replace(chunk, cursor=replace(chunk.cursor, handle=mine))

    def _theirs(self, cursor: LogCursor | None) -> LogCursor | None:
        if cursor is None or cursor.handle not in self._handles:
            return cursor
        return replace(cursor, handle=self._handles[cursor.handle][1])

    async def close_log(self, cursor: LogCursor) -> None:
        """Close the log on the host that opened it (nothing for a cursor it does not know)."""
        found = self._handles.pop(cursor.handle, None)
        if found is None:
            return
        host, theirs = found
        self._handle_of.pop((id(host), theirs), None)
        try:
            await asyncio.wait_for(host.close_log(replace(cursor, handle=theirs)), 10)
        except (OpsError, asyncio.TimeoutError):
            pass

    async def perform(self, request: OperationRequest) -> OperationResult:
        """A supervisord's request goes to its host (under the host's own name for it); any
        other to the focused host."""
        server = request.parameters.get("server")
        if isinstance(server, str) and server:
            state, raw = self.fleet.route(server)
            parameters = {**request.parameters, "server": raw}
            return await state.host.perform(replace(request, parameters=parameters))
        return await self._focus.perform(request)

    async def aclose(self) -> None:
        await asyncio.gather(
            *(close_host(s.host) for s in self.fleet.states.values()), return_exceptions=True
        )


async def close_host(host: Host) -> None:
    try:
        await asyncio.wait_for(host.aclose(), 10)
    except (OpsError, OSError, asyncio.TimeoutError):
        pass


class ServerHost:
    """One host of the fleet as a Host whose supervisords keep the console's names: what a
    rolling restart of programs on that host plans and runs through (its topology and probes
    are that host's own, never the focused host's)."""

    def __init__(self, fleet: Fleet, server: str) -> None:
        state, _ = fleet.route(server)
        self.fleet = fleet
        self.host = state.host
        self.name = state.name

    async def info(self) -> HostInfo:
        return await self.host.info()

    async def programs(self) -> ProgramsSnapshot:
        return await self.host.programs()

    async def supervisord(self, name: str) -> Supervisord:
        return await self.fleet.machine.supervisord(name)

    async def gunicorn(self) -> GunicornSnapshot:
        return await self.host.gunicorn()

    async def nginx(self) -> NginxSnapshot:
        return await self.host.nginx()

    async def nginx_config(self) -> NginxConfigDump:
        return await self.host.nginx_config()

    async def topology(self) -> TopologySnapshot:
        return await self.host.topology()

    async def probes(self) -> ProbesSnapshot:
        return await self.host.probes()

    async def log(self, source: LogRef, **kw: Any) -> LogChunk:
        return await self.fleet.machine.log(source, **kw)

    async def close_log(self, cursor: LogCursor) -> None:
        await self.fleet.machine.close_log(cursor)

    async def perform(self, request: OperationRequest) -> OperationResult:
        return await self.fleet.machine.perform(request)

    async def aclose(self) -> None:
        return None  # the fleet closes its hosts


class HostSession:
    """The session as one host of the fleet sees it (its ``machine`` a :class:`ServerHost`);
    everything else is the session's own."""

    def __init__(self, session: Any, machine: ServerHost) -> None:
        self._session = session
        self.machine = machine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def for_server(session: Any, server: str) -> Any:
    """The session, or on several hosts the session as ``server``'s host sees it (a rolling
    restart there reads that host's topology and probes)."""
    fleet = session.fleet
    if fleet is None or not fleet.several:
        return session
    return HostSession(session, ServerHost(fleet, server))
