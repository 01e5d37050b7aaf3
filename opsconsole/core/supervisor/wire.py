"""One HTTP POST to supervisord over a plain socket (unix or TCP), read in a thread of its own.

Why not httpx here: supervisord (medusa, one thread) writes a large answer in many small
pieces (``getAllProcessInfo`` of 300 programs: ~340 KB in ~180 writes). An asyncio reader
wakes the event loop for each piece, and that was most of a refresh's client CPU. This
transport sends the request from a daemon thread (a small pool) with a blocking socket, reads
the headers, then the whole body in one ``recv_into(..., MSG_WAITALL)``: the thread sleeps in
the kernel until the last byte is there. The event loop is woken once, with the answer.

Bounded: every blocking call has a kernel timeout (``SO_RCVTIMEO``/``SO_SNDTIMEO``) set to
what is left of the call's deadline; headers are capped at :data:`MAX_HEAD_BYTES`; a body
larger than the caller's limit is refused when announced (Content-Length) or as soon as it
passes the limit (chunked or read to the end). Cancelling the awaiting task shuts the socket
down, which ends the thread's blocking call at once.

Failures are :class:`WireError` subclasses (connect, timeout, closed, too large); the client
turns them into its operator messages. Nothing here holds the request where a repr, a log
or an exception could show it (it carries the Authorization header).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import os
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

#: Largest status line plus headers accepted.
MAX_HEAD_BYTES = 64 * 1024
_READ_SIZE = 256 * 1024
#: how long past its deadline an exchange's caller waits for its thread before giving up
_GRACE = 2.0
_R = TypeVar("_R")


class WireError(Exception):
    """A failed exchange (the client maps each kind to its message)."""


class WireConnectError(WireError):
    """The connection could not be made (``__cause__`` is the OSError)."""


class WireTimeout(WireError):
    """No (complete) answer before the deadline."""


class WireClosed(WireError):
    """The server closed or reset the connection before the answer was complete, or what
    came back is not HTTP."""


class WireTooLarge(WireError):
    """The answer is larger than the caller's limit (not read)."""


@dataclass(frozen=True)
class Endpoint:
    """Where supervisord's XML-RPC server listens: a unix socket path, or a TCP host/port."""

    socket_path: str | None = None
    host: str = "localhost"
    port: int = 80
    path: str = "/RPC2"

    @property
    def host_header(self) -> str:
        if self.socket_path is not None:
            return "localhost"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"


class Credentials:
    """The ``Authorization`` header line for HTTP Basic auth. Its repr says nothing: a
    traceback that shows locals (Textual's crash screen does) or a log never shows it."""

    __slots__ = ("_line",)

    def __init__(self, username: str, password: str) -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._line = f"Authorization: Basic {token}\r\n".encode("ascii")

    def __repr__(self) -> str:
        return "<credentials>"

    def header(self) -> bytes:
        """The header line itself (only for the request)."""
        return self._line


def build_request(endpoint: Endpoint, body: bytes, auth: Credentials | None = None) -> bytes:
    """The HTTP/1.1 POST of ``body`` (``Connection: close``: one exchange per connection)."""
    head = (
        f"POST {endpoint.path} HTTP/1.1\r\n"
        f"Host: {endpoint.host_header}\r\n"
        "Content-Type: text/xml\r\n"
        "Accept-Encoding: identity\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
    ).encode("ascii")
    return head + (auth.header() if auth is not None else b"") + b"\r\n" + body


class _Workers:
    """Daemon threads that run exchanges: started when none is idle (up to ``most``), then
    kept waiting for the next one (so a call does not wait for a thread to start). Daemon:
    one blocked on a hung supervisord never holds up the interpreter's exit."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.threads = 0
        self.idle = 0

    def submit(self, job: Callable[[], None]) -> None:
        with self.lock:
            start = self.idle == 0 and self.threads < self.most
            if start:
                self.threads += 1
            else:
                self.idle -= 1  # taken by this job (or it waits for the next free thread)
        self.jobs.put(job)
        if start:
            threading.Thread(target=self._serve, name="supervisor-rpc", daemon=True).start()

    def _serve(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                job()  # Exchange.send's job delivers everything to its future
            except Exception:
                pass
            with self.lock:
                self.idle += 1


#: at most this many exchanges at once (more wait their turn; each is bounded by its timeout)
_WORKERS = _Workers(16)


def _forget_workers_after_fork() -> None:
    """A forked child has none of its parent's threads: it starts its own when it needs one."""
    global _WORKERS
    _WORKERS = _Workers(_WORKERS.most)


