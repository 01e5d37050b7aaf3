"""Figure 8: one refresh of the gunicorn tree with 32 workers vs one psutil pass over the same
pids.

opsconsole: ``GunicornScanner.scan`` (the gunicorn view's refresh: the masters' workers, CPU,
RSS, threads, connections, heartbeats). Between full discoveries (every
``gunicorn.DISCOVERY_SECONDS``, or when something changed) a scan re-reads only the known
masters' children; the full discovery, which walks every process on the machine, is timed
separately and reported in the notes, with its share of a refresh interval. It sees every
gunicorn master on the machine, so the baseline covers the same pids: every master and worker
that scan returned,
each read once with psutil (CPU times and memory, one ``oneshot``, Process objects kept
between passes as any refresher would). Both alternate in the same loop; ratio of medians.

Without the gunicorn backend: ``procs.UsageSampler.tree`` of the web master, marked as such.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

from benchmarks.common import BenchContext, Row, median, ms, spread, standalone, web_master
from opsconsole.core.procs import UsageSampler
from opsconsole.core.supervisor import ProcessInfo

FIGURE = "tree refresh, 32 workers"
TARGET = 1.5


def _psutil_pass(pids: list[int]) -> Callable[[], None]:
    cache = {}
    for pid in pids:
        try:
            cache[pid] = psutil.Process(pid)
        except psutil.Error:
            continue  # gone since the scan (another master on this shared machine)

    def one_pass() -> None:
        for p in cache.values():
            try:
                with p.oneshot():
                    p.cpu_times()
                    p.memory_info()
            except psutil.Error:
                continue

    return one_pass


def _alternate(
    a: Callable[[], object], b: Callable[[], object], reps: int
) -> tuple[list[float], list[float]]:
    ta: list[float] = []
    tb: list[float] = []
    a()
    b()
    for i in range(reps):
        for which in (0, 1) if i % 2 == 0 else (1, 0):
            fn, out = (a, ta) if which == 0 else (b, tb)
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
    return ta, tb


def run(ctx: BenchContext) -> list[Row]:
    stack = ctx.need_stack()
    reps = 30 if ctx.quick else 100
    master = web_master(stack)
    workers = master.children()
    sampler = UsageSampler()
    web_pids = [master.pid] + [w.pid for w in workers]
    sampler_times, sampler_base = _alternate(
        lambda: sampler.tree(master.pid), _psutil_pass(web_pids), reps
    )
    sampler_note = (
        f"procs.UsageSampler.tree(web master): {ms(median(sampler_times))} vs "
        f"{ms(median(sampler_base))} ({median(sampler_times) / median(sampler_base):.2f}×)"
    )
    try:
        from opsconsole.core.gunicorn import GunicornScanner
    except ImportError:
        ratio = median(sampler_times) / median(sampler_base)
        return [
            Row(
                8,
                FIGURE,
                measured=f"{ms(median(sampler_times))} (UsageSampler.tree)",
                baseline=f"{ms(median(sampler_base))} psutil pass over {len(web_pids)} pids",
                ratio=ratio,
                target=f"≤ {TARGET}×",
                meets=ratio <= TARGET,
                notes=["no gunicorn backend: UsageSampler.tree of the web master"],
            )
        ]
    programs = [
        ProcessInfo.from_rpc(p, "bench") for p in stack.rpc().supervisor.getAllProcessInfo()
    ]
    scanner = GunicornScanner()
    masters = scanner.scan(programs)
    web = [m for m in masters if m.pid == master.pid]
    if not web or len(web[0].workers) != len(workers):
        raise RuntimeError("the scan did not find the web master with all its workers")
    pids = [pid for m in masters for pid in [m.pid, *(w.pid for w in m.workers)]]
    scans, base = _alternate(lambda: scanner.scan(programs), _psutil_pass(pids), reps)
    ratio = median(scans) / median(base)
    discoveries = []
    for _ in range(max(3, reps // 5)):
        started = time.perf_counter()
        scanner.scan(programs, full=True)
        discoveries.append(time.perf_counter() - started)
    from opsconsole.core.gunicorn import DISCOVERY_SECONDS

    return [
        Row(
            8,
            FIGURE,
            measured=f"{ms(median(scans))} (GunicornScanner.scan)",
            baseline=f"{ms(median(base))} psutil pass over the same {len(pids)} pids",
            ratio=ratio,
            target=f"≤ {TARGET}×",
            meets=ratio <= TARGET,
            notes=[
                f"median of {reps} alternating pairs; scan {spread(scans)}",
                f"a full discovery (every process on the machine) takes "
                f"{ms(median(discoveries))} and runs every {DISCOVERY_SECONDS:.0f} s "
                f"or on a change",
                f"the scan found {len(masters)} gunicorn masters on the machine "
                f"({len(pids)} pids; web has {len(web[0].workers)} workers)",
                sampler_note,
            ],
        )
    ]


if __name__ == "__main__":
    raise SystemExit(standalone(run, needs_stack=True))
