"""Gunicorn's control socket (gunicorn >= 25.1): frames, answers, and a small blocking client.

Wire format (checked against gunicorn 27.0.1, ``gunicorn/ctl/protocol.py`` and ``server.py``):
each message is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
Requests are ``{"id": n, "command": "show", "args": ["workers"]}``; the server joins
``command`` and ``args`` into one command line. Answers are ``{"id": n, "status": "ok",
"data": {...}}`` or ``{"id": n, "status": "error", "error": "..."}``.

The frame functions are pure (no I/O) so they can be fuzzed. The client refuses commands that
change anything in read-only mode before it connects, and sends nothing on a connection until
the kernel has shown that the master it was made for is the one listening (see
:func:`peer_pid`): several masters can share one control-socket path.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from opsconsole.core import actions, procs
from opsconsole.core.errors import OpsError
from opsconsole.core.procs import ProcIdentity

#: Largest frame we accept. Gunicorn itself allows 16 MB; its answers are a few KB, so a
#: length beyond this is a broken or hostile peer, not a big answer.
MAX_FRAME = 4 * 1024 * 1024

#: Commands that only read. Everything else (worker add/remove/kill, reload, reopen,
#: shutdown) changes the server and is refused in read-only mode.
READ_COMMANDS = frozenset({"show", "help"})

_HEADER = struct.Struct(">I")


class ControlSocketError(OpsError):
    """The control socket could not be reached or answered badly."""


class FrameError(ControlSocketError):
    """A frame is malformed: too large, not UTF-8, not JSON, or not a JSON object."""


class CommandFailed(ControlSocketError):
    """Gunicorn answered the command with ``status: error``."""


class NotTheMaster(ControlSocketError):
    """The process listening on the control socket is not the master the client was made for
    (several masters bound the same path: the last one to bind answers). Nothing was sent."""

    def __init__(self, message: str, hint: str = "", *, peer: int | None = None) -> None:
        super().__init__(message, hint)
        self.peer = peer


# --------------------------------------------------------------------------- frames (pure)


def encode_frame(message: dict[str, Any]) -> bytes:
    """The bytes for one message: 4-byte big-endian length + compact JSON.

    Raises FrameError if the encoded message would be larger than :data:`MAX_FRAME`.
    """
    payload = json.dumps(message, separators=(",", ":")).encode("utf-8")
    if len(payload) > MAX_FRAME:
        raise FrameError(f"control message of {len(payload)} bytes is larger than {MAX_FRAME}")
    return _HEADER.pack(len(payload)) + payload


def decode_frame(buffer: bytes) -> tuple[dict[str, Any] | None, bytes]:
    """Split one complete message off the front of ``buffer``.

    Returns ``(message, rest)``, or ``(None, buffer)`` when more bytes are needed. Raises
    FrameError when the announced length is above :data:`MAX_FRAME` (checked before waiting
    for the payload) or the payload is not a UTF-8 JSON object.
    """
    if len(buffer) < _HEADER.size:
        return None, buffer
    (length,) = _HEADER.unpack_from(buffer)
    if length > MAX_FRAME:
        raise FrameError(
            f"control socket announced a {length}-byte message (limit {MAX_FRAME}); not read",
            "is this really a gunicorn control socket?",
        )
    end = _HEADER.size + length
    if len(buffer) < end:
        return None, buffer
    payload = buffer[_HEADER.size : end]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError(f"control message is not UTF-8 (byte {exc.start})") from None
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise FrameError(f"control message is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError(f"control message is a JSON {type(message).__name__}, not an object")
    return message, buffer[end:]


def make_request(request_id: int, command: str, args: list[str] | None = None) -> dict[str, Any]:
    """A request message as gunicorn's server expects it."""
    return {"id": request_id, "command": command, "args": list(args or [])}


def response_data(message: dict[str, Any], request_id: int | None = None) -> dict[str, Any]:
    """The ``data`` of an answer. Raises CommandFailed for ``status: error``, FrameError for
    an answer to another request or of an unknown shape."""
    if request_id is not None and message.get("id") != request_id:
        raise FrameError(
            f"control socket answered request {message.get('id')!r}, expected {request_id}"
        )
    status = message.get("status")
    if status == "error":
        raise CommandFailed(f"gunicorn refused the command: {message.get('error', 'no reason')}")
    if status != "ok":
        raise FrameError(f"control answer has unknown status {status!r}")
    data = message.get("data", {})
    if not isinstance(data, dict):
        raise FrameError(f"control answer data is a {type(data).__name__}, not an object")
    return data


