"""The nginx view: status, last test/reload diagnostics, topology, and a config viewer.

It renders the host's snapshots (``host.nginx()`` every refresh, ``host.topology()`` now and
then, ``host.nginx_config()`` for the viewer) and sends ``nginx.test`` and ``nginx.reload``
as :class:`~opsconsole.core.host.OperationRequest` through the session (gate, confirmation,
audit); the host does the work (:mod:`opsconsole.core.nginx`), this module only shows it.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Label, OptionList, Static, Tree
from textual.widgets.option_list import Option
from textual.widgets.tree import TreeNode

from opsconsole.core.errors import OpsError
from opsconsole.core.format import format_bytes
from opsconsole.core.host import (
    NginxDiagnostic,
    NginxInstance,
    NginxReload,
    NginxSnapshot,
    NginxTest,
    OperationRequest,
    OperationResult,
    TopologySnapshot,
    TopoNode,
)
from opsconsole.tui.keys import bindings, key_hint
from opsconsole.tui.screens.config import ConfigViewer, short_path
from opsconsole.tui.tcss import load_tcss
from opsconsole.tui.widgets import nginx_history
from opsconsole.tui.widgets.probes import sparkline

if TYPE_CHECKING:
    from opsconsole.tui.session import Session

__all__ = ["ConfigViewer", "NginxView"]

STATUS_STYLE = {"ok": "green", "warn": "yellow", "error": "bold red"}
STATUS_MARK = {"ok": "", "warn": "! ", "error": "✖ "}
LEVEL_STYLE = {
    "emerg": "bold red",
    "alert": "bold red",
    "crit": "bold red",
    "error": "red",
    "warn": "yellow",
    "warning": "yellow",
    "notice": "cyan",
}


def _ago(ts: float | None) -> str:
    if ts is None:
        return "none since start"
    secs = max(0, int(time.time() - ts))
    clock = datetime.datetime.fromtimestamp(ts).strftime("%H:%M:%S")
    if secs < 120:
        return f"{clock} ({secs}s ago)"
    if secs < 7200:
        return f"{clock} ({secs // 60}m ago)"
    return f"{clock} ({secs // 3600}h ago)"


@dataclass
class DiagItem:
    """One line of the diagnostics list and where it points."""

    text: Text
    file: str | None
    line: int | None


# --------------------------------------------------------------------------- lists


class DiagList(OptionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "first", "Top", show=False),
        Binding("G", "last", "Bottom", show=False),
    ]


class TopoTree(Tree[TopoNode]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]


def diag_text(d: NginxDiagnostic, source: str = "") -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{d.level:<6} ", style=LEVEL_STYLE.get(d.level, ""))
    if source:
        t.append(f"{source} ", style="dim")
    if d.where:
        t.append(short_path(d.where, 34) + " ", style="bold")
    t.append(d.message)
    return t


def finding_text(f: NginxDiagnostic) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("check  ", style="yellow")
    t.append(f"{f.check} ", style="dim")
    if f.where:
        t.append(short_path(f.where, 30) + " ", style="bold")
    t.append(f.message)
    return t


def topo_label(node: TopoNode) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(STATUS_MARK.get(node.status, ""))
    t.append(node.label, style=STATUS_STYLE.get(node.status, "") if node.status != "ok" else "")
    if node.detail:
        t.append(f"  {node.detail}", style="dim" if node.status == "ok" else "red")
    return t


# --------------------------------------------------------------------------- the view


#: seconds between samples while the view is hidden (a sample walks every process: hidden,
#: only reload events for the timeline need it)
HIDDEN_INTERVAL = 30.0


class NginxView(Vertical):
    """Nginx status, diagnostics of the last test/reload, topology (p), config viewer (c)."""

    BINDINGS = bindings("nginx")  # from the registry of operations (core.operations)

    DEFAULT_CSS = load_tcss(__file__, "nginx_view.tcss")

    class LogsRequested(Message):
        """Show these log files (the ones the serving config names) in the logs view."""

        def __init__(self, paths: list[str]) -> None:
            super().__init__()
            self.paths = paths

    def __init__(
        self,
        *,
        session: Session | None = None,
        refresh_interval: float = 1.5,
        topology_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        #: the host the view reads (``session.machine``), the timeline, the operation runner
        self.session = session
        self.refresh_interval = refresh_interval
        self.topology_interval = topology_interval
        self.status: NginxSnapshot | None = None
        self.spark_data: list[float] = []
        self.instance: NginxInstance | None = None
        self.inspection: TopologySnapshot | None = None
        self.last_test: NginxTest | None = None
        self.last_reload: NginxReload | None = None
        self.items: list[DiagItem] = []
        self.sample_error: str | None = None
        self._sampling = False
        self._last_sample = 0.0
        self._inspecting = False
        self._last_inspect = 0.0
        self._reloads_seen = 0

    # -- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Text("nginx: looking for a running master …", style="dim"), id="nginx-summary")
        with Horizontal(id="nginx-top"):
            table: DataTable[Any] = DataTable(id="nginx-workers", cursor_type="none")
            table.can_focus = False
            for label, width in (("PID", 8), ("Role", 13), ("CPU%", 6), ("RSS", 7), ("Conn", 5)):
                table.add_column(label, key=label.lower(), width=width)
            yield table
            with Vertical(id="nginx-rate"):
                yield Label(Text("requests/s", style="dim"), id="nginx-rate-label")
                yield Static("", id="nginx-spark")
        yield Static(Text(key_hint("nginx", "ui.logs"), style="dim"), id="nginx-result")
        with ContentSwitcher(initial="nginx-diags", id="nginx-lists"):
            yield DiagList(id="nginx-diags")
            tree: TopoTree = TopoTree(Text("topology: loading …"), id="nginx-topology")
            tree.auto_expand = False
            yield tree

    def on_mount(self) -> None:
        self._show_items()
        self.tick()
        self.set_interval(self.refresh_interval, self.tick)

    def focus(self, scroll_visible: bool = True) -> NginxView:
        """Focus the list that is showing (the view itself has nothing to focus)."""
        current = self.query_one("#nginx-lists", ContentSwitcher).current or "nginx-diags"
        self.query_one(f"#{current}").focus(scroll_visible)
        return self

    # -- background sampling (the host samples in a thread) -------------------------

    def tick(self) -> None:
        """Start one status sample (and a topology refresh when due) unless one is running."""
        if self._sampling or self.session is None:
            return
        if self.session.first_refresh_pending():
            return  # the program list is drawn first; the sample reads the programs it found
        now = time.monotonic()
        if not self.display and now - self._last_sample < HIDDEN_INTERVAL:
            return  # hidden: sample now and then (reload events), not at full rate
        self._last_sample = now
        self._sampling = True
        self.run_worker(self._sample(), group="nginx-status", exit_on_error=False)
        if self.display and time.monotonic() - self._last_inspect > self.topology_interval:
            self.refresh_topology()

    async def _sample(self) -> None:
        assert self.session is not None
        try:
            snap = await self.session.machine.nginx()
        except Exception as exc:  # a psutil/HTTP surprise must not kill the refresh
            self._sample_failed(exc)
            return
        self._show_status(snap)

    def _sample_failed(self, exc: BaseException) -> None:
        self._sampling = False
        self.sample_error = str(exc)
        self.query_one("#nginx-summary", Static).update(
            Text(f"nginx status failed: {exc}", style="red")
        )

    def refresh_topology(self) -> None:
        """Ask the host for the topology and the checks' findings (it parses in a thread)."""
        if self._inspecting or self.instance is None or self.session is None:
            return
        self._inspecting = True
        self._last_inspect = time.monotonic()
        self.run_worker(self._inspect(), group="nginx-topology", exit_on_error=False)

    async def _inspect(self) -> None:
        assert self.session is not None
        try:
            result: TopologySnapshot | OpsError = await self.session.machine.topology()
        except OpsError as exc:
            result = exc
        except Exception as exc:
            result = OpsError(f"topology failed: {exc}")
        self._show_inspection(result)

    # -- showing -------------------------------------------------------------------

    def _show_status(self, status: NginxSnapshot) -> None:
        self._sampling = False
        self.sample_error = None
        first = self.status is None
        self.status = status
        self.instance = status.instance
        if self.session is not None:
            self.session.nginx_log_files = list(status.log_files)  # the logs view lists them
        # Repainting widgets of a hidden view leaves marks on the visible one (Textual's
        # partial updates); a hidden view only keeps the data and paints when shown.
        if self.display:
            self._render_status(status)
        if status.reloads_seen > self._reloads_seen:
            self._reloads_seen = status.reloads_seen
            self._timeline("info", "workers replaced: a reload took effect")
            self.refresh_topology()
        if first:
            self.refresh_topology()

    def on_show(self) -> None:
        if self.status is not None:
            self._render_status(self.status)
        self.tick()

    def _render_status(self, status: NginxSnapshot) -> None:
        inst = status.instance
        width = max(20, (self.size.width or 80) - 2)
        lines: list[Text] = []
        if not status.running:
            lines.append(Text("✖ nginx not running  ", style="bold red"))
            lines[0].append(inst.source, style="dim")
            lines.append(Text(f"config {inst.conf_path}"))
        else:
            head = Text(f"● nginx {status.version or '?'}", style="bold green")
            head.append(f"  master {inst.master_pid}")
            if inst.program is not None:
                head.append(f"  program {inst.program}", style="cyan")
            head.append(f"  reload {_ago(status.last_reload)}")
            lines.append(head)
            second = Text()
            if status.stub is not None:
                s = status.stub
                rps = f"{status.rps:.1f}" if status.rps is not None else "…"
                second.append(f"act {s.active} r{s.reading} w{s.writing} k{s.waiting} ")
                second.append(f"{rps} req/s  ", style="bold")
            elif status.stub_error:
                second.append("stub_status unreachable  ", style="yellow")
            else:
                second.append("no stub_status location  ", style="dim")
            room = max(10, width - len(second.plain))
            second.append(short_path(inst.conf_path, room), style="dim")
            lines.append(second)
        if inst.binary is None:
            lines[-1] = Text(inst.binary_problem, style="red")
        for line in lines:
            line.truncate(width, overflow="ellipsis")
        summary = Text("\n").join(lines)
        self.query_one("#nginx-summary", Static).update(summary)
        table = self.query_one("#nginx-workers", DataTable)
        table.clear()
        for w in status.workers:
            cpu = f"{w.cpu_percent:.1f}" if w.cpu_percent is not None else ""
            conn = str(w.connections) if w.connections is not None else "?"
            style = "dim" if w.role != "worker" else ""
            table.add_row(
                Text(str(w.pid), style=style),
                Text(w.role, style=style),
                cpu,
                format_bytes(w.rss),
                conn,
                key=str(w.pid),
            )
        # a leading 0 anchors the scale at zero (a steady rate is a flat bar, not noise)
        self.spark_data = [0.0, *status.rps_history[-23:]]
        self.query_one("#nginx-spark", Static).update(
            Text(sparkline(self.spark_data, 23, zero="▁"), style="cyan")
        )
        rate = f"{status.rps:.1f} req/s" if status.rps is not None else "requests/s"
        self.query_one("#nginx-rate-label", Label).update(Text(rate, style="dim"))

    def _show_inspection(self, result: TopologySnapshot | OpsError) -> None:
        self._inspecting = False
        tree = self.query_one("#nginx-topology", TopoTree)
        tree.clear()
        if isinstance(result, OpsError):
            tree.root.set_label(Text(f"topology unavailable: {result.message}", style="red"))
            return
        self.inspection = result
        root = result.topology
        tree.root.set_label(topo_label(root))
        tree.root.data = root

        def add(parent: TreeNode[TopoNode], node: TopoNode) -> None:
            for child in node.children:
                if child.children:
                    branch = parent.add(topo_label(child), data=child, expand=True)
                    add(branch, child)
                else:
                    parent.add_leaf(topo_label(child), data=child)

        add(tree.root, root)
        tree.root.expand()
        self._show_items()

    def _show_items(self) -> None:
        items: list[DiagItem] = []
        if self.last_reload is not None:
            for d in self.last_reload.log_errors:
                items.append(DiagItem(diag_text(d, "log"), d.file, d.line))
        if self.last_test is not None:
            # errors before warnings: the line that failed the test is the first one shown
            for d in sorted(self.last_test.diagnostics, key=lambda d: not d.is_error):
                items.append(DiagItem(diag_text(d), d.file, d.line))
        if self.inspection is not None:
            for d in self.inspection.parse_errors:
                if self.last_test is None or self.last_test.ok:
                    items.append(DiagItem(diag_text(d, "parse"), d.file, d.line))
            for f in self.inspection.findings:
                items.append(DiagItem(finding_text(f), f.file, f.line))
        self.items = items
        lst = self.query_one("#nginx-diags", DiagList)
        highlighted = lst.highlighted
        lst.clear_options()
        if not items:
            if self.last_test is None:
                empty = "no diagnostics yet: t tests the config"
            else:
                empty = "no diagnostics: the last test passed with no warnings"
            lst.add_option(Option(Text(empty, style="dim"), disabled=True))
            return
        lst.add_options([Option(item.text, id=str(i)) for i, item in enumerate(items)])
        if highlighted is not None and highlighted < len(items):
            lst.highlighted = highlighted
        else:
            lst.highlighted = 0

    def _result_line(self, text: Text) -> None:
        self.query_one("#nginx-result", Static).update(text)

    def _timeline(self, level: str, text: str) -> None:
        if self.session is not None:
            timeline = self.session.timeline
            label = self.instance.label if self.instance else "nginx"
            timeline.add("nginx", level, label, text)

    def show_test(self, result: NginxTest) -> None:
        """Show the outcome of a config test (and its diagnostics in the list)."""
        self.last_test = result
        self.last_reload = None
        style = "green" if result.ok else "bold red"
        line = Text(("✔ " if result.ok else "✖ ") + result.summary, style=style)
        if result.failure == "environment":
            line.append("\n  not a syntax error: permissions, certificates, log/pid paths")
        if not result.ok:
            line.append(f"\n  {nginx_history.ROLLBACK_HINT}", style="dim")
        self._result_line(line)
        self._timeline("info" if result.ok else "error", result.summary)
        self._show_items()
        self.refresh_topology()
        if not result.ok:
            self.show_list("nginx-diags")

    def show_reload(self, result: NginxReload) -> None:
        """Show what a reload did: took effect, refused or rejected (old config serving)."""
        self.last_reload = result
        if result.test is not None:
            self.last_test = result.test
        style = "green" if result.ok else "bold red"
        mark = "✔ " if result.ok else "✖ "
        line = Text(mark + result.message, style=style)
        if result.hint and not result.ok:
            line.append(f"\n  {result.hint}", style="dim")
        if not result.ok:
            line.append(f"\n  {nginx_history.ROLLBACK_HINT}", style="dim")
        self._result_line(line)
        self._show_items()
        self.show_list("nginx-diags")
        self.tick()

    def show_list(self, which: str) -> None:
        self.query_one("#nginx-lists", ContentSwitcher).current = which
        self.query_one(f"#{which}").focus()

    # -- actions -------------------------------------------------------------------

    def action_logs(self) -> None:
        """``l``: the error and access logs the serving config names, merged in the logs view."""
        if self._need_instance() is None or self.status is None:
            return
        if not self.status.log_files:
            self.app.notify(
                "the config names no log files (stderr or syslog only?)", severity="warning"
            )
            return
        self.post_message(self.LogsRequested(list(self.status.log_files)))

    def _need_instance(self) -> NginxInstance | None:
        if self.instance is None:
            self.app.notify("nginx not found yet; wait for the first refresh", severity="warning")
        return self.instance

    def _send(self, request: OperationRequest, question: str, detail: str, on_done: Any) -> None:
        """Send ``request`` through the session (refused read-only before asking, asked
        when the registry says so, sent with ``confirmed`` after the yes); ``on_done`` gets
        every result: this view words a test and a reload itself."""
        if self.session is None:  # pragma: no cover - only a view given a session acts
            self.app.notify("this view has no session to run operations", severity="error")
            return
        self.session.send(
            request, question=question, detail=detail, on_done=on_done, every_result=True
        )

    def _failed(self, result: OperationResult) -> None:
        if self.session is not None:
            self.session.report_failure(result)

    def action_test(self) -> None:
        inst = self._need_instance()
        if inst is None:
            return
        self._result_line(Text(f"testing {inst.conf_path} …", style="dim"))
        self._send(
            OperationRequest("nginx.test", inst.label), f"Test {inst.label}?", "", self._tested
        )

    def _tested(self, result: OperationResult) -> None:
        if "summary" not in result.data:  # refused or failed before nginx -t ran
            self._failed(result)
            return
        self.show_test(NginxTest.from_json(result.data))

    def action_reload(self) -> None:
        from opsconsole.core.nginx import RELOAD_VERIFY_TIMEOUT

        inst = self._need_instance()
        if inst is None:
            return
        if not inst.running:
            self.app.notify("nginx is not running: nothing to reload", severity="warning")
            return
        flags = " ".join(inst.flags)
        self._send(
            OperationRequest(
                "nginx.reload",
                inst.label,
                {"master_pid": inst.master_pid, "create_time": inst.master_create_time},
            ),
            f"Reload {inst.label} (master {inst.master_pid})?",
            f"1. nginx -t {flags}\n"
            f"2. only if the test passes: SIGHUP to master pid {inst.master_pid}\n"
            "3. check for new worker pids and [emerg]/[alert] in the error log "
            f"for up to {RELOAD_VERIFY_TIMEOUT:.0f} s\n"
            "A rejected config leaves the old one serving.",
            self._reloaded,
        )

    def _reloaded(self, result: OperationResult) -> None:
        if "status" not in result.data:  # refused or failed before anything was sent
            self._failed(result)
            return
        reload = NginxReload.from_json(result.data)
        self.show_reload(reload)
        self._timeline("info" if reload.ok else "error", reload.message)
        if not reload.ok:
            self.app.notify(
                f"{reload.message}\n{reload.hint}\n{nginx_history.ROLLBACK_HINT}".strip(),
                title="Reload failed",
                severity="error",
                markup=False,
            )

    def action_diff(self) -> None:
        """``d``: what changed since the last good config (nginx_history)."""
        nginx_history.show_diff(self)

    def action_rollback(self) -> None:
        """``U``: the diff, then the rollback to the last good config (one confirmation)."""
        nginx_history.show_diff(self, rollback=True)

    def action_topology(self) -> None:
        switcher = self.query_one("#nginx-lists", ContentSwitcher)
        if switcher.current == "nginx-topology":
            self.show_list("nginx-diags")
        else:
            self.show_list("nginx-topology")
            self.refresh_topology()

    def action_back(self) -> None:
        self.show_list("nginx-diags")

    def action_config(self) -> None:
        inst = self._need_instance()
        if inst is not None:
            self.open_viewer(inst.conf_path, None)

    def open_viewer(self, path: str, line: int | None) -> None:
        """Open the config viewer at ``path:line`` with the files the host gives (the
        effective config from nginx -T, or the files on disk when the test fails)."""
        if self.instance is None or self.session is None:
            return
        host = self.session.machine

        async def load() -> None:
            try:
                dump = await host.nginx_config()
            except OpsError as exc:
                self.app.notify(f"{exc.message}\n{exc.hint}".strip(), severity="error")
                return
            files = [(f.path, f.text) for f in (*dump.files, *dump.on_disk)]
            if path not in {p for p, _ in files}:
                why = next(
                    (e for e in dump.unread if path in e.message),
                    None,
                )
                text = f"{why.message}\n{why.hint}" if why else f"{path} is not in the config"
                self.app.notify(text.strip(), severity="error", markup=False)
                return
            self.app.push_screen(ConfigViewer(files, path, line))

        self.run_worker(load(), group="nginx-viewer", exclusive=True)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is None:
            return
        item = self.items[int(event.option.id)]
        if item.file is None:
            self.app.notify("this message names no file", severity="warning")
            return
        self.open_viewer(item.file, item.line)

    def on_tree_node_selected(self, event: Tree.NodeSelected[TopoNode]) -> None:
        event.stop()
        node = event.node.data
        if node is not None and node.file is not None:
            self.open_viewer(node.file, node.line)
