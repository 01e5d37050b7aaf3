"""The supervisor program list: grouped, sortable, filterable, updated in place.

It renders the host's snapshots (:class:`~opsconsole.core.host.Supervisord` and its
:class:`~opsconsole.core.host.Program` rows) and asks for operations with messages the app
hands to the session; CPU and memory come from the session's sampler (this machine's pids).
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.theme import Theme
from textual.widgets import DataTable, Input, Static

from opsconsole.core.format import format_bytes, format_duration, short_duration
from opsconsole.core.host import Program, Supervisord
from opsconsole.core.procs import TreeUsage
from opsconsole.tui.fleet_rows import columns, host_cells, host_marks, host_rows
from opsconsole.tui.keys import bindings
from opsconsole.tui.styles import app_theme
from opsconsole.tui.widgets.logview import LogView
from opsconsole.tui.widgets.program_rows import (
    _PLACE,
    SORTS,
    Row,
    proc_cells,
    state_text,
    uptime_until,
)
from opsconsole.tui.widgets.program_table import ProgramTable

if TYPE_CHECKING:
    from typing_extensions import Self

    from opsconsole.tui.session import Session

#: terminal width from which the program list shows details and logs beside it
WIDE = 160


#: uptime cells to write (row key, column, text) and rows to draw again (row, program, clock)
_Drawn = tuple[list[tuple[str, str, Any]], list[tuple[Row, Program, "float | None"]]]


class ProgramsView(Vertical):
    """Rows keyed ``server/group:name``; group rows keyed ``server/group:*``."""

    BINDINGS = bindings("programs")  # from the registry of operations (core.operations)

    class OpRequested(Message):
        """The user asked for ``verb`` on ``specs`` (program names, ``group:*`` or ``all``)."""

        def __init__(
            self, verb: str, server: str, specs: list[str], label: str, signame: str = ""
        ) -> None:
            super().__init__()
            self.verb = verb
            self.server = server
            self.specs = specs
            self.label = label
            self.signame = signame  # for "signal": already chosen (else a picker asks)

    class LogsRequested(Message):
        """Open the logs (stdout and stderr) of ``names`` on ``server``."""

        def __init__(self, server: str, names: list[str]) -> None:
            super().__init__()
            self.server = server
            self.names = names

    class UpdateRequested(Message):
        def __init__(self, server: str) -> None:
            super().__init__()
            self.server = server

    def __init__(self, *, session: Session | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: where the detail pane gets a program's log sources
        self.session = session
        self.snapshots: list[Supervisord] = []
        self.usage: dict[int, TreeUsage] = {}
        self.marked: set[str] = set()
        self.collapsed: set[str] = set()
        self._errors_shown: Text | None = None
        self._theme: Theme | None = None
        self.sort_by = "group"
        self.filter_text = ""
        self.rows: list[Row] = []
        self._row_index: dict[str, Row] = {}
        #: row key → (what its cells show, the cells): unchanged programs keep their cells
        self._cells: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        #: snapshots arrived while the view was hidden: drawn when it is shown
        self._stale = False
        #: what the rows were last built from, for a refresh that moves no row: per
        #: supervisord its programs, and each one's row (None: not shown), the clock it was
        #: drawn at and the clock at which its short uptime reads differently
        self._drawn: dict[str, tuple[tuple[Program, ...], list[tuple[Row | None, float, int]]]]
        self._drawn = {}
        #: per supervisord whose host keeps its clock (a fleet's, see Session.clock): a heap
        #: of (host clock at which a row's short uptime reads differently, its index in
        #: ``_drawn``); an agent does not push an uptime that only grew
        self._due: dict[str, list[tuple[int, int]]] = {}
        #: per such supervisord: the indexes (in ``_drawn``) of rows whose short uptime
        #: moved while they were out of sight, not drawn again until they come into sight
        #: (ProgramTable.on_sight): 3000 programs of a fleet turn a minute together, and a
        #: screen shows 20 of them
        self._held: dict[str, set[int]] = {}
        self._table: ProgramTable | None = None
        #: row key -> its index in the table; the uptime column's index in a row's cells
        self._pos: dict[str, int] = {}
        self._uptime_at = 0
        #: the host clock of the supervisord whose rows are being made (None: each program's
        #: own ``now``)
        self._clock: float | None = None
        self._drawn_usage: dict[int, TreeUsage] | None = None
        self._drawn_theme = ""
        self._drawn_hosts: Any = None
        #: counts of what refreshes did (tests and benchmarks read them): ``rebuilt`` the
        #: whole list built again, ``in_place`` only the rows that changed looked at again
        self.redraws = {"rebuilt": 0, "in_place": 0, "rows": 0}

    def compose(self) -> ComposeResult:
        yield Static("", id="server-errors")
        with Horizontal(id="programs-body"):
            with Vertical(id="programs-main"):
                table = ProgramTable(id="program-table", cursor_type="row", zebra_stripes=False)
                for key, label, width in columns(self.session):  # a HOST column for a fleet
                    table.add_column(label, key=key, width=width)
                yield table
                yield Input(
                    placeholder="filter by name or state (enter: keep, esc: clear)", id="filter"
                )
            # Wide terminals (≥ WIDE columns): details and the live log of the selection.
            with Vertical(id="program-detail"):
                yield Static("", id="program-facts")
                yield LogView(id="program-log", initial=60)

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#server-errors", Static).display = False
        self._detail_for: str | None = None
        self._layout()
        self.set_interval(1.0, self._tick_uptimes)
        self.table.on_sight = self._reveal

    def on_resize(self) -> None:
        self._layout()

    @property
    def wide(self) -> bool:
        return self.app.size.width >= WIDE

    def _layout(self) -> None:
        detail = self.query_one("#program-detail")
        was = detail.display
        detail.display = self.wide
        if self.wide and not was:
            self._detail_for = None
            self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.wide:
            self.set_timer(0.25, self._show_detail)

    def _show_detail(self) -> None:
        """Facts of the selected program, and its output followed live (debounced)."""
        if not self.wide:
            return
        row = self.current_row()
        facts = self.query_one("#program-facts", Static)
        if row is None or row.proc is None:
            facts.update(Text("select a program to see its details and logs", style="dim"))
            return
        p = row.proc
        t = Text()
        t.append(f"{p.fullname}", style="bold")
        t.append(f"  on {p.server}\n", style="dim")
        t.append_text(state_text(p.statename, app_theme(self.app)))
        if p.pid:
            t.append(f"  pid {p.pid}  up {format_duration(p.uptime_at(self._clock_of(p.server)))}")
        usage = self.usage.get(p.pid) if p.pid else None
        if usage:
            t.append(f"  cpu {usage.cpu_percent:.1f}%  rss {format_bytes(usage.rss)}")
            t.append(f"  {usage.nprocs} process(es)")
        if p.statename in ("EXITED", "FATAL", "BACKOFF"):
            t.append(f"\nexit status {p.exitstatus}  {p.spawnerr or p.description}")
        t.append(
            f"\nstdout {p.stdout_logfile or '-'}\nstderr {p.stderr_logfile or '-'}", style="dim"
        )
        facts.update(t)
        key = row.key
        if key != self._detail_for:
            self._detail_for = key
            if self.session is not None:
                sources = self.session.log_sources_for(p.server, p.fullname)
                self.query_one("#program-log", LogView).set_sources(sources)

    @property
    def table(self) -> ProgramTable:
        """The list's table (looked up once: a DOM query every tick costs more than the tick)."""
        table = self._table
        if table is None:
            table = self._table = self.query_one(ProgramTable)
        return table

    # -- data ----------------------------------------------------------------

    def show(self, snapshots: list[Supervisord], usage: dict[int, TreeUsage]) -> None:
        """Show the latest snapshots (rows updated in place; cursor and scroll kept). A hidden
        view only keeps them and draws them when it is shown again."""
        self.snapshots = snapshots
        self.usage = usage
        if not self.display and self.rows:
            self._stale = True
            return
        self._stale = False
        errors = Text()
        for snap in snapshots:
            if snap.error is not None:
                if errors:
                    errors.append("\n")
                errors.append(f"⚠ {snap.name}: ", style="bold red")
                errors.append(snap.error.message)
                if snap.error.hint:
                    errors.append(f" — {snap.error.hint}", style="italic")
                errors.append("  (retrying)", style="dim")
        box = self.query_one("#server-errors", Static)
        box.display = bool(errors)
        if errors != self._errors_shown:  # a layout pass re-renders the screen: only on change
            self._errors_shown = errors
            box.update(errors)
        if not self._update_in_place():
            self._render_rows()
        self._tick_uptimes()

    def _update_in_place(self) -> bool:
        """Bring the rows up to date without building the list again when no row moves,
        appears or goes (the same programs in the same states, pids and start times; the
        sort does not follow what changed): only the rows whose uptime's short form, CPU or
        memory may read differently are looked at, only the cells that changed are drawn
        again. False (nothing done) when the list has to be built again."""
        if not self.rows or host_marks(self.session) != self._drawn_hosts:
            return False  # a fleet's host turned stale or fresh: its rows are marked again
        theme = app_theme(self.app)
        if (theme.name if theme is not None else "") != self._drawn_theme:
            return False
        usage, drawn_usage = self.usage, self._drawn_usage
        new_usage = usage is not drawn_usage
        if new_usage and self.sort_by in ("cpu", "rss"):
            return False
        if [snap.name for snap in self.snapshots] != list(self._drawn):
            return False
        looked: list[tuple[Row, Program, float | None]] = []
        moved: list[tuple[str, tuple[Program, ...], list[tuple[Row | None, float, int]]]] = []
        before: dict[int, TreeUsage] = drawn_usage or {}
        due: list[tuple[str, int, int]] = []
        for snap in self.snapshots:
            old, places = self._drawn[snap.name]
            new = snap.programs
            if new is old and not new_usage:
                continue
            if len(new) != len(old):
                return False
            clock = self._clock_of(snap.name)
            marks = list(places)
            for i, (o, n) in enumerate(zip(old, new)):
                same = o is n
                if not same and (
                    _PLACE(o) != _PLACE(n)
                    or o.server != n.server
                    or (n.state != "RUNNING" and o.description != n.description)
                ):
                    return False
                row, since, until = places[i]
                if row is None:
                    continue
                now = n.now if clock is None else max(n.now, clock)
                if not same and not since <= now < until:  # its short uptime moved
                    marks[i] = (row, now, uptime_until(n, clock))
                    looked.append((row, n, clock))
                    if clock is not None and marks[i][2]:
                        due.append((snap.name, marks[i][2], i))
                elif (
                    new_usage
                    and n.pid
                    and usage.get(n.pid) != before.get(n.pid)
                    and self._usage_moved(row.key, usage.get(n.pid))
                ):
                    looked.append((row, n, clock))
                else:
                    row.proc = n  # the detail pane reads the latest
            moved.append((snap.name, new, marks))
        for name, programs, marks in moved:
            self._drawn[name] = (programs, marks)
        for name, until, i in due:
            heapq.heappush(self._due.setdefault(name, []), (until, i))
        self._drawn_usage = usage
        self.redraws["in_place"] += 1
        self._theme = theme
        self._draw_rows(looked)
        return True

    def _clock_of(self, server: str) -> float | None:
        """The host clock the rows of supervisord ``server`` show their uptimes at."""
        return self.session.clock(server) if self.session is not None else None

    def _tick_uptimes(self) -> None:
        """Draw again the uptimes whose short form moved by their host's clock (a fleet's
        agents push no uptime that only grew): only the rows that are due, from a heap, and
        of those only the rows in sight (the others are held until they come into sight)."""
        if not self.rows or not self.display or not self._due:
            return
        first, last = self.table.sight()
        drawn: _Drawn = ([], [])
        for name, heap in self._due.items():
            clock = self._clock_of(name) if heap else None
            if clock is None or heap[0][0] > clock or name not in self._drawn:
                continue
            places = self._drawn[name][1]
            held = self._held.setdefault(name, set())
            while heap and heap[0][0] <= clock:
                until, i = heapq.heappop(heap)
                row, since, due = places[i]
                if row is None or due != until:
                    continue  # marked again since
                if not first <= self._pos.get(row.key, first) <= last:
                    places[i] = (row, since, 0)  # out of sight: drawn when it comes in
                    held.add(i)
                    continue
                self._redraw_uptime(name, i, clock, drawn)
        self._draw_uptimes(*drawn)

    def _reveal(self) -> None:
        """Draw the held rows (see ``_held``) that are now in sight, before they are shown."""
        if not any(self._held.values()) or not self.rows:
            return
        first, last = self.table.sight()
        drawn: _Drawn = ([], [])
        for name, held in self._held.items():
            clock = self._clock_of(name) if held else None
            if clock is None or name not in self._drawn:
                continue
            places = self._drawn[name][1]
            for i in list(held):
                row, _since, due = places[i]
                if row is not None and row.key not in self._row_index:
                    held.discard(i)  # not in the list any more
                    continue
                if row is not None and not first <= self._pos.get(row.key, first) <= last:
                    continue  # still out of sight
                held.discard(i)
                if row is not None and not due:  # else drawn again since (its program changed)
                    self._redraw_uptime(name, i, clock, drawn)
        self._draw_uptimes(*drawn)

    def _redraw_uptime(self, name: str, i: int, clock: float, drawn: _Drawn) -> None:
        """Row ``i`` of supervisord ``name`` at ``clock``: its uptime cell alone when only that
        moved and it reads differently (``drawn[0]``), else the row (``drawn[1]``); then due
        again when its short uptime next reads differently."""
        programs, places = self._drawn[name]
        p, row, at = programs[i], places[i][0], self._uptime_at
        assert row is not None
        cell = row.cells[at]
        if type(cell) is str and row.proc is p:  # its uptime alone: that cell
            text = short_duration(p.uptime_at(clock))
            if text != cell:
                row.cells = (*row.cells[:at], text, *row.cells[at + 1 :])
                drawn[0].append((row.key, "uptime", text))
        else:
            drawn[1].append((row, p, clock))
        places[i] = (row, clock, uptime_until(p, clock))
        if places[i][2]:
            heapq.heappush(self._due.setdefault(name, []), (places[i][2], i))

    def _draw_uptimes(self, changes: list[Any], looked: list[Any]) -> None:
        if changes:
            self.redraws["rows"] += len(changes)
            self.table.update_cells(changes)
        if looked:
            self._theme = app_theme(self.app)
            self._draw_rows(looked)

    def _draw_rows(self, looked: list[tuple[Row, Program, float | None]]) -> None:
        """Draw again the cells of ``looked`` (row, its program, its host clock) that read
        differently."""
        self.redraws["rows"] += len(looked)
        if not looked:
            return
        column_keys = [c[0] for c in columns(self.session)]
        changes = []
        for row, p, clock in looked:
            indent = self._cells[row.key][0][1] if row.key in self._cells else False
            self._clock = clock
            cells = host_cells(self.session, row.key, row.server, self._proc_cells(p, indent))
            row.proc = p
            if cells is not row.cells:
                changes += [
                    (row.key, column_keys[i], b)
                    for i, (a, b) in enumerate(zip(row.cells, cells))
                    if a != b
                ]
                row.cells = cells
        if changes:
            self.table.update_cells(changes)

    def _usage_moved(self, key: str, usage: TreeUsage | None) -> bool:
        """Whether the CPU or memory cell of row ``key`` reads differently with ``usage``
        (a new sample mostly moves digits no cell shows)."""
        cached = self._cells.get(key)
        if cached is None:
            return True
        cpu = f"{usage.cpu_percent:.1f}" if usage else ""
        rss = format_bytes(usage.rss) if usage else ""
        return (cpu, rss) != cached[0][7:9]

    def _visible(self, p: Program) -> bool:
        if not self.filter_text:
            return True
        needle = self.filter_text.lower()
        return needle in p.fullname.lower() or needle in p.statename.lower()

    def _sort_key(self, p: Program) -> Any:
        usage = self.usage.get(p.pid)
        if self.sort_by == "name":
            return p.fullname
        if self.sort_by == "state":
            return (p.statename, p.fullname)
        if self.sort_by == "pid":
            return (p.pid, p.fullname)
        if self.sort_by == "uptime":
            return (-(p.uptime_at(self._clock) or 0), p.fullname)
        if self.sort_by == "cpu":
            return (-(usage.cpu_percent if usage else 0), p.fullname)
        if self.sort_by == "rss":
            return (-(usage.rss if usage else 0), p.fullname)
        return (p.group, p.name)

    def on_show(self) -> None:
        if self._stale:
            self.show(self.snapshots, self.usage)
        else:
            self._tick_uptimes()

    def _proc_cells(self, p: Program, indent: bool) -> tuple[Any, ...]:
        """The cells of a program's row (:func:`~.program_rows.proc_cells`, kept per row)."""
        key = self._key(p)
        usage = self.usage.get(p.pid) if p.pid else None
        marked = key in self.marked
        return proc_cells(p, marked, indent, usage, self._theme, self._cells, key, self._clock)

    def _key(self, p: Program) -> str:
        return f"{p.server}/{p.fullname}"

    def build_rows(self) -> list[Row]:
        rows: list[Row] = []
        self._theme = app_theme(self.app)  # looked up once per refresh, not once per cell
        multi = len(self.snapshots) > 1
        for snap in self.snapshots:
            self._clock = self._clock_of(snap.name)
            procs = [p for p in snap.programs if self._visible(p)]
            if self.sort_by != "group":
                for p in sorted(procs, key=self._sort_key):
                    rows.append(
                        Row(self._key(p), self._proc_cells(p, False), p, p.group, snap.name)
                    )
                continue
            groups: dict[str, list[Program]] = {}
            for p in sorted(procs, key=self._sort_key):
                groups.setdefault(p.group, []).append(p)
            if multi and groups:
                rows.append(
                    Row(
                        f"{snap.name}/",
                        (Text(f"[{snap.name}]", style="bold"), "", "", "", "", "", Text(snap.url)),
                        None,
                        "",
                        snap.name,
                    )
                )
            for group, members in groups.items():
                if len(members) == 1 and members[0].name == group:
                    p = members[0]
                    rows.append(Row(self._key(p), self._proc_cells(p, False), p, group, snap.name))
                    continue
                gkey = f"{snap.name}/{group}:*"
                folded = gkey in self.collapsed
                running = sum(1 for m in members if m.statename == "RUNNING")
                summary = Text(f"{running}/{len(members)} running", style="dim")
                arrow = "▸" if folded else "▾"
                rows.append(
                    Row(
                        gkey,
                        (Text(f" {arrow} {group}", style="bold"), "", "", "", "", "", summary),
                        None,
                        group,
                        snap.name,
                    )
                )
                if not folded:
                    for p in members:
                        rows.append(
                            Row(self._key(p), self._proc_cells(p, True), p, group, snap.name)
                        )
        return host_rows(self.session, rows)  # several hosts: HOST cells, stale rows marked

    def _render_rows(self) -> None:
        table = self.table
        new_rows = self.build_rows()
        old_keys = [r.key for r in self.rows]
        new_keys = [r.key for r in new_rows]
        if old_keys == new_keys:
            column_keys = [c[0] for c in columns(self.session)]
            changes = [
                (new.key, column_keys[i], b)
                for old, new in zip(self.rows, new_rows)
                if old.cells is not new.cells
                for i, (a, b) in enumerate(zip(old.cells, new.cells))
                if a != b
            ]
            if changes:
                table.update_cells(changes)
        else:
            current = self.current_key()
            scroll_y = table.scroll_y
            # a cursor on the top row of an unscrolled list stays on the top row: the rows
            # that come in above it (another host answering first) do not carry it away
            at_top = table.cursor_row == 0 and scroll_y == 0
            # clearing and scrolling come into sight (ProgramTable.on_sight): nothing held of
            # the old list is drawn into the new one (every row is drawn afresh below)
            self._held = {}
            table.clear()
            for row in new_rows:
                table.add_row(*row.cells, key=row.key)
            if current in new_keys and not at_top:
                table.move_cursor(row=new_keys.index(current), animate=False, scroll=False)
            table.scroll_to(y=scroll_y, animate=False)
        self.rows = new_rows
        self._row_index = {r.key: r for r in new_rows}
        self._pos = {r.key: i for i, r in enumerate(new_rows)}
        self._uptime_at = [c[0] for c in columns(self.session)].index("uptime")
        if len(self._cells) > 2 * len(new_rows) + 64:  # programs removed: forget their cells
            self._cells = {k: v for k, v in self._cells.items() if k in self._row_index}
        index = self._row_index
        self._drawn, self._due, self._held = {}, {}, {}
        for snap in self.snapshots:
            clock = self._clock_of(snap.name)
            places: list[tuple[Row | None, float, int]] = [
                (
                    index.get(self._key(p)),
                    p.now if clock is None else max(p.now, clock),
                    uptime_until(p, clock),
                )
                for p in snap.programs
            ]
            self._drawn[snap.name] = (snap.programs, places)
            if clock is not None:
                heap = [(until, i) for i, (row, _, until) in enumerate(places) if row and until]
                heapq.heapify(heap)
                self._due[snap.name] = heap
        self._drawn_usage = self.usage
        self._drawn_theme = self._theme.name if self._theme is not None else ""
        self._drawn_hosts = host_marks(self.session)
        self.redraws["rebuilt"] += 1

    # -- selection -------------------------------------------------------------

    def current_key(self) -> str | None:
        table = self.table
        if not self.rows or table.cursor_row is None:
            return None
        if 0 <= table.cursor_row < len(self.rows):
            return self.rows[table.cursor_row].key
        return None

    def current_row(self) -> Row | None:
        key = self.current_key()
        return self._row_index.get(key) if key else None

    def selection(self) -> tuple[str, list[str], str] | None:
        """(server, specs, label) for an action: marked programs, else the group, else the row."""
        if self.marked:
            servers = {k.split("/", 1)[0] for k in self.marked}
            if len(servers) > 1:  # on several supervisords (hosts): the session goes in turn
                keys = sorted(self.marked)
                return "", keys, f"{len(keys)} marked program(s) on {len(servers)} supervisords"
            server = sorted(servers)[0]
            specs = sorted(k.split("/", 1)[1] for k in self.marked if k.startswith(server + "/"))
            return server, specs, f"{len(specs)} marked program(s): {', '.join(specs)}"
        row = self.current_row()
        if row is None:
            return None
        if row.proc is None:
            if not row.group:
                return row.server, ["all"], f"all programs on {row.server}"
            return row.server, [f"{row.group}:*"], f"group {row.group}"
        return row.server, [row.proc.fullname], row.proc.fullname

    # -- actions ---------------------------------------------------------------

    def action_op(self, verb: str) -> None:
        sel = self.selection()
        if sel is None:
            self.app.bell()
            return
        server, specs, label = sel
        self.post_message(self.OpRequested(verb, server, specs, label))

    def action_logs(self) -> None:
        row = self.current_row()
        if row is None:
            return
        if self.marked:
            server, specs, _ = self.selection() or (row.server, [], "")
            names = specs
        elif row.proc is not None:
            server, names = row.server, [row.proc.fullname]
        else:
            server = row.server
            names = [r.proc.fullname for r in self.rows if r.proc and r.group == row.group]
        self.post_message(self.LogsRequested(server, names))

    def action_mark(self) -> None:
        row = self.current_row()
        if row is None or row.proc is None:
            return
        self.marked ^= {row.key}
        self._render_rows()
        self.table.action_cursor_down()

    def action_mark_all(self) -> None:
        keys = {r.key for r in self.rows if r.proc is not None}
        self.marked = set() if keys <= self.marked else keys
        self._render_rows()

    def action_toggle_group(self) -> None:
        row = self.current_row()
        if row is None or row.proc is not None or not row.group:
            return
        self.collapsed ^= {row.key}
        self._render_rows()

    def action_sort(self) -> None:
        self.sort_by = SORTS[(SORTS.index(self.sort_by) + 1) % len(SORTS)]
        self.app.notify(f"sorted by {self.sort_by}", timeout=1.5)
        self._render_rows()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear(self) -> None:
        if self.marked:
            self.marked.clear()
            self._render_rows()

    def action_update(self) -> None:
        row = self.current_row()
        server = row.server if row else (self.snapshots[0].name if self.snapshots else "local")
        self.post_message(self.UpdateRequested(server))

    def focus(self, scroll_visible: bool = True) -> Self:
        """Focus the program table (the view itself has nothing to focus)."""
        self.table.focus(scroll_visible)
        return self

    def set_filter(self, text: str) -> None:
        """Show only the rows matching ``text`` (``:filter``)."""
        self.filter_text = text
        self._render_rows()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value.strip()
            self._render_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.display = bool(self.filter_text)
            self.table.focus()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#filter", Input)
        if event.key == "escape" and box.has_focus:
            box.value = ""
            box.display = False
            self.filter_text = ""
            self._render_rows()
            self.table.focus()
            event.stop()
