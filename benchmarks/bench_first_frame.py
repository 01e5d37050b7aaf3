"""Figure 3: time from launch to the first full frame, headless.

opsconsole: a fresh Python process (:mod:`benchmarks.first_frame_child`) starts
``OpsConsoleApp(config).run_test()`` (headless) and says ``READY`` as soon as the program table
holds a row for every program; the time is taken by the parent from spawning the process to
reading that line (interpreter start and imports included, as for the baseline). Baseline: the
wall time of ``supervisorctl -c CONF status``.

How it is measured (changed in the start-up round, issue #16): the console process imports
only what ``opsconsole tui`` imports (it used to import this module, hence the harness's
:mod:`benchmarks.common` with the demo stack, counted as the console's start-up); and both
processes run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` is dropped from their
environment), so the warm-up launch leaves each changed module compiled as an installed
package has it (with the variable set, every module edited since its ``.pyc`` was written was
compiled from source at every measured launch); and the frame is taken once rendered
(``Pilot.pause(0)``: the pending messages handled, then the screen's update rendered), where it
used to wait for the whole process to be idle for 20 ms (``Pilot.pause()``), i.e. also for the
gunicorn and nginx scans that start after the first poll, none of which is on that frame.
"""

from __future__ import annotations

import subprocess
import sys
import time

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


def _env(ctx: BenchContext) -> dict[str, str]:
    """The children's environment, with bytecode caching on (see the module's docstring)."""
    env = ctx.isolated_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _launch_app(ctx: BenchContext, expected: int) -> tuple[float, float, float]:
    """(spawn → READY wall time, the child's first line → READY, its CPU seconds then)."""
    argv = [
        sys.executable,
        "-m",
        "benchmarks.first_frame_child",
        str(ctx.need_stack().conf_path),
        str(expected),
        *(str(n) for n in TERM_SIZE),
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(ctx), text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    seen = time.perf_counter() - started
    _, err = proc.communicate(timeout=60)
    if not line.startswith("READY"):
        raise RuntimeError(f"the headless console did not get ready: {err.strip()[-500:]}")
    _, inner, cpu = line.split()
    return seen, float(inner), float(cpu)


def run(ctx: BenchContext) -> list[Row]:
    stack = ctx.need_stack()
    reps = 3 if ctx.quick else 5
    expected = ctx.program_count()
    ctl = [supervisorctl(), "-c", str(stack.conf_path), "status"]
    run_child(ctl, env=_env(ctx))  # warm the page cache (and the bytecode) for both
    _launch_app(ctx, expected)
    ours: list[float] = []
    inner: list[float] = []
    cpu: list[float] = []
    base: list[float] = []
    base_cpu: list[float] = []
    for _ in range(reps):
        seen, in_app, used = _launch_app(ctx, expected)
        ours.append(seen)
        inner.append(in_app)
        cpu.append(used)
        ctl_run = run_child(ctl, env=_env(ctx))
        base.append(ctl_run.seconds)
        base_cpu.append(ctl_run.cpu)
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
                f"CPU to that frame {secs(median(cpu))} (supervisorctl: {secs(median(base_cpu))})",
                "the console process imports only what opsconsole tui does; bytecode cached",
                f"headless run_test at {TERM_SIZE[0]}x{TERM_SIZE[1]}",
            ],
        )
    ]


if __name__ == "__main__":
    raise SystemExit(standalone(run, needs_stack=True))
