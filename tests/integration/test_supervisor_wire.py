"""The client's own transport against the real supervisord: unix socket and inet with auth,
a wrong password, a supervisord killed while the console waits for its answer, an answer cut
off half-way (a relay passes the real answer and hangs up), a stalled one, a cancelled call.

Every failure is the error the console has always shown for it, promptly, never a hang.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.core.config import SupervisorTarget
from opsconsole.core.supervisor import (
    AuthFailed,
    NotResponding,
    SupervisorClient,
    Unreachable,
    decode_response,
)
from opsconsole.demo.bare import BareSupervisord
from opsconsole.demo.stack import DemoStack

pytestmark = pytest.mark.integration


def _by_name(programs: list[dict[str, object]]) -> dict[str, tuple[object, object]]:
    return {f"{p['group']}:{p['name']}": (p["statename"], p["pid"]) for p in programs}


@pytest.mark.parametrize("where", ["unix", "inet"])
async def test_reads_what_supervisord_has_over_unix_and_inet_with_auth(
    demo_stack: DemoStack, where: str
) -> None:
    url = demo_stack.socket_url if where == "unix" else demo_stack.http_url
    target = SupervisorTarget("demo", url, demo_stack.username, demo_stack.password)
    async with SupervisorClient(target, timeout=10) as client:
        assert not client.via_httpx
        rows = await client.get_all_process_info()
        body = await client.call_raw("supervisor.getAllProcessInfo")
        info = await client.get_server_info()
    truth = demo_stack.rpc().supervisor.getAllProcessInfo()  # stdlib xmlrpc, same moment
    assert {f"{p.group}:{p.name}": (p.statename, p.pid) for p in rows} == _by_name(truth)
    assert decode_response(body, "supervisor.getAllProcessInfo") == xmlrpc.client.loads(body)[0][0]
    assert demo_stack.supervisord is not None and info.pid == demo_stack.supervisord.pid


async def test_wrong_password_over_inet_says_whose_and_never_shows_it(
    demo_stack: DemoStack,
) -> None:
    secret = "not-the-password-7f3a"
    target = SupervisorTarget("demo", demo_stack.http_url, "demo", secret, "ops.toml")
    async with SupervisorClient(target) as client:
        with pytest.raises(AuthFailed) as info:
            await client.get_all_process_info()
        shown = [str(info.value), repr(info.value), info.value.message, info.value.hint]
        shown += [repr(client), repr(client.__dict__)]
    assert info.value.message == (
        f"the username/password from ops.toml was rejected by supervisord at {demo_stack.http_url}"
    )
    assert "password" in info.value.hint
    cause: BaseException | None = info.value
    while cause is not None:  # nor anywhere in what the exception carries
        shown.append(repr(cause))
        cause = cause.__cause__ or cause.__context__
    token = base64.b64encode(f"demo:{secret}".encode()).decode()  # as the header carries it
    assert not [s for s in shown if secret in s or token in s]


class Relay:
    """Between the client and the real supervisord (a unix socket of its own): passes the
    request on and then, by ``mode``, the whole answer (``pass``), its first half and a
    hang-up (``cut``), or its first half and nothing more (``stall``, until stopped)."""

    def __init__(self, real: str, path: Path, mode: str) -> None:
        self.real, self.path, self.mode = real, path, mode
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(4)
        self.stop = threading.Event()
        self.half_sent = threading.Event()
        self.client_gone = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(20)
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(65536)
        head, _, body = request.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += conn.recv(65536)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as up:
            up.settimeout(20)
            up.connect(self.real)
            up.sendall(head + b"\r\n\r\n" + body)
            answer = b""
            while chunk := up.recv(1 << 20):
                answer += chunk
        if self.mode == "pass":
            conn.sendall(answer)
            return
        conn.sendall(answer[: len(answer) // 2])
        self.half_sent.set()
        if self.mode == "stall":  # until the client hangs up (or the test ends)
            while not self.stop.is_set():
                try:
                    if conn.recv(1) == b"":
                        break
                except TimeoutError:
                    continue
                except OSError:
                    break
            self.client_gone.set()

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.fixture
def relay(demo_stack: DemoStack, tmp_path: Path) -> Iterator[Relay]:
    r = Relay(str(demo_stack.socket_path), tmp_path / "relay.sock", "pass")
    try:
        yield r
    finally:
        r.close()


def _through(relay: Relay, demo_stack: DemoStack) -> SupervisorTarget:
    return SupervisorTarget(
        "demo", f"unix://{relay.path}", demo_stack.username, demo_stack.password
    )


async def test_answer_cut_off_half_way_is_a_clear_error_at_once(
    relay: Relay, demo_stack: DemoStack
) -> None:
    async with SupervisorClient(_through(relay, demo_stack), timeout=30) as client:
        assert len(await client.get_all_process_info()) >= 2  # the relay passes answers whole
        relay.mode = "cut"
        started = time.monotonic()
        with pytest.raises(Unreachable) as info:
            await client.get_all_process_info()
        assert time.monotonic() - started < 15  # not the 30 s timeout: the hang-up is seen
        relay.mode = "pass"
        assert len(await client.get_all_process_info()) >= 2  # and the next poll works
    assert info.value.message == f"supervisord at unix://{relay.path} closed the connection"
    assert "keeps retrying" in info.value.hint


async def test_stalled_answer_times_out_and_a_cancelled_call_hangs_up(
    relay: Relay, demo_stack: DemoStack
) -> None:
    relay.mode = "stall"
    async with SupervisorClient(_through(relay, demo_stack), timeout=0.5) as client:
        with pytest.raises(NotResponding, match=r"is not responding \(no answer in"):
            await client.get_all_process_info()
    assert await asyncio.to_thread(relay.client_gone.wait, 10), "the client did not hang up"
    relay.client_gone.clear()
    relay.half_sent.clear()
    async with SupervisorClient(_through(relay, demo_stack), timeout=60) as client:
        task = asyncio.ensure_future(client.get_all_process_info())
        assert await asyncio.to_thread(relay.half_sent.wait, 20), "no half answer was sent"
        task.cancel()  # e.g. the console quits while supervisord is stuck mid-answer
        with pytest.raises(asyncio.CancelledError):
            await task
    # the cancelled call's thread shut its socket at once: the relay saw it go (not after 60 s)
    assert await asyncio.to_thread(relay.client_gone.wait, 10), "the cancelled call held on"


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss to see the queued connection")
async def test_supervisord_killed_while_the_console_waits_is_a_clear_error(
    tmp_path: Path,
) -> None:
    bare = BareSupervisord({}, tmp_path / "bare")
    bare.start()
    assert bare.proc is not None
    proc = bare.proc
    try:
        os.kill(proc.pid, signal.SIGSTOP)  # it accepts nothing now: the request waits queued
        async with SupervisorClient(SupervisorTarget("bare", bare.url), timeout=60) as client:
            task = asyncio.ensure_future(client.get_all_process_info())
            deadline = time.monotonic() + 20
            while not _queued(bare.sock) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert _queued(bare.sock), "the request never reached supervisord's socket"
            started = time.monotonic()
            proc.kill()
            with pytest.raises(Unreachable) as info:
                await task
            assert time.monotonic() - started < 15  # not the 60 s timeout
    finally:
        proc.kill()
        proc.wait(timeout=20)
        bare.stop()
    assert info.value.message == f"supervisord at {bare.url} closed the connection"


def _queued(sock: Path) -> bool:
    """A connection waits in the listening socket's queue (ss: its Recv-Q). supervisord binds
    a temporary name (``supervisor.sock.PID``) and renames it: ss shows the bound one."""
    out = subprocess.run(["ss", "-xlnH"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        cols = line.split()
        if len(cols) > 4 and cols[4].startswith(str(sock)) and cols[2].isdigit():
            return int(cols[2]) > 0
    return False


# ----------------------------------------------------------- answers supervisord never gives
# (a loopback server plays another HTTP server: the transport must still read them right)


def _serve_once(answer: bytes) -> tuple[str, threading.Thread]:
    """A TCP server on loopback that reads one request, writes ``answer`` and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(10)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                conn.sendall(answer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.getsockname()[1]}", thread


async def test_chunked_and_close_delimited_answers_are_read_whole() -> None:
    body = xmlrpc.client.dumps((["a" * 70_000, "é"],), methodresponse=True).encode()
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    for answer in (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked,
        b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n" + body,  # no length: to the end
    ):
        url, thread = _serve_once(answer)
        async with SupervisorClient(SupervisorTarget("other", url), timeout=10) as client:
            assert await client.call("supervisor.getState") == ["a" * 70_000, "é"]
        thread.join(10)


async def test_a_server_that_is_not_http_is_the_usual_closed_connection() -> None:
    url, thread = _serve_once(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    async with SupervisorClient(SupervisorTarget("other", url), timeout=10) as client:
        with pytest.raises(Unreachable) as info:
            await client.get_all_process_info()
    thread.join(10)
    assert info.value.message == f"supervisord at {url} closed the connection"