# --------------------------------------------------------------------------- answers (pure)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 2**62:
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value == value:
        return float(value)
    return None


@dataclass
class CtlStats:
    """``show stats``. Missing or mistyped fields are None."""

    pid: int | None = None
    uptime: float | None = None
    workers_current: int | None = None
    workers_target: int | None = None
    workers_spawned: int | None = None
    workers_killed: int | None = None
    reloads: int | None = None


@dataclass
class CtlWorker:
    """One entry of ``show workers``."""

    pid: int
    age: int | None = None
    booted: bool | None = None
    aborted: bool | None = None
    last_heartbeat: float | None = None


@dataclass
class CtlSnapshot:
    """What one refresh read from a control socket."""

    path: str
    stats: CtlStats = field(default_factory=CtlStats)
    workers: list[CtlWorker] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def parse_stats(data: dict[str, Any]) -> CtlStats:
    """``show stats`` data to :class:`CtlStats` (pure; never raises)."""
    return CtlStats(
        pid=_int(data.get("pid")),
        uptime=_float(data.get("uptime")),
        workers_current=_int(data.get("workers_current")),
        workers_target=_int(data.get("workers_target")),
        workers_spawned=_int(data.get("workers_spawned")),
        workers_killed=_int(data.get("workers_killed")),
        reloads=_int(data.get("reloads")),
    )


def parse_workers(data: dict[str, Any]) -> list[CtlWorker]:
    """``show workers`` data to a list (pure; entries without an integer pid are skipped)."""
    raw = data.get("workers")
    out: list[CtlWorker] = []
    if not isinstance(raw, list):
        return out
    for item in raw:
        if not isinstance(item, dict):
            continue
        pid = _int(item.get("pid"))
        if pid is None or pid <= 0:
            continue
        booted = item.get("booted")
        aborted = item.get("aborted")
        out.append(
            CtlWorker(
                pid=pid,
                age=_int(item.get("age")),
                booted=booted if isinstance(booted, bool) else None,
                aborted=aborted if isinstance(aborted, bool) else None,
                last_heartbeat=_float(item.get("last_heartbeat")),
            )
        )
    return out


# --------------------------------------------------------------------------- peer proof

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_pid(sock: socket.socket) -> int | None:
    """The pid of the process that listens on the other end of a connected unix socket, from
    the kernel (``SO_PEERCRED``); None when the kernel cannot say (not Linux, or the listener
    is in a pid namespace this process cannot see: the kernel reports pid 0).

    Why this and not the path: gunicorn's control server (a thread of the master, so the
    kernel reports the master's pid) unlinks the path and binds it again around every fork,
    and so does every other master configured with the same path (gunicorn's default
    ``~/.gunicorn/gunicorn.ctl`` for every master of one user, or a shared config). The path
    reaches whichever master bound it last, and that changes whenever any of them forks a
    worker. Comparing inodes does not settle it either: ``os.stat(path).st_ino`` is the
    inode of the file in the directory, not of the socket the master holds in /proc/PID/fd
    (``socket:[N]``), and /proc/net/unix lists every socket ever bound to that path, the
    replaced ones included, so it cannot tell which one the path leads to now. And any check
    made before connecting can be outdated by a rebind before the connect. ``SO_PEERCRED``
    is read from the connection itself: the kernel recorded who called ``listen()`` on the
    socket this connection reached, so it proves who answers on exactly this connection.
    """
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, option, _UCRED.size)
    except OSError:
        return None
    pid = int(_UCRED.unpack(raw)[0])
    return pid if pid > 0 else None


def _describe(pid: int) -> str:
    """``pid 1234 ('gunicorn: master [web]')`` for messages: who answers instead."""
    try:
        argv = ProcIdentity.of(pid).cmdline
    except OpsError:
        return f"pid {pid}"
    return f"pid {pid} ({' '.join(argv)[:60]!r})"


# --------------------------------------------------------------------------- client


