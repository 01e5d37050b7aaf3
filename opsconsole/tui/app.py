"""The opsconsole Textual app: composes the views, routes between them, applies the theme.

What the console knows and does (refresh loops, timeline, probes, the ``:`` dispatcher, the
gated operations, log-source discovery) lives in :class:`~opsconsole.tui.session.Session`;
the views are given that session. The app turns the session's messages into view updates and
the views' messages into session calls; it reads no widget's state.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Sequence
from typing import Any, cast

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.filter import LineFilter, Monochrome
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Input, Tab, Tabs

from opsconsole import __version__
from opsconsole.core import actions
from opsconsole.core.actions import ActionGate
from opsconsole.core.commands import Command
from opsconsole.core.commands import parse as parse_command
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import OpsError
from opsconsole.core.events import Event, Timeline
from opsconsole.core.supervisor.monitor import SupervisorMonitor
from opsconsole.tui.fleet import (
    Fleet,
    attach_fleet,
    fleet_views,
    host_command,
    on_several,
    shown_servers,
)
from opsconsole.tui.fleet_host import for_server
from opsconsole.tui.keys import bindings, help_sections, key_label
from opsconsole.tui.palette import OpsCommands
from opsconsole.tui.screens.pick import SIGNALS, PickScreen
from opsconsole.tui.session import (
    ROUTED,
    AcrossRequested,
    CommandRouted,
    ProbeHistory,
    ProbesChanged,
    RollRequested,
    Session,
    SessionRefreshed,
    UpdateReread,
)
from opsconsole.tui.themes import MONO_THEME, load_themes, resolve_theme_name
from opsconsole.tui.widgets.commandbar import CommandBar, CommandSuggester
from opsconsole.tui.widgets.events import EventsView
from opsconsole.tui.widgets.footer import Footer
from opsconsole.tui.widgets.gunicorn import GunicornView
from opsconsole.tui.widgets.hosts import HostsView
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

#: the longest the cyclic garbage collector stays paused at start-up (see ``on_load``)
GC_PAUSE_MAX = 3.0
#: how long after the first programs are taken in it starts again: the table draws them on
#: its next idle pass, and a first collection (walking every object made since start) would
#: come before that frame
GC_AFTER_FIRST = 0.5
#: how long after that the objects made so far (modules, widgets, every host's first
#: programs) are collected once and then frozen: a full collection walked them all again
#: about once a minute at idle (110 ms at 10 hosts x 300 programs, 260,000 objects), and
#: they live as long as the console. What is made later is collected as before.
GC_FREEZE_AFTER = 5.0


class OpsConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "opsconsole"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {OpsCommands}
    BINDINGS = bindings("app")  # from the registry of operations (core.operations)

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
        #: the monitor, gate, timeline, probes, loops and operations; the views are given it
        self.session = Session(config, self, monitor=monitor, gate=gate, audit=audit, host=host)
        attach_fleet(self.session)  # several hosts (--host, [[host]]): tui.fleet
        self.session.will_start = True  # on_mount starts its loops
        #: the view shown (the app's own routing state, kept here rather than read back)
        self.current_view = VIEWS[0][0]
        #: the views (a hosts view on a console of several hosts: tui.fleet)
        self.views = fleet_views(self.session, VIEWS)  # the host in a label, a hosts view
        #: whether the ``:`` bar is open (set as the app opens it, cleared by its Closed)
        self.command_open = False
        self._mono_filter = Monochrome()
        #: the cyclic garbage collector is paused by this app until its first frame (on_load)
        self._gc_paused = False
        self._heap_frozen = False

    def _fatal_error(self) -> None:
        """Textual prints a crash's traceback with every frame's local variables; one of
        them may hold a password (a supervisord's, an agent's open request). Same traceback,
        without the locals."""
        import rich
        from rich.segment import Segments
        from rich.traceback import Traceback

        self.bell()
        traceback = Traceback(show_locals=False, width=None, suppress=[rich])
        self._exit_renderables.append(
            Segments(self.console.render(traceback, self.console.options))
        )
        self._close_messages_no_wait()

    # The session's parts, for scripts and tests that hold the app (views use the session).
    @property
    def monitor(self) -> SupervisorMonitor:
        return self.session.monitor

    @property
    def gate(self) -> ActionGate:
        return self.session.gate

    @property
    def timeline(self) -> Timeline:
        return self.session.timeline

    @property
    def probes(self) -> ProbeHistory:
        return self.session.probes

    @property
    def probe_interval(self) -> float:
        return self.session.probe_interval

    @probe_interval.setter
    def probe_interval(self, seconds: float) -> None:
        self.session.probe_interval = seconds

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
        session = self.session
        yield StatusBar(on_several(session, Fleet.title) or session.host, session.read_only)
        yield ProbeStrip("", id="probes")
        yield Tabs(*[Tab(label, id=f"tab-{vid}") for vid, label in self.views], id="view-tabs")
        with ContentSwitcher(initial="programs", id="views"):
            yield ProgramsView(session=session, id="programs")
            yield GunicornView(session=session, id="gunicorn")
            yield NginxView(session=session, id="nginx")
            yield LogsView(session=session, id="logs")
            yield EventsView(id="events")
            if session.fleet is not None and session.fleet.several:
                yield HostsView(session.fleet, id="hosts")
        yield CommandBar(CommandSuggester(session.program_names, self._theme_names))
        yield Footer(compact=True, show_command_palette=False)

    def on_load(self) -> None:
        """Before the screen is composed: ask supervisord at once (its answer comes while the
        screen is composed and drawn; the first rows are shown when both are done) and pick
        the theme (set later, it would restyle every widget once more)."""
        # The cyclic garbage collector waits until the first frame with the programs is drawn
        # (GC_PAUSE_MAX at most): composing the screen and taking in the first poll allocate
        # tens of thousands of objects that live as long as the console, and the collections
        # they set off, each walking them all again, were ~10% of the time to that frame.
        self._gc_paused = gc.isenabled()
        if self._gc_paused:
            gc.disable()
        # Textual's thread workers run in the loop's executor: keep them under the gate.
        actions.govern_threads(asyncio.get_running_loop())
        self.session.usage_wanted = lambda: self.current_view == "programs"
        self.session.start()
        themes = load_themes()
        for theme in themes.values():
            self.register_theme(theme)
        available = set(themes) | set(self.available_themes)
        self.theme = resolve_theme_name(self.config.theme, available, dict(os.environ))

    def on_mount(self) -> None:
        self.sub_title = f"v{__version__}"
        self.session.timeline.listeners.append(self._on_event)
        for event in list(self.session.timeline.events):  # any from before the screen
            self._on_event(event)
        self.main.query_one(CommandBar).display = False
        self.main.query_one(ProgramsView).focus()
        self.refresh_header()
        self.main.query_one(ProbeStrip).display = False
        self.set_timer(GC_PAUSE_MAX, self._resume_gc)

    # -- what the session reports -------------------------------------------------------

    def on_session_refreshed(self, message: SessionRefreshed) -> None:
        self.refresh_header()
        if self._gc_paused:  # the first programs shown: collect again once they are drawn
            self.set_timer(GC_AFTER_FIRST, self._resume_gc)

    def _resume_gc(self) -> None:
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()
            self.set_timer(GC_FREEZE_AFTER, self._freeze_heap)

    def _freeze_heap(self) -> None:
        """Collect once, then keep what is left out of every later collection (see
        GC_FREEZE_AFTER); undone when the console ends."""
        if gc.isenabled() and not self._heap_frozen:
            gc.collect()
            gc.freeze()
            self._heap_frozen = True

    def _showing(self, show: Callable[[], None]) -> None:
        """Run ``show`` unless the console is shutting down: a message from the session may
        still arrive after the screens and their widgets are gone."""
        if not self.screen_stack:
            return
        try:
            show()
        except NoMatches:
            pass

    def on_probes_changed(self, message: ProbesChanged) -> None:
        self._showing(lambda: self.main.query_one(ProbeStrip).show(message.states))

    def action_server_info(self) -> None:
        """``i``: what each supervisord is (version, pid, state, uptime) and how it answers."""
        self.notify(self.session.server_info(), title="supervisord", timeout=10)

    def refresh_header(self) -> None:
        """Show the session's latest snapshots in the status bar and the programs view."""
        snaps = shown_servers(self.session)  # a console narrowed to one host: its own
        notes = self.session.refresh_notes()  # a slow supervisord stretched its interval
        self._showing(lambda: self.main.query_one(StatusBar).show(snaps, notes))
        self._showing(lambda: self.main.query_one(ProgramsView).show(snaps, self.session.usage))

    def _on_event(self, event: Event) -> None:
        self._showing(lambda: self.main.query_one(EventsView).add(event))  # the timeline keeps it

    # -- views -----------------------------------------------------------------

    def action_view(self, view: str) -> None:
        if view not in dict(self.views):
            self.notify(f"no {view} view here (it shows several hosts)", severity="warning")
            return
        self.main.query_one(Tabs).active = f"tab-{view}"

    def action_next_view(self) -> None:
        ids = [v for v, _ in self.views]
        self.action_view(ids[(ids.index(self.current_view) + 1) % len(ids)])

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        self.current_view = event.tab.id.removeprefix("tab-")
        self.main.query_one(ContentSwitcher).current = self.current_view
        self.focus_view()

    def focus_view(self) -> None:
        """Give the keyboard to the current view's main widget, unless the command bar is
        open: what is typed after ``:`` stays there (a tab activated late, e.g. the first one
        at start-up, must not take it); the bar gives the keyboard back when it closes."""
        if self.command_open:
            return
        self.main.query_one(f"#{self.current_view}").focus()  # each view focuses its own

    def on_command_bar_closed(self, message: CommandBar.Closed) -> None:
        self.command_open = False
        self.focus_view()

    def action_help(self) -> None:
        """``?``: every key of every view and every ``:`` command, from the registry."""
        from opsconsole.tui.screens.help import HelpScreen  # the screens: imported when shown

        self.push_screen(HelpScreen(help_sections()))

    # -- what the session asks of the screen ------------------------------------------

    def confirm(self, question: str, detail: str, answer: Callable[[bool | None], None]) -> None:
        """Ask for an explicit ``y`` (the session's gate runs nothing it was not given)."""
        from opsconsole.tui.screens.confirm import ConfirmScreen

        self.push_screen(ConfirmScreen(question, detail), callback=answer)

    def pick_signal(self, title: str, answer: Callable[[str | None], None]) -> None:
        self.push_screen(PickScreen(title, SIGNALS), callback=answer)

    # -- what the views ask --------------------------------------------------------------

    def on_programs_view_op_requested(self, message: ProgramsView.OpRequested) -> None:
        self.session.program_op(
            message.verb, message.server, message.specs, message.label, message.signame
        )

    def on_programs_view_update_requested(self, message: ProgramsView.UpdateRequested) -> None:
        self.session.update(message.server)

    def on_hosts_view_narrow(self, message: HostsView.Narrow) -> None:
        host_command(self, "host", [message.host or "all"])
        self.action_view("programs")

    def on_across_requested(self, message: AcrossRequested) -> None:
        """Programs marked on several hosts: one host at a time (tui.fleet_ops)."""
        from opsconsole.tui.fleet_ops import run_across

        run_across(self.session, message.verb, message.keys, message.signame)

    def on_roll_requested(self, message: RollRequested) -> None:
        """A rolling restart the session let through the gate: plan, ask, run, show."""
        # several hosts: the roll reads the topology and probes of the program's own host
        session = cast(Session, for_server(self.session, message.server))
        from opsconsole.tui.screens.rolling import RollingScreen

        self.push_screen(RollingScreen(session, message.server, message.specs, message.label))

    def on_update_reread(self, message: UpdateReread) -> None:
        """What the update of each changed group stops and starts, asked group by group."""
        from opsconsole.tui.update_groups import confirm_by_group

        confirm_by_group(self.session, message.server, message.reread)

    # -- command mode ------------------------------------------------------------

    def _theme_names(self) -> list[str]:
        return sorted(self.available_themes)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``:`` (command) and ``tab`` (next view) are priority keys: they act only on the
        console's own screen and not while an input line has the keyboard (there ``:`` types a
        ``:``, e.g. ``:restart queue:*``, and tab completes); in the logs view tab switches
        between the source list and the log."""
        if action == "command":
            return self.screen is self.main and not isinstance(self.focused, Input)
        if action == "next_view":  # an input completes with tab; the logs view switches panes
            return (
                self.screen is self.main
                and not isinstance(self.focused, Input)
                and self.current_view != "logs"
            )
        return True

    def get_key_display(self, binding: Binding) -> str:
        """Keys in the footer are written as in ``?`` help and the palette (tui.keys)."""
        return binding.key_display or key_label(binding.key)

    def action_command(self) -> None:
        self.command_open = True
        self.main.query_one(CommandBar).open()

    def open_command(self, text: str) -> None:
        """Open the command bar with ``text`` typed in (from the palette)."""
        bar = self.main.query_one(CommandBar)
        self.command_open = True
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
        self.session.run_command(command)

    def on_command_routed(self, message: CommandRouted) -> None:
        self.run_command(message.command)

    def run_command(self, command: Command) -> None:
        """Carry out a parsed ``:`` command about what is shown (a view, the theme, a screen);
        the session carries out the rest (:meth:`Session.run_command`)."""
        name, args = command.name, list(command.args)
        if name not in ROUTED:
            self.session.run_command(command)
        elif name in ("q", "quit"):
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
            self.main.query_one(ProgramsView).set_filter(" ".join(args))
            self.action_view("programs")
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
            elif args[0] == "diff":
                nginx_view.action_diff()
            elif args[0] == "rollback":
                nginx_view.action_rollback()
        elif name == "logs":
            self.open_logs(args)
        elif name in ("hosts", "host"):
            host_command(self, name, args)  # the hosts view; narrow to one host, or widen
        elif name == "audit":
            gate = self.session.gate
            from opsconsole.tui.screens.audit import AuditScreen

            self.push_screen(AuditScreen(list(gate.history), gate.audit_path))

    def open_logs(self, names: list[str], server: str | None = None) -> None:
        """Open the logs of programs (stdout and stderr merged), ``nginx``'s or supervisord's."""
        self.action_view("logs")
        if names:
            self.main.query_one(LogsView).open_sources(self.session.log_specs(names, server))

    def on_programs_view_logs_requested(self, message: ProgramsView.LogsRequested) -> None:
        self.open_logs(message.names, message.server)

    def on_gunicorn_view_logs_requested(self, message: GunicornView.LogsRequested) -> None:
        self.open_log_files([message.path])

    def on_nginx_view_logs_requested(self, message: NginxView.LogsRequested) -> None:
        self.open_log_files(message.paths)

    def open_log_files(self, paths: list[str]) -> None:
        """Show these files in the logs view (merged by time when several)."""
        self.action_view("logs")
        self.main.query_one(LogsView).open_sources(list(paths))

    def export_note(self, path: str | None) -> None:
        """``:export``: the incident note (see :meth:`Session.export_note`)."""
        self.session.export_note(path)

    async def action_quit(self) -> None:
        self.exit()

    async def on_unmount(self) -> None:
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()
        if self._heap_frozen:  # a console run inside another program leaves its heap as it was
            self._heap_frozen = False
            gc.unfreeze()
        await self.session.aclose()


def _key_label(key: str) -> str:
    names = {"question_mark": "?", "slash": "/", "space": "space", "escape": "esc"}
    return ", ".join(names.get(k, k) for k in key.split(","))
