"""The gunicorn view: program → master → workers, refreshed every second from the host.

It renders the host's :class:`~opsconsole.core.host.GunicornSnapshot` (``host.gunicorn()``,
which scans in a thread) and sends every change as an
:class:`~opsconsole.core.host.OperationRequest` through the session (gate, confirmation,
audit), carrying the master's ``create_time`` as proof that the pid is still the master
that was shown (a worker signal carries the worker's too).

Keys: ``+``/``-`` one worker more/fewer, ``=`` exact count, ``R`` graceful reload (HUP,
verified), ``K`` a signal (TERM/KILL/ABRT) to the selected worker, ``S`` its Python stack
(py-spy, the worker lives on), ``enter`` fold a master,
``/`` filter, ``l`` the master's error log.

Longer than 600 lines on purpose: one view, its rows, its summary and one short wording per
operation result (scale, reload, worker signal); its screens are in ``tui/screens``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from typing_extensions import Self

# the gunicorn backend (opsconsole.core.gunicorn) is imported where used: the first frame,
# drawn before any scan, does not need it
from opsconsole.core.errors import OpsError
from opsconsole.core.events import WorkerSet, worker_changes, worker_key
from opsconsole.core.format import format_bytes, short_duration
from opsconsole.core.host import GunicornMaster, GunicornWorker, OperationRequest, OperationResult
from opsconsole.core.operations import operation
from opsconsole.tui.keys import bindings
from opsconsole.tui.screens.count import CountScreen
from opsconsole.tui.screens.pick import PickScreen
from opsconsole.tui.tcss import load_tcss
from opsconsole.tui.widgets import gunicorn_stack

if TYPE_CHECKING:
    from opsconsole.tui.session import Session

#: seconds between two scans while the view is hidden (worker changes for the timeline, log
#: files for the logs view); shown, it scans every ``interval``
HIDDEN_SCAN = 30.0

COLUMNS = [
    ("name", "Name", 14),
    ("pid", "PID", 7),
    ("up", "Up", 5),
    ("cpu", "CPU%", 4),
    ("rss", "RSS", 6),
    ("conn", "Conn", 4),
    ("hb", "Beat", 4),
    ("info", "Workers / flags", None),
]


@dataclass
class Row:
    key: str  # "m:<pid>" or "w:<pid>"
    master: GunicornMaster
    worker: GunicornWorker | None
    cells: tuple[Any, ...]


class GunicornTable(DataTable[Any]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]

    def action_select_cursor(self) -> None:
        """``enter`` belongs to the view (fold, from the registry of operations): the table's
        own ``enter`` binding steps aside instead of swallowing the key."""
        raise SkipAction()


class GunicornView(Vertical):
    """Gunicorn masters and workers of this machine, tied to their supervisor programs."""

    DEFAULT_CSS = load_tcss(__file__, "gunicorn_view.tcss")

    BINDINGS = bindings("gunicorn")  # from the registry of operations (core.operations)

    class LogsRequested(Message):
        """The operator wants to read ``path`` (the master's error log)."""

        def __init__(self, path: str, label: str) -> None:
            super().__init__()
            self.path = path
            self.label = label

    def __init__(
        self, session: Session | None = None, *, interval: float = 1.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        #: where the view reads programs and the timeline, and runs operations through
        self.session = session
        self.interval = interval
        self.masters: list[GunicornMaster] = []
        self.rows: list[Row] = []
        self.collapsed: set[int] = set()
        self.filter_text = ""
        self.error: str | None = None
        self.scans = 0
        #: master pid → (target, live now, started) while a scale waits to converge
        self.progress: dict[int, tuple[int, int, float]] = {}
        self._scanning = False
        self._last_scan = 0.0
        self._seen: dict[str, WorkerSet] | None = None
        #: a ``:scale``/``:reload`` command waiting for the first scan
        self._pending: tuple[str, str, str] | None = None
        #: scanned while hidden: the rows are drawn when the view is shown
        self._stale = False

    def compose(self) -> ComposeResult:
        yield Static("", id="gunicorn-summary")
        yield Static("", id="gunicorn-progress")
        table = GunicornTable(id="gunicorn-table", cursor_type="row", zebra_stripes=False)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        yield Input(placeholder="filter by program, name or pid (esc: clear)", id="gunicorn-filter")

    def on_mount(self) -> None:
        self.query_one("#gunicorn-filter", Input).display = False
        self.query_one("#gunicorn-progress", Static).display = False
        self.set_interval(self.interval, self.refresh_now)
        self.refresh_now()

    def on_show(self) -> None:
        if self._stale:  # scanned while hidden: what the last scan found, at once
            self._stale = False
            self._render_rows()
            self._render_summary()
        self.refresh_now()  # shown again: a fresh scan now rather than at the next tick

    @property
    def table(self) -> GunicornTable:
        return self.query_one(GunicornTable)

    def focus(self, scroll_visible: bool = True) -> Self:
        """Focusing the view focuses its table (so the app can focus any view alike)."""
        self.table.focus(scroll_visible)
        return self

    # -- refresh (the host scans in a thread) -----------------------------------------

    def refresh_now(self) -> None:
        """Start one scan in a thread worker unless one is still running or the view is
        hidden (another view of a ContentSwitcher is shown) with nothing in progress."""
        if self.session is not None and self.session.first_refresh_pending():
            return  # the program list is drawn first; the scan reads the programs it found
        hidden_recently = not self.display and time.monotonic() - self._last_scan < HIDDEN_SCAN
        if self._scanning or (self.scans and not self.progress and hidden_recently):
            return  # hidden: rescan now and then (the timeline and log sources use masters)
        self._scanning = True
        self._last_scan = time.monotonic()
        self.run_worker(self._scan(), group="gunicorn-scan", exit_on_error=False)

    def _send(
        self,
        request: OperationRequest,
        *,
        question: str,
        detail: str = "",
        on_done: Callable[[OperationResult], None],
        label: str,
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        """Send ``request`` through the session; ``on_done`` gets every result (this view
        words a scale, a reload and a worker signal itself)."""
        if self.session is None:  # pragma: no cover - only a view given a session acts
            self.app.notify("this view has no session to run operations", severity="error")
            return
        self.session.send(
            request,
            question=question,
            detail=detail,
            on_done=on_done,
            label=label,
            every_result=True,
            on_sent=on_sent,
        )

    async def _scan(self) -> None:
        if self.session is None:  # pragma: no cover - only a view given a session reads
            self.show([])
            return
        try:
            snap = await self.session.machine.gunicorn()
        except Exception as exc:  # psutil trouble must not stop the refresh
            self._scan_failed(f"{type(exc).__name__}: {exc}")
            return
        self.show(list(snap.masters))

    def _scan_failed(self, text: str) -> None:
        self._scanning = False
        self.error = text
        self._render_summary()

    def show(self, masters: list[GunicornMaster]) -> None:
        """Display a scan result (the host's snapshot of every master)."""
        self._scanning = False
        self.error = None
        self.scans += 1
        self.masters = sorted(
            masters, key=lambda m: (m.program is None, m.server or "", m.program or m.name, m.pid)
        )
        for m in self.masters:  # a scale in progress follows the live count
            if m.pid in self.progress:
                target, _, started = self.progress[m.pid]
                self.progress[m.pid] = (target, m.live, started)
        if self.session is not None:
            self.session.gunicorn_masters = list(self.masters)  # log sources use them
        if self.display or not self.rows:
            self._render_rows()
            self._render_summary()
        else:  # hidden: the masters are kept (timeline, log sources), drawn when shown
            self._stale = True
        self._observe(masters)
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.run_command(*pending)

    def _observe(self, masters: list[GunicornMaster]) -> None:
        """Put worker count changes and replaced workers on the app's timeline."""
        from opsconsole.core import gunicorn

        now = {
            worker_key(m.program, m.server, m.name): WorkerSet(
                m.program or m.name, m.pid, frozenset(w.pid for w in m.workers)
            )
            for m in masters
        }
        timeline = self.session.timeline if self.session is not None else None
        if self._seen is not None and timeline is not None:
            timeline.extend(worker_changes(self._seen, now, alive=gunicorn.pid_alive))
        self._seen = now

    def run_command(self, verb: str, target: str, spec: str = "") -> None:
        """``:scale TARGET SPEC`` / ``:reload TARGET`` from command mode: select the named
        master, then do what ``+``/``-``/``=`` or ``R`` would do (same confirmation)."""
        from opsconsole.core import gunicorn

        if not self.scans:
            self._pending = (verb, target, spec)
            self.refresh_now()
            return
        try:
            master = gunicorn.find_master(self.masters, target)
        except OpsError as exc:
            self.app.notify(f"{exc.message}\n{exc.hint}".strip(), severity="error", markup=False)
            return
        self.filter_text = ""
        self.collapsed.discard(master.pid)
        self._render_rows()
        self.select(f"m:{master.pid}")
        if verb == "scale":
            self.action_scale(spec)
        else:
            self.action_reload()

    # -- rows -----------------------------------------------------------------------

    def _visible(self, m: GunicornMaster) -> bool:
        if not self.filter_text:
            return True
        needle = self.filter_text.lower()
        hay = f"{m.program or ''} {m.name} {m.pid} {' '.join(str(w.pid) for w in m.workers)}"
        return needle in hay.lower()

    def _master_cells(self, m: GunicornMaster) -> tuple[Any, ...]:
        from opsconsole.core import gunicorn

        fold = "▸" if m.pid in self.collapsed else "▾"
        owner = m.program or f"{m.name}*"
        name = Text(f"{fold} {owner}", style="bold")
        target = "?" if m.target is None else str(m.target)
        # the worker class is on the summary line too: below 100 columns room goes to flags
        kind = f" {m.worker_class}" if self.app.size.width >= 100 else ""
        info = Text(f"{m.live}/{target}{kind}")
        pending = self.progress.get(m.pid)
        if pending is not None and pending[1] != pending[0]:
            info.append(f" → {pending[0]}", style="bold cyan")
        if m.flags:
            info.append(" " + gunicorn.flag_label(m.flags), style="bold yellow")
        return (name, str(m.pid), short_duration(m.uptime), "", "", "", "", info)

    def _worker_cells(self, m: GunicornMaster, w: GunicornWorker, last: bool) -> tuple[Any, ...]:
        from opsconsole.core import gunicorn

        branch = "└" if last else "├"
        beat = "" if w.heartbeat_age is None else f"{w.heartbeat_age:.0f}s"
        style = "bold red" if "stuck" in w.flags else ""
        return (
            Text(f"  {branch} worker"),
            str(w.pid),
            short_duration(w.age),
            "" if w.cpu_percent is None else f"{w.cpu_percent:.0f}",
            format_bytes(w.rss),
            "" if w.connections is None else str(w.connections),
            Text(beat, style=style),
            Text(gunicorn.flag_label(w.flags), style=style or "yellow"),
        )

    def build_rows(self) -> list[Row]:
        rows: list[Row] = []
        for m in self.masters:
            if not self._visible(m):
                continue
            rows.append(Row(f"m:{m.pid}", m, None, self._master_cells(m)))
            if m.pid in self.collapsed:
                continue
            for i, w in enumerate(m.workers):
                last = i == len(m.workers) - 1
                rows.append(Row(f"w:{w.pid}", m, w, self._worker_cells(m, w, last)))
        return rows

    def _render_rows(self) -> None:
        self._stale = False
        table = self.table
        current = self.selected_key()
        rows = self.build_rows()
        same = [r.key for r in rows] == [r.key for r in self.rows]
        self.rows = rows
        if same:
            for row in rows:
                for (col, _, _), value in zip(COLUMNS, row.cells, strict=True):
                    table.update_cell(row.key, col, value)
            return
        table.clear()
        for row in rows:
            table.add_row(*row.cells, key=row.key)
        if current is not None:
            keys = [r.key for r in rows]
            if current in keys:
                table.move_cursor(row=keys.index(current))

    def selected_key(self) -> str | None:
        table = self.table
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row].key

    def selected(self) -> Row | None:
        table = self.table
        if 0 <= table.cursor_row < len(self.rows):
            return self.rows[table.cursor_row]
        return None

    def select(self, key: str) -> bool:
        """Move the cursor to row ``key`` (``m:<pid>`` / ``w:<pid>``); False if absent."""
        keys = [r.key for r in self.rows]
        if key not in keys:
            return False
        self.table.move_cursor(row=keys.index(key))
        self._render_summary()
        return True

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._render_summary()

    # -- summary and progress ---------------------------------------------------------

    def _render_summary(self) -> None:
        box = self.query_one("#gunicorn-summary", Static)
        text = Text()
        if self.error:
            text.append(f"⚠ scan failed: {self.error}", style="bold red")
        row = self.selected()
        if row is None:
            if not self.error:
                text.append(
                    "no gunicorn masters found on this machine" if self.scans else "scanning …",
                    style="dim",
                )
            box.update(text)
            self._render_progress()
            return
        m = row.master
        if text:
            text.append("\n")
        where = f"{m.program} [{m.server}]" if m.program else f"{m.name} (not under supervisor)"
        text.append(f"{where} ", style="bold")
        text.append(f"master {m.pid}  {m.worker_class}  {', '.join(m.binds)}")
        configured = "?" if m.configured is None else str(m.configured)
        target = "?" if m.target is None else str(m.target)
        text.append(
            f"\nworkers {m.live} live / {target} target (configured {configured})"
            f"  timeout {m.timeout_text}  "
        )
        if "ctl-shared" in m.flags:
            text.append("ctl: shared path, not used (signals)", style="yellow")
        else:
            text.append("ctl ✓" if m.control_socket else "ctl ✗ (signals)")
        if m.notes:
            text.append("\n! " + m.notes[-1], style="yellow")
        box.update(text)
        self._render_progress()

    def _render_progress(self) -> None:
        box = self.query_one("#gunicorn-progress", Static)
        lines = Text()
        for pid, (target, live, started) in sorted(self.progress.items()):
            master = next((m for m in self.masters if m.pid == pid), None)
            name = (master.program or master.name) if master else str(pid)
            if lines:
                lines.append("\n")
            waited = time.monotonic() - started
            lines.append(
                f"⟳ scaling {name}: {live} live → target {target} ({waited:.0f} s)",
                style="bold cyan",
            )
        box.display = bool(lines)
        box.update(lines)

    def _on_progress(self, pid: int, target: int, live: int) -> None:
        started = self.progress.get(pid, (0, 0, time.monotonic()))[2]
        self.progress[pid] = (target, live, started)
        self._render_progress()

    # -- actions ----------------------------------------------------------------------

    def _need_master(self) -> GunicornMaster | None:
        row = self.selected()
        if row is None:
            self.app.notify("no gunicorn master selected", severity="warning")
            return None
        return row.master

    def action_scale(self, spec: str) -> None:
        from opsconsole.core import gunicorn

        master = self._need_master()
        if master is None:
            return
        try:
            plan = gunicorn.plan_scale(master, spec)
        except gunicorn.ScaleRefused as exc:
            self.app.notify(
                f"{exc.message}\n{exc.hint}".strip(),
                title="Refused",
                severity="error",
                markup=False,
            )
            return
        except OpsError as exc:
            self.app.notify(exc.message, severity="error", markup=False)
            return
        configured = master.configured
        lasting = (
            f"Restarting the program returns to the configured {configured} workers. "
            if configured is not None
            else ""
        )
        via = (
            f"Sent over its control socket {master.control_socket}. "
            if plan.method == "control socket"
            else ""
        )
        pid = master.pid

        def sent() -> None:  # from the yes until the result; the live count follows scans
            self.progress[pid] = (plan.target, master.live, time.monotonic())
            self._render_progress()

        def done(result: OperationResult) -> None:
            self.progress.pop(pid, None)
            self._render_progress()
            self.refresh_now()
            self._scaled(result)

        self._send(
            OperationRequest(
                "gunicorn.scale",
                str(pid),
                {"count": spec, "wait": True, "create_time": master.create_time},
            ),
            label=master.label,
            question=f"Send {plan.action} to {master.label}: "
            f"{plan.before} -> {plan.target} workers?",
            detail=f"{via}This changes the live count only. {lasting}"
            f"opsconsole waits up to {master.timeout} s (the master's --timeout) "
            "for the live count to match.",
            on_done=done,
            on_sent=sent,
        )

    def _scaled(self, result: OperationResult) -> None:
        data = result.data
        if "converged" not in data:  # refused or failed before anything was sent
            if self.session is not None:
                self.session.report_failure(result)
            return
        converged = bool(data.get("converged"))
        undo = f"Undo: press = and type {data.get('before')} (or {data.get('undo')} --yes)"
        self.app.notify(
            f"{data.get('message')}\n{undo}",
            title="Scaled" if converged else "Not converged",
            severity="information" if converged else "warning",
            markup=False,
            timeout=10,
        )
        timeline = self.session.timeline if self.session is not None else None
        if timeline is not None:
            level = "info" if converged else "warning"
            timeline.add("worker", level, str(data.get("label")), str(data.get("message")))

    def action_scale_exact(self) -> None:
        master = self._need_master()
        if master is None:
            return

        def chosen(count: int | None) -> None:
            if count is not None:
                self.action_scale(str(count))

        self.app.push_screen(
            CountScreen(f"Workers for {master.label} (now {master.live})", master.scale_base),
            callback=chosen,
        )

    def action_reload(self) -> None:
        master = self._need_master()
        if master is None:
            return
        count = master.configured if master.configured is not None else master.live
        self._send(
            OperationRequest(
                "gunicorn.reload", str(master.pid), {"create_time": master.create_time}
            ),
            label=master.label,
            question=f"Send HUP to {master.label}?",
            detail=f"Graceful reload: the master re-reads its config, starts {count} new workers "
            "and stops the old ones once their requests finish. Verified when every old "
            f"worker pid is replaced (up to {master.timeout + 5} s).",
            on_done=self._reloaded,
        )

    def _reloaded(self, result: OperationResult) -> None:
        self.refresh_now()
        if "ok" not in result.data:  # refused or failed before anything was sent
            if self.session is not None:
                self.session.report_failure(result)
            return
        ok = bool(result.data["ok"])
        self.app.notify(
            result.message,
            title="Reloaded" if ok else "Reload not verified",
            severity="information" if ok else "error",
            markup=False,
        )

    def action_signal(self) -> None:
        """``K`` (as for a program): pick a signal for the selected worker, then confirm."""
        from opsconsole.core.gunicorn import WORKER_SIGNALS

        row = self.selected()
        if row is None or row.worker is None:
            self.app.notify(
                "select a worker row first (j/k); a master: R reloads, + - = scale",
                severity="warning",
            )
            return
        master, worker = row.master, row.worker

        def picked(name: str | None) -> None:
            if name:
                self.signal_worker(master, worker, name)

        choices = [(name, f"the worker {what}") for name, (_, what) in WORKER_SIGNALS.items()]
        self.app.push_screen(
            PickScreen(f"Signal for worker {worker.pid} of {master.label}", choices),
            callback=picked,
        )

    def action_stack(self) -> None:
        """``S``: the selected worker's Python stack (py-spy), without killing it."""
        row = self.selected()
        if row is None or row.worker is None:
            self.app.notify("select a worker row first (j/k)", severity="warning")
            return
        gunicorn_stack.show_stack(self, row.master, row.worker)

    def signal_worker(self, master: GunicornMaster, worker: GunicornWorker, name: str) -> None:
        """Send ``name`` (TERM, KILL or ABRT) to ``worker`` through the gate, confirmed."""
        from opsconsole.core.gunicorn import WORKER_SIGNALS

        after = " The new error-log lines are shown afterwards." if name == "ABRT" else ""
        self._send(
            OperationRequest(
                "gunicorn.worker_signal",
                str(master.pid),
                {
                    "create_time": master.create_time,
                    "worker": worker.pid,
                    "worker_create_time": worker.create_time,
                    "signal": name,
                },
            ),
            label=f"worker {worker.pid} of {master.label}",
            question=operation("gunicorn.worker_signal").question.format(
                signal=name, pid=worker.pid, target=master.label
            ),
            detail=f"The worker {WORKER_SIGNALS[name][1]}.{after}",
            on_done=self._worker_signalled,
        )

    def _worker_signalled(self, result: OperationResult) -> None:
        self.refresh_now()
        data = result.data
        if "worker_pid" not in data:  # refused or failed before anything was sent
            if self.session is not None:
                self.session.report_failure(result)
            return
        lines = [str(line) for line in data.get("log_lines") or []]
        text = result.message
        if lines:
            text += "\n" + "\n".join(line[:200] for line in lines[-8:])
        self.app.notify(text, title=f"{data.get('signal')} sent", markup=False, timeout=15)
        timeline = self.session.timeline if self.session is not None else None
        if timeline is not None:
            source = f"worker {data.get('worker_pid')}"
            timeline.add("worker", "warning", source, result.message)
            for line in lines[-20:]:
                timeline.add("worker", "info", source, line)

    def action_fold(self) -> None:
        row = self.selected()
        if row is None:
            return
        pid = row.master.pid
        if pid in self.collapsed:
            self.collapsed.discard(pid)
        else:
            self.collapsed.add(pid)
        self._render_rows()
        self.select(f"m:{pid}")

    def action_logs(self) -> None:
        master = self._need_master()
        if master is None:
            return
        if not master.error_log:
            self.app.notify(f"{master.label} logs to stderr only", severity="warning")
            return
        self.post_message(self.LogsRequested(master.error_log, master.label))

    # -- filter -----------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#gunicorn-filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "gunicorn-filter":
            self.filter_text = event.value.strip()
            self._render_rows()
            self._render_summary()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "gunicorn-filter":
            self.table.focus()

    def action_clear(self) -> None:
        box = self.query_one("#gunicorn-filter", Input)
        if box.display or self.filter_text:
            box.value = ""
            box.display = False
            self.filter_text = ""
            self._render_rows()
            self.table.focus()
