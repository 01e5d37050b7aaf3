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

Longer than 600 lines on purpose: it is the whole local side of the seam (the reads, one short
handler per registered operation, and the conversions from the backends' models at the end),
so what a RemoteHost and the agent must mirror is in one file.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import platform
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from opsconsole import __version__
from opsconsole.core import actions, probes, supervisor
from opsconsole.core import gunicorn as gunicorn_backend
from opsconsole.core import nginx as nginx_backend
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import ConfirmationRequired, OpsError, ProcessChanged, ReadOnlyError
from opsconsole.core.host import (
    DONE,
    FAILED,
    MAX_BEFORE_LINES,
    REFUSED,
    GunicornMaster,
    GunicornSnapshot,
    GunicornStats,
    GunicornWorker,
    HostError,
    HostInfo,
    LogChunk,
    LogCursor,
    LogEntry,
    LogRef,
    NginxConfigDump,
    NginxDiagnostic,
    NginxFile,
    NginxInstance,
    NginxSnapshot,
    NginxTest,
    NginxWorker,
    OperationRequest,
    OperationResult,
    ProbeOutcome,
    ProbesSnapshot,
    Program,
    ProgramsSnapshot,
    ResultItem,
    StubCounts,
    Supervisord,
    TopologySnapshot,
    TopoNode,
)
from opsconsole.core.logs import LogError, LogSource, SourceSpec, make_source
from opsconsole.core.logs.parse import LogLine
from opsconsole.core.procs import ProcIdentity
from opsconsole.core.supervisor.monitor import ServerSnapshot, SupervisorMonitor

#: Lines read back per step while looking for the start of ``since``.
SINCE_PAGE = 2000
#: ``since`` without ``lines`` stops after this many lines, whatever the times say.
SINCE_MAX = 200_000
#: Logs kept open for ``after`` at once; opening one more closes the oldest.
MAX_OPEN_LOGS = 32
#: Probes are discovered again every this many probes() calls even when no program restarted.
REDISCOVER = 15
#: How often the expected exit codes (getAllConfigInfo) are read again at most.
CONFIG_INFO_SECONDS = 30.0

#: Supervisor verbs by operation id.
_SUPERVISOR_VERBS = {
    "supervisor.start": "start",
    "supervisor.stop": "stop",
    "supervisor.restart": "restart",
    "supervisor.signal": "signal",
    "supervisor.clear_logs": "clear_logs",
}


class LocalHost:
    """This machine, read and operated through today's backends.

    ``gate`` runs every request (default: :func:`actions.make_gate` read-only as the config
    says, auditing to the default file); ``monitor`` may be shared with a caller that polls
    supervisord itself.
    """

    #: logs kept open for ``after``/``before`` at once; opening one more closes the oldest
    #: (a console whose views close what they stop showing may allow more)
    max_open_logs = MAX_OPEN_LOGS

    def __init__(
        self,
        config: AppConfig,
        *,
        gate: actions.ActionGate | None = None,
        monitor: SupervisorMonitor | None = None,
        name: str | None = None,
    ) -> None:
        self.name = name or socket.gethostname()
        self.config = config
        self.gate = gate if gate is not None else actions.make_gate(config.read_only)
        self.monitor = monitor or SupervisorMonitor(
            config.supervisors,
            timeout=config.timeout,
            refresh=config.refresh,
            read_only=config.read_only,
        )
        self.scanner = gunicorn_backend.GunicornScanner()
        self.nginx_monitor = nginx_backend.NginxMonitor(config.nginx)
        self._probe_runner: probes.ProbeRunner | None = None
        #: the running programs probes were last discovered for, and what was found
        self._discovered: tuple[list[tuple[str, int]], list[probes.Probe]] | None = None
        self._probe_rounds = 0
        self._scan_lock = asyncio.Lock()
        self._nginx_lock = asyncio.Lock()
        #: server → (when read, supervisord pid, program fullname → expected exit codes)
        self._exitcodes: dict[str, tuple[float, int, dict[str, tuple[int, ...]]]] = {}
        #: the last programs() poll: (monotonic time, the raw snapshots)
        self._polled: tuple[float, list[ServerSnapshot]] | None = None
        self._logs: dict[int, LogSource] = {}
        self._next_log = 1

    # -- reads ---------------------------------------------------------------------------

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

    async def programs(self) -> ProgramsSnapshot:
        names = list(self.monitor.clients)
        snaps = list(await asyncio.gather(*(self.monitor.poll(n) for n in names)))
        self._polled = (time.monotonic(), snaps)
        servers = []
        for snap in snaps:
            codes = await self._expected_exits(snap)
            servers.append(self._supervisord(snap, codes))
        return ProgramsSnapshot(self.name, time.time(), tuple(servers))

    async def supervisord(self, name: str) -> Supervisord:
        """Poll one supervisord now (the console's per-server refresh loop calls this)."""
        if name not in self.monitor.clients:
            raise OpsError(
                f"no supervisord named {name} is configured",
                f"configured: {', '.join(self.monitor.clients) or 'none'}",
            )
        snap = await self.monitor.poll(name)
        # gunicorn() and nginx() match pids against the latest poll of each supervisord
        self._polled = (time.monotonic(), list(self.monitor.snapshots.values()))
        return self._supervisord(snap, await self._expected_exits(snap))

    async def _expected_exits(self, snap: ServerSnapshot) -> dict[str, tuple[int, ...]]:
        """Each program's ``exitcodes=`` (getAllConfigInfo), read again when supervisord
        restarted, the program set changed, or after CONFIG_INFO_SECONDS."""
        if not snap.ok:
            return self._exitcodes.get(snap.name, (0.0, 0, {}))[2]
        pid = snap.info.pid if snap.info is not None else 0
        names = {p.fullname for p in snap.processes}
        cached = self._exitcodes.get(snap.name)
        now = time.monotonic()
        if (
            cached is not None
            and cached[1] == pid
            and now - cached[0] < CONFIG_INFO_SECONDS
            and names <= set(cached[2])
        ):
            return cached[2]
        codes: dict[str, tuple[int, ...]] = {}
        try:
            infos = await self.monitor.client(snap.name).get_all_config_info()
        except supervisor.SupervisorError:
            return cached[2] if cached is not None else {}
        for info in infos:
            name, group = str(info.get("name")), str(info.get("group"))
            full = name if name == group else f"{group}:{name}"
            try:
                codes[full] = tuple(int(c) for c in info.get("exitcodes", [0]))
            except (TypeError, ValueError):
                continue
        self._exitcodes[snap.name] = (now, pid, codes)
        return codes

    def _supervisord(self, snap: ServerSnapshot, codes: dict[str, tuple[int, ...]]) -> Supervisord:
        client = self.monitor.client(snap.name)
        return Supervisord(
            name=snap.name,
            url=snap.url,
            local=client.is_local,
            status=snap.status,
            error=HostError.of(snap.error) if snap.error is not None else None,
            version=snap.info.version if snap.info else "",
            pid=snap.info.pid if snap.info else 0,
            state=snap.info.statename if snap.info else "",
            latency=snap.latency,
            stale=snap.stale,
            programs=tuple(program_of(p, codes.get(p.fullname)) for p in snap.processes),
            identification=snap.info.identification if snap.info else "",
        )

    async def local_processes(self, *, fresh: bool = False) -> tuple[list[Any], list[str]]:
        """The programs of this machine's supervisords (the only ones whose pids can be
        matched to local processes) and why some supervisord could not be read. Uses the
        last :meth:`programs` poll when it is younger than one refresh, unless ``fresh``."""
        polled = self._polled
        if fresh or polled is None or time.monotonic() - polled[0] > self.config.refresh:
            await self.programs()
            polled = self._polled
        assert polled is not None
        found: list[supervisor.ProcessInfo] = []
        problems: list[str] = []
        for snap in polled[1]:
            if not self.monitor.client(snap.name).is_local:
                continue  # its pids are another machine's
            if snap.ok:
                found += snap.processes
            elif snap.error is not None:
                problems.append(f"supervisord {snap.name}: {snap.error.message}")
        return found, problems

    async def _scan(
        self, *, fresh: bool = False
    ) -> tuple[list[gunicorn_backend.Master], list[str]]:
        programs, problems = await self.local_processes(fresh=fresh)
        async with self._scan_lock:
            masters = await asyncio.to_thread(self.scanner.scan, programs)
        return masters, problems

    async def gunicorn(self) -> GunicornSnapshot:
        masters, problems = await self._scan()
        return GunicornSnapshot(
            self.name, time.time(), tuple(master_of(m) for m in masters), tuple(problems)
        )

    async def nginx(self) -> NginxSnapshot:
        programs, _ = await self.local_processes()
        monitor = self.nginx_monitor

        def sample() -> tuple[nginx_backend.NginxStatus, list[str]]:
            status = monitor.sample(programs)
            cfg = monitor.config(status.instance)  # reparsed only when a file changed
            logs = (cfg.error_log_files() + cfg.access_log_files()) if cfg is not None else []
            return status, logs

        async with self._nginx_lock:
            status, logs = await asyncio.to_thread(sample)
        return nginx_snapshot(self.name, status, logs)

    async def _discover(
        self, programs: list[supervisor.ProcessInfo] | None
    ) -> nginx_backend.NginxInstance:
        """The serving nginx now, found by the host's nginx monitor (one finder per host)."""
        return await asyncio.to_thread(self.nginx_monitor.discover, programs)

    async def nginx_config(self) -> NginxConfigDump:
        inst = await self._discover(None)
        dump = await nginx_backend.dump_config(inst)
        test = NginxTest.from_json(dump.test.to_dict())
        async with self._nginx_lock:
            on_disk, unread = await asyncio.to_thread(self._config_on_disk, inst, dump)
        return NginxConfigDump(
            host=self.name,
            at=time.time(),
            instance=instance_of(inst),
            test=test,
            files=tuple(NginxFile(path, text) for path, text in dump.files),
            on_disk=tuple(on_disk),
            unread=tuple(unread),
        )

    def _config_on_disk(
        self, inst: nginx_backend.NginxInstance, dump: nginx_backend.EffectiveConfig
    ) -> tuple[list[NginxFile], list[HostError]]:
        """The config's files that nginx -T did not print (all of them when the test
        failed), read from disk: the main file, the included ones, the ones the test's
        messages name. Blocking: run in a thread."""
        cfg = self.nginx_monitor.config(inst)
        wanted = [inst.conf_path, *(cfg.files if cfg is not None else [])]
        wanted += [d.file for d in dump.test.diagnostics if d.file]
        have = {path for path, _ in dump.files}
        found: list[NginxFile] = []
        unread: list[HostError] = []
        for path in dict.fromkeys(wanted):
            if path in have:
                continue
            try:
                found.append(NginxFile(path, nginx_backend.read_config_file(path)))
            except OpsError as exc:
                unread.append(HostError.of(exc))
        return found, unread

    async def topology(self) -> TopologySnapshot:
        programs, notes = await self.local_processes()
        inst = await self._discover(programs)
        inspection = await asyncio.to_thread(nginx_backend.inspect, inst, programs)
        return TopologySnapshot(
            host=self.name,
            at=time.time(),
            instance=instance_of(inst),
            conf_path=inspection.config.conf_path,
            topology=topo_of(inspection.topology),
            files=tuple(inspection.config.files),
            parse_errors=tuple(_diagnostic(d) for d in inspection.config.errors),
            findings=tuple(
                NginxDiagnostic(f.level, f.message, f.file, f.line, check=f.check)
                for f in inspection.findings
            ),
            notes=tuple(notes),
        )

    async def probes(self) -> ProbesSnapshot:
        specs = probes.probes_from_config(self.config.probes)
        if not specs:
            programs, _ = await self.local_processes()
            running = [(p.fullname, p.pid) for p in programs if p.pid > 0]
            self._probe_rounds += 1
            found = self._discovered
            # discovery reads every listening socket: again only when programs (re)started,
            # and now and then for late listeners
            if found is None or found[0] != running or self._probe_rounds % REDISCOVER == 0:
                found = (running, await asyncio.to_thread(probes.default_probes, running))
                self._discovered = found
            specs = found[1]
        if self._probe_runner is None:
            self._probe_runner = probes.ProbeRunner(specs)
        else:
            self._probe_runner.set_probes(specs)
        urls = {p.name: p.url for p in specs}
        outcomes = [
            ProbeOutcome(r.probe, urls.get(r.probe, ""), r.ok, r.status, r.latency, r.at, r.error)
            for r, _ in await self._probe_runner.run_once()
        ]
        return ProbesSnapshot(self.name, time.time(), tuple(outcomes))

    async def log(
        self,
        source: LogRef,
        *,
        lines: int | None = None,
        since: float | None = None,
        after: LogCursor | None = None,
        before: LogCursor | None = None,
    ) -> LogChunk:
        if after is not None and before is not None:
            raise LogError("a log is read either after a cursor or before one, not both")
        if after is not None:
            return self._chunk(source, (src := self._open_log(after)), await src.poll(), after)
        if before is not None:
            return await self._log_before(source, before, 10 if lines is None else lines)
        if lines is not None and lines < 0:
            raise LogError("the number of lines must be 0 or more")
        server = source.server or (
            self.config.supervisors[0].name if self.config.supervisors else ""
        )
        spec = SourceSpec(source.kind, server, source.name, source.stream, source.path)
        if spec.kind not in ("file", "program", "supervisord"):
            raise LogError(f"unknown kind of log {spec.kind!r}", "program, supervisord or file")
        if spec.kind != "file" and spec.server not in self.monitor.clients:
            names = ", ".join(self.monitor.clients) or "none"
            raise LogError(
                f"no supervisord named {spec.server} is configured", f"configured: {names}"
            )
        src = make_source(spec, self.monitor.clients)
        try:
            got = await _initial(src, lines, since)
        except BaseException:
            await src.aclose()
            raise
        cursor = LogCursor(src.key, self._next_log)
        self._next_log += 1
        self._logs[cursor.handle] = src
        while len(self._logs) > self.max_open_logs:
            oldest = min(self._logs)
            await self._logs.pop(oldest).aclose()
        return self._chunk(source, src, got, cursor)

    def _open_log(self, cursor: LogCursor) -> LogSource:
        """The open log a cursor came from. Raises LogError when it is closed."""
        src = self._logs.get(cursor.handle)
        if src is None or src.key != cursor.key:
            raise LogError(f"{cursor.key} is no longer open on {self.name}", "open the log again")
        return src

    async def _log_before(self, ref: LogRef, cursor: LogCursor, n: int) -> LogChunk:
        """Scroll back: the ``n`` lines above the line ``cursor`` names, with the source's own
        bounds (a file is read backwards in chunks; supervisord within its call budget)."""
        if not 0 <= n <= MAX_BEFORE_LINES:
            raise LogError(
                f"cannot read {n} lines back at once",
                f"ask for 0 to {MAX_BEFORE_LINES} lines and go on from the chunk's cursor",
            )
        src = self._open_log(cursor)
        got = await src.before(cursor.offset, n, cursor.gen) if n else []
        first = got[0] if got else None
        at = replace(
            cursor,
            offset=first.offset if first is not None else 0,
            gen=first.gen if first is not None else cursor.gen,
        )
        return self._chunk(ref, src, got, at)

    def _chunk(
        self, ref: LogRef, src: LogSource, lines: list[LogLine], cursor: LogCursor
    ) -> LogChunk:
        notice = getattr(src, "notice", None)
        return LogChunk(
            host=self.name,
            at=time.time(),
            source=ref,
            label=src.label,
            lines=tuple(
                LogEntry(ln.text, ln.level, ln.ts, ln.offset, ln.gen, ln.ts_own, ln.order_ts)
                for ln in lines
            ),
            cursor=cursor,
            notice=HostError.of(notice) if isinstance(notice, OpsError) else None,
        )

    async def close_log(self, cursor: LogCursor) -> None:
        """Stop following the log a cursor came from (nothing if it is closed already)."""
        src = self._logs.pop(cursor.handle, None)
        if src is not None:
            await src.aclose()

    async def aclose(self) -> None:
        for src in list(self._logs.values()):
            await src.aclose()
        self._logs.clear()
        if self._probe_runner is not None:
            await self._probe_runner.aclose()
        await self.monitor.aclose()

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
            }
        )
        return handlers

    async def perform(self, request: OperationRequest) -> OperationResult:
        """Run ``request`` through the gate. A refusal (read-only, no confirmation, a bound,
        a pid that is no longer the process shown) and a failure come back as results with
        their typed ``error``; nothing here raises for the operation's own outcome."""
        started = time.monotonic()
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
        done = await self.gate.run(
            "supervisor.update",
            server,
            lambda: client.apply_update(diff),
            params=summary,
            confirmed=request.confirmed,
        )
        return self._result(
            request, DONE, "; ".join(done) or "nothing to apply", data={"done": done}, target=server
        )

    async def _master(self, request: OperationRequest) -> tuple[gunicorn_backend.Master, list[str]]:
        """The master a request names, from a fresh scan; with ``create_time`` (from the
        snapshot the operator saw) it must still be that process."""
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
        master, problems = await self._master(request)
        text = await self.gate.run(
            "gunicorn.reopen",
            master.label,
            lambda: asyncio.to_thread(gunicorn_backend.reopen_logs, master),
            confirmed=request.confirmed,
        )
        return self._result(request, DONE, text, target=master.label, notes=tuple(problems))

    async def _worker_signal(self, request: OperationRequest) -> OperationResult:
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
                lambda: nginx_backend.reload_or_raise(inst, verify_timeout=verify),
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


