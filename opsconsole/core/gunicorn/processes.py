"""What the machine says about gunicorn processes (blocking: psutil and /proc).

The process table, each process's role (master, worker) with and without ``setproctitle``,
its open files (heartbeat, sockets), its children, and a master's live workers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from opsconsole.core.errors import ProcessChanged
from opsconsole.core.gunicorn.parse import launch_index, title_of, to_int
from opsconsole.core.procs import ProcIdentity, process_iter


def is_heartbeat_link(target: str) -> bool:
    """True for a ``/proc/<pid>/fd`` link to a worker's unlinked heartbeat file."""
    return "wgunicorn-" in os.path.basename(target.removesuffix(" (deleted)")) and target.endswith(
        " (deleted)"
    )


# --------------------------------------------------------------------------- the process table


@dataclass
class ProcRow:
    """One process as discovery sees it (a row of :func:`process_table`)."""

    pid: int
    ppid: int
    argv: tuple[str, ...]
    create_time: float
    status: str


def process_table() -> dict[int, ProcRow]:
    """Every live process (zombies left out), pid → row: one psutil pass."""
    table: dict[int, ProcRow] = {}
    for p in process_iter(["pid", "ppid", "cmdline", "create_time", "status"]):
        info = p.info
        status = info.get("status") or ""
        if status in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            continue
        argv = info.get("cmdline") or []
        table[int(info["pid"])] = ProcRow(
            int(info["pid"]),
            int(info.get("ppid") or 0),
            tuple(argv),
            float(info.get("create_time") or 0.0),
            str(status),
        )
    return table


def pid_alive(pid: int) -> bool:
    """True while a process ``pid`` exists on this machine (a zombie counts); for telling a
    restarted master from a second master of the same name. Raises nothing."""
    return psutil.pid_exists(pid)


def read_proc(pid: int) -> ProcRow | None:
    """One process as the discovery table has it, or None when it is gone or a zombie."""
    try:
        ps = psutil.Process(pid)
        with ps.oneshot():
            proc = ProcRow(pid, ps.ppid(), tuple(ps.cmdline()), ps.create_time(), ps.status())
    except psutil.Error:
        return None
    if proc.status in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
        return None
    return proc


def children_of(table: Mapping[int, ProcRow]) -> dict[int, list[int]]:
    """Parent pid → child pids, from a :func:`process_table` (pure)."""
    kids: dict[int, list[int]] = {}
    for proc in table.values():
        kids.setdefault(proc.ppid, []).append(proc.pid)
    return kids


def classify(
    argv: Sequence[str], parent_argv: Sequence[str] | None, has_same_children: bool = False
) -> str | None:
    """``"master"``, ``"worker"``, ``"other"`` (another gunicorn process) or None (pure).

    With setproctitle the title says it; without, a gunicorn process whose parent runs the
    same command (or is a titled master) is a worker — unless it has children running the same
    command itself (a new master forked by USR2).
    """
    titled = title_of(argv)
    if titled is not None:
        return titled[0]
    if launch_index(argv) is None:
        return None
    if parent_argv is not None:
        parent_title = title_of(parent_argv)
        same = tuple(parent_argv) == tuple(argv)
        if (same or (parent_title is not None and parent_title[0] == "master")) and not (
            has_same_children
        ):
            return "worker"
    return "master"


def role_of(pid: int, table: Mapping[int, ProcRow], kids: Mapping[int, list[int]]) -> str | None:
    """:func:`classify` for ``pid`` in ``table``; None for a worker forked a moment ago that
    still wears its master's title (pure)."""
    proc = table[pid]
    parent = table.get(proc.ppid)
    same_kids = any(table[k].argv == proc.argv for k in kids.get(pid, []) if k in table)
    role = classify(proc.argv, parent.argv if parent else None, same_kids)
    if role == "master" and parent is not None and is_newborn(proc, parent.argv):
        return None  # a worker forked a moment ago still wears its master's title
    return role


#: a child that still has its master's process title this soon after the fork is a worker
#: that has not renamed itself yet, not a new master (USR2 exec's and keeps the title)
NEWBORN_SECONDS = 2.0


def is_newborn(proc: ProcRow, parent_argv: Sequence[str]) -> bool:
    """True for a child younger than NEWBORN_SECONDS that runs its parent's command line."""
    return (
        tuple(proc.argv) == tuple(parent_argv) and time.time() - proc.create_time < NEWBORN_SECONDS
    )


