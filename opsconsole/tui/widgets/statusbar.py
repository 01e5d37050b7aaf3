"""The top line: host, supervisord connection state, per-state counts, READ-ONLY badge."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from opsconsole.core.monitor import ServerSnapshot
from opsconsole.core.supervisor import state_counts

STATUS_SYMBOL = {
    "connected": "●",
    "connecting": "…",
    "unreachable": "✖",
    "not responding": "⏸",
    "auth failed": "✖",
    "error": "✖",
}

STATE_STYLE = {
    "RUNNING": "green",
    "STARTING": "cyan",
    "STOPPING": "cyan",
    "STOPPED": "dim",
    "EXITED": "yellow",
    "BACKOFF": "bold yellow",
    "FATAL": "bold red",
    "UNKNOWN": "bold red",
}


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $foreground; }
    """

    def __init__(self, host: str, read_only: bool) -> None:
        super().__init__(id="statusbar")
        self.host = host
        self.read_only = read_only
        self.snapshots: list[ServerSnapshot] = []

    def show(self, snapshots: list[ServerSnapshot]) -> None:
        self.snapshots = snapshots
        self.update(self.render_text())

    def render_text(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        if self.read_only:
            t.append(" READ-ONLY ", style="bold reverse")
            t.append(" ")
        t.append("opsconsole", style="bold")
        t.append(f" {self.host} ")
        procs = []
        for snap in self.snapshots:
            symbol = STATUS_SYMBOL.get(snap.status, "?")
            style = {"connected": "green", "connecting": "dim"}.get(snap.status, "bold red")
            t.append("│ ", style="dim")
            t.append(f"{snap.name} ")
            word = snap.status
            if snap.ok and snap.info:
                word = f"supervisor {snap.info.version}"
            t.append(f"{symbol} {word} ", style=style)
            procs.extend(snap.processes)
        counts = state_counts(procs)
        if counts:
            t.append("│ ", style="dim")
            for i, (state, n) in enumerate(counts.items()):
                if i:
                    t.append(" · ", style="dim")
                t.append(f"{n} {state}", style=STATE_STYLE.get(state, ""))
        return t