class ControlClient:
    """Blocking client for the control socket of one master; one connection per command.

    ``expect`` is the master the client may talk to: every connection is checked (see
    :func:`peer_pid`) and refused with :class:`NotTheMaster` before anything is sent when
    another process listens there. No command, reading or changing, goes to a peer that is
    not proven to be that master.

    Gunicorn stops and restarts its control server around every fork (to stay fork-safe), so
    the socket can be missing for a moment while workers are spawned: connecting retries for
    up to ``retry_for`` seconds.
    """

    def __init__(
        self,
        path: str,
        *,
        expect: ProcIdentity,
        timeout: float = 3.0,
        retry_for: float = 1.5,
    ) -> None:
        self.path = path
        self.expect = expect
        self.timeout = timeout
        self.retry_for = retry_for
        self._next_id = 0
        self.sent: list[str] = []  # every command line sent, in order

    def _check_peer(self, sock: socket.socket) -> None:
        """Raise NotTheMaster unless the expected master (same pid, same start time) is the
        process listening on the other end of ``sock``."""
        want = self.expect
        peer = peer_pid(sock)
        if peer == want.pid:
            started = procs.process_start_time(peer)
            if started is not None and abs(started - want.create_time) <= 0.01:
                return
            raise NotTheMaster(
                f"gunicorn control socket {self.path}: pid {peer} is not the master "
                f"started at {want.create_time:.0f} any more; nothing was sent",
                "refresh and look again",
                peer=peer,
            )
        who = "a process opsconsole cannot see" if peer is None else _describe(peer)
        raise NotTheMaster(
            f"control socket {self.path} is answered by {who}, not gunicorn master "
            f"{want.pid}: several masters share this path; nothing was sent",
            "opsconsole reads this master from /proc and scales it with signals; "
            "give each master its own --control-socket",
            peer=peer,
        )

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + self.retry_for
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
            except OSError as exc:
                sock.close()
                transient = exc.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN)
                if exc.errno == errno.ENOENT and not os.path.isdir(os.path.dirname(self.path)):
                    transient = False  # its directory is gone: it will not come back
                if transient and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                if exc.errno == errno.EACCES:
                    raise ControlSocketError(
                        f"no permission to use gunicorn control socket {self.path}",
                        "it is mode 0600: run opsconsole as the user gunicorn runs as",
                    ) from exc
                raise ControlSocketError(
                    f"cannot connect to gunicorn control socket {self.path}: {exc.strerror}",
                    "is the master still running? opsconsole falls back to signals",
                ) from exc
            try:
                self._check_peer(sock)
            except BaseException:
                sock.close()
                raise
            return sock

    def command(self, command: str, args: list[str] | None = None) -> dict[str, Any]:
        """Send one command (``"show"``, ``["stats"]``); return the answer's data.

        Raises ReadOnlyError before connecting for a changing command in read-only mode,
        NotTheMaster (before sending) when another process listens on the path,
        ControlSocketError when the socket cannot be used, CommandFailed when gunicorn refuses.
        """
        words = command.split()
        verb = words[0].lower() if words else ""
        line = " ".join([command, *(args or [])])
        if verb not in READ_COMMANDS:
            actions.assert_writable(f"send '{line}' to gunicorn control socket {self.path}")
        self._next_id += 1
        request_id = self._next_id
        frame = encode_frame(make_request(request_id, command, args))
        sock = self._connect()
        try:
            self.sent.append(line)
            sock.sendall(frame)
            buffer = b""
            while True:
                message, buffer = decode_frame(buffer)
                if message is not None:
                    return response_data(message, request_id)
                chunk = sock.recv(65536)
                if not chunk:
                    raise ControlSocketError(
                        f"gunicorn control socket {self.path} closed the connection mid-answer"
                    )
                buffer += chunk
        except TimeoutError as exc:
            raise ControlSocketError(
                f"gunicorn control socket {self.path} did not answer in {self.timeout:.0f} s",
                "the master may be busy or stopped",
            ) from exc
        except OSError as exc:
            raise ControlSocketError(
                f"gunicorn control socket {self.path} failed: {exc.strerror or exc}"
            ) from exc
        finally:
            sock.close()

    def snapshot(self) -> CtlSnapshot:
        """``show stats`` and ``show workers`` (and ``show config``) in one go."""
        snap = CtlSnapshot(self.path)
        snap.stats = parse_stats(self.command("show", ["stats"]))
        snap.workers = parse_workers(self.command("show", ["workers"]))
        try:
            snap.config = self.command("show", ["config"])
        except CommandFailed:
            snap.config = {}
        return snap
