"""Acting on gunicorn: scale, reload, reopen logs, signal a worker (blocking).

Each action calls :func:`actions.assert_writable` before anything leaves the process, talks to
a control socket only through a :class:`~opsconsole.core.gunicorn.control.ControlClient` that
proves the peer is the master meant, and signals only through :func:`procs.send_signal`, which
checks the pid still belongs to the process that was shown.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol

import psutil

from opsconsole.core import actions, procs
from opsconsole.core.errors import OpsError, ProcessChanged
from opsconsole.core.gunicorn.control import (
    ControlClient,
    ControlSocketError,
    NotTheMaster,
)
from opsconsole.core.gunicorn.discovery import GunicornScanner
from opsconsole.core.gunicorn.model import GunicornError, Master, ScaleRefused, Worker
from opsconsole.core.gunicorn.processes import wait_until, worker_pids
from opsconsole.core.procs import ProcIdentity


def parse_scale_spec(spec: str) -> tuple[str, int]:
    """``"+2"`` → ``("+", 2)``, ``"-1"`` → ``("-", 1)``, ``"3"`` → ``("=", 3)`` (pure).

    Raises GunicornError for anything else (``"+0"``, ``"abc"``, ``"2.5"``).
    """
    text = spec.strip()
    match = re.fullmatch(r"([+-]?)(\d{1,6})", text)
    if not match:
        raise GunicornError(
            f"not a worker count: {spec!r}", "use +N (add), -N (remove) or N (exact count)"
        )
    sign, digits = match.groups()
    number = int(digits)
    if sign and number == 0:
        raise GunicornError(f"{spec!r} changes nothing", "use +1, -1 or an exact count")
    return (sign or "="), number


def scale_target(current: int, spec: tuple[str, int]) -> int:
    """The worker count a spec asks for, starting from ``current`` (pure; may be < 1)."""
    sign, number = spec
    if sign == "+":
        return current + number
    if sign == "-":
        return current - number
    return number


# --------------------------------------------------------------------------- scaling


class Plannable(Protocol):
    """What planning a scale reads of a master: a scanned Master, or the host snapshot's
    GunicornMaster a view shows (the plan in its confirmation is the one that runs)."""

    @property
    def label(self) -> str: ...

    @property
    def scale_base(self) -> int: ...

    @property
    def ctl_usable(self) -> bool: ...

    @property
    def control_socket(self) -> str | None: ...


@dataclass
class ScalePlan:
    """What a scale will do, in the words the confirmation shows."""

    master: Plannable
    before: int
    target: int
    method: str  # "signal" | "control socket"
    description: str  # e.g. "send TTOU to gunicorn master 1234 (web): 4 -> 3 workers"
    action: str = ""  # what is sent: "TTOU", "TTIN 3 times", "'worker add 2'"

    @property
    def delta(self) -> int:
        return self.target - self.before


@dataclass
class ScaleResult:
    """The outcome of a scale; ``converged`` is None when nobody waited."""

    master_pid: int
    label: str
    before: int
    target: int
    live: int
    method: str
    converged: bool | None
    message: str
    undo: str
    configured: int | None = None


def plan_scale(
    master: Plannable, spec: str | tuple[str, int], base: int | None = None
) -> ScalePlan:
    """Turn ``+N``/``-N``/``N`` into a plan from ``base`` (default: the master's current
    target, else its live count). Raises ScaleRefused below 1 worker or for no change."""
    parsed = parse_scale_spec(spec) if isinstance(spec, str) else spec
    before = master.scale_base if base is None else base
    target = scale_target(before, parsed)
    if target < 1:
        raise ScaleRefused(
            f"refused: {master.label} would go from {before} to {target} workers; "
            "gunicorn needs at least 1 (nothing was sent)",
            "to stop it, stop the program in supervisor instead",
        )
    if target == before:
        raise ScaleRefused(
            f"{master.label} already has a target of {before} workers; nothing to do",
        )
    delta = target - before
    if master.ctl_usable:
        verb = f"worker add {delta}" if delta > 0 else f"worker remove {-delta}"
        action = f"'{verb}'"
        how = f"send {action} on control socket {master.control_socket} to {master.label}"
        method = "control socket"
    else:
        sig = "TTIN" if delta > 0 else "TTOU"
        action = sig + (f" {abs(delta)} times" if abs(delta) > 1 else "")
        how = f"send {action} to {master.label}"
        method = "signal"
    return ScalePlan(master, before, target, method, f"{how}: {before} -> {target} workers", action)


def _fresh_base(master: Master, scanner: GunicornScanner | None) -> tuple[int, bool]:
    """The master's target right now (control socket), else what we asked, else live count.
    Returns (base, control socket answered).

    When another master now answers on the path (rebound since the scan), ``master`` is
    marked ``ctl-shared`` so the plan that follows uses signals."""
    if master.ctl_usable and master.control_socket:
        try:
            client = ControlClient(master.control_socket, expect=master.identity, timeout=2.0)
            stats = client.command("show", ["stats"])
            target = stats.get("workers_target")
            if isinstance(target, int) and not isinstance(target, bool):
                return target, True
        except NotTheMaster as exc:
            master.flags.append("ctl-shared")
            master.notes.append(exc.message)
        except ControlSocketError:
            pass
    if scanner is not None:
        asked = scanner.requested.get(scanner.key(master.identity))
        if asked is not None:
            return asked, False
    return len(worker_pids(master.identity)), False


def scale(
    master: Master,
    spec: str | tuple[str, int],
    *,
    scanner: GunicornScanner | None = None,
    wait: bool = False,
    timeout: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ScaleResult:
    """Change the number of workers of ``master`` by ``+N``/``-N`` or to exactly ``N``.

    Uses the control socket (``worker add/remove N``) when the master has one, else TTIN/TTOU
    signals one at a time. Raises ReadOnlyError in read-only mode and ScaleRefused below 1
    worker — both before anything is sent — and ProcessChanged if the master's pid now
    belongs to another process. With ``wait`` it polls the live worker count until it
    matches (at most ``timeout``, default the master's ``--timeout``).
    """
    actions.assert_writable(f"scale {master.label}")
    master.identity.verify()
    master = replace(master, flags=list(master.flags), notes=list(master.notes))
    shared_before = "ctl-shared" in master.flags
    base, _ = _fresh_base(master, scanner)
    plan = plan_scale(master, spec, base)
    if plan.method == "control socket" and master.control_socket:
        # checks the peer again on the connection that carries the command: the path may
        # have been rebound by another master since _fresh_base (NotTheMaster, nothing sent)
        client = ControlClient(master.control_socket, expect=master.identity, timeout=5.0)
        if plan.delta > 0:
            client.command("worker", ["add", str(plan.delta)])
        else:
            client.command("worker", ["remove", str(-plan.delta)])
    else:
        sig = signal.SIGTTIN if plan.delta > 0 else signal.SIGTTOU
        live = len(worker_pids(master.identity))
        for step in range(abs(plan.delta)):
            procs.send_signal(master.identity, sig)
            if step + 1 < abs(plan.delta):
                # Two identical signals in flight may merge into one: wait until the master
                # has acted on this one (live count moved) before sending the next.
                want = live + (step + 1) * (1 if plan.delta > 0 else -1)
                up = plan.delta > 0
                wait_until(partial(_moved, master.identity, want, up), 1.0, 0.05)
    if scanner is not None:
        scanner.remember_target(master, plan.target)
    undo = f"opsconsole scale {master.program or master.pid} {plan.before}"
    configured = master.configured
    note = ""
    if configured is not None and plan.target != configured:
        note = f" (configured {configured}: restarting the program returns to {configured})"
    if "ctl-shared" in master.flags and not shared_before:
        note += f" (signals: {master.control_socket} now answers for another master)"
    if not wait:
        live_now = len(worker_pids(master.identity))
        return ScaleResult(
            master.pid,
            master.label,
            plan.before,
            plan.target,
            live_now,
            plan.method,
            None,
            f"asked {master.label} for {plan.target} workers (was {plan.before}){note}",
            undo,
            configured,
        )
    converged, live_now = wait_for_count(
        master.identity,
        plan.target,
        timeout if timeout is not None else float(master.timeout),
        on_progress=on_progress,
    )
    if converged:
        message = f"{master.label} now runs {live_now} workers (was {plan.before}){note}"
    else:
        waited = timeout if timeout is not None else master.timeout
        message = (
            f"{master.label} has {live_now} live workers after {waited:.0f} s, target "
            f"{plan.target}: not converged — workers may be failing to boot or slow to "
            f"finish requests; see {master.error_log or 'its error log'}"
        )
    return ScaleResult(
        master.pid,
        master.label,
        plan.before,
        plan.target,
        live_now,
        plan.method,
        converged,
        message,
        undo,
        configured,
    )


def _moved(identity: ProcIdentity, want: int, up: bool) -> bool:
    try:
        count = len(worker_pids(identity))
    except ProcessChanged:
        return True
    return count >= want if up else count <= want


def wait_for_count(
    identity: ProcIdentity,
    target: int,
    timeout: float,
    *,
    interval: float = 0.2,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[bool, int]:
    """Poll the master's live worker count until it equals ``target`` or ``timeout`` passes.

    Returns ``(converged, last live count)``; ``on_progress(live, target)`` is called on each
    poll. Raises ProcessChanged if the master goes away.
    """
    live = -1

    def check() -> bool:
        nonlocal live
        live = len(worker_pids(identity))
        if on_progress is not None:
            on_progress(live, target)
        return live == target

    return wait_until(check, timeout, interval), live


# --------------------------------------------------------------------------- master actions


@dataclass
class ReloadResult:
    """A graceful reload and whether it was verified."""

    master_pid: int
    label: str
    ok: bool
    old_pids: list[int]
    new_pids: list[int]
    message: str


def reload(
    master: Master,
    *,
    scanner: GunicornScanner | None = None,
    timeout: float | None = None,
) -> ReloadResult:
    """Graceful reload (HUP): verified when every old worker pid has been replaced and the
    count is back to the configured one (gunicorn's reload re-reads ``-w``; without a known
    configuration, the count before the reload) within ``timeout`` (default the master's
    ``--timeout`` plus 5 s: old workers get that long to finish their requests).

    Returns a :class:`ReloadResult` (``ok`` False, in words, when not verified in time).
    Raises ReadOnlyError (nothing sent), ProcessChanged (the master exited or its pid was
    reused: nothing sent to another process), OpsError (the kernel refused: another user's).
    """
    actions.assert_writable(f"reload {master.label}")
    old = worker_pids(master.identity)
    expected = master.configured if master.configured is not None else len(old)
    procs.send_signal(master.identity, signal.SIGHUP)
    if scanner is not None:
        scanner.forget_target(master)  # HUP resets the master to its configured count
    limit = timeout if timeout is not None else float(master.timeout) + 5.0
    now: dict[int, float] = {}

    def replaced() -> bool:
        nonlocal now
        now = worker_pids(master.identity)
        left = [p for p, t in old.items() if now.get(p) == t]
        return not left and len(now) == expected

    ok = wait_until(replaced, limit)
    new = sorted(p for p, t in now.items() if old.get(p) != t)
    if ok:
        text = f"{master.label} reloaded: all {len(old)} old workers replaced, {len(now)} running"
        if len(now) != len(old):
            text += f" (back to the configured {expected}; was {len(old)})"
    else:
        left = sorted(p for p, t in old.items() if now.get(p) == t)
        text = (
            f"{master.label} reload not verified after {limit:.0f} s: "
            f"{len(now)} workers (expected {expected}); old workers still running: "
            f"{', '.join(map(str, left)) or 'none'}; see {master.error_log or 'its error log'}"
        )
    return ReloadResult(master.pid, master.label, ok, sorted(old), new, text)


def reopen_logs(master: Master) -> str:
    """USR1: the master and its workers reopen their log files (after logrotate).

    Returns what was done, in words. Raises ReadOnlyError (nothing sent), ProcessChanged
    (the master exited or its pid was reused), OpsError (the kernel refused: another user's).
    """
    actions.assert_writable(f"reopen the logs of {master.label}")
    procs.send_signal(master.identity, signal.SIGUSR1)
    return f"{master.label} asked to reopen its log files (USR1)"


# --------------------------------------------------------------------------- worker actions

WORKER_SIGNALS: dict[str, tuple[signal.Signals, str]] = {
    "TERM": (signal.SIGTERM, "finishes its current request, exits; the master starts another"),
    "KILL": (signal.SIGKILL, "dies at once (a request in progress fails); the master replaces it"),
    "ABRT": (signal.SIGABRT, "aborts (worker_abort hook), exits; the master replaces it"),
}


@dataclass
class WorkerSignalResult:
    master_pid: int
    worker_pid: int
    signal: str
    exited: bool
    log_path: str | None
    log_lines: list[str]
    message: str


def _log_size(path: str | None) -> int | None:
    if not path:
        return None
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def read_new_log(path: str, offset: int, limit: int = 64 * 1024) -> list[str]:
    """Lines appended to ``path`` after byte ``offset`` (at most ``limit`` bytes, the last
    ones); starts over when the file was truncated or rotated (smaller than ``offset``)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = offset if size >= offset else 0
            start = max(start, size - limit)
            fh.seek(start)
            data = fh.read(size - start)
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()


def signal_worker(
    master: Master,
    worker: Worker,
    signame: str,
    *,
    wait: float = 5.0,
) -> WorkerSignalResult:
    """Send TERM, KILL or ABRT to one worker of ``master`` and wait (up to ``wait`` s) for
    it to exit. After ABRT the lines the error log gained since the signal (the abort
    traceback, the master's report) are returned. Raises ReadOnlyError, ProcessChanged (the
    pid was reused) or OpsError naming the owner on EPERM — before anything is sent."""
    name = signame.upper().removeprefix("SIG")
    if name not in WORKER_SIGNALS:
        raise GunicornError(
            f"{signame} is not a worker action", f"use one of {', '.join(WORKER_SIGNALS)}"
        )
    actions.assert_writable(f"send {name} to worker {worker.pid} of {master.label}")
    sig, _ = WORKER_SIGNALS[name]
    log_path = master.error_log
    offset = _log_size(log_path)
    procs.send_signal(worker.identity, sig)

    def gone() -> bool:
        try:
            worker.identity.verify()
            return psutil.Process(worker.pid).status() == psutil.STATUS_ZOMBIE
        except (ProcessChanged, psutil.NoSuchProcess):
            return True
        except OpsError:
            return False

    exited = wait_until(gone, wait, 0.1)
    lines: list[str] = []
    if name == "ABRT" and log_path and offset is not None:
        # The master logs the exit once it reaps the worker: give it a moment to land.
        last = -1

        def settled() -> bool:
            nonlocal last
            size = _log_size(log_path) or 0
            done = size == last and size > offset
            last = size
            return done

        wait_until(settled, 2.0, 0.25)
        lines = read_new_log(log_path, offset)
    text = f"{name} sent to worker {worker.pid} of {master.label}; " + (
        "it exited; the master starts a replacement"
        if exited
        else f"still running after {wait:.0f} s"
    )
    if name == "ABRT":
        if not log_path:
            text += "; no error log file known (it goes to stderr)"
        elif not lines:
            text += f"; nothing new in {log_path}"
        else:
            text += f"; {len(lines)} new lines in {log_path}"
    return WorkerSignalResult(master.pid, worker.pid, name, exited, log_path, lines, text)
