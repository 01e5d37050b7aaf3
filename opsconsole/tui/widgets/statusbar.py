"""The top line: host, supervisord connection state, per-state counts, READ-ONLY badge, and
the refresh interval when a slow supervisord stretched it."""

from __future__ import annotations

from rich.text import Text

from opsconsole.core.host import Program, Supervisord
from opsconsole.core.supervisor import state_counts
from opsconsole.tui.styles import app_theme, role_style, state_role
from opsconsole.tui.tcss import load_tcss
from opsconsole.tui.widgets.oneline import OneLine

STATUS_SYMBOL = {
    "connected": "●",
    "connecting": "…",
    "unreachable": "✖",
    "not responding": "⏸",
    "auth failed": "✖",
    "error": "✖",
}


class StatusBar(OneLine):
    DEFAULT_CSS = load_tcss(__file__, "status_bar.tcss")

    def __init__(self, host: str, read_only: bool) -> None:
        super().__init__(id="statusbar")
        self.host = host
        self.read_only = read_only
        self.snapshots: list[Supervisord] = []
        #: supervisord name → why its refresh interval is longer than configured
        self.notes: dict[str, str] = {}

    def show(self, snapshots: list[Supervisord], notes: dict[str, str] | None = None) -> None:
        self.snapshots = snapshots
        self.notes = dict(notes or {})
        self.show_line(self.render_text())

    def on_resize(self) -> None:
        self.show_line(self.render_text())

    def render_text(self) -> Text:
        """The full line if it fits the width, else a shorter form (counts matter most)."""
        width = self.size.width or 80
        for compact in (0, 1, 2, 3):
            text = self._line(compact)
            if text.cell_len <= width:
                return text
        return text

    def _line(self, compact: int) -> Text:
        theme = app_theme(self.app)
        t = Text(no_wrap=True, overflow="ellipsis")
        if self.read_only:
            t.append(" READ-ONLY ", style="bold reverse")
            t.append(" ")
        if compact < 2:
            t.append("opsconsole ", style="bold")
        t.append(f"{self.host} ")
        procs: list[Program] = []
        for snap in self.snapshots:
            symbol = STATUS_SYMBOL.get(snap.status, "?")
            role = {"connected": "success", "connecting": "dim"}.get(snap.status, "bold error")
            t.append("│ ", style="dim")
            t.append(f"{snap.name} ")
            word = snap.status
            if snap.reachable and snap.version:
                word = snap.version if compact else f"supervisor {snap.version}"
            note = self.notes.get(snap.name, "")
            if note:  # a slow supervisord: the interval it stretched to says more than the version
                if compact == 3:  # refresh 3.5s (slow: 350 ms)
                    note = note.replace("supervisord slow", "slow").replace("ms/answer", "ms")
                word = note
                role = "warning"
            t.append(f"{symbol} {word} ", style=role_style(theme, role))
            procs.extend(snap.programs)
        counts = state_counts(procs)
        if counts:
            t.append("│ ", style="dim")
            for i, (state, n) in enumerate(counts.items()):
                if i:
                    t.append(" · " if compact < 2 else "·", style="dim")
                _, role = state_role(state)
                t.append(f"{n} {state}", style=role_style(theme, role))
        return t
