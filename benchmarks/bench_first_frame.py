"""Figure 3: time from launch to the first full frame, headless.

opsconsole: a fresh Python process starts ``OpsConsoleApp(config).run_test()`` (headless) and
says ``READY`` as soon as the program table holds a row for every program; the time is taken
by the parent from spawning the process to reading that line (interpreter start and imports
included, as for the baseline). Baseline: the wall time of ``supervisorctl -c CONF status``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import (
    TERM_SIZE,
    BenchContext,
    Row,
    median,
    run_child,
    secs,
    standalone,
    supervisorctl,
)

FIGURE = "launch to first full frame (headless), 300 programs"
TARGET = 3.0


async def _child(conf: str, expected: int) -> float:
    started = time.perf_counter()
    from opsconsole.core.config import AppConfig, load_supervisor_config
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.widgets.programs import ProgramsView

    target = load_supervisor_config(Path(conf))
    app = OpsConsoleApp(AppConfig(supervisors=[target]), audit=False)
    async with app.run_test(size=TERM_SIZE) as pilot:
        view = app.query_one(ProgramsView)
        while True:
            shown = sum(1 for r in view.rows if r.proc is not None)
            if shown >= expected and view.table.row_count == len(view.rows):
                break
            await pilot.pause(0.005)
        await pilot.pause()  # let the frame with those rows be composed
        elapsed = time.perf_counter() - started
        print(f"READY {elapsed:.6f}", flush=True)
    return elapsed


def _launch_app(ctx: BenchContext, expected: int) -> tuple[float, float]:
    """(spawn → READY wall time, in-process app start → READY)."""
    argv = [
        sys.executable,
        "-m",
        "benchmarks.bench_first_frame",
        "--child",
        str(ctx.need_stack().conf_path),
        str(expected),
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ctx.isolated_env(), text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    seen = time.perf_counter() - started
    _, err = proc.communicate(timeout=60)
    if not line.startswith("READY"):
        raise RuntimeError(f"the headless console did not get ready: {err.strip()[-500:]}")
    return seen, float(line.split()[1])


def run(ctx: BenchContext) -> list[Row]:
    stack = ctx.need_stack()
    reps = 3 if ctx.quick else 5
    expected = ctx.program_count()
    ctl = [supervisorctl(), "-c", str(stack.conf_path), "status"]
    run_child(ctl)  # warm the page cache for both
    _launch_app(ctx, expected)
    ours: list[float] = []
    inner: list[float] = []
    base: list[float] = []
    for _ in range(reps):
        seen, in_app = _launch_app(ctx, expected)
        ours.append(seen)
        inner.append(in_app)
        base.append(run_child(ctl).seconds)
    ratio = median(ours) / median(base)
    return [
        Row(
            3,
            FIGURE,
            measured=f"{secs(median(ours))} spawn → all {expected} rows",
            baseline=f"{secs(median(base))} supervisorctl status",
            ratio=ratio,
            target=f"≤ {TARGET:g}×",
            meets=ratio <= TARGET,
            notes=[
                f"median of {reps}; both include interpreter start and imports",
                f"imports + app start → rows inside the process: {secs(median(inner))}",
                f"headless run_test at {TERM_SIZE[0]}x{TERM_SIZE[1]}",
            ],
        )
    ]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        asyncio.run(_child(sys.argv[2], int(sys.argv[3])))
        raise SystemExit(0)
    raise SystemExit(standalone(run, needs_stack=True))
