"""Figure 1: the cost of one supervisor refresh, client side included.

opsconsole: ``SupervisorMonitor.poll`` (httpx over the unix socket, XML-RPC decode, one
``ProcessInfo`` per program, the snapshot). Baseline: one raw ``getAllProcessInfo`` with the
stdlib ``xmlrpc.client`` over the same socket (as ``DemoStack.rpc()`` does it). Both are timed
alternately in the same loop, so they see the same noise; the row is the ratio of medians.

The client skips decoding an answer byte-identical to the previous one. At the console's
1 s refresh that never happens while anything runs (supervisord's ``now`` and every uptime
move each second), but in this tight loop most answers would be identical: so the row times
every poll with that memo dropped first (every answer decoded, the realistic case), and the
notes give the identical-answer path separately. The monitor's quiet check (an idle
supervisord of this machine is not asked at all, core/supervisor/quiet.py) is turned off here:
this figure is the cost of a refresh that asks; figures 2 and 14 show what the check saves.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.common import BenchContext, Row, median, ms, spread, standalone
from opsconsole.core.supervisor.monitor import SupervisorMonitor

FIGURE = "one supervisor refresh (client side included), 300 programs"
TARGET = 1.2


async def _measure(
    ctx: BenchContext, reps: int
) -> tuple[list[float], list[float], list[float], list[float], int]:
    stack = ctx.need_stack()
    target = ctx.target
    monitor = SupervisorMonitor([target], timeout=30.0)
    monitor.quiet[target.name].full_every = 0  # every poll asks (see the docstring)
    proxy = stack.rpc()
    ours: list[float] = []
    ours_cpu: list[float] = []
    same: list[float] = []
    raw: list[float] = []
    raw_cpu: list[float] = []
    count = 0
    try:
        # Warm-up: connections opened, server identity fetched (the monitor asks for it on
        # the first poll and then every 30 s), caches filled.
        for _ in range(3):
            await monitor.poll(target.name)
            proxy.supervisor.getAllProcessInfo()
        for i in range(reps):
            for which in ("ours", "raw") if i % 2 == 0 else ("raw", "ours"):
                if which == "ours":
                    monitor.client(target.name).forget_last_answer()
                c0, t0 = time.process_time(), time.perf_counter()
                if which == "ours":
                    snap = await monitor.poll(target.name)
                    if not snap.ok:
                        raise RuntimeError(f"poll failed: {snap.error}")
                    count = len(snap.processes)
                    ours.append(time.perf_counter() - t0)
                    ours_cpu.append(time.process_time() - c0)
                else:
                    result = proxy.supervisor.getAllProcessInfo()
                    raw.append(time.perf_counter() - t0)
                    raw_cpu.append(time.process_time() - c0)
                    if len(result) != count and count:
                        raise RuntimeError("the two calls saw different program lists")
            # the identical-answer path: a second poll right after (kept when it was)
            t0 = time.perf_counter()
            snap = await monitor.poll(target.name)
            if snap.unchanged:
                same.append(time.perf_counter() - t0)
    finally:
        await monitor.aclose()
    return ours, raw, ours_cpu, raw_cpu, same, count


def run(ctx: BenchContext) -> list[Row]:
    reps = 15 if ctx.quick else 40
    ours, raw, ours_cpu, raw_cpu, same, count = asyncio.run(_measure(ctx, reps))
    ratio = median(ours) / median(raw)
    cpu_ratio = median(ours_cpu) / median(raw_cpu)
    return [
        Row(
            1,
            FIGURE,
            measured=f"{ms(median(ours))} (SupervisorMonitor.poll)",
            baseline=f"{ms(median(raw))} (stdlib xmlrpc getAllProcessInfo)",
            ratio=ratio,
            target=f"≤ {TARGET}×",
            meets=ratio <= TARGET,
            notes=[
                f"wall time, median of {reps} alternating pairs, {count} programs; every "
                "answer decoded (the memo of the last answer dropped before each poll)",
                f"poll {spread(ours)}, raw {spread(raw)}",
                f"client CPU per call: poll {ms(median(ours_cpu))}, raw {ms(median(raw_cpu))} "
                f"({cpu_ratio:.2f}×)",
                (
                    f"an answer byte-identical to the last one is not decoded: such a poll "
                    f"took {ms(median(same))} ({median(same) / median(raw):.2f}× raw; "
                    f"{len(same)} of {reps} quick second polls were identical)"
                    if same
                    else "no quick second poll got a byte-identical answer"
                ),
            ],
        )
    ]


if __name__ == "__main__":
    raise SystemExit(standalone(run, needs_stack=True))
