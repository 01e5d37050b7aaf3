"""``make screenshots``: SVGs of each main screen, driven against the real demo stack.

Usage: python -m opsconsole.demo.screenshots OUTPUT_DIR
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.demo.stack import DemoStack

#: (file stem, keys pressed from the program list, terminal size)
SHOTS: list[tuple[str, list[str], tuple[int, int]]] = [
    ("programs-80x24", [], (80, 24)),
    ("programs-160x48", [], (160, 48)),
    ("help", ["question_mark"], (80, 24)),
    ("confirm-restart", ["down", "r"], (80, 24)),
    ("events", ["5"], (80, 24)),
]


async def shoot(stack: DemoStack, out: Path) -> list[Path]:
    from opsconsole.tui.app import OpsConsoleApp

    written = []
    for stem, keys, size in SHOTS:
        cfg = AppConfig(
            supervisors=[
                SupervisorTarget("demo", stack.socket_url, stack.username, stack.password)
            ],
            refresh=0.5,
        )
        app = OpsConsoleApp(cfg, audit=False)
        async with app.run_test(size=size) as pilot:
            for _ in range(60):
                await pilot.pause(0.1)
                if app.monitor.snapshots["demo"].ok and app.usage:
                    break
            await pilot.pause(1.2)  # a second CPU sample
            for key in keys:
                await pilot.press(key)
                await pilot.pause(0.3)
            path = out / f"{stem}.svg"
            path.write_text(app.export_screenshot(title=f"opsconsole — {stem}"))
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with DemoStack() as stack:
        # Some history for the events view: a restart and a stop.
        rpc = stack.rpc()
        rpc.supervisor.startProcess("idle")
        rpc.supervisor.stopProcess("idle")
        for path in asyncio.run(shoot(stack, out)):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
