"""The hosts view (on a console of several hosts): one row per host.

Columns: the host, its link (``up``, ``connecting``, ``stale 12s``: the age of its last data,
``down``), the round trip of the last ping, the agent's version, its programs by state,
gunicorn workers live/target, nginx (ok, failing, off) and probes green/all. Under the table,
the selected host's link in full words (why it is stale or down), what the console is narrowed
to, and the last step of an action across hosts. It reads the session's fleet
(:mod:`opsconsole.tui.fleet`) once a second while on screen (hidden, it is not drawn) and
never waits for a host. ``enter`` narrows every view to the selected host (``:host NAME``
too; ``:host all`` widens again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import DataTable, Static

from opsconsole.tui.keys import bindings
from opsconsole.tui.styles import app_theme, role_style
from opsconsole.tui.tcss import load_tcss

if TYPE_CHECKING:
    from typing_extensions import Self

    from opsconsole.tui.fleet import Fleet, HostState

#: (key, label, width): fits 80 columns with the table's padding
COLUMNS = [
    ("host", "Host", 8),
    ("link", "Link", 10),
    ("rtt", "RTT", 5),
    ("agent", "Agent", 6),
    ("programs", "Programs", 15),
    ("workers", "Workers", 7),
    ("nginx", "Nginx", 7),
    ("probes", "Probes", 6),
]


class HostTable(DataTable[Any], inherit_bindings=False):
    """The hosts, one a row; ``enter`` is the view's (its footer label shows)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        b for b in DataTable.BINDINGS if not (isinstance(b, Binding) and b.key == "enter")
    ] + [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def action_select_cursor(self) -> None:
        """``enter`` belongs to the view (narrow, from the registry of operations): the
        table's own ``enter`` binding steps aside."""
        raise SkipAction()


class HostsView(Vertical):
    DEFAULT_CSS = load_tcss(__file__, "hosts_view.tcss")
    BINDINGS = bindings("hosts")

    class Narrow(Message):
        """Narrow every view to ``host`` (None: every host)."""

        def __init__(self, host: str | None) -> None:
            super().__init__()
            self.host = host

    def __init__(self, fleet: Fleet, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fleet = fleet
        self._shown: list[tuple[Any, ...]] = []
        self._words: dict[str, Text] = {}

    def compose(self) -> ComposeResult:
        table = HostTable(id="hosts-table", cursor_type="row", zebra_stripes=False)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        yield Static("", id="hosts-detail")
        yield Static("", id="hosts-progress")

    def on_mount(self) -> None:
        self.show()
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        """Once a second while on screen: a hidden view costs nothing (it is drawn afresh
        when shown)."""
        if self.display:
            self.show()

    def on_show(self) -> None:
        self.show()

    @property
    def table(self) -> HostTable:
        return self.query_one(HostTable)

    def focus(self, scroll_visible: bool = True) -> Self:
        self.table.focus(scroll_visible)
        return self

    def _cells(self, state: HostState) -> tuple[Any, ...]:
        theme = app_theme(self.app)
        refresh = self.fleet.refresh
        word = state.state_word(refresh)
        role = "success" if word == "up" else "dim" if word == "connecting" else "error"
        if word.startswith("stale"):
            role = "warning"
        mark = "▸" if self.fleet.narrowed == state.name else " "
        nginx = state.nginx_word()
        nginx_role = {"ok": "success", "failing": "error"}.get(nginx, "dim")
        programs = state.program_counts()
        dim = "dim" if word != "up" else ""
        return (
            Text(f"{mark}{state.name}", style="bold"),
            Text(word, style=role_style(theme, role)),
            Text(state.rtt(), style=dim),
            Text(state.agent(), style=dim),
            Text(programs, style=role_style(theme, "error") if "FATAL" in programs else dim),
            Text(state.workers(), style=dim),
            Text(nginx, style=role_style(theme, nginx_role)),
            Text(state.probe_counts(), style=dim),
        )

    def show(self) -> None:
        """Redraw the rows (cursor kept), the selected host's words and the progress line."""
        try:
            table = self.table
        except NoMatches:  # not composed yet, or the console is closing
            return
        rows = [self._cells(s) for s in self.fleet.states.values()]
        names = self.fleet.names
        if len(rows) != table.row_count:
            table.clear()
            for name, cells in zip(names, rows, strict=True):
                table.add_row(*cells, key=name)
        else:
            keys = [c[0] for c in COLUMNS]
            for name, old, new in zip(names, self._shown or rows, rows, strict=True):
                for i, (a, b) in enumerate(zip(old, new, strict=True)):
                    if a != b or not self._shown:
                        table.update_cell(name, keys[i], b)
        self._shown = rows
        state = self.selected()
        detail = Text()
        if state is not None:
            detail.append(f"{state.name}: ", style="bold")
            detail.append(state.words(self.fleet.refresh))
        detail.append("\nshowing: ", style="dim")
        detail.append(self.fleet.title())
        detail.append("   enter: only this host  :host all: every host", style="dim")
        # each only when it reads differently: an update is a layout pass of the screen
        for wid, text in (
            ("#hosts-detail", detail),
            ("#hosts-progress", Text(self.fleet.progress)),
        ):
            if self._words.get(wid) != text:
                self._words[wid] = text
                self.query_one(wid, Static).update(text)

    def selected(self) -> HostState | None:
        row = self.table.cursor_row
        names = self.fleet.names
        if row is None or not 0 <= row < len(names):
            return None
        return self.fleet.states[names[row]]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show()

    def action_narrow(self) -> None:
        state = self.selected()
        if state is not None:
            self.post_message(self.Narrow(state.name))
