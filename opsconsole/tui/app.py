"""The opsconsole Textual app: composes the views, routes messages, runs core actions.

Backends are polled in async workers, so a slow or dead supervisord never blocks input.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.filter import LineFilter, Monochrome
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Tab, Tabs

from opsconsole import __version__
from opsconsole.core.actions import ActionGate, AuditRecord, default_audit_path, operation
from opsconsole.core.commands import COMMANDS, Command
from opsconsole.core.commands import parse as parse_command
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import OpsError
from opsconsole.core.events import Event, Timeline, process_changes
from opsconsole.core.export import default_export_path, incident_markdown, write_note
from opsconsole.core.logparse import gunicorn_log_paths
from opsconsole.core.logs import SourceSpec, make_source
from opsconsole.core.monitor import SupervisorMonitor
from opsconsole.core.probes import ProbeRunner, default_probes, probes_from_config
from opsconsole.core.procs import TreeUsage, UsageSampler, process_start_time
from opsconsole.core.supervisor import ConfigDiff, ProcessInfo, format_duration, perform
from opsconsole.tui.palette import OpsCommands
from opsconsole.tui.screens.audit import AuditScreen
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.screens.help import HelpScreen
from opsconsole.tui.screens.pick import SIGNALS, PickScreen
from opsconsole.tui.themes import MONO_THEME, load_themes, resolve_theme_name
from opsconsole.tui.widgets.commandbar import CommandBar, CommandSuggester
from opsconsole.tui.widgets.events import EventsView
from opsconsole.tui.widgets.footer import Footer
from opsconsole.tui.widgets.gunicorn import GunicornView
from opsconsole.tui.widgets.logs import LogsView
from opsconsole.tui.widgets.logview import LogView
from opsconsole.tui.widgets.nginx import NginxView
from opsconsole.tui.widgets.probes import ProbeStrip
from opsconsole.tui.widgets.programs import ProgramsView
from opsconsole.tui.widgets.statusbar import StatusBar

VIEWS = [
    ("programs", "1 Programs"),
    ("gunicorn", "2 Gunicorn"),
    ("nginx", "3 Nginx"),
    ("logs", "4 Logs"),
    ("events", "5 Events"),
]

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


class OpsConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "opsconsole"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {OpsCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command", "Command"),
        Binding("i", "server_info", "supervisord info", show=False),
        Binding("1", "view('programs')", "Programs", show=False),
        Binding("2", "view('gunicorn')", "Gunicorn", show=False),
        Binding("3", "view('nginx')", "Nginx", show=False),
        Binding("4", "view('logs')", "Logs", show=False),
        Binding("5", "view('events')", "Events", show=False),
        Binding("tab", "next_view", "Next view", show=False),
    ]

    def __init__(
        self,
        config: AppConfig,
        *,
        monitor: SupervisorMonitor | None = None,
        gate: ActionGate | None = None,
        audit: bool = True,
        host: str | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.host = host or socket.gethostname()
        self.read_only = config.read_only
        self.monitor = monitor or SupervisorMonitor(
            config.supervisors,
            timeout=config.timeout,
            refresh=config.refresh,
            read_only=config.read_only,
        )
        self.gate = gate or ActionGate(
            read_only=config.read_only, audit_path=default_audit_path() if audit else None
        )
        self.timeline = Timeline()
        self.sampler = UsageSampler()
        self.usage: dict[int, TreeUsage] = {}
        self._last: dict[str, dict[tuple[str, str], ProcessInfo]] = {}
        self._last_status: dict[str, str] = {}
        self._server_pid: dict[str, int] = {}
        self._mono_filter = Monochrome()
        self._wake: dict[str, asyncio.Event] = {}
        self.gate.listeners.append(self._on_audit)
        self.probes = ProbeRunner([])
        self.probe_interval = 2.0

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications never interpret markup: their text comes from program names, paths,
        error messages and log lines, any of which may contain ``[...]``."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def get_line_filters(self) -> Sequence[LineFilter]:
        """The monochrome theme greys every colour, including fixed ones in Rich text."""
        filters = list(super().get_line_filters())
        if self.theme == MONO_THEME and not any(isinstance(f, Monochrome) for f in filters):
            filters.append(self._mono_filter)
        return filters

    # -- layout ----------------------------------------------------------------

    @property
    def main(self) -> Screen[Any]:
        """The console's own screen. ``self.query_one`` would search whatever screen is on
        top (a confirmation, the help), so background updates always go through this."""
        return self.screen_stack[0]

    def compose(self) -> ComposeResult:
        yield StatusBar(self.host, self.read_only)
        yield ProbeStrip("", id="probes")
        yield Tabs(*[Tab(label, id=f"tab-{vid}") for vid, label in VIEWS], id="view-tabs")
        with ContentSwitcher(initial="programs", id="views"):
            yield ProgramsView(id="programs")
            yield GunicornView(id="gunicorn")
            yield NginxView(id="nginx")
            yield LogsView(id="logs")
            yield EventsView(id="events")
        yield CommandBar(CommandSuggester(self._program_names, self._theme_names))
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        themes = load_themes()
        for theme in themes.values():
            self.register_theme(theme)
        available = set(themes) | set(self.available_themes)
        self.theme = resolve_theme_name(self.config.theme, available, dict(os.environ))
        self.sub_title = f"v{__version__}"
        self.timeline.listeners.append(self._on_event)
        self.main.query_one(CommandBar).display = False
        self.main.query_one("#program-table").focus()
        self.refresh_header()
        for name in self.monitor.clients:
            self._wake[name] = asyncio.Event()
            self.run_worker(self._poll_loop(name), group="poll", name=f"poll-{name}")
        self.main.query_one(ProbeStrip).display = False
        self.run_worker(self._probe_loop(), group="probes", name="probes")

    # -- polling ---------------------------------------------------------------

    async def _poll_loop(self, server: str) -> None:
        """Refresh one supervisord forever. Rows are shown as soon as the call returns; CPU and
        memory (psutil, in a thread) follow. A bug in one refresh never stops the next."""
        local = self.monitor.client(server).is_local
        while True:
            try:
                snap = await self.monitor.poll(server)
                self._observe(server)
                self.refresh_header()
                if snap.ok and local:
                    pids = [p.pid for p in snap.processes if p.pid]
                    self.usage = await asyncio.to_thread(self.sampler.sample, pids)
                    self.refresh_header()
            except Exception as exc:  # keep watching: an incident console must not go blind
                self.timeline.add("server", "error", server, f"refresh failed: {exc!r}")
            wake = self._wake[server]
            try:
                await asyncio.wait_for(wake.wait(), timeout=self.monitor.next_delay(server))
            except asyncio.TimeoutError:
                pass
            wake.clear()

    async def _probe_loop(self) -> None:
        """Probe every few seconds; configured probes, else one per listening program and per
        address of any running nginx (core.probes.default_probes)."""
        configured = probes_from_config(self.config.probes)
        discovered_for: list[tuple[str, int]] | None = None
        rounds = 0
        while True:
            if not configured:
                local = [
                    (p.fullname, p.pid)
                    for server, snap in self.monitor.snapshots.items()
                    if self.monitor.client(server).is_local
                    for p in snap.processes
                    if p.pid and p.statename == "RUNNING"
                ]
                rounds += 1
                # rediscover when programs (re)start, and now and then for late listeners
                if local != discovered_for or rounds % 15 == 0:
                    discovered_for = local
                    self.probes.set_probes(await asyncio.to_thread(default_probes, local))
            else:
                self.probes.set_probes(configured)
            for result, previous in await self.probes.run_once():
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
            try:
                self.main.query_one(ProbeStrip).show(list(self.probes.states.values()))
            except NoMatches:
                return
            await asyncio.sleep(self.probe_interval)

    def poll_now(self, server: str | None = None) -> None:
        for name, event in self._wake.items():
            if server is None or name == server:
                event.set()

    def _observe(self, server: str) -> None:
        snap = self.monitor.snapshots[server]
        status = self._last_status.get(server)
        if status != snap.status:
            if snap.ok and status is not None:
                self.timeline.add("server", "info", server, "supervisord reachable again")
            elif not snap.ok and snap.error is not None:
                self.timeline.add("server", "error", server, snap.error.message)
            self._last_status[server] = snap.status
        if snap.ok:
            pid = snap.info.pid if snap.info else 0
            seen = self._server_pid.get(server)
            if seen and pid and pid != seen:
                self.timeline.add(
                    "server", "warning", server, f"supervisord restarted: pid {seen} → {pid}"
                )
            if pid:
                self._server_pid[server] = pid
            before = self._last.get(server, {})
            if before:
                several = len(self.monitor.clients) > 1
                self.timeline.extend(process_changes(before, snap.processes, snap.at, several))
            self._last[server] = {p.key: p for p in snap.processes}

    def action_server_info(self) -> None:
        """``i``: what each supervisord is (version, pid, state, uptime) and how it answers."""
        lines = []
        for name, snap in self.monitor.snapshots.items():
            client = self.monitor.client(name)
            lines.append(f"{name}  {snap.url}")
            if snap.info is not None:
                up = ""
                if client.is_local and snap.info.pid:
                    started = process_start_time(snap.info.pid)
                    if started:
                        up = f", up {format_duration(time.time() - started)}"
                lines.append(
                    f"  supervisor {snap.info.version}, pid {snap.info.pid}, "
                    f"state {snap.info.statename}{up}"
                )
                if snap.info.identification:
                    lines.append(f"  identification {snap.info.identification}")
            lines.append(f"  {snap.status}; last call {snap.latency * 1000:.0f} ms")
            if snap.error is not None:
                lines.append(f"  {snap.error.message}")
        self.notify("\n".join(lines), title="supervisord", timeout=10)

    def refresh_header(self) -> None:
        snaps = list(self.monitor.snapshots.values())
        try:
            self.main.query_one(StatusBar).show(snaps)
            self.main.query_one(ProgramsView).show(snaps, self.usage)
        except NoMatches:
            pass  # shutting down: the widgets are gone, background work is finishing

    def _on_event(self, event: Event) -> None:
        try:
            self.main.query_one(EventsView).add(event)
        except NoMatches:
            pass  # shutting down; the timeline keeps the event

    def _on_audit(self, record: AuditRecord) -> None:
        level = {"ok": "info", "error": "error", "refused": "warning"}.get(record.result, "info")
        text = f"{operation(record.action).title.lower()}: {record.result}"
        if record.detail:
            text += f" — {record.detail}"
        self.timeline.add("action", level, record.target, text, at=record.time)

    # -- views -----------------------------------------------------------------

    def action_view(self, view: str) -> None:
        self.main.query_one(Tabs).active = f"tab-{view}"

    def action_next_view(self) -> None:
        ids = [v for v, _ in VIEWS]
        current = self.main.query_one(ContentSwitcher).current or ids[0]
        self.action_view(ids[(ids.index(current) + 1) % len(ids)])

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        view = event.tab.id.removeprefix("tab-")
        self.main.query_one(ContentSwitcher).current = view
        self.focus_view()

    def focus_view(self) -> None:
        """Give the keyboard to the current view's main widget."""
        view = self.main.query_one(ContentSwitcher).current or "programs"
        widget = self.main.query_one(f"#{view}")
        if view == "programs":
            widget.query_one("#program-table").focus()
        elif view == "logs":
            pane_shown = widget.query_one("#log-sources-pane").display
            widget.query_one("#log-sources" if pane_shown else "#log-view LogLines").focus()
        else:
            widget.focus()

    def action_help(self) -> None:
        sections: list[tuple[str, list[tuple[str, str]]]] = []
        nodes: list[tuple[str, Any]] = [
            ("Programs (1)", ProgramsView.BINDINGS),
            ("Gunicorn (2)", GunicornView.BINDINGS),
            ("Nginx (3)", NginxView.BINDINGS),
            ("Logs (4): the source list", LogsView.BINDINGS),
            ("Logs (4): a log", LogView.BINDINGS),
            ("Everywhere", OpsConsoleApp.BINDINGS),
        ]
        for title, bindings in nodes:
            rows = []
            seen = set()
            for b in bindings:
                if isinstance(b, Binding) and b.key not in seen:
                    seen.add(b.key)
                    rows.append((_key_label(b.key), b.description or b.action))
            sections.append((title, rows))
        sections.append(
            (
                "Commands (:)",
                [
                    (f":{c.name} {c.usage}".rstrip(), c.help)
                    for c in COMMANDS.values()
                    if c.name != "quit"
                ],
            )
        )
        sections.append(
            (
                "Lists",
                [("j / k, ↑ / ↓", "move"), ("g / G", "top / bottom"), ("esc", "back, clear")],
            )
        )
        self.push_screen(HelpScreen(sections))

    # -- operations --------------------------------------------------------------

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
        """Run a core operation through the gate: refuse, confirm, run in the background."""
        try:
            self.gate.check(op_id, target, params)
        except OpsError as exc:
            self.notify(exc.message, title="Refused", severity="error")
            return

        def launch(confirmed: bool | None = True) -> None:
            if confirmed:
                self.run_worker(self._run_op(op_id, target, fn, params, on_done), group="ops")

        if operation(op_id).confirm:
            self.push_screen(ConfirmScreen(question, detail), callback=launch)
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
        self.notify(f"{title} {target} …", timeout=2)
        try:
            result = await self.gate.run(op_id, target, fn, params=params, confirmed=True)
        except OpsError as exc:
            self.notify(
                f"{exc.message}\n{exc.hint}".strip(), title=f"{title} failed", severity="error"
            )
        else:
            if on_done is not None:
                on_done(result)
        self.poll_now()

    def on_programs_view_op_requested(self, message: ProgramsView.OpRequested) -> None:
        verb, server, specs, label = message.verb, message.server, message.specs, message.label
        client = self.monitor.client(server)

        report = self._report_results

        if verb == "signal":

            def picked(signame: str | None) -> None:
                if signame:
                    self.request_signal(server, specs, label, signame)

            if message.signame:
                picked(message.signame)
            else:
                self.push_screen(PickScreen(f"Signal for {label}", SIGNALS), callback=picked)
            return
        self.request(
            VERB_OP[verb],
            label,
            lambda: perform(client, verb, specs),
            question=f"{verb.replace('_', ' ').capitalize()} {label}?",
            detail=f"{VERB_EFFECT.get(verb, '')} (supervisord {server}).",
            params={"server": server},
            on_done=report,
        )

    def request_signal(self, server: str, specs: list[str], label: str, signame: str) -> None:
        client = self.monitor.client(server)
        self.request(
            "supervisor.signal",
            label,
            lambda: perform(client, "signal", specs, signame=signame),
            question=f"Send SIG{signame} to {label}?",
            detail=f"supervisord delivers SIG{signame} to the process(es) on {server}.",
            params={"signal": signame, "server": server},
            on_done=self._report_results,
        )

    def on_programs_view_update_requested(self, message: ProgramsView.UpdateRequested) -> None:
        client = self.monitor.client(message.server)

        def diff_ready(diff: Any) -> None:
            assert isinstance(diff, ConfigDiff)
            if diff.empty:
                self.notify("no config changes: nothing to update")
                return
            lines = []
            for word, names in (
                ("added", diff.added),
                ("changed", diff.changed),
                ("removed", diff.removed),
            ):
                if names:
                    lines.append(f"{word}: {', '.join(names)}")
            self.request(
                "supervisor.update",
                message.server,
                lambda: client.apply_update(diff),
                question="Apply the config changes?",
                detail="\n".join(lines)
                + "\nRemoved and changed groups are stopped first (like supervisorctl update).",
                on_done=lambda done: self.notify("\n".join(done) or "updated"),
            )

        self.request(
            "supervisor.reread",
            message.server,
            client.reread,
            question="Reread config?",
            on_done=diff_ready,
        )

    # -- command mode ------------------------------------------------------------

    def _program_names(self) -> list[str]:
        return sorted({p.fullname for p in self.monitor.all_processes()})

    def _theme_names(self) -> list[str]:
        return sorted(self.available_themes)

    def action_command(self) -> None:
        self.main.query_one(CommandBar).open()

    def open_command(self, text: str) -> None:
        """Open the command bar with ``text`` typed in (from the palette)."""
        bar = self.main.query_one(CommandBar)
        bar.open()
        bar.value = text
        bar.cursor_position = len(text)

    def palette_sources(self) -> list[tuple[str, str, str, list[Any]]]:
        """(view id, title, widget id, bindings) for the palette; "" = the app itself."""
        return [
            ("programs", "Programs", "programs", list(ProgramsView.BINDINGS)),
            ("gunicorn", "Gunicorn", "gunicorn", list(GunicornView.BINDINGS)),
            ("nginx", "Nginx", "nginx", list(NginxView.BINDINGS)),
            ("logs", "Logs", "logs", list(LogsView.BINDINGS)),
            ("logs", "Log", "log-view", list(LogView.BINDINGS)),
            ("", "Console", "", list(OpsConsoleApp.BINDINGS)),
        ]

    async def run_bound(self, view_id: str, widget_id: str, action: str) -> None:
        """Run a binding's action as if its key was pressed in its view."""
        if view_id:
            self.action_view(view_id)
            await self.run_action(action, self.main.query_one(f"#{widget_id}"))
        else:
            await self.run_action(action)

    def on_command_bar_entered(self, message: CommandBar.Entered) -> None:
        try:
            command = parse_command(message.line)
        except OpsError as exc:
            self.notify(f"{exc.message}\n{exc.hint}".strip(), title="Command", severity="error")
            return
        self.run_command(command)

    def run_command(self, command: Command) -> None:
        """Carry out a parsed ``:`` command (mutating ones go through :meth:`request`)."""
        name, args = command.name, list(command.args)
        if name in ("q", "quit"):
            self.exit()
        elif name == "help":
            self.action_help()
        elif name == "view":
            self.action_view(args[0])
        elif name == "theme":
            chosen = resolve_theme_name(args[0], set(self.available_themes), {})
            if args[0] not in (chosen, chosen.removeprefix("opsconsole-")):
                self.notify(f"no theme {args[0]!r}", severity="error")
                return
            self.theme = chosen
            self.refresh_header()
        elif name == "filter":
            view = self.main.query_one(ProgramsView)
            view.filter_text = " ".join(args)
            self.action_view("programs")
            view.show(list(self.monitor.snapshots.values()), self.usage)
        elif name in ("start", "stop", "restart", "signal"):
            signame = args.pop(0).upper().removeprefix("SIG") if name == "signal" else "HUP"
            server = self._server_of(args[0])
            label = " ".join(args)
            self.post_message(
                ProgramsView.OpRequested(
                    name, server, args, label, signame if name == "signal" else ""
                )
            )
        elif name == "update":
            server = next(iter(self.monitor.clients))
            self.post_message(ProgramsView.UpdateRequested(server))
        elif name in ("scale", "reload"):
            self.action_view("gunicorn")
            spec = args[1] if name == "scale" else ""
            self.main.query_one(GunicornView).run_command(name, args[0], spec)
        elif name == "nginx":
            self.action_view("nginx")
            nginx_view = self.main.query_one(NginxView)
            if args[0] == "test":
                nginx_view.action_test()
            elif args[0] == "reload":
                nginx_view.action_reload()
        elif name == "logs":
            self.open_logs(args)
        elif name == "export":
            self.export_note(args[0] if args else None)
        elif name == "audit":
            self.push_screen(AuditScreen(list(self.gate.history), self.gate.audit_path))
        else:
            self.notify(f":{name} is not available in this view yet", severity="warning")

    def open_logs(self, names: list[str], server: str | None = None) -> None:
        """Open the logs of programs (stdout and stderr merged), ``nginx``'s or supervisord's."""
        view = self.main.query_one(LogsView)
        self.action_view("logs")
        if not names:
            return
        server = server or self._server_of(names[0])
        sources: list[Any] = []
        for name in names:
            if name == "supervisord":
                sources.append(SourceSpec("supervisord", server))
            elif name.endswith(":*"):
                group = name[:-2]
                for p in self.monitor.snapshots[server].processes:
                    if p.group == group:
                        sources += [
                            SourceSpec("program", server, p.fullname, s)
                            for s in ("stdout", "stderr")
                        ]
            else:
                sources += [SourceSpec("program", server, name, s) for s in ("stdout", "stderr")]
                sources += self._gunicorn_files(name)
        view.open_sources(sources)

    def log_sources_for(self, server: str, program: str) -> list[Any]:
        """Ready log sources for a program: its stdout, stderr and gunicorn log files."""
        specs: list[Any] = [SourceSpec("program", server, program, s) for s in ("stdout", "stderr")]
        specs += [SourceSpec("file", path=f) for f in self._gunicorn_files(program)]
        sources = []
        for spec in specs:
            try:
                sources.append(make_source(spec, self.monitor.clients))
            except OpsError:
                continue
        return sources

    def _gunicorn_files(self, program: str) -> list[str]:
        """The error and access logs of the gunicorn master run by ``program`` (if any)."""
        for master in self.main.query_one(GunicornView).masters:
            if master.program == program:
                paths = gunicorn_log_paths(list(master.identity.cmdline))
                if master.error_log:
                    paths["error"] = master.error_log
                return [p for p in paths.values() if p.startswith("/")]
        return []

    def discovered_log_files(self) -> list[str]:
        """Gunicorn error/access logs (from the masters' command lines) and nginx's logs."""
        files: list[str] = []
        for master in self.main.query_one(GunicornView).masters:
            paths = gunicorn_log_paths(list(master.identity.cmdline))
            if master.error_log and master.error_log not in paths.values():
                paths["error"] = master.error_log
            for path in paths.values():
                if path.startswith("/") and path not in files:
                    files.append(path)
        nginx_view = self.main.query_one(NginxView)
        if nginx_view.instance is not None and nginx_view.monitor is not None:
            cfg = nginx_view.monitor.config(nginx_view.instance)
            if cfg is not None:
                files += [
                    f for f in cfg.error_log_files() + cfg.access_log_files() if f not in files
                ]
        return files

    def on_programs_view_logs_requested(self, message: ProgramsView.LogsRequested) -> None:
        self.open_logs(message.names, message.server)

    def on_gunicorn_view_logs_requested(self, message: GunicornView.LogsRequested) -> None:
        self.open_log_files([message.path])

    def open_log_files(self, paths: list[str]) -> None:
        """Show these files in the logs view (merged by time when several)."""
        self.action_view("logs")
        self.main.query_one(LogsView).open_sources(list(paths))

    def _server_of(self, spec: str) -> str:
        name = spec.removesuffix(":*")
        for server, snap in self.monitor.snapshots.items():
            if any(p.fullname == name or p.group == name for p in snap.processes):
                return server
        return next(iter(self.monitor.clients))

    def _report_results(self, results: Any) -> None:
        failed = [r for r in results if not r.ok]
        text = "\n".join(r.message for r in (failed or results)[:6])
        self.notify(text or "done", severity="error" if failed else "information")

    def export_note(self, path: str | None) -> None:
        target = Path(path).expanduser() if path else default_export_path()
        audit = [r for r in self.gate.history]
        text = incident_markdown(list(self.timeline.events), audit, host=self.host)
        try:
            write_note(target, text)  # 0600; a full disk leaves no half-written note behind
        except OSError as exc:
            self.notify(f"cannot write {target}: {exc.strerror}", severity="error")
            return
        self.notify(f"incident note written to {target}", title="Export")

    async def action_quit(self) -> None:
        self.exit()

    async def on_unmount(self) -> None:
        await self.monitor.aclose()
        await self.probes.aclose()


def _key_label(key: str) -> str:
    names = {"question_mark": "?", "slash": "/", "space": "space", "escape": "esc"}
    return ", ".join(names.get(k, k) for k in key.split(","))