async def _initial(source: LogSource, n: int | None, since: float | None) -> list[LogLine]:
    """The last ``n`` lines (default 10), or every line since ``since`` (bounded)."""
    if since is None or n is not None:
        return await source.open_tail(10 if n is None else n)
    lines = await source.open_tail(SINCE_PAGE)
    # Read back page by page until a line older than ``since`` (or no times at all).
    while lines and len(lines) < SINCE_MAX:
        first = lines[0]
        if first.ts is not None and first.ts < since:
            break
        older = await source.before(first.offset, SINCE_PAGE, first.gen)
        if not older or all(line.ts is None for line in older):
            lines = older + lines
            break
        lines = older + lines
    return lines


# --------------------------------------------------------------------------- conversions


def program_of(p: supervisor.ProcessInfo, exitcodes: tuple[int, ...] | None = None) -> Program:
    """A supervisor ProcessInfo as a snapshot Program."""
    return Program(
        server=p.server,
        name=p.name,
        group=p.group,
        state=p.statename,
        pid=p.pid,
        description=p.description,
        start=p.start,
        stop=p.stop,
        now=p.now,
        spawnerr=p.spawnerr,
        exitstatus=p.exitstatus,
        stdout_logfile=p.stdout_logfile,
        stderr_logfile=p.stderr_logfile,
        exitcodes=exitcodes,
    )


