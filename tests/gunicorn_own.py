"""A gunicorn master of a test's own, not under supervisor (found by the scan), to break."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from opsconsole.demo.stack import free_port
from tests.conftest import wait_for


@dataclass
class Own:
    """A gunicorn master of our own: ``-w 2`` and signals only (no control socket) unless
    :func:`start_own` was told otherwise."""

    proc: subprocess.Popen[bytes]
    dir: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL the master and its workers; reap the master (as supervisord would)."""
        children: list[psutil.Process] = []
        if self.proc.poll() is None:
            children = psutil.Process(self.pid).children()
            for child in children:
                try:
                    child.send_signal(signal.SIGCONT)
                except psutil.Error:
                    pass
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        # until the workers are reaped too, the master's pid is still their process group
        psutil.wait_procs(children, timeout=10)


def start_own(
    directory: Path,
    *,
    timeout: int = 10,
    name: str = "own",
    workers: int = 2,
    control_socket: Path | None = None,
) -> Own:
    """Start a master in ``directory`` and wait for its ``workers``; ``control_socket`` is
    the path it binds its control socket to (default: none)."""
    directory.mkdir(parents=True, exist_ok=True)
    ctl = ["--control-socket", str(control_socket)] if control_socket else ["--no-control-socket"]
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{free_port()}",
            "--timeout",
            str(timeout),
            "--name",
            name,
            "--error-logfile",
            "error.log",
            *ctl,
            "opsconsole.demo.wsgiapp:app",
        ],
        cwd=directory,
        env=dict(os.environ, XDG_RUNTIME_DIR=str(directory)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    own = Own(proc, directory)
    try:
        wait_for(lambda: len(psutil.Process(proc.pid).children()) == workers, timeout=20)
    except BaseException:
        own.kill()
        raise
    return own
