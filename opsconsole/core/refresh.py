"""How often the console refreshes, and what it keeps between refreshes (no Textual): the
interval stretched for a slow supervisord, and the recent results of every probe."""

from __future__ import annotations

import math
from collections import deque

from opsconsole.core.host import ProbesSnapshot
from opsconsole.core.probes import Probe, ProbeResult, ProbeState

#: a slow supervisord is refreshed at least this often (seconds) all the same
MAX_INTERVAL = 30.0


def refresh_interval(refresh: float, latency: float) -> float:
    """The refresh interval when supervisord took ``latency`` seconds to answer: the
    configured ``refresh`` while an answer takes at most a tenth of it, else ten times the
    answer's time (rounded up to half a second), so that the console's calls never take
    more than a tenth of supervisord's time (it is single-threaded and serves every client)."""
    if latency <= refresh / 10:
        return refresh
    return min(max(refresh, math.ceil(latency * 20) / 2), max(refresh, MAX_INTERVAL))


def refresh_note(refresh: float, interval: float, latency: float) -> str:
    """What the status bar says about a stretched interval ("" when it is the configured
    one): ``refresh 3.5s (supervisord slow: 350 ms/answer)``."""
    if interval <= refresh:
        return ""
    return f"refresh {interval:g}s (supervisord slow: {latency * 1000:.0f} ms/answer)"


class ProbeHistory:
    """The recent results of the host's probes, per probe (a ProbesSnapshot holds only the
    latest round): what the probe line draws its sparkline from."""

    def __init__(self, keep: int = 120) -> None:
        self.keep = keep
        self.states: dict[str, ProbeState] = {}

    def record(self, snap: ProbesSnapshot) -> list[tuple[ProbeResult, ProbeResult | None]]:
        """Add a round; return (new result, previous result) pairs. Probes the host no
        longer runs are dropped; those that stay keep their history."""
        states: dict[str, ProbeState] = {}
        out: list[tuple[ProbeResult, ProbeResult | None]] = []
        for o in snap.results:
            state = self.states.get(o.name)
            if state is None:
                state = ProbeState(Probe(o.name, o.url), deque(maxlen=self.keep))
            elif state.probe.url != o.url:
                state.probe = Probe(o.name, o.url)
            previous = state.last
            result = ProbeResult(o.name, o.at, o.ok, o.status, o.latency, o.error)
            state.history.append(result)
            states[o.name] = state
            out.append((result, previous))
        self.states = states
        return out
