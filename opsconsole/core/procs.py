"""Local process facts via psutil: CPU and memory of a process tree, and identity checks.

Identity: a pid is only ever signalled after checking that it still has the create time and
cmdline it had when it was shown (:class:`ProcIdentity`), so a reused pid is never hit.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import psutil

from opsconsole.core import actions
from opsconsole.core.errors import OpsError, ProcessChanged


@dataclass(frozen=True)
class ProcIdentity:
    """What makes a pid the same process: its create time and command line."""

    pid: int
    create_time: float
    cmdline: tuple[str, ...]

    @classmethod
    def of(cls, pid: int) -> ProcIdentity:
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                return cls(pid, p.create_time(), tuple(p.cmdline()))
        except psutil.NoSuchProcess as exc:
            raise ProcessChanged(f"process {pid} no longer exists", "refresh and retry") from exc
        except psutil.AccessDenied as exc:
            raise OpsError(
                f"not allowed to inspect process {pid}", "run opsconsole as its owner or with sudo"
            ) from exc

    def verify(self) -> None:
        """Raise ProcessChanged if the pid now belongs to another process."""
        try:
            now = ProcIdentity.of(self.pid)
        except ProcessChanged:
            raise
        if abs(now.create_time - self.create_time) > 0.01 or now.cmdline != self.cmdline:
            raise ProcessChanged(
                f"pid {self.pid} now belongs to another process ({' '.join(now.cmdline)[:60]!r})",
                "nothing was sent; refresh and look again",
            )


def owner_of(pid: int) -> str:
    try:
        return str(psutil.Process(pid).username())
    except psutil.Error:
        return "?"


def send_signal(identity: ProcIdentity, sig: signal.Signals) -> None:
    """Send ``sig`` to the process, after checking it is still the same one.

    Raises ReadOnlyError in read-only mode, ProcessChanged on pid reuse, OpsError with the
    owning user named when the kernel refuses (EPERM).
    """
    actions.assert_writable(f"send {sig.name} to pid {identity.pid}")
    identity.verify()
    try:
        os.kill(identity.pid, sig)
    except ProcessLookupError as exc:
        raise ProcessChanged(f"process {identity.pid} exited before {sig.name} was sent") from exc
    except PermissionError as exc:
        user = owner_of(identity.pid)
        raise OpsError(
            f"not permitted to send {sig.name} to pid {identity.pid}: it belongs to user {user}",
            f"run opsconsole as {user} or with sudo",
        ) from exc


@dataclass
class TreeUsage:
    cpu_percent: float
    rss: int
    nprocs: int


class UsageSampler:
    """CPU% and RSS of a process and all its descendants, sampled between calls.

    psutil needs two samples for CPU%; the Process objects are cached by pid (and checked for
    reuse by psutil) so each refresh costs one pass over /proc: the parent→children map is
    built once per sample, not once per program.
    """

    def __init__(self) -> None:
        self._cache: dict[int, psutil.Process] = {}

    def _proc(self, pid: int) -> psutil.Process | None:
        p = self._cache.get(pid)
        if p is not None and p.is_running():
            return p
        try:
            p = psutil.Process(pid)
            p.cpu_percent(None)
        except psutil.Error:
            self._cache.pop(pid, None)
            return None
        self._cache[pid] = p
        return p

    @staticmethod
    def _children_map() -> dict[int, list[int]]:
        """parent pid → child pids, for every process (key 0 holds the roots)."""
        kids: dict[int, list[int]] = {}
        for proc in psutil.process_iter(["ppid"]):
            kids.setdefault(int(proc.info.get("ppid") or 0), []).append(proc.pid)
        return kids

    def _usage(self, pid: int) -> tuple[float, int] | None:
        p = self._proc(pid)
        if p is None:
            return None
        try:
            with p.oneshot():
                return p.cpu_percent(None), int(p.memory_info().rss)
        except psutil.Error:
            return None

    def tree(self, pid: int, kids: dict[int, list[int]] | None = None) -> TreeUsage | None:
        """Usage of ``pid`` and every descendant (``kids`` from one /proc pass, if given)."""
        kids = kids if kids is not None else self._children_map()
        root = self._usage(pid)
        if root is None:
            return None
        cpu, rss = root
        count = 1
        stack = list(kids.get(pid, []))
        seen = {pid}
        while stack:
            child = stack.pop()
            if child in seen:
                continue
            seen.add(child)
            stack.extend(kids.get(child, []))
            usage = self._usage(child)
            if usage is not None:
                cpu += usage[0]
                rss += usage[1]
                count += 1
        return TreeUsage(cpu, rss, count)

    def sample(self, pids: list[int]) -> dict[int, TreeUsage]:
        kids = self._children_map()
        result = {}
        for pid in pids:
            if pid > 0:
                usage = self.tree(pid, kids)
                if usage is not None:
                    result[pid] = usage
        live = {c for cs in kids.values() for c in cs}
        for pid in list(self._cache):
            if pid not in live:
                del self._cache[pid]
        return result


def format_bytes(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit in ("B", "K") else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}T"  # pragma: no cover
