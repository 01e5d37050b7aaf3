"""RemoteHost: the Host protocol over an agent connection (reads, writes, subscriptions)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from opsconsole.core.errors import ConfirmationRequired, OpsError, ReadOnlyError
from opsconsole.core.host import (
    FAILED,
    REFUSED,
    GunicornSnapshot,
    HostError,
    HostInfo,
    HostNotResponding,
    LogChunk,
    LogCursor,
    LogRef,
    NginxConfigDump,
    NginxSnapshot,
    OperationRequest,
    OperationResult,
    ProbesSnapshot,
    ProgramsSnapshot,
    Supervisord,
    TopologySnapshot,
)
from opsconsole.core.host.logs import LOG_KEEP
from opsconsole.core.operations import OPERATIONS
from opsconsole.core.remote.connection import AgentConnection
from opsconsole.core.remote.link import is_link_error
from opsconsole.core.remote.subscription import TOPIC_TYPES, Subscription


class _NotDone(OpsError):
    """A request the agent answered refused or failed (for the console's audit record)."""

    def __init__(self, result: OperationResult) -> None:
        super().__init__(result.message)
        self.result = result


class RemoteHost(AgentConnection):
    """A host served by an agent process: see the package's doc, and AgentConnection for
    the constructor."""

    _last_programs: ProgramsSnapshot | None = None

    # -- reads ---------------------------------------------------------------------------

    async def _get(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self._request(
            method, {**(params or {}), "timeout": self.timeout}, self.timeout
        )

    async def info(self) -> HostInfo:
        return HostInfo.from_json(await self._get("info"))

    async def programs(self) -> ProgramsSnapshot:
        try:
            snapshot = ProgramsSnapshot.from_json(await self._get("programs"))
        except OpsError as exc:
            return self._stale_programs(exc)
        self._last_programs = snapshot
        return snapshot

    def _stale_programs(self, exc: OpsError) -> ProgramsSnapshot:
        """The last programs, every supervisord marked stale with the link's error (the
        snapshot's ``at`` says how old). Raises ``exc`` when it is not the link's, or there
        are none."""
        last = self._last_programs
        if not is_link_error(exc) or last is None:
            raise exc
        status = "not responding" if isinstance(exc, HostNotResponding) else "unreachable"
        error = HostError.of(exc)
        return replace(
            last,
            servers=tuple(replace(s, status=status, error=error, stale=True) for s in last.servers),
        )

    async def supervisord(self, name: str) -> Supervisord:
        try:
            server = Supervisord.from_json(await self._get("supervisord", {"name": name}))
        except OpsError as exc:
            stale = self._stale_programs(exc).server(name)
            if stale is None:
                raise
            return stale
        last = self._last_programs
        if last is not None and last.server(name) is not None:
            servers = tuple(server if s.name == name else s for s in last.servers)
            self._last_programs = replace(last, servers=servers)
        return server

    async def gunicorn(self) -> GunicornSnapshot:
        return GunicornSnapshot.from_json(await self._get("gunicorn"))

    async def nginx(self) -> NginxSnapshot:
        return NginxSnapshot.from_json(await self._get("nginx"))

    async def nginx_config(self) -> NginxConfigDump:
        return NginxConfigDump.from_json(await self._get("nginx_config"))

    async def topology(self) -> TopologySnapshot:
        return TopologySnapshot.from_json(await self._get("topology"))

    async def probes(self) -> ProbesSnapshot:
        return ProbesSnapshot.from_json(await self._get("probes"))

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
        params: dict[str, Any] = {"source": source.to_json(), "lines": lines, "since": since}
        if after is not None:
            params["after"] = after.to_json()
            if keep is not None and LOG_KEEP in self.capabilities:
                # an agent without the feature sends a batch, ``passed`` 0: slower, still right
                params["keep"], params["first"] = keep, first
        if before is not None:
            params["before"] = before.to_json()
        return LogChunk.from_json(await self._get("log", params))

    async def close_log(self, cursor: LogCursor) -> None:
        try:
            await self._get("close_log", {"cursor": cursor.to_json()})
        except OpsError as exc:
            if not is_link_error(exc):  # a dead agent closed its logs with it
                raise

    # -- writes --------------------------------------------------------------------------

    async def perform(self, request: OperationRequest) -> OperationResult:
        """The console's gate (read-only, confirmation, its audit record naming this host),
        then the agent, whose own gate runs it again."""
        if request.operation not in OPERATIONS:
            error = OpsError(f"{self.name} cannot do {request.operation!r}")
            return self._result(request, FAILED, error)

        async def send() -> OperationResult:
            answer = await self._request(
                "perform", {"request": request.to_json()}, self.perform_timeout
            )
            result = OperationResult.from_json(answer)
            if not result.ok:
                raise _NotDone(result)
            return result

        if OPERATIONS[request.operation].confirm and not request.confirmed:
            return await self._ask_plan(request)
        try:
            return await self.gate.run(
                request.operation,
                f"{request.target} on {self.name}",
                send,
                params={**request.parameters, "host": self.name},
                confirmed=request.confirmed,
            )
        except _NotDone as exc:
            return exc.result
        except (ReadOnlyError, ConfirmationRequired) as exc:
            return self._result(request, REFUSED, exc)
        except OpsError as exc:
            if isinstance(exc, HostNotResponding):
                exc = HostNotResponding(
                    exc.message,
                    f"it may have been done on {self.name} all the same: look before trying again",
                )
            return self._result(request, FAILED, exc)

    async def _ask_plan(self, request: OperationRequest) -> OperationResult:
        """An operation asked without its confirmation: refused (read-only first, by this
        console's gate), with what it would do on this host, which only the host knows (the
        rollback's files, the master a reload signals, a roll's order). The agent is sent the
        request unconfirmed; its own gate refuses it there and answers the plan."""
        target = f"{request.target} on {self.name}"
        params = {**request.parameters, "host": self.name}
        try:
            self.gate.check(request.operation, target, params)
        except ReadOnlyError as exc:
            return self._result(request, REFUSED, exc)
        try:
            answer = await self._request(
                "perform", {"request": request.to_json()}, self.perform_timeout
            )
        except OpsError as exc:
            return self._result(request, FAILED, exc)
        return OperationResult.from_json(answer)

    def _result(self, request: OperationRequest, outcome: str, exc: OpsError) -> OperationResult:
        return OperationResult(
            host=self.name,
            operation=request.operation,
            target=request.target,
            outcome=outcome,
            message=exc.message,
            at=time.time(),
            error=HostError.of(exc),
        )

    # -- subscriptions -------------------------------------------------------------------

    async def subscribe(
        self,
        topic: str,
        *,
        interval: float = 1.0,
        heartbeat: float | None = None,
        summary: bool = False,
    ) -> Subscription:
        """Pushed snapshots of ``topic`` (programs, gunicorn, nginx, probes) every
        ``interval``: the first whole, then only the changes (a round where only the
        snapshot's time moved every ``heartbeat`` seconds, default ``interval``); kept across
        reconnections. ``summary``: a gunicorn or nginx summary (the snapshot's
        ``summarised()``) from an agent that can send one, else the whole snapshot (its
        ``summary`` field says which came). Raises OpsError when the agent refused it or did
        not answer: then nothing is kept (the caller subscribes again)."""
        if topic not in TOPIC_TYPES:
            raise OpsError(f"cannot subscribe to {topic!r}", f"topics: {', '.join(TOPIC_TYPES)}")
        sub = Subscription(self, topic, interval, heartbeat, summary=summary)
        self._subscriptions.append(sub)
        self.start()
        if self._open:
            try:
                await self._start_sub(sub)
            except OpsError:
                self._subscriptions.remove(sub)
                raise
        return sub

    async def __aenter__(self) -> RemoteHost:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