os.register_at_fork(after_in_child=_forget_workers_after_fork)


class Exchange:
    """One request and its answer. :meth:`run` blocks (it is the thread's body);
    :meth:`send` runs it in a daemon thread and awaits it; :meth:`abort` ends it early."""

    __slots__ = (
        "_aborted", "_deadline", "_endpoint", "_limit", "_lock", "_request", "_sock", "_timeout"
    )  # fmt: skip

    def __init__(
        self,
        endpoint: Endpoint,
        body: bytes,
        auth: Credentials | None,
        timeout: float,
        limit: int,
    ) -> None:
        self._endpoint = endpoint
        #: the request, only ever here (a local holding it would show in a traceback's locals)
        self._request = build_request(endpoint, body, auth)
        self._timeout = timeout
        #: the whole exchange ends by then (waiting for a free thread included)
        self._deadline = time.monotonic() + timeout
        self._limit = limit
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._aborted = False

    def __repr__(self) -> str:  # never the request: it carries the password
        return f"<Exchange {self._endpoint!r}>"

    async def send(self) -> tuple[int, bytes]:
        """Run the exchange in a daemon thread; return (HTTP status, body). The body is read
        only for a 200 answer (b"" otherwise). Raises WireError subclasses."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, bytes]] = loop.create_future()

        def settle(result: tuple[int, bytes] | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                assert result is not None
                future.set_result(result)

        def work() -> None:
            result: tuple[int, bytes] | None = None
            error: BaseException | None = None
            try:
                result = self.run()
            except BaseException as exc:  # delivered to the awaiting task
                error = exc
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

        _WORKERS.submit(work)
        try:
            # the thread ends itself by the deadline; this guard only covers a thread that
            # never ran (every one of them stuck): the caller is never left waiting forever
            guard = max(0.0, self._deadline - time.monotonic()) + _GRACE
            return await asyncio.wait_for(asyncio.shield(future), guard)
        except asyncio.TimeoutError as exc:
            self.abort()
            raise WireTimeout("no thread answered") from exc
        except asyncio.CancelledError:
            self.abort()
            raise

    def abort(self) -> None:
        """End a blocking read or write of :meth:`run` now (it then raises WireClosed)."""
        with self._lock:
            self._aborted = True
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # -- the thread's side --------------------------------------------------------------

    def run(self) -> tuple[int, bytes]:
        """The whole exchange, blocking. Raises WireError subclasses."""
        deadline = self._deadline
        if time.monotonic() >= deadline:
            raise WireTimeout("no thread was free in time")
        sock = self._connect(deadline)
        try:
            with self._lock:
                if self._aborted:
                    raise WireClosed("aborted")
                self._sock = sock
            self._send_all(sock, deadline)
            reader = _Reader(sock, deadline)
            status, headers = reader.head()
            if status != 200:
                return status, b""
            return status, self._body(reader, headers)
        finally:
            with self._lock:
                self._sock = None
                sock.close()

    def _connect(self, deadline: float) -> socket.socket:
        ep = self._endpoint
        left = max(0.001, deadline - time.monotonic())
        try:
            if ep.socket_path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(left)
                    sock.connect(ep.socket_path)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection((ep.host, ep.port), timeout=left)
        except TimeoutError as exc:
            raise WireTimeout("connect") from exc
        except OSError as exc:
            raise WireConnectError(str(exc)) from exc
        sock.settimeout(None)  # blocking from here: the kernel's timeouts bound each call
        return sock

    def _send_all(self, sock: socket.socket, deadline: float) -> None:
        view = memoryview(self._request)
        while view:
            _kernel_timeout(sock, socket.SO_SNDTIMEO, deadline)
            try:
                sent = sock.send(view)
            except BlockingIOError as exc:
                raise WireTimeout("send") from exc
            except OSError as exc:
                raise WireClosed("send") from exc
            view = view[sent:]

    def _body(self, reader: _Reader, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return reader.chunked(self._limit)
        length = headers.get("content-length")
        if length is None:
            return reader.to_end(self._limit)
        if not length.isdigit():
            raise WireClosed("bad Content-Length")
        size = int(length)
        if size > self._limit:
            raise WireTooLarge(str(size))
        return reader.exactly(size)


def _kernel_timeout(sock: socket.socket, option: int, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise WireTimeout("deadline")
    seconds = int(left)
    micro = max(1, int((left - seconds) * 1_000_000))  # (0, 0) would mean no timeout
    sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("ll", seconds, micro))


class _Reader:
    """Buffered blocking reads off the socket, each bounded by the deadline."""

    __slots__ = ("buf", "deadline", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = bytearray()

    def _receiving(self, call: Callable[[], _R]) -> _R:
        """``call`` (a recv on the socket) under the deadline: a timeout or a closed
        connection as the transport's own errors."""
        _kernel_timeout(self.sock, socket.SO_RCVTIMEO, self.deadline)
        try:
            return call()
        except BlockingIOError as exc:
            raise WireTimeout("recv") from exc
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise WireTimeout("recv") from exc
            raise WireClosed("recv") from exc

    def _recv(self, size: int) -> bytes:
        return self._receiving(partial(self.sock.recv, size))

    def _fill(self) -> None:
        data = self._recv(_READ_SIZE)
        if not data:
            raise WireClosed("eof")
        self.buf += data

    def line(self, limit: int) -> bytes:
        """Up to CRLF (not included)."""
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                out = bytes(self.buf[:end])
                del self.buf[: end + 2]
                return out
            if len(self.buf) > limit:
                raise WireClosed("line too long")
            self._fill()

    def head(self) -> tuple[int, dict[str, str]]:
        """The status code and the headers (names lower-cased)."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > MAX_HEAD_BYTES:
                raise WireClosed("headers too long")
            self._fill()
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise WireClosed("not HTTP")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise WireClosed("bad header")
            key = name.strip().lower()
            value = value.strip()
            if key in headers and headers[key] != value:
                if key == "content-length":
                    raise WireClosed("two Content-Lengths")
                value = f"{headers[key]}, {value}"
            headers[key] = value
        return int(code), headers

    def exactly(self, size: int) -> bytes:
        """``size`` bytes: what is buffered, the rest in one waiting read (or a few)."""
        out = bytearray(size)
        have = min(len(self.buf), size)
        out[:have] = self.buf[:have]
        del self.buf[:have]
        view = memoryview(out)
        while have < size:
            got = self._receiving(
                partial(self.sock.recv_into, view[have:], size - have, socket.MSG_WAITALL)
            )
            if got == 0:
                raise WireClosed("eof")
            have += got
        return bytes(out)

    def to_end(self, limit: int) -> bytes:
        """Everything until the server closes (an answer without a length)."""
        chunks = [bytes(self.buf)]
        size = len(self.buf)
        self.buf.clear()
        while size <= limit:
            data = self._recv(_READ_SIZE)
            if not data:
                return b"".join(chunks)
            chunks.append(data)
            size += len(data)
        raise WireTooLarge(str(size))

    def chunked(self, limit: int) -> bytes:
        """A ``Transfer-Encoding: chunked`` body."""
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.line(1024).split(b";", 1)[0].strip()
            try:
                length = int(line, 16)
            except ValueError as exc:
                raise WireClosed("bad chunk size") from exc
            if length < 0:
                raise WireClosed("bad chunk size")
            if length == 0:
                return b"".join(chunks)  # trailers, if any, are not needed
            size += length
            if size > limit:
                raise WireTooLarge(str(size))
            chunks.append(self.exactly(length))
            if self.line(2):
                raise WireClosed("bad chunk end")
