"""Whether a supervisord on this machine can have changed anything since the last poll, from
what the kernel says about it: an idle console need not ask for every program every second.

``getAllProcessInfo`` costs supervisord about 40 ms for 300 programs (it is single-threaded and
serves every client) and the console about as much to read. Between two polls a program's state
changes only with one of these signs:

- a process started or ended: supervisord's children (``/proc/PID/task/PID/children``) differ;
- supervisord wrote its own log (``spawned``, ``success: … entered RUNNING state``, ``exited``,
  ``stopped``, ``gave up``, ``added process group``…): its main log file's size differs;
- time alone: STARTING becomes RUNNING after ``startsecs``, BACKOFF becomes STARTING or FATAL,
  STOPPING ends: while any program is in such a state, every poll asks;
- the unix socket's path replaced or removed (a poll would fail: it must say so);
- another client's request (a stop, ``reloadConfig`` and ``addProcessGroup``, which supervisord
  does not log): supervisord used more CPU (``/proc/PID/schedstat``) than it does idle. Its
  idle rate is learned from the quiet seconds; a request costs it milliseconds.

When the same supervisord (pid and start time) shows none of them, a poll would answer the same
states, and :meth:`QuietCheck.quiet` says so; never for longer than ``FULL_EVERY`` seconds
after the last poll that asked, so what escapes the signs (a program being stopped slowly:
STOPPING is logged at debug level only; a log level that hides ``added process group``) shows
within that. An operation of the console's own clears the check (:meth:`QuietCheck.forget`).

Only for a supervisord proven to be the one answering, on this machine: the pid it gives
(``getPID``) runs a supervisord that listens on the unix socket or loopback port the console
reached, its /proc is readable (same user, or root), and its main log is a file. Anything else
(another machine, another pid namespace, a log on stdout or syslog) and every poll asks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from opsconsole.core.supervisor.model import ProcessInfo, ProcessState

if TYPE_CHECKING:  # psutil is imported by the first proof (~20 ms: not before the first frame)
    import psutil

#: seconds at most between two polls that ask supervisord, whatever the kernel says
FULL_EVERY = 5.0
#: CPU supervisord may use beyond its idle rate before a poll asks it (a request costs more)
SLACK_NS = 1_500_000
#: quiet seconds whose CPU rate is kept to learn the idle rate (the lowest is used)
IDLE_SAMPLES = 20
#: states that change with time alone (every poll asks while a program is in one)
MOVING = frozenset({ProcessState.STARTING, ProcessState.BACKOFF, ProcessState.STOPPING})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@dataclass(frozen=True)
class Signs:
    """What the kernel says about one supervisord at one moment."""

    started: str  # field 22 of /proc/PID/stat: the start time in clock ticks
    children: bytes  # /proc/PID/task/PID/children, as read
    logs: tuple[tuple[int, int, int], ...]  # (inode, size, mtime_ns) of each main log file
    socket: tuple[int, int] | None  # (inode, mode) of the unix socket's path; None: gone
    cpu_ns: int  # CPU time used so far (/proc/PID/schedstat), -1 when the kernel does not say
    at: float  # time.monotonic() of the reading

    def same(self, other: Signs) -> bool:
        return (self.started, self.children, self.logs, self.socket) == (
            other.started,
            other.children,
            other.logs,
            other.socket,
        )


@dataclass(frozen=True)
class _Proof:
    pid: int
    started: str
    logs: tuple[str, ...]
    socket_path: str | None


class QuietCheck:
    """The quiet check of one supervisord target (its URL, or the path of its unix socket)."""

    def __init__(self, url: str, socket_path: str | None = None, *, full_every: float = FULL_EVERY):
        self.url = url
        self.socket_path = socket_path
        self.full_every = full_every
        self._proof: _Proof | None = None
        self._refused: tuple[int, str] | None = None  # a pid proven not to be ours
        self._signs: Signs | None = None
        self._asked_at = 0.0
        self._idle: list[float] = []  # supervisord's CPU ns per second when nothing changed
        #: moves with every forget(): a mark begun before it does not keep its signs
        self._generation = 0
        #: polls answered from the last one since the check was made (for tests and notes)
        self.skipped = 0

    # -- after a poll that asked ----------------------------------------------------------

    @property
    def generation(self) -> int:
        """Moves with every :meth:`forget`: hand it to a :meth:`mark` made later."""
        return self._generation

    def proven(self, pid: int) -> bool:
        """``pid`` is the supervisord already proven: a :meth:`mark` is then a few small
        reads, made at once (not in a thread, where a change could slip into its signs)."""
        proof = self._proof
        return proof is not None and proof.pid == pid and _start_ticks(pid) == proof.started

    def mark(
        self,
        pid: int,
        processes: Sequence[ProcessInfo],
        generation: int | None = None,
        early: tuple[str | None, bytes, tuple[int, int] | None, int, float] | None = None,
    ) -> None:
        """Remember supervisord's signs right after a poll that asked it (``pid`` from its
        getPID). Nothing is remembered while a program is between states. Blocking (the
        first proof reads supervisord's open files and sockets): the monitor runs it in a
        thread, with the ``generation`` of when the poll was answered: a forget() since then
        (the console acted) leaves nothing remembered."""
        generation = self._generation if generation is None else generation
        self._asked_at = time.monotonic()
        self._signs = None
        if any(p.state in MOVING for p in processes):
            return
        early = _early_signs(pid, self.socket_path) if early is None else early
        proof = self._prove(pid, processes)
        signs = _read_signs(proof) if proof is not None else None
        if signs is not None and early is not None:
            # what could change meanwhile as of the answer, not of this (later) reading
            started, children, sock, cpu, at = early
            signs = Signs(started, children, signs.logs, sock, cpu, at) if started else None
        if generation == self._generation:  # the console did not act meanwhile
            self._signs = signs

    def forget(self) -> None:
        """The next poll asks (the console itself just acted on supervisord)."""
        self._generation += 1
        self._signs = None

    # -- before a poll --------------------------------------------------------------------

    def quiet(self) -> bool:
        """True when asking supervisord now would give the states of the last poll."""
        if self._signs is None or self._proof is None:
            return False
        if time.monotonic() - self._asked_at >= self.full_every:
            return False
        now = _read_signs(self._proof)
        last = self._signs
        if now is None or not now.same(last) or not self._idle_cpu(last, now):
            self._signs = None
            return False
        self._signs = now
        self.skipped += 1
        return True

    def _idle_cpu(self, last: Signs, now: Signs) -> bool:
        """supervisord used no more CPU since ``last`` than it does when idle."""
        if now.cpu_ns < 0 or last.cpu_ns < 0:
            return True  # the kernel does not say: the other signs decide
        elapsed = max(now.at - last.at, 1e-3)
        used = now.cpu_ns - last.cpu_ns
        rate = used / elapsed
        idle = min(self._idle) if self._idle else rate
        if used > idle * elapsed * 2 + SLACK_NS:
            return False
        self._idle = [*self._idle[-(IDLE_SAMPLES - 1) :], rate]
        return True

    # -- proof ----------------------------------------------------------------------------

    def _prove(self, pid: int, processes: Sequence[ProcessInfo]) -> _Proof | None:
        started = _start_ticks(pid)
        if started is None:
            return None
        if self._proof is not None and (self._proof.pid, self._proof.started) == (pid, started):
            return self._proof
        if self._refused == (pid, started):
            return None
        self._proof = None
        proof = self._new_proof(pid, started, processes)
        if proof is None:
            self._refused = (pid, started)
        self._proof = proof
        return proof

    def _new_proof(self, pid: int, started: str, processes: Sequence[ProcessInfo]) -> _Proof | None:
        import psutil

        try:
            proc = psutil.Process(pid)
            if "supervisord" not in " ".join(proc.cmdline()):
                return None
            if not self._listens(proc):
                return None
            program_logs = {p.stdout_logfile for p in processes} | {
                p.stderr_logfile for p in processes
            }
            logs = tuple(
                f.path
                for f in proc.open_files()
                if f.path not in program_logs and _written(f.mode) and os.path.isfile(f.path)
            )
        except (psutil.Error, OSError):
            return None
        if not logs:
            return None  # its log is on stdout, syslog or nowhere: no sign of what it logs
        proof = _Proof(pid, started, logs, self.socket_path)
        return proof if _read_signs(proof) is not None else None

    def _listens(self, proc: psutil.Process) -> bool:
        """The process listens where the console reached supervisord."""
        import psutil

        if self.socket_path:
            # supervisord binds ``PATH.PID`` and links it to PATH: either name is its socket
            want = os.path.realpath(self.socket_path)
            names = {want, f"{want}.{proc.pid}"}
            return any(
                isinstance(c.laddr, str) and c.laddr and os.path.realpath(c.laddr) in names
                for c in proc.net_connections(kind="unix")
            )
        parts = urlsplit(self.url)
        if parts.scheme != "http" or (parts.hostname or "") not in _LOOPBACK:
            return False
        port = parts.port or 80
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr and c.laddr[1] == port
            for c in proc.net_connections(kind="inet")
        )


def _written(mode: str) -> bool:
    return any(ch in mode for ch in "wa+")


def _start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def _read_signs(proof: _Proof) -> Signs | None:
    """The signs now, or None when they cannot be read (the process is gone, or another)."""
    started = _start_ticks(proof.pid)
    if started != proof.started:
        return None
    try:
        with open(f"/proc/{proof.pid}/task/{proof.pid}/children", "rb") as fh:
            children = fh.read()
        logs = []
        for path in proof.logs:
            st = os.stat(path)
            logs.append((st.st_ino, st.st_size, st.st_mtime_ns))
    except OSError:
        return None
    return Signs(
        started,
        children,
        tuple(logs),
        _socket(proof.socket_path),
        _cpu_ns(proof.pid),
        time.monotonic(),
    )


def _socket(path: str | None) -> tuple[int, int] | None:
    """The socket's path as it is now (replaced by a file, removed: a poll must say so)."""
    if path is None:
        return (0, 0)
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mode)


def _cpu_ns(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return -1


def early_signs(
    pid: int, socket_path: str | None
) -> tuple[str | None, bytes, tuple[int, int] | None, int, float] | None:
    """The cheap signs (start, children, socket, CPU, time) read at once after an answer,
    for a :meth:`QuietCheck.mark` made later in a thread."""
    return _early_signs(pid, socket_path)


def _early_signs(
    pid: int, socket_path: str | None
) -> tuple[str | None, bytes, tuple[int, int] | None, int, float] | None:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as fh:
            children = fh.read()
    except OSError:
        return None
    return (_start_ticks(pid), children, _socket(socket_path), _cpu_ns(pid), time.monotonic())
