"""Figure 4's console process: ``python -m benchmarks.rss_child CONF N FILE...``.

Like :mod:`benchmarks.first_frame_child` for figure 3, it imports what ``opsconsole tui``
imports and nothing of the benchmark harness (:mod:`benchmarks.common` brings the demo stack,
argparse, statistics ..., ~1 MB that is not the console's): the console headless with all N
programs shown, then the files followed through its logs view (``LogsView.open_sources``).
It prints ``OPEN`` once they are open; the parent then grows each file past the ring (the
writer is another process, as in life); it waits until the ring is full, lets three more
refreshes of the program list pass, and prints one JSON line: its RSS and peak RSS (from
``/proc/self/status``), the lines held and the ring's size.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def measure(conf: str, expected: int, files: list[str]) -> dict[str, Any]:
    from opsconsole.core.config import AppConfig, load_supervisor_config
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.widgets.logs import LogsView
    from opsconsole.tui.widgets.programs import ProgramsView

    target = load_supervisor_config(Path(conf))
    app = OpsConsoleApp(AppConfig(supervisors=[target], log_files=files), audit=False)
    async with app.run_test(size=(120, 40)) as pilot:
        programs = app.query_one(ProgramsView)
        while (
            sum(1 for r in programs.rows if r.proc is not None) < expected or not app.session.usage
        ):
            await pilot.pause(0.05)
        logs = app.query_one(LogsView)
        logs.open_sources(files)
        await pilot.pause(0.1)
        view = logs.log_view
        while view.stream is None or not len(view.lines_widget.store):  # the logs are open
            await pilot.pause(0.05)
        body = view.lines_widget
        ring = body.store.maxlen or 0
        print(f"OPEN {ring}", flush=True)  # the parent grows the files now
        deadline = time.monotonic() + 120
        while len(body.store) < ring and time.monotonic() < deadline:
            await pilot.pause(0.1)
        await pilot.pause(3.0)  # three more refreshes of the program list
        return {
            "rss": _status_kb("VmRSS") * 1024,
            "peak": _status_kb("VmHWM") * 1024,
            "held": len(body.store),
            "ring": ring,
            "how": "the console's logs view (LogsView.open_sources)",
        }


if __name__ == "__main__":
    conf, count, *paths = sys.argv[1:]
    print(json.dumps(asyncio.run(measure(conf, int(count), paths))), flush=True)
