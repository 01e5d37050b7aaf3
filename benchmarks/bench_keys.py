"""Figure 13: key press to the next frame, 300 programs on screen and 3 logs followed.

In a fresh process the console runs headless (``run_test`` at 120x40) on the scaled stack
with three growing log files followed in its logs view (a writer appends to each all the
time), then shows the programs view. ``j`` and ``k`` are pressed one at a time at random
moments of the refresh cycle (so some land while a refresh is being decoded and drawn); each
time is from posting the key to the first frame written with the cursor on its new row (the
app's ``_display`` is wrapped to note when each frame goes out and where the cursor was).

Noted as well, in the same run: how long the app takes in one refresh on the main thread
(its handler: the status bar and the program list), the longest a refresh can hold up a
key that arrives while it is drawn.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    TERM_SIZE,
    BenchContext,
    Row,
    log_lines,
    ms,
    standalone,
)

FIGURE = "key press → next frame, 300 programs + 3 logs followed"
TARGET_MEDIAN = 0.050
TARGET_MAX = 0.150


def _writer(paths: list[str], stop: threading.Event) -> None:
    """Append a few lines to each log 20 times a second until ``stop``."""
    n = 0
    while not stop.is_set():
        for i, path in enumerate(paths):
            with open(path, "ab") as fh:
                fh.write(log_lines(5, start=i * 1_000_000 + n))
        n += 5
        stop.wait(0.05)


async def _child(conf: str, expected: int, files: list[str], presses: int) -> dict[str, Any]:
    from opsconsole.core.config import AppConfig, load_supervisor_config
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.widgets.logs import LogsView
    from opsconsole.tui.widgets.programs import ProgramsView

    target = load_supervisor_config(Path(conf))
    app = OpsConsoleApp(AppConfig(supervisors=[target], log_files=files), audit=False)
    frames: list[tuple[float, int]] = []
    refreshes: list[float] = []
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(files, stop), daemon=True)
    async with app.run_test(size=TERM_SIZE) as pilot:
        view = app.query_one(ProgramsView)
        while sum(1 for r in view.rows if r.proc is not None) < expected:
            await pilot.pause(0.05)
        await pilot.press("4")
        logs = app.query_one(LogsView)
        logs.open_sources(files)
        writer.start()
        await pilot.pause(2.0)
        await pilot.press("1")
        await pilot.pause(1.0)
        table = view.table
        display = app._display

        def noting(screen: Any, renderable: Any) -> None:
            frames.append((time.perf_counter(), table.cursor_row))
            display(screen, renderable)

        app._display = noting  # type: ignore[method-assign]
        handler = app.refresh_header  # what the app does with each refresh

        def timed() -> None:
            started = time.perf_counter()
            handler()
            refreshes.append(time.perf_counter() - started)

        app.refresh_header = timed  # type: ignore[method-assign]
        rng = random.Random(16)
        latencies: list[float] = []
        key = "j"
        for _ in range(presses):
            await asyncio.sleep(rng.uniform(0.05, 1.0))  # a random point of the cycle
            before = table.cursor_row
            key = "k" if before > 20 else ("j" if before < 2 else key)
            want = before + (1 if key == "j" else -1)
            posted = time.perf_counter()
            await pilot.press(key)
            deadline = time.perf_counter() + 5
            seen = None
            while seen is None and time.perf_counter() < deadline:
                seen = next((t for t, row in frames if t >= posted and row == want), None)
                if seen is None:
                    await asyncio.sleep(0.001)
            if seen is not None:
                latencies.append(seen - posted)
        stop.set()
        writer.join()
        followed = sum(1 for s in logs.log_view.stream.sources) if logs.log_view.stream else 0
    return {"latencies": latencies, "refreshes": refreshes, "followed": followed}


def run(ctx: BenchContext) -> list[Row]:
    stack = ctx.need_stack()
    presses = 30 if ctx.quick else 60
    files = [str(ctx.workdir / f"keys-{i}.log") for i in range(3)]
    for i, path in enumerate(files):
        Path(path).write_bytes(log_lines(2_000, start=i * 1_000_000))
    argv = [
        sys.executable,
        "-m",
        "benchmarks.bench_keys",
        "--child",
        str(stack.conf_path),
        str(ctx.program_count()),
        str(presses),
        *files,
    ]
    out = subprocess.run(
        argv, capture_output=True, text=True, env=ctx.isolated_env(), timeout=600, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"the keys child failed: {out.stderr.strip()[-800:]}")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    lat = sorted(float(x) for x in got["latencies"])
    if not lat:
        raise RuntimeError("no key press reached the screen")
    refresh = sorted(float(x) for x in got["refreshes"])
    med, worst = statistics.median(lat), lat[-1]
    p90 = lat[int(0.9 * (len(lat) - 1))]
    return [
        Row(
            13,
            FIGURE,
            measured=f"{ms(med)} median (p90 {ms(p90)}, max {ms(worst)})",
            baseline="—",
            target=f"median ≤ {ms(TARGET_MEDIAN)}, max ≤ {ms(TARGET_MAX)}",
            meets=med <= TARGET_MEDIAN and worst <= TARGET_MAX,
            notes=[
                f"{len(lat)} of {presses} presses (j/k) at random points of the 1 s refresh "
                f"cycle, headless run_test {TERM_SIZE[0]}x{TERM_SIZE[1]}, programs view",
                f"{got['followed']} logs followed in the logs view, each growing 100 lines/s",
                "from posting the key to the first frame written with the cursor moved",
                "one refresh taken in on the main thread (status bar + program list): "
                + (
                    f"median {ms(statistics.median(refresh))}, max {ms(refresh[-1])}"
                    if refresh
                    else "none seen"
                ),
            ],
        )
    ]


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--child":
        result = asyncio.run(_child(sys.argv[2], int(sys.argv[3]), sys.argv[5:], int(sys.argv[4])))
        print(json.dumps(result), flush=True)
        raise SystemExit(0)
    raise SystemExit(standalone(run, needs_stack=True))
