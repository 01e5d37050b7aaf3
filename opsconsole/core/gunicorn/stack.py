"""A stuck worker's Python stack without killing it: ``py-spy dump --pid N``.

py-spy (an optional dependency: ``pip install opsconsole[debug]``) reads the stack of every
thread of a running Python process; it stops the process for the few milliseconds it takes
(ptrace), then lets it go on. It needs ptrace rights on the worker: root with
``CAP_SYS_PTRACE``, or the worker's own user when ``kernel.yama.ptrace_scope`` is 0 (or there
is no Yama). When it cannot run, :class:`StackUnavailable` says why in words and offers ABRT
(which makes the worker print its stack, then kills it) as before.

The caller proves the pid is a worker of the master meant (a fresh scan, the worker's create
time); :func:`dump_stack` checks the identity again right before py-spy attaches.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from opsconsole.core.errors import ProcessChanged
from opsconsole.core.gunicorn.model import GunicornError, Master, Worker

#: seconds py-spy may take (it attaches, reads, detaches: well under a second normally)
PYSPY_TIMEOUT = 20.0
#: bytes of py-spy output kept (a worker with hundreds of threads still fits)
MAX_OUTPUT = 1024 * 1024
#: CAP_SYS_PTRACE's bit in /proc/PID/status CapEff
CAP_SYS_PTRACE = 19
YAMA_SCOPE = "/proc/sys/kernel/yama/ptrace_scope"
INSTALL_HINT = "install it with `pip install opsconsole[debug]` (py-spy) in opsconsole's venv"
ABRT_OFFER = "ABRT (K, then ABRT) prints its stack to the error log, but kills the worker"


class StackUnavailable(GunicornError):
    """py-spy cannot show this worker's stack (not installed, no ptrace rights, failed)."""


def find_pyspy() -> str | None:
    """py-spy next to the running Python (opsconsole's venv), else on PATH, else None."""
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return shutil.which("py-spy")


def _cap_eff() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        return None
    return None


def yama_scope() -> int | None:
    """``kernel.yama.ptrace_scope`` (None: no Yama, classic ptrace rules)."""
    try:
        with open(YAMA_SCOPE, encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def ptrace_problem(pid: int) -> str | None:
    """Why this process may not read ``pid``'s memory (None: it may), in words."""
    scope = yama_scope()
    if scope == 3:
        return "ptrace is disabled on this machine (kernel.yama.ptrace_scope = 3)"
    caps = _cap_eff()
    privileged = caps is not None and bool(caps & (1 << CAP_SYS_PTRACE))
    if privileged:
        return None
    if os.geteuid() == 0:
        return "opsconsole runs as root but without CAP_SYS_PTRACE (a container?)"
    if scope == 2:
        return "only root may ptrace here (kernel.yama.ptrace_scope = 2)"
    if scope == 1:
        return (
            "ptrace is limited to a process's own children here "
            "(kernel.yama.ptrace_scope = 1): run opsconsole with sudo"
        )
    try:
        uids = psutil.Process(pid).uids()
    except psutil.NoSuchProcess:
        return f"process {pid} no longer exists"
    except psutil.Error:
        return f"process {pid} cannot be inspected by this user"
    if os.geteuid() not in (uids.real, uids.effective) or uids.real != uids.effective:
        user = psutil.Process(pid).username() if psutil.pid_exists(pid) else "?"
        return f"worker {pid} belongs to user {user}; ptrace needs its user or root"
    return None


@dataclass
class StackDump:
    """What ``py-spy dump`` printed for one worker, and which worker it was."""

    master_pid: int
    master_label: str
    worker_pid: int
    worker_age: float
    worker_flags: list[str]
    text: str
    command: list[str]
    duration: float
    at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stack_command(binary: str, pid: int) -> list[str]:
    return [binary, "dump", "--pid", str(pid)]


def dump_stack(master: Master, worker: Worker, *, timeout: float = PYSPY_TIMEOUT) -> StackDump:
    """``py-spy dump`` of ``worker`` (blocking: run in a thread). Raises ProcessChanged (the
    pid is no longer that worker) or StackUnavailable (why, with ABRT offered)."""
    binary = find_pyspy()
    if binary is None:
        raise StackUnavailable(
            f"cannot show the stack of worker {worker.pid}: py-spy is not installed",
            f"{INSTALL_HINT}; or {ABRT_OFFER}",
        )
    problem = ptrace_problem(worker.pid)
    if problem is not None:
        raise StackUnavailable(
            f"cannot show the stack of worker {worker.pid}: {problem}",
            f"run opsconsole as root (sudo); or {ABRT_OFFER}",
        )
    worker.identity.verify()  # still the worker that was shown, right before attaching
    argv = stack_command(binary, worker.pid)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackUnavailable(
            f"py-spy did not finish within {timeout:.0f} s on worker {worker.pid}",
            f"try again; or {ABRT_OFFER}",
        ) from exc
    except OSError as exc:
        raise StackUnavailable(
            f"cannot run {binary}: {exc.strerror or exc}", f"{INSTALL_HINT}; or {ABRT_OFFER}"
        ) from exc
    took = time.monotonic() - started
    out = proc.stdout[:MAX_OUTPUT].decode("utf-8", "replace")
    if proc.returncode != 0:
        if not psutil.pid_exists(worker.pid):
            raise ProcessChanged(
                f"worker {worker.pid} exited while py-spy read it", "refresh and look again"
            )
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        why = err[-1] if err else f"exit {proc.returncode}"
        raise StackUnavailable(
            f"py-spy could not read worker {worker.pid}: {why}",
            f"check that it is a CPython process py-spy supports; or {ABRT_OFFER}",
        )
    return StackDump(
        master_pid=master.pid,
        master_label=master.label,
        worker_pid=worker.pid,
        worker_age=time.time() - worker.identity.create_time,
        worker_flags=list(worker.flags),
        text=out,
        command=argv,
        duration=took,
        at=time.time(),
    )