def master_of(m: gunicorn_backend.Master) -> GunicornMaster:
    """A scanned gunicorn Master as a snapshot (no psutil objects)."""
    stats = None
    if m.stats is not None:
        s = m.stats
        stats = GunicornStats(
            s.pid,
            s.uptime,
            s.workers_current,
            s.workers_target,
            s.workers_spawned,
            s.workers_killed,
            s.reloads,
        )
    return GunicornMaster(
        pid=m.pid,
        create_time=m.identity.create_time,
        name=m.name,
        program=m.program,
        server=m.server,
        binds=tuple(m.binds),
        worker_class=m.worker_class,
        configured=m.configured,
        live=m.live,
        target=m.target,
        target_source=m.target_source,
        uptime=m.uptime,
        timeout=m.timeout,
        unknown=tuple(m.unknown),
        control_socket=m.control_socket,
        error_log=m.error_log,
        pidfile=m.pidfile,
        cwd=m.cwd,
        found_by=m.found_by,
        flags=tuple(m.flags),
        notes=tuple(m.notes),
        workers=tuple(
            GunicornWorker(
                pid=w.pid,
                create_time=w.identity.create_time,
                age=w.age,
                cpu_percent=w.cpu_percent,
                rss=w.rss,
                threads=w.threads,
                connections=w.connections,
                heartbeat_age=w.heartbeat_age,
                status=w.status,
                flags=tuple(w.flags),
            )
            for w in m.workers
        ),
        stats=stats,
        log_files=tuple(master_logs(m)),
    )


