"""Figure 9: one Prometheus scrape of ``opsconsole exporter`` against one supervisor refresh.

opsconsole: an HTTP GET of ``/metrics`` from a running exporter (its custom collector reads
every supervisord now, then writes every series: 300+ programs with one series per state,
32 workers, nginx, probes), as Prometheus would scrape it. Baseline: one supervisor refresh
(``SupervisorMonitor.poll``, what the TUI does every second) over the same socket. Both are
timed alternately in the same loop, so they see the same noise; the row is the ratio of
medians. The exporter's own loop (gunicorn, nginx, probes on their intervals) keeps running
meanwhile, as it does in production.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request

from benchmarks.common import BenchContext, Row, median, ms, spread, standalone
from opsconsole.cli.exporter import build_exporter
from opsconsole.core.config import AppConfig
from opsconsole.core.supervisor.monitor import SupervisorMonitor

FIGURE = "one exporter scrape vs one supervisor refresh, 300 programs"
TARGET = 1.5


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as response:
        return len(response.read())


def run(ctx: BenchContext) -> list[Row]:
    reps = 15 if ctx.quick else 40
    target = ctx.target
    exporter = build_exporter(AppConfig(supervisors=[target]), scrape_timeout=30.0)
    exporter.start()
    loop = asyncio.new_event_loop()
    monitor = SupervisorMonitor([target], timeout=30.0)
    # both ask supervisord every time (an idle one would otherwise not be asked by either:
    # core/supervisor/quiet.py); this figure compares what each does with the answer
    monitor.quiet[target.name].full_every = 0
    ours: list[float] = []
    base: list[float] = []
    size = series = 0
    try:
        addr, port = exporter.listen("127.0.0.1", 0)
        url = f"http://{addr}:{port}/metrics"
        for _ in range(3):  # warm-up: connections, identity, the first gunicorn/nginx samples
            size = _get(url)
            loop.run_until_complete(monitor.poll(target.name))
        for host in exporter.hosts:
            for check in getattr(getattr(host, "monitor", None), "quiet", {}).values():
                check.full_every = 0
        text = exporter.scrape().decode()
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        for i in range(reps):
            for which in ("ours", "base") if i % 2 == 0 else ("base", "ours"):
                t0 = time.perf_counter()
                if which == "ours":
                    size = _get(url)
                    ours.append(time.perf_counter() - t0)
                else:
                    snap = loop.run_until_complete(monitor.poll(target.name))
                    base.append(time.perf_counter() - t0)
                    if not snap.ok:
                        raise RuntimeError(f"poll failed: {snap.error}")
    finally:
        loop.run_until_complete(monitor.aclose())
        loop.close()
        exporter.stop()
    ratio = median(ours) / median(base)
    return [
        Row(
            10,
            FIGURE,
            measured=f"{ms(median(ours))} (GET /metrics)",
            baseline=f"{ms(median(base))} (SupervisorMonitor.poll)",
            ratio=ratio,
            target=f"≤ {TARGET}×",
            meets=ratio <= TARGET,
            notes=[
                f"wall time, median of {reps} alternating pairs, {ctx.program_count()} programs",
                f"{series} series, {size / 1024:.0f} KiB a scrape",
                f"scrape {spread(ours)}, refresh {spread(base)}",
            ],
        )
    ]


if __name__ == "__main__":
    raise SystemExit(standalone(run, needs_stack=True))
