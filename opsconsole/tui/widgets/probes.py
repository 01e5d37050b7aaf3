"""One line of health probes: status and latency with a sparkline, next to process state."""

from __future__ import annotations

from rich.text import Text

from opsconsole.core.probes import ProbeState
from opsconsole.tui.styles import app_theme, role_style
from opsconsole.tui.tcss import load_tcss
from opsconsole.tui.widgets.oneline import OneLine

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 8, zero: str = "✖") -> str:
    """Unicode bars for the last ``width`` values; 0 (a failed probe) shows as ``zero``."""
    tail = values[-width:]
    if not tail:
        return ""
    top = max(tail) or 1.0
    return "".join(zero if v <= 0 else BARS[min(7, int(v / top * 7))] for v in tail)


class ProbeStrip(OneLine):
    DEFAULT_CSS = load_tcss(__file__, "probe_strip.tcss")

    def show(self, states: list[ProbeState]) -> None:
        """Draw the probes on one line; no probes hides the line (the tabs move up)."""
        self.set_shown(bool(states))
        theme = app_theme(self.app)
        t = Text(no_wrap=True, overflow="ellipsis")
        for i, state in enumerate(states):
            last = state.last
            if i:
                t.append(" │ ", style="dim")
            if last is None:
                t.append(f"… {state.probe.name}", style="dim")
                continue
            symbol, role = ("✔", "success") if last.ok else ("✖", "bold error")
            t.append(f"{symbol} {state.probe.name} ", style=role_style(theme, role))
            if last.status is None:
                t.append(last.error or "no answer", style=role_style(theme, role))
            else:
                t.append(f"{last.status} {last.latency * 1000:.0f}ms")
            t.append(" " + sparkline(state.latencies_ms()), style="dim")
        self.show_line(t)
