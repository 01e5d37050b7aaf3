"""``make bench``: every figure against its same-run baseline; prints the table and writes
it, with the machine's description, to benchmarks/RESULTS.md.

The scaled stack (300 extra programs, 32 web workers) is started once, shared by the
benchmarks that need it, and stopped before the first that runs its own hosts (the fleet's:
eleven supervisords of 300 programs, as its figure says; all on this machine, every agent
would also see, probe and push the stack's gunicorn and nginx) or at the end, whatever
happens. A benchmark that fails is
reported in the table as not measured, with the error; the others still run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from benchmarks import (
    bench_first_frame,
    bench_fleet,
    bench_follow,
    bench_idle,
    bench_keys,
    bench_open_big,
    bench_refresh,
    bench_scale,
    bench_scrape,
    bench_supervisord_load,
    bench_tree,
)
from benchmarks.common import (
    BenchContext,
    Row,
    exit_on_signals,
    machine_description,
    render_table,
    start_scaled_stack,
)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

#: (module, row numbers it produces, figure names for a failure row) in running order.
BENCHES: list[tuple[ModuleType, list[tuple[int, str]]]] = [
    (bench_refresh, [(1, bench_refresh.FIGURE)]),
    (bench_scrape, [(10, bench_scrape.FIGURE)]),
    (bench_tree, [(8, bench_tree.FIGURE)]),
    (bench_scale, [(7, bench_scale.FIGURE)]),
    (bench_first_frame, [(3, bench_first_frame.FIGURE)]),
    (bench_idle, [(2, bench_idle.FIGURE_CPU), (4, bench_idle.FIGURE_RSS)]),
    (bench_keys, [(13, bench_keys.FIGURE)]),
    (bench_supervisord_load, [(14, bench_supervisord_load.FIGURE)]),
    (bench_follow, [(5, bench_follow.FIGURE)]),
    (bench_open_big, [(6, bench_open_big.FIGURE)]),
    # its own hosts (11 supervisords x 300 programs behind a local sshd), not the stack
    (bench_fleet, [(11, bench_fleet.FIGURE_CPU), (12, bench_fleet.FIGURE_KEY)]),
]
#: the benchmarks that run on hosts of their own: the stack is stopped before them (they
#: come last)
WITHOUT_STACK = (bench_fleet,)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _run_one(
    module: ModuleType, rows: list[tuple[int, str]], ctx: BenchContext
) -> tuple[list[Row], float]:
    name = module.__name__.rsplit(".", 1)[-1]
    started = time.monotonic()
    run: Callable[[BenchContext], list[Row]] = module.run
    try:
        result = run(ctx)
    except Exception as exc:  # one broken benchmark must not hide the others
        traceback.print_exc(file=sys.stderr)
        result = [
            Row(number, figure, measured="not measured", notes=[f"{name} failed: {exc}"])
            for number, figure in rows
        ]
    return result, time.monotonic() - started


def write_results(
    rows: list[Row], machine: list[tuple[str, str]], seconds: float, quick: bool
) -> str:
    lines = [
        "# opsconsole benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks.run_all`). Every figure is measured "
        "against a baseline in the same run (median of several repetitions), because the "
        "machine is shared and absolute numbers are noisy. A figure that misses its target "
        'says NO in "meets target".',
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine],
        "",
        "## Results",
        "",
        render_table(rows),
        "",
        f"Total run time {seconds / 60:.1f} min"
        + (" (--quick: fewer repetitions, 30 s idle window)." if quick else "."),
        "",
        "Scaled stack: the demo stack with 300 extra programs (`/bin/sleep`) and 32 gunicorn "
        "sync workers for `web`. Each figure's script says how it is measured "
        "(`benchmarks/bench_*.py`) and runs alone with `python -m benchmarks.bench_<name>`.",
        "",
    ]
    text = "\n".join(lines)
    RESULTS.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_all")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, 30 s idle")
    args = parser.parse_args(argv)
    exit_on_signals()
    started = time.monotonic()
    machine = machine_description()
    _log("starting the scaled demo stack (300 extra programs, 32 web workers) ...")
    stack = start_scaled_stack()
    ctx = BenchContext(stack, quick=args.quick, idle_seconds=30.0 if args.quick else 60.0)
    rows: list[Row] = []
    try:
        _log(f"stack up in {time.monotonic() - started:.0f} s")
        for module, names in BENCHES:
            if module in WITHOUT_STACK and ctx.stack is not None:
                _log("stopping the stack (the next benchmarks run their own hosts) ...")
                stack.stop()
                ctx.stack = None
            _log(f"running {module.__name__} ...")
            result, seconds = _run_one(module, names, ctx)
            rows.extend(result)
            for row in result:
                _log(f"  {row.number}: {row.measured} | {row.ratio_text} | {row.meets_text}")
            _log(f"  ({seconds:.0f} s)")
    finally:
        _log("stopping the stack ...")
        stack.stop()
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    text = write_results(rows, machine, time.monotonic() - started, args.quick)
    print(text)
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
