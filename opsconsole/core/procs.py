"""Local process facts (psutil, and /proc read directly where it is hot): CPU and memory of a
process tree, and identity checks.

Identity: a pid is only ever signalled after checking that it still has the create time and
cmdline it had when it was shown (:class:`ProcIdentity`), so a reused pid is never hit.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opsconsole.core import actions
from opsconsole.core.errors import OpsError, ProcessChanged

if TYPE_CHECKING:  # psutil is imported where used: the usage sampler reads /proc itself, and
    import psutil  # the first frame needs neither


@dataclass(frozen=True)
class ProcIdentity:
    """What makes a pid the same process: its create time and command line."""

    pid: int
    create_time: float
    cmdline: tuple[str, ...]

    @classmethod
    def of(cls, pid: int) -> ProcIdentity:
        import psutil

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


def process_start_time(pid: int) -> float | None:
    """When the process started (epoch seconds), or None if it cannot be seen."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def owner_of(pid: int) -> str:
    import psutil

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


def process_iter(attrs: list[str]) -> Iterator[psutil.Process]:
    """Every process, with ``attrs`` read into ``.info`` (``psutil.process_iter``), without
    psutil keeping a ``Process`` and what was read (a cmdline...) for every process on the
    machine until the next pass: several MB on a busy machine, for nothing (no caller keeps
    a Process from one pass to the next)."""
    import psutil

    try:
        yield from psutil.process_iter(attrs)
    finally:
        psutil.process_iter.cache_clear()


def children_map() -> dict[int, list[int]]:
    """parent pid → child pids for every process, from one pass over /proc (0: the roots)."""
    kids: dict[int, list[int]] = {}
    for proc in process_iter(["ppid"]):
        kids.setdefault(int(proc.info.get("ppid") or 0), []).append(proc.pid)
    return kids


def descendants(pid: int, kids: dict[int, list[int]]) -> list[int]:
    """``pid`` and every process below it, from a :func:`children_map`."""
    out: list[int] = []
    stack, seen = [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        out.append(current)
        stack.extend(kids.get(current, []))
    return out


#: clock ticks per second and page size, for reading ``/proc/PID/stat``
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

#: ``/proc/PID/stat`` state letters as psutil names them (its ``STATUS_*`` strings)
STATE_NAMES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk-sleep",
    "T": "stopped",
    "t": "tracing-stop",
    "Z": "zombie",
    "X": "dead",
    "x": "dead",
    "K": "wake-kill",
    "W": "waking",
    "I": "idle",
    "P": "parked",
}


@dataclass
class StatFacts:
    """What one read of ``/proc/PID/stat`` says (the same figures psutil reads there and in
    ``statm``/``status``, without a Process object)."""

    status: str
    ppid: int
    cpu_seconds: float  # user + system
    threads: int
    rss: int  # bytes
    start_ticks: int  # clock ticks after boot


def parse_stat(data: bytes) -> StatFacts | None:
    """A ``/proc/PID/stat`` line parsed (pure); None when it is not one. The command name
    in parentheses may hold spaces and parentheses: the fields start after the last ``)``."""
    rest = data[data.rfind(b")") + 2 :].split()
    if len(rest) < 22:
        return None
    try:
        return StatFacts(
            status=STATE_NAMES.get(rest[0].decode("ascii", "replace"), "?"),
            ppid=int(rest[1]),
            cpu_seconds=(int(rest[11]) + int(rest[12])) / CLOCK_TICKS,
            threads=int(rest[17]),
            rss=int(rest[21]) * PAGE_SIZE,
            start_ticks=int(rest[19]),
        )
    except ValueError:
        return None


def read_stat(pid: int) -> StatFacts | None:
    """:func:`parse_stat` of ``/proc/PID/stat``; None when the process is gone (or not on
    Linux)."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    return parse_stat(data)


def start_time(facts: StatFacts, boot_time: float) -> float:
    """The process's create time in epoch seconds, as psutil computes it."""
    return facts.start_ticks / CLOCK_TICKS + boot_time


@dataclass
class TreeUsage:
    cpu_percent: float
    rss: int
    nprocs: int


