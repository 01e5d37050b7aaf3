"""The nginx view: status, last test/reload diagnostics, topology, and a config viewer.

All nginx work (psutil, subprocesses, signals, HTTP) happens in opsconsole.core.nginx; this
module only shows results. Status is sampled in a thread worker; test and reload go through
``app.request`` so the action gate refuses, confirms and audits them.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    ContentSwitcher,
    DataTable,
    Input,
    Label,
    OptionList,
    Static,
    Tree,
)
from textual.widgets.option_list import Option
from textual.widgets.tree import TreeNode

from opsconsole.core import nginx
from opsconsole.core.config import NginxSettings
from opsconsole.core.errors import OpsError
from opsconsole.core.format import format_bytes
from opsconsole.core.nginx import Diagnostic, Finding, TopoNode
from opsconsole.core.supervisor import ProcessInfo
from opsconsole.tui.keys import bindings, key_hint
from opsconsole.tui.tcss import load_tcss
from opsconsole.tui.widgets.probes import sparkline

if TYPE_CHECKING:
    from opsconsole.tui.session import Session

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


def _short_path(path: str, width: int) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1) :]


@dataclass
class DiagItem:
    """One line of the diagnostics list and where it points."""

    text: Text
    file: str | None
    line: int | None


# --------------------------------------------------------------------------- config viewer


class ConfigViewer(Screen[None]):
    """A config file with line numbers and nginx colouring; ``/`` searches, ``n``/``N`` move
    between matches, ``[``/``]`` switch files, esc closes."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match", "Next"),
        Binding("N", "prev_match", "Prev", show=False),
        Binding("right_square_bracket", "file(1)", "Next file"),
        Binding("left_square_bracket", "file(-1)", "Prev file", show=False),
        Binding("j", "scroll(1)", "Down", show=False),
        Binding("k", "scroll(-1)", "Up", show=False),
        Binding("g", "top", "Top", show=False),
        Binding("G", "bottom", "Bottom", show=False),
    ]

    DEFAULT_CSS = load_tcss(__file__, "config_viewer.tcss")

    def __init__(self, files: list[tuple[str, str]], path: str, line: int | None = None) -> None:
        super().__init__()
        self.files = files or [(path, "")]
        self.index = next((i for i, (p, _) in enumerate(self.files) if p == path), 0)
        self.line = line
        self.query_text = ""
        self.matches: list[int] = []
        self.match_index = -1

    @property
    def path(self) -> str:
        return self.files[self.index][0]

    @property
    def text(self) -> str:
        return self.files[self.index][1]

    def compose(self) -> ComposeResult:
        yield Label("", id="viewer-title")
        with ScrollableContainer(id="viewer-scroll"):
            yield Static("", id="viewer-code")
        yield Label(
            Text("/ search  n/N next/prev  [ ] file  j/k scroll  esc back", style="dim"),
            id="viewer-keys",
        )
        yield Input(placeholder="search (enter to find, esc to cancel)", id="viewer-search")

    def on_mount(self) -> None:
        self.render_file()
        self.query_one("#viewer-scroll").focus()

    def render_file(self) -> None:
        highlight = set(self.matches)
        if self.line is not None:
            highlight.add(self.line)
        syntax = Syntax(
            self.text,
            "nginx",
            line_numbers=True,
            highlight_lines=highlight,
            word_wrap=False,
            theme="ansi_dark",
            background_color="default",
        )
        self.query_one("#viewer-code", Static).update(syntax)
        where = f":{self.line}" if self.line is not None else ""
        tail = Text(f"  file {self.index + 1}/{len(self.files)}", style="dim")
        if self.query_text:
            found = len(self.matches)
            pos = self.match_index + 1 if found else 0
            tail.append(f"  /{self.query_text} {pos}/{found}", style="yellow")
        room = max(12, (self.size.width or 80) - 2 - len(tail.plain) - len(where))
        title = Text(_short_path(self.path, room) + where, style="bold")
        title.append_text(tail)
        self.query_one("#viewer-title", Label).update(title)
        if self.line is not None:
            self.call_after_refresh(self._scroll_to_line, self.line)

    def _scroll_to_line(self, line: int) -> None:
        scroll = self.query_one("#viewer-scroll", ScrollableContainer)
        scroll.scroll_to(y=max(0, line - 1 - scroll.size.height // 3), animate=False)

    def find(self, query: str) -> list[int]:
        """1-based numbers of the lines containing ``query`` (case-insensitive)."""
        q = query.lower()
        return [i + 1 for i, ln in enumerate(self.text.splitlines()) if q and q in ln.lower()]

    def action_search(self) -> None:
        box = self.query_one("#viewer-search", Input)
        box.add_class("visible")
        box.value = self.query_text
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.input.remove_class("visible")
        self.query_text = event.value
        self.matches = self.find(event.value)
        self.match_index = -1
        self.query_one("#viewer-scroll").focus()
        self.action_next_match()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#viewer-search", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            box.remove_class("visible")
            self.query_one("#viewer-scroll").focus()

    def _goto_match(self, step: int) -> None:
        if not self.matches:
            self.render_file()
            if self.query_text:
                self.notify(f"{self.query_text!r} not found in {self.path}", severity="warning")
            return
        after = self.line or 0
        if self.match_index == -1:
            self.match_index = (
                next((i for i, m in enumerate(self.matches) if m > after), 0)
                if step > 0
                else len(self.matches) - 1
            )
        else:
            self.match_index = (self.match_index + step) % len(self.matches)
        self.line = self.matches[self.match_index]
        self.render_file()

    def action_next_match(self) -> None:
        self._goto_match(1)

    def action_prev_match(self) -> None:
        self._goto_match(-1)

    def action_file(self, step: int) -> None:
        self.index = (self.index + step) % len(self.files)
        self.line = None
        self.matches = self.find(self.query_text) if self.query_text else []
        self.match_index = -1
        self.render_file()
        self.query_one("#viewer-scroll", ScrollableContainer).scroll_home(animate=False)

    def action_scroll(self, step: int) -> None:
        self.query_one("#viewer-scroll", ScrollableContainer).scroll_relative(y=step, animate=False)

    def action_top(self) -> None:
        self.query_one("#viewer-scroll", ScrollableContainer).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one("#viewer-scroll", ScrollableContainer).scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)


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


def diag_text(d: Diagnostic, source: str = "") -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{d.level:<6} ", style=LEVEL_STYLE.get(d.level, ""))
    if source:
        t.append(f"{source} ", style="dim")
    if d.where:
        t.append(_short_path(d.where, 34) + " ", style="bold")
    t.append(d.message)
    return t


def finding_text(f: Finding) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("check  ", style="yellow")
    t.append(f"{f.check} ", style="dim")
    if f.where:
        t.append(_short_path(f.where, 30) + " ", style="bold")
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


#: seconds between samples while the view is hidden
HIDDEN_INTERVAL = 10.0


class NginxView(Vertical):
    """Nginx status, diagnostics of the last test/reload, topology (T), config viewer (c)."""

    BINDINGS = bindings("nginx")  # from the registry of operations (core.operations)

    DEFAULT_CSS = load_tcss(__file__, "nginx_view.tcss")

    class LogsRequested(Message):
        """Show these log files (the ones the serving config names) in the logs view."""

        def __init__(self, paths: list[str]) -> None:
            super().__init__()
            self.paths = paths

    def __init__(
        self,
        settings: NginxSettings | None = None,
        *,
        session: Session | None = None,
        refresh_interval: float = 1.5,
        topology_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        #: where the view reads programs and the timeline, and runs operations through
        self.session = session
        self.refresh_interval = refresh_interval
        self.topology_interval = topology_interval
        self.monitor: nginx.NginxMonitor | None = None
        self.status: nginx.NginxStatus | None = None
        self.spark_data: list[float] = []
        self.instance: nginx.NginxInstance | None = None
        self.inspection: nginx.Inspection | None = None
        self.last_test: nginx.ConfigTestResult | None = None
        self.last_reload: nginx.ReloadResult | None = None
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
        if self.settings is None:
            config = self.session.config if self.session is not None else None
            self.settings = (config.nginx if config is not None else None) or NginxSettings()
        self.monitor = nginx.NginxMonitor(self.settings)
        self._show_items()
        self.tick()
        self.set_interval(self.refresh_interval, self.tick)

    def focus(self, scroll_visible: bool = True) -> NginxView:
        """Focus the list that is showing (the view itself has nothing to focus)."""
        current = self.query_one("#nginx-lists", ContentSwitcher).current or "nginx-diags"
        self.query_one(f"#{current}").focus(scroll_visible)
        return self

    # -- background sampling -------------------------------------------------------

    def _programs(self) -> list[ProcessInfo]:
        if self.session is None:
            return []
        programs: list[ProcessInfo] = []
        for snap in self.session.monitor.snapshots.values():
            programs.extend(snap.processes)
        return programs

    def tick(self) -> None:
        """Start one status sample (and a topology refresh when due) unless one is running."""
        if self._sampling or self.monitor is None:
            return
        now = time.monotonic()
        if not self.display and now - self._last_sample < HIDDEN_INTERVAL:
            return  # hidden: sample now and then (reload events), not at full rate
        self._last_sample = now
        self._sampling = True
        programs = self._programs()
        monitor = self.monitor

        def sample() -> None:
            try:
                status = monitor.sample(programs)
            except Exception as exc:  # a psutil/HTTP surprise must not kill the refresh
                self.app.call_from_thread(self._sample_failed, exc)
                return
            self.app.call_from_thread(self._show_status, status)

        self.run_worker(sample, thread=True, group="nginx-status", exit_on_error=False)
        if self.display and time.monotonic() - self._last_inspect > self.topology_interval:
            self.refresh_topology()

    def _sample_failed(self, exc: BaseException) -> None:
        self._sampling = False
        self.sample_error = str(exc)
        self.query_one("#nginx-summary", Static).update(
            Text(f"nginx status failed: {exc}", style="red")
        )

    def refresh_topology(self) -> None:
        """Re-parse the config and rebuild topology and checks in a thread."""
        if self._inspecting or self.instance is None:
            return
        self._inspecting = True
        self._last_inspect = time.monotonic()
        inst, programs = self.instance, self._programs()

        def work() -> None:
            try:
                result: nginx.Inspection | OpsError = nginx.inspect(inst, programs)
            except OpsError as exc:
                result = exc
            except Exception as exc:
                result = OpsError(f"topology failed: {exc}")
            self.app.call_from_thread(self._show_inspection, result)

        self.run_worker(work, thread=True, group="nginx-topology", exit_on_error=False)

    # -- showing -------------------------------------------------------------------

    def _show_status(self, status: nginx.NginxStatus) -> None:
        self._sampling = False
        self.sample_error = None
        first = self.status is None
        self.status = status
        self.instance = status.instance
        if self.session is not None and self.monitor is not None:
            cfg = self.monitor.config(status.instance)  # reparsed only when a file changed
            logs = (cfg.error_log_files() + cfg.access_log_files()) if cfg is not None else []
            self.session.nginx_log_files = logs  # the logs view lists them
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

    def _render_status(self, status: nginx.NginxStatus) -> None:
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
                head.append(f"  program {inst.program.fullname}", style="cyan")
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
            second.append(_short_path(inst.conf_path, room), style="dim")
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

    def _show_inspection(self, result: nginx.Inspection | OpsError) -> None:
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
            for d in self.inspection.config.errors:
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

    def show_test(self, result: nginx.ConfigTestResult) -> None:
        """Show the outcome of a config test (and its diagnostics in the list)."""
        self.last_test = result
        self.last_reload = None
        style = "green" if result.ok else "bold red"
        line = Text(("✔ " if result.ok else "✖ ") + result.summary, style=style)
        if result.failure == "environment":
            line.append("\n  not a syntax error: permissions, certificates, log/pid paths")
        self._result_line(line)
        self._timeline("info" if result.ok else "error", result.summary)
        self._show_items()
        self.refresh_topology()
        if not result.ok:
            self.show_list("nginx-diags")

    def show_reload(self, result: nginx.ReloadResult) -> None:
        """Show what a reload did: took effect, refused or rejected (old config serving)."""
        self.last_reload = result
        if result.test is not None:
            self.last_test = result.test
        style = "green" if result.ok else "bold red"
        mark = "✔ " if result.ok else "✖ "
        line = Text(mark + result.message, style=style)
        if result.hint and not result.ok:
            line.append(f"\n  {result.hint}", style="dim")
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
        inst = self._need_instance()
        if inst is None or self.monitor is None:
            return
        cfg = self.monitor.config(inst)
        files = (cfg.error_log_files() + cfg.access_log_files()) if cfg is not None else []
        if not files:
            self.app.notify(
                "the config names no log files (stderr or syslog only?)", severity="warning"
            )
            return
        self.post_message(self.LogsRequested(files))

    def _need_instance(self) -> nginx.NginxInstance | None:
        if self.instance is None:
            self.app.notify("nginx not found yet; wait for the first refresh", severity="warning")
        return self.instance

    def _request(self, *args: Any, **kwargs: Any) -> None:
        if self.session is None:  # pragma: no cover - only a view given a session acts
            self.app.notify("this view has no session to run operations", severity="error")
            return
        self.session.request(*args, **kwargs)

    def action_test(self) -> None:
        inst = self._need_instance()
        if inst is None:
            return
        self._result_line(Text(f"testing {inst.conf_path} …", style="dim"))
        self._request(
            "nginx.test",
            inst.label,
            lambda: nginx.run_config_test(inst),
            question=f"Test {inst.label}?",
            params={"conf": inst.conf_path},
            on_done=self.show_test,
        )

    def action_reload(self) -> None:
        inst = self._need_instance()
        if inst is None:
            return
        if not inst.running:
            self.app.notify("nginx is not running: nothing to reload", severity="warning")
            return

        async def run() -> nginx.ReloadResult:
            result = await nginx.reload(inst)
            self.show_reload(result)
            self._timeline("info" if result.ok else "error", result.message)
            if not result.ok:
                raise nginx.ReloadFailed(result)
            return result

        flags = " ".join(inst.args.flags())
        self._request(
            "nginx.reload",
            inst.label,
            run,
            question=f"Reload {inst.label} (master {inst.master_pid})?",
            detail=(
                f"1. nginx -t {flags}\n"
                f"2. only if the test passes: SIGHUP to master pid {inst.master_pid}\n"
                "3. check for new worker pids and [emerg]/[alert] in the error log "
                f"for up to {nginx.RELOAD_VERIFY_TIMEOUT:.0f} s\n"
                "A rejected config leaves the old one serving."
            ),
            params={"master_pid": inst.master_pid, "conf": inst.conf_path},
        )

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
        """Open the config viewer at ``path:line`` (effective config from nginx -T, or the
        file from disk when the test fails)."""
        inst = self.instance
        if inst is None:
            return

        async def load() -> None:
            files: list[tuple[str, str]] = []
            try:
                dump = await nginx.dump_config(inst)
                files = list(dump.files)
            except OpsError:
                files = []
            known = {p for p, _ in files}
            wanted = [inst.conf_path, path]
            if self.inspection is not None:
                wanted += self.inspection.config.files
            for p in dict.fromkeys(wanted):
                if p in known:
                    continue
                try:
                    text = await asyncio.to_thread(nginx.read_config_file, p)
                except OpsError as exc:
                    if p == path:
                        self.app.notify(f"{exc.message}\n{exc.hint}", severity="error")
                        return
                    continue
                files.append((p, text))
                known.add(p)
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
