"""The reads of LocalHost: programs, gunicorn, nginx, topology, probes and logs."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from opsconsole.core import actions, probes, supervisor
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    MAX_BEFORE_LINES,
    GunicornSnapshot,
    HostError,
    LogChunk,
    LogCursor,
    LogEntry,
    LogRef,
    NginxConfigDump,
    NginxDiagnostic,
    NginxFile,
    NginxSnapshot,
    NginxTest,
    ProbeOutcome,
    ProbesSnapshot,
    ProgramsSnapshot,
    Supervisord,
    TopologySnapshot,
)
from opsconsole.core.local.convert import (
    _diagnostic,
    instance_of,
    master_of,
    nginx_snapshot,
    program_of,
    topo_of,
)
from opsconsole.core.logs import LogError, LogSource, SourceSpec, make_source
from opsconsole.core.logs.parse import LogLine
from opsconsole.core.supervisor.monitor import ServerSnapshot, SupervisorMonitor

if TYPE_CHECKING:  # imported at the first gunicorn or nginx read (the first frame needs neither)
    from opsconsole.core import gunicorn as gunicorn_backend
    from opsconsole.core import nginx as nginx_backend

#: Lines read back per step while looking for the start of ``since``.
SINCE_PAGE = 2000
#: ``since`` without ``lines`` stops after this many lines, whatever the times say.
SINCE_MAX = 200_000
#: Logs kept open for ``after`` at once; opening one more closes the oldest.
MAX_OPEN_LOGS = 32
#: Probes are discovered again every this many probes() calls even when no program restarted.
REDISCOVER = 15
#: How often the expected exit codes (getAllConfigInfo, ~100 ms to decode at 300 programs) are
#: read again at most; sooner when supervisord restarted, a program appeared, or this host
#: applied an update.
CONFIG_INFO_SECONDS = 300.0


class LocalReads:
    """The read side of :class:`~opsconsole.core.local.LocalHost` (its backends, caches and
    open logs); the operations are in :mod:`opsconsole.core.local.host`."""

    #: logs kept open for ``after``/``before`` at once; opening one more closes the oldest
    #: (a console whose views close what they stop showing may allow more)
    max_open_logs = MAX_OPEN_LOGS
    #: how old the last poll may be for the reads that match programs to processes (gunicorn,
    #: nginx, probes) to use it instead of polling again; None: one refresh. A console whose
    #: refresh loop polls every supervisord sets it to infinity (never two polls a refresh)
    poll_max_age: float | None = None
    #: when True, supervisord() does not wait for the expected exit codes it has not read yet
    #: (getAllConfigInfo, as long to decode as the poll): a console's first rows come first
    exit_codes_later = False

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
        self._probe_runner: probes.ProbeRunner | None = None
        #: the running programs probes were last discovered for, and what was found
        self._discovered: tuple[list[tuple[str, int]], list[probes.Probe]] | None = None
        self._probe_rounds = 0
        self._scan_lock = asyncio.Lock()
        self._nginx_lock = asyncio.Lock()
        #: server → (when read, supervisord pid, program fullname → expected exit codes)
        self._exitcodes: dict[str, tuple[float, int, dict[str, tuple[int, ...]]]] = {}
        #: server → program fullname → startsecs (read with the exit codes)
        self._startsecs: dict[str, dict[str, int]] = {}
        #: server → the last programs' inputs (processes, exit codes, startsecs) and tuple
        self._programs_memo: dict[str, tuple[object, object, object, tuple[Any, ...]]] = {}
        #: the last programs() poll: (monotonic time, the raw snapshots)
        self._polled: tuple[float, list[ServerSnapshot]] | None = None
        self._logs: dict[int, LogSource] = {}
        self._next_log = 1

    # -- reads ---------------------------------------------------------------------------

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
        if self.exit_codes_later and snap.name not in self._exitcodes:
            return self._supervisord(snap, {})  # the rows first; the next poll reads them
        return self._supervisord(snap, await self._expected_exits(snap))

    async def _expected_exits(self, snap: ServerSnapshot) -> dict[str, tuple[int, ...]]:
        """Each program's ``exitcodes=`` (getAllConfigInfo), read again when supervisord
        restarted, the program set changed, this host applied an update (it forgets them),
        or after CONFIG_INFO_SECONDS."""
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
        startsecs: dict[str, int] = {}
        try:
            infos = await self.monitor.client(snap.name).get_all_config_info()
        except supervisor.SupervisorError:
            return cached[2] if cached is not None else {}
        for info in infos:
            name, group = str(info.get("name")), str(info.get("group"))
            full = name if name == group else f"{group}:{name}"
            try:
                codes[full] = tuple(int(c) for c in info.get("exitcodes", [0]))
                if isinstance(info.get("startsecs"), int):
                    startsecs[full] = int(info["startsecs"])
            except (TypeError, ValueError):
                continue
        self._exitcodes[snap.name] = (now, pid, codes)
        self._startsecs[snap.name] = startsecs
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
            programs=self._programs_of(snap, codes),
            identification=snap.info.identification if snap.info else "",
        )

    def _programs_of(
        self, snap: ServerSnapshot, codes: dict[str, tuple[int, ...]]
    ) -> tuple[Any, ...]:
        """The snapshot's programs; the very same tuple as last time when supervisord's
        answer was byte-identical (the client then hands back the same list) and the
        config facts are the same objects, so a view can skip its redraw by identity."""
        startsecs = self._startsecs.get(snap.name)
        memo = self._programs_memo.get(snap.name)
        if (
            memo is not None
            and memo[0] is snap.processes
            and memo[1] is codes
            and memo[2] is startsecs
        ):
            return memo[3]
        got = startsecs or {}
        programs = tuple(
            program_of(p, codes.get(p.fullname), got.get(p.fullname)) for p in snap.processes
        )
        self._programs_memo[snap.name] = (snap.processes, codes, startsecs, programs)
        return programs

    async def local_processes(self, *, fresh: bool = False) -> tuple[list[Any], list[str]]:
        """The programs of this machine's supervisords (the only ones whose pids can be
        matched to local processes) and why some supervisord could not be read. Uses the
        last :meth:`programs` poll when it is younger than one refresh, unless ``fresh``."""
        polled = self._polled
        max_age = self.config.refresh if self.poll_max_age is None else self.poll_max_age
        if fresh or polled is None or time.monotonic() - polled[0] > max_age:
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

    @cached_property
    def scanner(self) -> gunicorn_backend.GunicornScanner:
        """The host's gunicorn scanner, made (and its backend imported) at the first scan."""
        from opsconsole.core.gunicorn import GunicornScanner

        return GunicornScanner()

    @cached_property
    def nginx_monitor(self) -> nginx_backend.NginxMonitor:
        """The host's nginx finder and sampler, made at the first nginx read."""
        from opsconsole.core.nginx import NginxMonitor

        return NginxMonitor(self.config.nginx)

    async def _scan(
        self, *, fresh: bool = False
    ) -> tuple[list[gunicorn_backend.Master], list[str]]:
        programs, problems = await self.local_processes(fresh=fresh)
        async with self._scan_lock:
            # the scanner (and the backend's import, at the first scan) in the thread
            masters = await asyncio.to_thread(lambda: self.scanner.scan(programs))
        return masters, problems

    async def gunicorn(self) -> GunicornSnapshot:
        masters, problems = await self._scan()
        return GunicornSnapshot(
            self.name, time.time(), tuple(master_of(m) for m in masters), tuple(problems)
        )

    async def nginx(self) -> NginxSnapshot:
        programs, _ = await self.local_processes()

        def sample() -> tuple[nginx_backend.NginxStatus, list[str]]:
            monitor = self.nginx_monitor  # made (the backend imported) in the thread
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
        return await asyncio.to_thread(lambda: self.nginx_monitor.discover(programs))

    async def nginx_config(self) -> NginxConfigDump:
        # The same nginx as nginx() and topology(): the one the supervisord runs, when it does
        # (on a machine with several nginx masters, None would pick any of them).
        programs, _ = await self.local_processes()
        inst = await self._discover(programs)
        from opsconsole.core.nginx import dump_config

        dump = await dump_config(inst)
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
        from opsconsole.core.nginx import read_config_file

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
                found.append(NginxFile(path, read_config_file(path)))
            except OpsError as exc:
                unread.append(HostError.of(exc))
        return found, unread

    async def topology(self) -> TopologySnapshot:
        programs, notes = await self.local_processes()
        inst = await self._discover(programs)
        from opsconsole.core.nginx import inspect as inspect_nginx

        inspection = await asyncio.to_thread(inspect_nginx, inst, programs)
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
        keep: int | None = None,
        first: int | None = None,
    ) -> LogChunk:
        if after is not None and before is not None:
            raise LogError("a log is read either after a cursor or before one, not both")
        if after is not None:
            src = self._open_log(after)
            if keep is None:
                return self._chunk(source, src, await src.poll(), after)
            passed, got = await _follow(src, keep, first)
            return replace(self._chunk(source, src, got, after), passed=passed)
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


async def _follow(source: LogSource, keep: int, first: int | None) -> tuple[int, list[LogLine]]:
    """What was written since the last read, of which only the last ``keep`` lines are made
    (``first`` at the end of a burst): ``(passed, lines)``. A log that cannot pass over lines
    (supervisord over XML-RPC) gives one batch, ``passed`` 0. Raises LogError for bad counts."""
    if keep < 1 or (first is not None and first < 1):
        raise LogError("keep and first must be 1 or more", "ask for the size of the ring shown")
    follow = getattr(source, "follow", None)
    if follow is None:
        return 0, await source.poll()
    passed, lines = await follow(keep, first)
    return int(passed), list(lines)


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
