"""Tears the demo stack down when the console that started it dies without cleaning up.

Run as ``python -m opsconsole.demo.watchdog PARENT_PID STACK_DIR`` (:func:`guarding` does it).
It polls the parent; when the parent is gone (SIGKILL, crash), it stops every process whose
command line names the directory (the stack's, a fleet's, a test's private sshd). The console
kills the watchdog after a normal teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def guarding(directory: Path) -> Iterator[None]:
    """A watchdog for ``directory`` while the block runs: if this process dies without
    leaving the block, the watchdog tears down what runs from there. Tear down inside the
    block; the watchdog is dismissed after it (an interrupted teardown is finished by it)."""
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "opsconsole.demo.watchdog", str(os.getpid()), str(directory)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        watchdog.kill()
        watchdog.wait()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
