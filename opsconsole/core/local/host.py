"""LocalHost: the :class:`~opsconsole.core.host.Host` of the machine opsconsole runs on.

It is today's backends behind the host interface: the supervisor monitor and client (async),
the gunicorn scanner and the nginx monitor (blocking: run in a thread with
``asyncio.to_thread``, one of each per host so their caches and CPU baselines carry over from
one call to the next), the probe runner and the log sources. It turns their models into the
snapshot types of :mod:`opsconsole.core.host`, and runs every request through the host's gate
(:mod:`opsconsole.core.actions`): read-only refusal, confirmation, audit.

Programs and pids: a gunicorn master or an nginx is a process of this machine, so only the
programs of supervisords on this machine (a unix socket, a loopback URL) are matched to them.
A remote supervisord's pids are another machine's and are never compared with local ones.

Here: who the host is (info) and one short handler per registered operation; the reads are in
:mod:`opsconsole.core.local.reads`, the conversions from the backends' models in
:mod:`opsconsole.core.local.convert`.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from opsconsole import __version__
from opsconsole.core import supervisor
from opsconsole.core.errors import ConfirmationRequired, OpsError, ProcessChanged, ReadOnlyError
from opsconsole.core.host import (
    DONE,
    FAILED,
    REFUSED,
    HostError,
    HostInfo,
    OperationRequest,
    OperationResult,
    ResultItem,
)
from opsconsole.core.local import inspect_ops
from opsconsole.core.local.reads import LocalReads
from opsconsole.core.procs import ProcIdentity

if TYPE_CHECKING:  # the backends are imported by the operations that use them
    from opsconsole.core import gunicorn as gunicorn_backend
    from opsconsole.core import nginx as nginx_backend

#: Supervisor verbs by operation id.
_SUPERVISOR_VERBS = {
    "supervisor.start": "start",
    "supervisor.stop": "stop",
    "supervisor.restart": "restart",
    "supervisor.signal": "signal",
    "supervisor.clear_logs": "clear_logs",
}


class LocalHost(LocalReads):
    """This machine, read and operated through today's backends.

    ``gate`` runs every request (default: :func:`actions.make_gate` read-only as the config
    says, auditing to the default file); ``monitor`` may be shared with a caller that polls
    supervisord itself.
    """

    async def info(self) -> HostInfo:
        try:
            user = getpass.getuser()
        except Exception:  # pragma: no cover - no passwd entry
            user = str(os.getuid())
        return HostInfo(
            host=self.name,
            at=time.time(),
            opsconsole_version=__version__,
            python_version=platform.python_version(),
            user=user,
            read_only=self.gate.read_only,
            capabilities=(
                "programs",
                "gunicorn",
                "nginx",
                "nginx_config",
                "topology",
                "probes",
                "log",
            ),
            operations=tuple(sorted(self._handlers())),
            supervisors=tuple(self.monitor.clients),
        )

    async def __aenter__(self) -> LocalHost:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- writes --------------------------------------------------------------------------

    def _handlers(self) -> dict[str, Callable[[OperationRequest], Awaitable[OperationResult]]]:
        handlers: dict[str, Callable[[OperationRequest], Awaitable[OperationResult]]] = {
            op: self._supervisor_verb for op in _SUPERVISOR_VERBS
        }
        handlers.update(
            {
                "supervisor.reread": self._reread,
                "supervisor.update": self._update,
                "gunicorn.scale": self._scale,
                "gunicorn.reload": self._gunicorn_reload,
                "gunicorn.reopen": self._gunicorn_reopen,
                "gunicorn.worker_signal": self._worker_signal,
                "nginx.test": self._nginx_test,
                "nginx.reload": self._nginx_reload,
                "nginx.diff": partial(inspect_ops.nginx_diff, self),
                "nginx.rollback": partial(inspect_ops.nginx_rollback, self),
                "gunicorn.stack": partial(inspect_ops.gunicorn_stack, self),
            }
        )
        return handlers

    async def perform(self, request: OperationRequest) -> OperationResult:
        """Run ``request`` through the gate. A refusal (read-only, no confirmation, a bound,
        a pid that is no longer the process shown) and a failure come back as results with
        their typed ``error``; nothing here raises for the operation's own outcome."""
        from opsconsole.core import gunicorn as gunicorn_backend

        started = time.monotonic()
        self.monitor.expect_change()  # whatever it does, the next poll asks supervisord
        handler = self._handlers().get(request.operation)
        if handler is None:
            error = OpsError(
                f"{self.name} cannot do {request.operation!r}",
                f"operations here: {', '.join(sorted(self._handlers()))}",
            )
            return self._result(request, FAILED, error.message, error=error)
        try:
            result = await handler(request)
        except (
            ReadOnlyError,
            ConfirmationRequired,
            ProcessChanged,
            gunicorn_backend.ScaleRefused,
        ) as exc:
            result = self._result(request, REFUSED, exc.message, error=exc)
        except OpsError as exc:
            result = self._result(request, FAILED, exc.message, error=exc)
        return _with_duration(result, time.monotonic() - started)

    def _result(
        self,
        request: OperationRequest,
        outcome: str,
        message: str,
        *,
        error: OpsError | None = None,
        verified: str = "",
        items: tuple[ResultItem, ...] = (),
        data: dict[str, Any] | None = None,
        target: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> OperationResult:
        return OperationResult(
            host=self.name,
            operation=request.operation,
            target=target if target is not None else request.target,
            outcome=outcome,
            message=message,
            at=time.time(),
            verified=verified,
            error=HostError.of(error) if error is not None else None,
            items=items,
            data=data or {},
            notes=notes,
        )

    def _server(self, request: OperationRequest) -> str:
        """The supervisord a request names (``server``), default the first configured."""
        name = request.parameters.get("server")
        if name is None:
            if not self.config.supervisors:
                raise OpsError("no supervisord is configured", "give -c or --supervisor-url")
            return self.config.supervisors[0].name
        if str(name) not in self.monitor.clients:
            raise OpsError(
                f"no supervisord named {name} is configured",
                f"configured: {', '.join(self.monitor.clients)}",
            )
        return str(name)

    async def _supervisor_verb(self, request: OperationRequest) -> OperationResult:
        verb = _SUPERVISOR_VERBS[request.operation]
        server = self._server(request)
        client = self.monitor.client(server)
        names = [str(n) for n in request.parameters.get("names") or [request.target]]
        signame = str(request.parameters.get("signal") or "HUP")
        params: dict[str, Any] = {"server": server}
        if verb == "signal":
            params["signal"] = signame
        results = await self.gate.run(
            request.operation,
            request.target,
            lambda: supervisor.perform(client, verb, names, signame=signame),
            params=params,
            confirmed=request.confirmed,
        )
        items = tuple(ResultItem(r.name, r.ok, r.message) for r in results)
        ok = all(r.ok for r in results)
        return self._result(
            request,
            DONE if ok else FAILED,
            "; ".join(r.message for r in results),
            verified="supervisord answered once each program reached its new state"
            if verb in ("start", "stop", "restart")
            else "",
            items=items,
        )

    async def _reread(self, request: OperationRequest) -> OperationResult:
        server = self._server(request)
        client = self.monitor.client(server)
        diff = await self.gate.run("supervisor.reread", server, client.reread)
        data = {"added": diff.added, "changed": diff.changed, "removed": diff.removed}
        words = ", ".join(f"{len(v)} {k}" for k, v in data.items())
        return self._result(request, DONE, f"reread {server}: {words}", data=data, target=server)

    async def _update(self, request: OperationRequest) -> OperationResult:
        server = self._server(request)
        client = self.monitor.client(server)
        p = request.parameters
        diff = supervisor.ConfigDiff(
            [str(x) for x in p.get("added") or []],
            [str(x) for x in p.get("changed") or []],
            [str(x) for x in p.get("removed") or []],
        )
        summary = {"added": diff.added, "changed": diff.changed, "removed": diff.removed}
        try:
            done = await self.gate.run(
                "supervisor.update",
                server,
                lambda: client.apply_update(diff),
                params=summary,
                confirmed=request.confirmed,
            )
        finally:  # a changed program's exitcodes= may differ now: the next poll reads them
            self._exitcodes.pop(server, None)
        return self._result(
            request, DONE, "; ".join(done) or "nothing to apply", data={"done": done}, target=server
        )

    async def _master(self, request: OperationRequest) -> tuple[gunicorn_backend.Master, list[str]]:
        """The master a request names, from a fresh scan; with ``create_time`` (from the
        snapshot the operator saw) it must still be that process."""
        from opsconsole.core import gunicorn as gunicorn_backend

        masters, problems = await self._scan(fresh=True)
        server = request.parameters.get("server")
        created = request.parameters.get("create_time")
        try:
            master = gunicorn_backend.find_master(
                masters, request.target, None if server is None else str(server)
            )
        except gunicorn_backend.MasterNotFound:
            if isinstance(created, (int, float)) and request.target.strip().isdigit():
                # the master that was shown is gone: say what the pid is now, audited
                await self._refuse_changed(request, int(request.target), float(created))
            raise
        if isinstance(created, (int, float)) and abs(master.identity.create_time - created) > 0.01:
            await self._refuse_changed(request, master.pid, float(created))
        return master, problems

    async def _refuse_changed(self, request: OperationRequest, pid: int, created: float) -> None:
        """Refuse, through the gate (so the audit trail and timeline have it), a request whose
        master pid is no longer the process the operator was shown. Always raises."""
        shown = ProcIdentity(pid, created, ())

        def verify() -> None:
            shown.verify()  # words what the pid is now ("now belongs to another process")
            raise ProcessChanged(
                f"pid {pid} is no longer the gunicorn master that was shown",
                "nothing was sent; refresh and look again",
            )

        await self.gate.run(
            request.operation,
            f"gunicorn master {pid}",
            lambda: asyncio.to_thread(verify),
            confirmed=request.confirmed,
        )
        raise AssertionError("unreachable: verify always raises")  # pragma: no cover

    async def _scale(self, request: OperationRequest) -> OperationResult:
        from opsconsole.core import gunicorn as gunicorn_backend

        count = str(request.parameters.get("count", ""))
        spec = gunicorn_backend.parse_scale_spec(count)
        wait = bool(request.parameters.get("wait", False))
        master, problems = await self._master(request)
        notes = tuple(problems)
        plan = gunicorn_backend.plan_scale(master, spec)
        scanner = self.scanner

        def run() -> gunicorn_backend.ScaleResult:
            return gunicorn_backend.scale(master, spec, scanner=scanner, wait=wait)

        try:
            result = await self.gate.run(
                "gunicorn.scale",
                master.label,
                lambda: asyncio.to_thread(run),
                params={"count": count, "plan": plan.description},
                confirmed=request.confirmed,
            )
        except (ConfirmationRequired, ReadOnlyError, gunicorn_backend.ScaleRefused) as exc:
            return self._result(
                request,
                REFUSED,
                exc.message,
                error=exc,
                data={"plan": plan.description},
                target=master.label,
                notes=notes,
            )
        if result.converged:
            verified = f"live worker count reached {result.target}"
        elif result.converged is None:
            verified = f"not waited for: {result.live} live now"
        else:
            verified = f"{result.live} live workers, target {result.target}: not converged"
        return self._result(
            request,
            FAILED if result.converged is False else DONE,
            result.message,
            verified=verified,
            data=dict(result.__dict__),
            target=master.label,
            notes=notes,
        )

    async def _gunicorn_reload(self, request: OperationRequest) -> OperationResult:
        from opsconsole.core import gunicorn as gunicorn_backend

        master, problems = await self._master(request)
        scanner = self.scanner
        result = await self.gate.run(
            "gunicorn.reload",
            master.label,
            lambda: asyncio.to_thread(gunicorn_backend.reload, master, scanner=scanner),
            confirmed=request.confirmed,
        )
        return self._result(
            request,
            DONE if result.ok else FAILED,
            result.message,
            verified=result.message if result.ok else "",
            data=dict(result.__dict__),
            target=master.label,
            notes=tuple(problems),
        )

    async def _gunicorn_reopen(self, request: OperationRequest) -> OperationResult:
        from opsconsole.core import gunicorn as gunicorn_backend

        master, problems = await self._master(request)
        text = await self.gate.run(
            "gunicorn.reopen",
            master.label,
            lambda: asyncio.to_thread(gunicorn_backend.reopen_logs, master),
            confirmed=request.confirmed,
        )
        return self._result(request, DONE, text, target=master.label, notes=tuple(problems))

    async def _worker_signal(self, request: OperationRequest) -> OperationResult:
        from opsconsole.core import gunicorn as gunicorn_backend

        master, problems = await self._master(request)
        p = request.parameters
        pid, created = p.get("worker"), p.get("worker_create_time")
        worker = next((w for w in master.workers if w.pid == pid), None)
        if worker is None:
            raise gunicorn_backend.GunicornError(
                f"{master.label} has no worker {pid}", "refresh: it may have been replaced"
            )
        if isinstance(created, (int, float)) and abs(worker.identity.create_time - created) > 0.01:
            raise ProcessChanged(
                f"pid {worker.pid} is no longer the worker that was shown",
                "nothing was sent; refresh and look again",
            )
        signame = str(p.get("signal") or "TERM")
        result = await self.gate.run(
            "gunicorn.worker_signal",
            f"worker {worker.pid} of {master.label}",
            lambda: asyncio.to_thread(gunicorn_backend.signal_worker, master, worker, signame),
            params={"signal": signame},
            confirmed=request.confirmed,
        )
        return self._result(
            request,
            DONE,
            result.message,
            verified="the worker exited" if result.exited else "",
            data=dict(result.__dict__),
            target=f"worker {worker.pid} of {master.label}",
            notes=tuple(problems),
        )

    async def _nginx_test(self, request: OperationRequest) -> OperationResult:
        from opsconsole.core import nginx as nginx_backend

        programs, _ = await self.local_processes()
        inst = await self._discover(programs)
        result = await self.gate.run(
            "nginx.test",
            inst.label,
            lambda: nginx_backend.run_config_test(inst),
            params=inst.to_dict(),
        )
        findings: list[dict[str, Any]] = []
        try:
            inspection = await asyncio.to_thread(nginx_backend.inspect, inst, programs)
            findings = [f.to_dict() for f in inspection.findings]
        except nginx_backend.NginxError:
            pass
        data = {**result.to_dict(), "instance": inst.to_dict(), "findings": findings}
        return self._result(
            request, DONE if result.ok else FAILED, result.summary, data=data, target=inst.label
        )

    async def _nginx_reload(self, request: OperationRequest) -> OperationResult:
        from opsconsole.core import nginx as nginx_backend
        from opsconsole.core.nginx.rollback import reload_recorded_or_raise

        programs, _ = await self.local_processes()
        inst = await self._discover(programs)
        await self._same_nginx(request, inst)
        wait = request.parameters.get("wait")
        verify = (
            float(wait) if isinstance(wait, (int, float)) else nginx_backend.RELOAD_VERIFY_TIMEOUT
        )
        try:
            result = await self.gate.run(
                "nginx.reload",
                inst.label,
                # keeps the config before the reload (history; the last good config)
                lambda: reload_recorded_or_raise(inst, verify_timeout=verify),
                params={"master_pid": inst.master_pid, "conf": inst.conf_path},
                confirmed=request.confirmed,
            )
        except ConfirmationRequired as exc:
            return self._result(
                request,
                REFUSED,
                exc.message,
                error=exc,
                data={"instance": inst.to_dict()},
                target=inst.label,
            )
        except nginx_backend.ReloadFailed as exc:
            result = exc.result
        data = {**result.to_dict(), "instance": inst.to_dict()}
        return self._result(
            request,
            DONE if result.ok else FAILED,
            result.message,
            verified="new workers started and no error was logged" if result.ok else "",
            data=data,
            target=inst.label,
        )

    async def _same_nginx(
        self, request: OperationRequest, inst: nginx_backend.NginxInstance
    ) -> None:
        """Refuse, through the gate (audited, nothing sent), a request naming an nginx master
        (``master_pid``, ``create_time``: what the operator was shown and said yes to) that is
        no longer the serving master. Nothing when the request names none (the CLI)."""
        shown, created = request.parameters.get("master_pid"), request.parameters.get("create_time")
        master = inst.master
        if not isinstance(shown, int) or (
            master is not None
            and master.pid == shown
            and not (isinstance(created, (int, float)) and abs(master.create_time - created) > 0.01)
        ):
            return
        now = f"the serving master is {master.pid} now" if master else "no master is running now"
        changed = ProcessChanged(
            f"nginx master {shown} that was shown is no longer the serving master: {now}",
            "nothing was sent; look at the nginx view again",
        )

        async def refuse() -> None:
            raise changed

        await self.gate.run(
            "nginx.reload",
            inst.label,
            refuse,
            params={"master_pid": shown, "conf": inst.conf_path},
            confirmed=request.confirmed,
        )


def _with_duration(result: OperationResult, duration: float) -> OperationResult:
    return replace(result, duration=duration)