def child_pids(pid: int) -> list[int] | None:
    """``pid``'s children from ``/proc/PID/task/TID/children`` (one file per thread); None
    when the kernel has no such files (then a full /proc walk is needed)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []  # gone
    out: list[int] = []
    for tid in tids:
        try:
            fd = os.open(f"/proc/{pid}/task/{tid}/children", os.O_RDONLY)
        except FileNotFoundError:
            if tid == str(pid) and os.path.isdir(f"/proc/{pid}/task/{tid}"):
                return None  # the thread is there but not the file: no CONFIG_PROC_CHILDREN
            continue
        except OSError:
            continue
        try:
            data = b""
            while chunk := os.read(fd, 65536):
                data += chunk
        except OSError:
            continue
        finally:
            os.close(fd)
        out.extend(int(c) for c in data.split())
    return out


class UsageSampler:
    """CPU% and RSS of a process and all its descendants, sampled between calls.

    Only the asked-for trees are read: each process's children come from
    ``/proc/PID/task/TID/children`` and one read of each process's ``stat`` (parent, CPU
    times, RSS and start time in one line; no psutil Process objects) gives its usage; CPU%
    comes from the CPU-time delta since the previous sample of the same process (same pid and
    start time). Where the kernel has no ``children`` files, one pass over all of /proc.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[int, int], float] = {}  # (pid, start ticks) → CPU seconds
        self._last_at = 0.0
        self._children_files: bool | None = None  # None: not known yet

    def _table(
        self, roots: list[int] | None = None
    ) -> tuple[dict[int, list[int]], dict[int, tuple[float, int]]]:
        """(parent → children, pid → (CPU% since last sample, RSS)) for the trees under
        ``roots`` (every process when None or without ``children`` files)."""
        import time

        now = time.monotonic()
        elapsed = now - self._last_at if self._last_at else 0.0
        kids: dict[int, list[int]] = {}
        usage: dict[int, tuple[float, int]] = {}
        seen: dict[tuple[int, int], float] = {}

        def note(pid: int) -> bool:
            facts = read_stat(pid)
            if facts is None:
                return False  # gone since the listing
            kids.setdefault(facts.ppid, [])
            key = (pid, facts.start_ticks)
            total = facts.cpu_seconds
            seen[key] = total
            before = self._last.get(key)
            cpu = (total - before) / elapsed * 100 if before is not None and elapsed > 0 else 0.0
            usage[pid] = (max(0.0, cpu), facts.rss)
            if roots is None or self._children_files is False:
                kids[facts.ppid].append(pid)
            return True

        walked = False
        if roots is not None and self._children_files is not False:
            walked = self._walk_trees(roots, note, kids)
        if not walked:
            usage.clear()
            kids.clear()
            seen.clear()
            try:
                names = os.listdir("/proc")
            except OSError:
                names = []
            for name in names:
                if name.isdigit():
                    note(int(name))
        self._last, self._last_at = seen, now
        return kids, usage

    def _walk_trees(
        self, roots: list[int], note: Callable[[int], bool], kids: dict[int, list[int]]
    ) -> bool:
        """Read only the trees under ``roots``; False when the kernel lacks ``children``
        files (remembered: the caller then walks all of /proc)."""
        stack = [pid for pid in roots if pid > 0]
        done: set[int] = set()
        while stack:
            pid = stack.pop()
            if pid in done:
                continue
            done.add(pid)
            if not note(pid):
                continue
            children = child_pids(pid)
            if children is None:
                self._children_files = False
                return False
            self._children_files = True
            kids[pid] = children
            stack.extend(children)
        return True

    @staticmethod
    def _sum(
        pid: int, kids: dict[int, list[int]], usage: dict[int, tuple[float, int]]
    ) -> TreeUsage | None:
        if pid not in usage:
            return None
        cpu, rss, count = 0.0, 0, 0
        for current in descendants(pid, kids):
            if current in usage:
                cpu += usage[current][0]
                rss += usage[current][1]
                count += 1
        return TreeUsage(cpu, rss, count)

    def tree(self, pid: int) -> TreeUsage | None:
        """Usage of ``pid`` and every descendant (CPU% since the previous sample)."""
        kids, usage = self._table([pid])
        return self._sum(pid, kids, usage)

    def sample(self, pids: list[int]) -> dict[int, TreeUsage]:
        """Usage of each pid's tree; only those trees are read."""
        kids, usage = self._table([pid for pid in pids if pid > 0])
        result = {}
        for pid in pids:
            if pid > 0:
                found = self._sum(pid, kids, usage)
                if found is not None:
                    result[pid] = found
        return result
