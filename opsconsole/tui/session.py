"""One console session: what the TUI knows and does about the host, apart from any widget.

The session owns the host (:class:`~opsconsole.core.local.LocalHost`, sharing the session's
supervisor monitor and gate), the gate (read-only switch and audit trail), the event timeline,
the probes, the refresh loops, the ``:`` command dispatcher and the gated operation runner.
The refresh loops read the host's snapshots (:class:`~opsconsole.core.host.Supervisord` per
supervisord, diffed here for the timeline; ``host.probes()``, whose history is kept here) and
the views render them; operations travel as :class:`~opsconsole.core.host.OperationRequest`
to ``host.perform`` once the operator confirmed (:meth:`Session.send`). Logs are read
through the host too (:meth:`Session.log_source`: ``host.log``, scroll-back included). Still
local, not through the host: the CPU/memory sampler
of this machine's pids. Views are given the session (constructor argument) and read from it or ask
it to act; the session never touches a widget. It talks back through the small
:class:`SessionUI` the app gives it (notify, confirm, pick, post a message, start a worker),
and tells the app what changed with the messages below, which coalesce bursts
(``can_replace``): ten refreshes queued behind a slow frame are drawn once.

The messages and the UI protocol are in :mod:`opsconsole.tui.session_messages`; the refresh
interval rule and the probe history in :mod:`opsconsole.core.refresh`.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from opsconsole.core.actions import ActionGate, AuditRecord, make_gate, operation
from opsconsole.core.commands import Command
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import OpsError
from opsconsole.core.events import Timeline, process_changes
from opsconsole.core.export import default_export_path, incident_markdown, write_note
from opsconsole.core.format import format_duration
from opsconsole.core.host import (
    GunicornMaster,
    LogRef,
    OperationRequest,
    OperationResult,
    Program,
    Supervisord,
)
from opsconsole.core.local import LocalHost
from opsconsole.core.logs import HostLogSource, LogSource, SourceSpec
from opsconsole.core.procs import TreeUsage, UsageSampler, process_start_time
from opsconsole.core.refresh import MAX_INTERVAL as MAX_INTERVAL
from opsconsole.core.refresh import ProbeHistory as ProbeHistory
from opsconsole.core.refresh import refresh_interval as refresh_interval
from opsconsole.core.refresh import refresh_note as refresh_note
from opsconsole.core.supervisor.monitor import SupervisorMonitor
from opsconsole.tui.session_messages import AcrossRequested as AcrossRequested
from opsconsole.tui.session_messages import CommandRouted as CommandRouted
from opsconsole.tui.session_messages import ProbesChanged as ProbesChanged
from opsconsole.tui.session_messages import RollRequested as RollRequested
from opsconsole.tui.session_messages import SessionRefreshed as SessionRefreshed
from opsconsole.tui.session_messages import SessionUI as SessionUI
from opsconsole.tui.session_messages import UpdateReread as UpdateReread

VERB_OP = {
    "start": "supervisor.start",
    "stop": "supervisor.stop",
    "restart": "supervisor.restart",
    "signal": "supervisor.signal",
    "clear_logs": "supervisor.clear_logs",
}

VERB_EFFECT = {
    "start": "supervisord starts it and waits for startsecs",
    "stop": "supervisord sends its stopsignal and waits up to stopwaitsecs, then SIGKILL",
    "restart": "stop (stopsignal, then SIGKILL after stopwaitsecs) and start again",
    "clear_logs": "supervisord truncates the captured stdout/stderr logs",
}

#: what a config reread found, in the order the confirmation lists it
#: logs the views may keep open through the host at once (a group's logs merged included)
VIEW_OPEN_LOGS = 1024

#: CPU and memory of the programs (a walk of every process) are sampled this often at most
USAGE_SECONDS = 5.0
#: ``:`` commands about what is shown (views, theme, help, screens): the app routes these
ROUTED = frozenset(
    {"q", "quit", "help", "view", "theme", "filter", "scale", "reload", "nginx", "logs", "audit"}
    | {"hosts", "host"}
)


class Session:
    """The state and the work of one console session (see the module docstring)."""

    def __init__(
        self,
        config: AppConfig,
        ui: SessionUI,
        *,
        monitor: SupervisorMonitor | None = None,
        gate: ActionGate | None = None,
        audit: bool = True,
        host: str | None = None,
    ) -> None:
        self.config = config
        self.ui = ui
        self.host = host or socket.gethostname()
        self.read_only = config.read_only
        self.monitor = monitor or SupervisorMonitor(
            config.supervisors,
            timeout=config.timeout,
            refresh=config.refresh,
            read_only=config.read_only,
        )
        self.gate = gate or make_gate(config.read_only, audit=audit)
        #: several hosts (``--host``, ``[[host]]``): their refresh loops and narrowing, a
        #: tui.fleet.Fleet the app attaches (it also makes ``machine`` the fleet's host)
        self.fleet: Any = None
        #: the host the views read and act through (this machine, or the fleet's hosts)
        self.machine: Any = LocalHost(config, gate=self.gate, monitor=self.monitor, name=self.host)
        # the views close each log they stop showing; a merged view may show every program's
        self.machine.max_open_logs = VIEW_OPEN_LOGS
        #: the latest snapshot of each configured supervisord (the programs view renders them)
        self.servers: dict[str, Supervisord] = {
            t.name: Supervisord(t.name, t.url, status="connecting")
            for t in (config.supervisors if not config.hosts else [])
        }
        self.timeline = Timeline()
        self.sampler = UsageSampler()
        self.usage: dict[int, TreeUsage] = {}
        self.probes = ProbeHistory()
        self.probe_interval = 2.0
        #: seconds between two refreshes of each supervisord: the configured refresh, longer
        #: while supervisord answers slowly (:func:`refresh_interval`; the status bar says so)
        self.intervals: dict[str, float] = {t.name: config.refresh for t in config.supervisors}
        #: whether CPU and memory of the programs are wanted now (the app: while the programs
        #: view is shown); sampled every USAGE_SECONDS then
        self.usage_wanted: Callable[[], bool] = lambda: True
        self._usage_at = 0.0
        #: set once every supervisord was polled once: probes and the views' own scans wait
        #: for it, so the first rows are drawn first and nothing else polls supervisord
        self.first_poll = asyncio.Event()
        self._polled_once: set[str] = set()
        self._started = False
        #: the app starts the loops once it is mounted: the views (mounted before it) wait
        #: for the first refresh from the start
        self.will_start = False
        self._latencies: dict[str, deque[float]] = {}
        #: the gunicorn masters and nginx log files the views found last (for log sources)
        self.gunicorn_masters: list[GunicornMaster] = []
        self.nginx_log_files: list[str] = []
        self._last: dict[str, dict[tuple[str, str], Program]] = {}
        self._last_status: dict[str, str] = {}
        self._server_pid: dict[str, int] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self.gate.listeners.append(self._on_audit)

    # -- refresh loops -------------------------------------------------------------------

    def start(self) -> None:
        """Start one refresh loop per supervisord and the probe loop (as the app's workers,
        so they end with it)."""
        self._started = True
        if self.fleet is not None:  # one refresh loop per host (tui.fleet)
            self.fleet.start(self)
        for name in self.servers if self.fleet is None else ():
            self._wake[name] = asyncio.Event()
            self.ui.run_worker(self._poll_loop(name), group="poll", name=f"poll-{name}")
        if self.fleet is None and not self.servers:
            self.first_poll.set()  # no supervisord to wait for: the views scan at once
        self.ui.run_worker(self._probe_loop(), group="probes", name="probes")
        if self.config.alerts:  # the [[alert]] rules, evaluated on each refresh (as `watch`)
            # imported only then: alerts pull in the metrics (prometheus_client) at startup
            from opsconsole.core.alerts import run_alerts

            self.ui.run_worker(
                run_alerts(
                    self.machine,
                    self.config.alerts,
                    lambda level, subject, text: self.timeline.add("alert", level, subject, text),
                    interval=self.config.refresh,
                    servers=lambda: list(self.servers.values()),
                ),
                group="alerts",
                name="alerts",
            )

    async def _poll_loop(self, server: str) -> None:
        """Refresh one supervisord forever: one ``getAllProcessInfo`` per refresh, its rows
        shown as soon as it returns. An answer byte-identical to the last one changes nothing
        on screen. CPU and memory (psutil, in a thread) are sampled every USAGE_SECONDS while
        they are wanted, before that refresh is shown (one redraw a refresh; never on the
        first, whose rows come first). When supervisord answers slowly the interval stretches
        (:func:`refresh_interval`) and the status bar says so. A bug in one refresh never
        stops the next."""
        refresh = self.config.refresh
        while True:
            delay = refresh  # a supervisord that did not answer is asked again soon
            try:
                # the first rows without waiting for the exit codes (read by the next poll)
                self.machine.exit_codes_later = server not in self._polled_once
                snap = await self.machine.supervisord(server)
                raw = self.monitor.snapshots.get(server)
                changed = not (raw is not None and raw.unchanged and server in self._last)
                if changed:
                    self._observe(snap)
                else:
                    self.servers[server] = snap
                if snap.reachable:
                    # slow when its last answers all were (one late answer, e.g. a supervisord
                    # stopped and continued, stretches nothing)
                    recent = self._latencies.setdefault(server, deque(maxlen=3))
                    recent.append(snap.latency)
                    if len(recent) == recent.maxlen:  # the first (connecting) is no measure
                        delay = refresh_interval(refresh, min(recent))
                changed = changed or delay != self.intervals.get(server)
                self.intervals[server] = delay
                # the other readers (probes, gunicorn, nginx) use this poll, never their own
                # (the session's loop polls every supervisord as long as it runs: however late
                # it is on a loaded machine, a reader uses its last poll rather than polls)
                self.machine.poll_max_age = math.inf
                if snap.reachable and snap.local and self._usage_due(server):
                    # this machine's pids (a remote supervisord's are not), every server's
                    local = [s for s in self.servers.values() if s.local and s.reachable]
                    pids = [p.pid for s in local for p in s.programs if p.pid]
                    self.usage = await asyncio.to_thread(self.sampler.sample, pids)
                    changed = True
                if changed:  # one redraw a refresh (the first: before any sampling)
                    self.ui.post_message(SessionRefreshed())
            except Exception as exc:  # keep watching: an incident console must not go blind
                self.timeline.add("server", "error", server, f"refresh failed: {exc!r}")
            self._polled_once.add(server)
            if len(self._polled_once) == len(self.servers):
                self.first_poll.set()
            wake = self._wake[server]
            try:
                await asyncio.wait_for(wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
            wake.clear()

    def first_refresh_pending(self) -> bool:
        """True from :meth:`start` until every supervisord was polled once: the views' own
        scans wait (the program list is drawn first; they read the programs it found)."""
        return (self._started or self.will_start) and not self.first_poll.is_set()

    def _usage_due(self, server: str) -> bool:
        """CPU and memory are sampled from the second refresh on (the first rows are drawn
        first), then every USAGE_SECONDS while the app wants them (the programs view shows)."""
        now = time.monotonic()
        if server not in self._polled_once or now - self._usage_at < USAGE_SECONDS:
            return False
        if not self.usage_wanted():
            return False
        self._usage_at = now
        return True

    def clock(self, server: str) -> float | None:
        """The clock of the host of supervisord ``server`` that its programs' uptimes are
        shown at: a fleet's host keeps one (its agent pushes no uptime that only grew; frozen
        while the host is stale), None for this machine's (each program's own ``now``)."""
        return self.fleet.clock(server) if self.fleet is not None else None

    def refresh_notes(self) -> dict[str, str]:
        """Per supervisord, what the status bar says about a stretched refresh interval."""
        notes = {}
        for name, snap in self.servers.items():
            if not snap.reachable:
                continue  # the status bar says why instead
            interval = self.intervals.get(name, self.config.refresh)
            latency = min(self._latencies.get(name) or [snap.latency])
            note = refresh_note(self.config.refresh, interval, latency)
            if note:
                notes[name] = note
        return notes

    async def _probe_loop(self) -> None:
        """Probe every few seconds through the host (configured probes, else one per
        listening program and per address of any running nginx); the session keeps each
        probe's history and puts failures and recoveries on the timeline. The first round
        waits for the first refresh (it reads the programs that poll found)."""
        try:
            await asyncio.wait_for(self.first_poll.wait(), timeout=max(5.0, self.config.timeout))
            await asyncio.sleep(min(0.5, self.probe_interval))  # the first frame is drawn
        except asyncio.TimeoutError:
            pass
        while True:
            try:
                snap = await self.machine.probes()
            except Exception as exc:  # keep probing: an incident console must not go blind
                self.timeline.add("probe", "error", self.host, f"probes failed: {exc!r}")
            else:
                for result, previous in self.probes.record(snap):
                    if previous is None and result.ok:
                        continue
                    if previous is None or previous.ok != result.ok:
                        if result.ok:
                            self.timeline.add(
                                "probe", "info", result.probe, f"recovered: {result.summary}"
                            )
                        else:
                            self.timeline.add(
                                "probe", "error", result.probe, f"failing: {result.summary}"
                            )
                self.ui.post_message(ProbesChanged(list(self.probes.states.values())))
            await asyncio.sleep(self.probe_interval)

    def poll_now(self, server: str | None = None) -> None:
        """Refresh ``server`` (every supervisord when None) now instead of at its next tick."""
        for name, event in self._wake.items():
            if server is None or name == server:
                event.set()
        if self.fleet is not None:
            self.fleet.poll_now()

    def _observe(self, snap: Supervisord) -> None:
        """Keep ``snap`` and put what changed since the last one on the timeline."""
        server = snap.name
        self.servers[server] = snap
        status = self._last_status.get(server)
        if status != snap.status:
            if snap.reachable and status is not None:
                self.timeline.add("server", "info", server, "supervisord reachable again")
            elif not snap.reachable and snap.error is not None:
                self.timeline.add("server", "error", server, snap.error.message)
            self._last_status[server] = snap.status
        if snap.reachable:
            pid = snap.pid
            seen = self._server_pid.get(server)
            if seen and pid and pid != seen:
                self.timeline.add(
                    "server", "warning", server, f"supervisord restarted: pid {seen} → {pid}"
                )
            if pid:
                self._server_pid[server] = pid
            before = self._last.get(server, {})
            if before:
                several = len(self.servers) > 1
                self.timeline.extend(process_changes(before, list(snap.programs), None, several))
            self._last[server] = {p.key: p for p in snap.programs}

    def server_info(self) -> str:
        """What each supervisord is (version, pid, state, uptime) and how it answers."""
        lines = []
        for name, snap in self.servers.items():
            lines.append(f"{name}  {snap.url}")
            if snap.version:
                up = ""
                if snap.local and snap.pid:
                    started = process_start_time(snap.pid)
                    if started:
                        up = f", up {format_duration(time.time() - started)}"
                lines.append(f"  supervisor {snap.version}, pid {snap.pid}, state {snap.state}{up}")
                if snap.identification:
                    lines.append(f"  identification {snap.identification}")
            lines.append(f"  {snap.status}; last call {snap.latency * 1000:.0f} ms")
            if snap.error is not None:
                lines.append(f"  {snap.error.message}")
        return "\n".join(lines)

    def _on_audit(self, record: AuditRecord) -> None:
        level = {"ok": "info", "error": "error", "refused": "warning"}.get(record.result, "info")
        text = f"{operation(record.action).title.lower()}: {record.result}"
        if record.detail:
            text += f" — {record.detail}"
        self.timeline.add("action", level, record.target, text, at=record.time)

    # -- operations ----------------------------------------------------------------------

    def request(
        self,
        op_id: str,
        target: str,
        fn: Callable[[], Awaitable[Any]],
        *,
        question: str,
        detail: str = "",
        params: dict[str, Any] | None = None,
        on_done: Callable[[Any], None] | None = None,
    ) -> None:
        """Run a core operation through the gate: refuse, confirm, run in the background.

        Refused in read-only mode before anything is asked (a notice, an audit record); an
        operation registered with ``confirm`` asks ``question`` first; ``on_done`` gets what
        ``fn`` returned. Failures are shown in words; every supervisord is polled afterwards.
        """
        try:
            self.gate.check(op_id, target, params)
        except OpsError as exc:
            self.ui.notify(exc.message, title="Refused", severity="error")
            return

        def launch(confirmed: bool | None = True) -> None:
            if confirmed:
                self.ui.run_worker(self._run_op(op_id, target, fn, params, on_done), group="ops")

        if operation(op_id).confirm:
            self.ui.confirm(question, detail, launch)
        else:
            launch(True)

    async def _run_op(
        self,
        op_id: str,
        target: str,
        fn: Callable[[], Awaitable[Any]],
        params: dict[str, Any] | None,
        on_done: Callable[[Any], None] | None,
    ) -> None:
        title = operation(op_id).title
        self.ui.notify(f"{title} {target} …", timeout=2)
        try:
            result = await self.gate.run(op_id, target, fn, params=params, confirmed=True)
        except OpsError as exc:
            self.ui.notify(
                f"{exc.message}\n{exc.hint}".strip(), title=f"{title} failed", severity="error"
            )
        else:
            if on_done is not None:
                on_done(result)
        self.poll_now()

    def send(
        self,
        request: OperationRequest,
        *,
        question: str,
        detail: str = "",
        on_done: Callable[[OperationResult], None] | None = None,
        label: str | None = None,
        every_result: bool = False,
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        """Send ``request`` to the host: refused in read-only mode before anything is asked
        (a notice, an audit record); an operation registered with ``confirm`` asks
        ``question`` first and is sent with ``confirmed=True`` only after a yes. A refusal or
        failure is shown in words; ``on_done`` gets the result otherwise (and always when it
        has a line per program, or with ``every_result``: the view shows it). ``label`` names
        the target in notices when ``request.target`` is terse (a pid); ``on_sent`` is called
        once the request goes out (after the yes). Every supervisord is polled afterwards."""
        named = label or request.target
        try:
            self.gate.check(request.operation, named, _audit_params(request))
        except OpsError as exc:
            self.ui.notify(exc.message, title="Refused", severity="error")
            return

        def launch(confirmed: bool | None = True) -> None:
            if confirmed:
                sent = replace(request, confirmed=True)
                if on_sent is not None:
                    on_sent()
                work = self._perform(sent, named, on_done, every_result)
                self.ui.run_worker(work, group="ops")

        if operation(request.operation).confirm:
            self.ui.confirm(question, detail, launch)
        else:
            launch(True)

    async def _perform(
        self,
        request: OperationRequest,
        named: str,
        on_done: Callable[[OperationResult], None] | None,
        every_result: bool,
    ) -> None:
        title = operation(request.operation).title
        self.ui.notify(f"{title} {named} …", timeout=2)
        result = await self.machine.perform(request)
        if on_done is not None and (every_result or result.ok or result.items):
            on_done(result)
        else:
            self.report_failure(result)
        self.poll_now()

    def report_failure(self, result: OperationResult) -> None:
        """Say in words why a request was refused or failed (nothing for a done one)."""
        if result.ok:
            return
        hint = result.error.hint if result.error is not None else ""
        title = operation(result.operation).title
        self.ui.notify(
            f"{result.message}\n{hint}".strip(), title=f"{title} failed", severity="error"
        )

    def program_op(
        self, verb: str, server: str, specs: list[str], label: str, signame: str = ""
    ) -> None:
        """Start, stop, restart, signal or clear the logs of programs on ``server`` (a signal
        with no ``signame`` asks which; ``rolling``: a rolling restart, :meth:`roll`)."""
        if not server:  # programs marked on several supervisords (hosts): one at a time
            verb = "restart" if verb == "rolling" else verb  # across hosts: in turn anyway
            self.ui.post_message(AcrossRequested(verb, list(specs), signame))
            return
        if verb == "rolling":
            self.roll(server, specs, label)
            return
        if verb == "signal":

            def picked(name: str | None) -> None:
                if name:
                    self.request_signal(server, specs, label, name)

            if signame:
                picked(signame)
            else:
                self.ui.pick_signal(f"Signal for {label}", picked)
            return
        self.send(
            OperationRequest(VERB_OP[verb], label, {"server": server, "names": list(specs)}),
            question=f"{verb.replace('_', ' ').capitalize()} {label}?",
            detail=f"{VERB_EFFECT.get(verb, '')} (supervisord {server}).",
            on_done=self._report_results,
        )

    def roll(self, server: str, specs: list[str], label: str) -> None:
        """A rolling restart (tui.screens.rolling): refused in read-only mode before anything
        is planned; else the app opens the screen that plans, asks once and runs it."""
        try:
            self.gate.check("supervisor.rolling_restart", label, {"server": server})
        except OpsError as exc:
            self.ui.notify(exc.message, title="Refused", severity="error")
            return
        self.ui.post_message(RollRequested(server, list(specs), label))

    def request_signal(self, server: str, specs: list[str], label: str, signame: str) -> None:
        self.send(
            OperationRequest(
                "supervisor.signal",
                label,
                {"server": server, "names": list(specs), "signal": signame},
            ),
            question=f"Send SIG{signame} to {label}?",
            detail=f"supervisord delivers SIG{signame} to the process(es) on {server}.",
            on_done=self._report_results,
        )

    def update(self, server: str) -> None:
        """Reread ``server``'s config, show what changed, and apply it once confirmed."""

        def diff_ready(reread: OperationResult) -> None:
            # which processes each group's update stops and starts; one group at a time
            self.ui.post_message(UpdateReread(server, reread))

        self.send(
            OperationRequest("supervisor.reread", server, {"server": server}),
            question="Reread config?",
            on_done=diff_ready,
        )

    def _report_results(self, result: OperationResult) -> None:
        items = result.items
        failed = [r for r in items if not r.ok]
        text = "\n".join(r.message for r in (failed or list(items))[:6])
        self.ui.notify(text or "done", severity="error" if failed else "information")

    # -- command mode --------------------------------------------------------------------

    def program_names(self) -> list[str]:
        return sorted({p.fullname for s in self.servers.values() for p in s.programs})

    def run_command(self, command: Command) -> None:
        """Carry out a parsed ``:`` command: operations go through :meth:`request`; commands
        about what is shown go to the app (:class:`CommandRouted`)."""
        name, args = command.name, list(command.args)
        if name in ROUTED:
            self.ui.post_message(CommandRouted(command))
        elif name == "restart" and "--rolling" in args:
            names = [a for a in args if a != "--rolling"]
            if not names:
                self.ui.notify("usage: :restart --rolling NAME…", severity="error")
                return
            self.roll(self.server_of(names[0]), names, " ".join(names))
        elif name in ("start", "stop", "restart", "signal"):
            signame = args.pop(0).upper().removeprefix("SIG") if name == "signal" else "HUP"
            # several hosts: each host that runs them, one at a time (tui.fleet_ops)
            across = self.fleet.keys_for(args, self.servers) if self.fleet is not None else None
            self.program_op(
                name,
                "" if across else self.server_of(args[0]),
                across or args,
                " ".join(args),
                signame if name == "signal" else "",
            )
        elif name == "update":
            self.update(next(iter(self.servers)))
        elif name == "export":
            self.export_note(args[0] if args else None)
        else:
            self.ui.notify(f":{name} is not available in this view yet", severity="warning")

    def server_of(self, spec: str) -> str:
        """The supervisord that runs program or group ``spec`` (the first one if none does)."""
        name = spec.removesuffix(":*")
        for server, snap in self.servers.items():
            if any(p.fullname == name or p.group == name for p in snap.programs):
                return server
        return next(iter(self.servers))

    def export_note(self, path: str | None) -> None:
        """Write the timeline and the audit trail as a markdown incident note (0600)."""
        target = Path(path).expanduser() if path else default_export_path()
        audit = list(self.gate.history)
        text = incident_markdown(list(self.timeline.events), audit, host=self.host)
        try:
            write_note(target, text)  # 0600; a full disk leaves no half-written note behind
        except OSError as exc:
            self.ui.notify(f"cannot write {target}: {exc.strerror}", severity="error")
            return
        self.ui.notify(f"incident note written to {target}", title="Export")

    # -- log sources ---------------------------------------------------------------------

    def log_specs(
        self, names: list[str], server: str | None = None
    ) -> list[SourceSpec | str] | list[LogSource]:
        """The logs of programs (stdout and stderr, and a gunicorn master's log files),
        ``supervisord``'s own, or every program of a ``group:*``. On several hosts without a
        server named: each stream merged over the hosts that run it (tui.fleet_logs)."""
        if not names:
            return []
        if server is None and self.fleet is not None:
            merged: list[LogSource] | None = self.fleet.merged_logs(self, names)
            if merged is not None:
                return merged
        server = server or self.server_of(names[0])
        sources: list[SourceSpec | str] = []
        for name in names:
            if name == "supervisord":
                sources.append(SourceSpec("supervisord", server))
            elif name.endswith(":*"):
                group = name[:-2]
                for p in self.servers[server].programs:
                    if p.group == group:
                        sources += [
                            SourceSpec("program", server, p.fullname, s)
                            for s in ("stdout", "stderr")
                        ]
            else:
                sources += [SourceSpec("program", server, name, s) for s in ("stdout", "stderr")]
                sources += self.gunicorn_files(name)
        return sources

    def log_source(self, spec: SourceSpec) -> LogSource:
        """The log a spec names (a program's stdout or stderr, a supervisord's own log, a
        file), read through the host: ``host.log`` to open, follow and scroll back. Named as
        the views show it (``spec.key``, ``spec.label``). Raises nothing: what the host cannot
        read (a supervisord it does not know, a file it may not read) is the source's error,
        in the host's words, when the view opens it."""
        ref = LogRef(spec.kind, spec.server, spec.name, spec.stream, spec.path)
        return HostLogSource(self.machine, ref, key=spec.key, label=spec.label)

    def log_sources_for(self, server: str, program: str) -> list[LogSource]:
        """Ready log sources for a program: its stdout, stderr and gunicorn log files."""
        specs = [SourceSpec("program", server, program, s) for s in ("stdout", "stderr")]
        specs += [SourceSpec("file", path=f) for f in self.gunicorn_files(program)]
        sources = []
        for spec in specs:
            try:
                sources.append(self.log_source(spec))
            except OpsError:
                continue
        return sources

    def gunicorn_files(self, program: str) -> list[str]:
        """The error and access logs of the gunicorn master run by ``program`` (if any)."""
        for master in self.gunicorn_masters:
            if master.program == program:
                return list(master.log_files)
        return []

    def discovered_log_files(self) -> list[str]:
        """Gunicorn error/access logs (from the masters' command lines) and nginx's logs."""
        files: list[str] = []
        for master in self.gunicorn_masters:
            files += [path for path in list(master.log_files) if path not in files]
        files += [f for f in self.nginx_log_files if f not in files]
        return files

    async def aclose(self) -> None:
        await self.machine.aclose()  # its log sources, probes and the monitor's clients


def _audit_params(request: OperationRequest) -> dict[str, Any]:
    """What the gate records of a request it refuses (the supervisord and the signal, as the
    host records them when it runs the request)."""
    return {k: v for k, v in request.parameters.items() if k in ("server", "signal")}
