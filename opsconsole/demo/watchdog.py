"""Tears the demo stack down when the console that started it dies without cleaning up.

Run as ``python -m opsconsole.demo.watchdog PARENT_PID STACK_DIR``. It polls the parent; when
the parent is gone (SIGKILL, crash), it stops the stack. The console kills the watchdog after
a normal teardown.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import psutil

from opsconsole.demo.stack import teardown


def main(argv: list[str]) -> int:
    parent, directory = int(argv[0]), Path(argv[1])
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        created = psutil.Process(parent).create_time()
    except psutil.Error:
        created = None
    while True:
        try:
            alive = created is not None and psutil.Process(parent).create_time() == created
        except psutil.Error:
            alive = False
        if not alive:
            # Even if the directory is already gone: its processes are found by the marker.
            teardown(directory)
            return 0
        if not directory.exists():
            return 0
        time.sleep(0.5)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
