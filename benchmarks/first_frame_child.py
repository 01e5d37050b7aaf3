"""Figure 3's console process: ``python -m benchmarks.first_frame_child CONF N WIDTH HEIGHT``.

It imports what ``opsconsole tui -c CONF`` imports and nothing of the benchmark harness
(:mod:`benchmarks.common` brings psutil, the demo stack and argparse, which would be counted
as the console's start-up), starts ``OpsConsoleApp(config).run_test()`` headless and prints
``READY <seconds> <cpu>`` as soon as the program table holds a row for each of the N programs
and that frame is composed (the seconds from this module's first line, imports included; the
process's CPU seconds, all threads, from its start).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import asyncio  # noqa: E402 - the clock starts before any import
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


async def first_frame(conf: str, expected: int, size: tuple[int, int]) -> float:
    from opsconsole.core.config import AppConfig, load_supervisor_config
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.widgets.programs import ProgramsView

    target = load_supervisor_config(Path(conf))
    app = OpsConsoleApp(AppConfig(supervisors=[target]), audit=False)
    async with app.run_test(size=size) as pilot:
        view = app.query_one(ProgramsView)
        while True:
            shown = sum(1 for r in view.rows if r.proc is not None)
            if shown >= expected and view.table.row_count == len(view.rows):
                break
            await pilot.pause(0.005)
        # the frame with those rows: what is pending handled, then the screen's update
        # rendered (Pilot.pause(0)); not Pilot.pause(), which waits until the whole process
        # is idle, i.e. also for the gunicorn and nginx scans that start after the first poll
        await pilot.pause(0)
        elapsed = time.perf_counter() - STARTED
        print(f"READY {elapsed:.6f} {time.process_time():.6f}", flush=True)
    return elapsed


if __name__ == "__main__":
    conf, count, width, height = sys.argv[1:5]
    asyncio.run(first_frame(conf, int(count), (int(width), int(height))))