def master_logs(master: gunicorn_backend.Master) -> list[str]:
    """A gunicorn master's error log, then its access log: the absolute paths among them
    (a relative one is relative to the master's working directory, unknown here)."""
    named = gunicorn_backend.log_paths(master.identity.cmdline)
    error = master.error_log or named.get("error")
    return [path for path in (error, named.get("access")) if path and path.startswith("/")]


def instance_of(inst: nginx_backend.NginxInstance) -> NginxInstance:
    return NginxInstance(
        binary=inst.binary,
        conf_path=inst.conf_path,
        prefix=inst.prefix,
        label=inst.label,
        master_pid=inst.master_pid,
        master_create_time=inst.master.create_time if inst.master else None,
        program=inst.program.fullname if inst.program else None,
        flags=tuple(inst.args.flags()),
        source=inst.source,
        other_masters=tuple(inst.others),
        binary_problem=inst.binary_problem,
    )


def nginx_snapshot(
    host: str, status: nginx_backend.NginxStatus, log_files: list[str] | None = None
) -> NginxSnapshot:
    """A status sample as a snapshot; ``log_files`` the logs its config names."""
    stub = status.stub
    return NginxSnapshot(
        host=host,
        at=status.at,
        instance=instance_of(status.instance),
        version=status.version,
        workers=tuple(
            NginxWorker(w.pid, w.role, w.create_time, w.cpu_percent, w.rss, w.connections)
            for w in status.workers
        ),
        last_reload=status.last_reload,
        reloads_seen=status.reloads_seen,
        stub_url=status.stub_url,
        stub=None
        if stub is None
        else StubCounts(
            stub.active,
            stub.accepts,
            stub.handled,
            stub.requests,
            stub.reading,
            stub.writing,
            stub.waiting,
        ),
        stub_error=status.stub_error,
        rps=status.rps,
        rps_history=tuple(status.rps_history),
        log_files=tuple(log_files or ()),
    )


def _diagnostic(d: Any) -> NginxDiagnostic:
    return NginxDiagnostic(d.level, d.message, d.file, d.line, d.category, d.raw)


def topo_of(node: Any) -> TopoNode:
    return TopoNode(
        node.kind,
        node.label,
        node.status,
        node.detail,
        node.file,
        node.line,
        node.pid,
        tuple(topo_of(c) for c in node.children),
    )