def resolve_path(path: str | None, cwd: str | None) -> str | None:
    """``path`` made absolute against the process's ``cwd`` (pure); ``-``, None and an
    absolute path come back unchanged, as does a relative one when ``cwd`` is unknown."""
    if not path or path == "-":
        return path
    if os.path.isabs(path) or not cwd:
        return path
    return os.path.normpath(os.path.join(cwd, path))


def read_pidfile(path: str) -> int | None:
    """The pid a pidfile holds, or None (missing, unreadable, not a number)."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return to_int(fh.read(32))
    except OSError:
        return None


def fd_facts(
    pid: int, known: dict[str, str] | None = None, inherited: set[int] | None = None
) -> tuple[float | None, set[int] | None]:
    """One pass over a process's open files: (heartbeat change time, socket inodes).

    The heartbeat is the unlinked temp file gunicorn's worker touches. Either is None when it
    cannot be known (the fds belong to another user, no heartbeat file).

    ``known`` (fd → link target, filled by this call) saves the ``readlink`` of every fd
    already seen that is not a socket (log files, pipes, the heartbeat: a worker keeps them
    open for its whole life): only sockets and new fds are read again. The heartbeat's
    change time is read every time (a ``stat`` of its fd). The caller drops ``known`` at
    every full discovery, so an fd that was closed and reused by a socket between two
    refreshes is seen at the latest then. A socket in ``inherited`` (its master's listening
    sockets, which a worker keeps) is left out of the sockets returned and, with ``known``,
    not read again either.
    """
    best: float | None = None
    base = f"/proc/{pid}/fd"
    try:
        entries = os.listdir(base)
    except OSError:
        return None, None
    sockets: set[int] = set()
    before = dict(known) if known else {}
    if known is not None:
        known.clear()  # what is open now: a closed fd is forgotten
    for fd in entries:
        # known: "" for an fd that is neither a socket nor a heartbeat, else its target
        target = before.get(fd)
        if target == "":
            if known is not None:
                known[fd] = ""
            continue
        path = f"{base}/{fd}"
        if target is None:
            try:
                target = os.readlink(path)
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = to_int(target[8:-1])
                if inode and inherited is not None and inode in inherited:
                    if known is not None:
                        known[fd] = ""
                elif inode:
                    sockets.add(inode)
                continue
            if not is_heartbeat_link(target):
                if known is not None:
                    known[fd] = ""
                continue
        if known is not None:
            known[fd] = target
        try:
            ctime = os.stat(path).st_ctime
        except OSError:
            continue
        best = ctime if best is None else max(best, ctime)
    return best, sockets


def open_tcp_inodes() -> set[int] | None:
    """Inodes of this network namespace's TCP sockets that are not listening (one read of
    /proc/net/tcp and tcp6), or None when neither table is readable (not Linux)."""
    inodes: set[int] = set()
    readable = False
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path, encoding="ascii", errors="replace") as fh:
                next(fh, None)
                for line in fh:
                    parts = line.split()
                    if len(parts) > 9 and parts[3] != "0A" and parts[9] != "0":
                        inode = to_int(parts[9])
                        if inode:
                            inodes.add(inode)
        except OSError:
            continue
        readable = True
    return inodes if readable else None


def child_pids(pid: int) -> list[int] | None:
    """Children of ``pid`` from the kernel's per-thread lists (``/proc/PID/task/*/children``):
    no walk over every process. None when the kernel does not offer them."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    out: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                out += [int(x) for x in fh.read().split()]
        except FileNotFoundError:
            if tid == str(pid):
                return None  # no CONFIG_PROC_CHILDREN, or the process is gone
        except (OSError, ValueError):
            continue
    return out


def format_addr(addr: Any) -> str:
    """A psutil ``(ip, port)`` as ``1.2.3.4:80`` or ``[::1]:80`` (pure)."""
    ip, port = addr[0], addr[1]
    return f"[{ip}]:{port}" if ":" in str(ip) else f"{ip}:{port}"


# --------------------------------------------------------------------------- live facts


def worker_pids(master: ProcIdentity) -> dict[int, float]:
    """The master's live workers now: pid → create time (zombies not counted).

    Raises ProcessChanged if the master is gone or its pid was reused.
    """
    master.verify()
    try:
        children = psutil.Process(master.pid).children()
    except psutil.NoSuchProcess as exc:
        raise ProcessChanged(
            f"gunicorn master {master.pid} exited", "refresh and look again"
        ) from exc
    out: dict[int, float] = {}
    for child in children:
        try:
            with child.oneshot():
                if child.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                    continue
                argv = child.cmdline()
                create = child.create_time()
        except psutil.Error:
            continue
        if classify(argv, master.cmdline) == "worker":
            out[child.pid] = create
    return out


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; return the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
