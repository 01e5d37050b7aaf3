"""A tiny HTTP server on loopback that answers XML-RPC calls the way a broken or hostile
supervisord (or a wrong URL) would: huge, endless, malformed, wrongly shaped, or fine.

Only for answers a real supervisord cannot be made to give. Every response loop is bounded
in bytes and time, and the server only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: never send more than this, whatever the mode (the client should stop far earlier)
SEND_CAP = 256 * 1024 * 1024
SEND_TIME_CAP = 30.0

PROCESS = {
    "name": "fakeprog",
    "group": "fakeprog",
    "state": 20,
    "statename": "RUNNING",
    "pid": 0,
    "description": "answered by the fake server",
    "start": 1,
    "stop": 0,
    "now": 2,
    "spawnerr": "",
    "exitstatus": 0,
    "stdout_logfile": "",
    "stderr_logfile": "",
}


def response(value: Any) -> bytes:
    return xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()


def good_answer(method: str) -> bytes:
    """What a healthy supervisord answers to the calls the console makes while polling."""
    if method == "system.multicall":
        return response([["4.2.5"], [4242], [{"statename": "RUNNING", "statecode": 1}], ["fake"]])
    if method == "supervisor.getAllProcessInfo":
        return response([PROCESS])
    return response(True)


@dataclass
class FakeSupervisor:
    """``mode`` picks the answer: ``ok``, ``huge`` (``size`` bytes with a Content-Length),
    ``endless`` (no length, streams until the client hangs up), ``garbage``, ``truncated``,
    ``http500``, ``wrong-shape`` (valid XML-RPC of the wrong type), ``bad-entry`` (a process
    whose pid is not a number)."""

    mode: str = "ok"
    size: int = 0
    sent: int = 0
    requests: int = 0
    methods: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeSupervisor:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    _, method = xmlrpc.client.loads(body)
                except Exception:
                    method = "?"
                fake.requests += 1
                fake.methods.append(str(method))
                try:
                    fake.answer(self, str(method))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: exactly what a bounded client does

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a stuck handler must not hold up the test
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _chunks(self, total: int | None) -> Iterator[bytes]:
        chunk = b"<value><string>" + b"x" * (64 * 1024 - 32) + b"</string></value>"
        started = time.monotonic()
        head = b"<?xml version='1.0'?><methodResponse><params><param><value><array><data>"
        sent = len(head)
        yield head
        while total is None or sent < total:
            if self.sent >= SEND_CAP or time.monotonic() - started > SEND_TIME_CAP:
                return
            piece = chunk if total is None else chunk[: total - sent]
            sent += len(piece)
            yield piece

    def answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        mode = self.mode
        if mode == "http500":
            body = b"<html><body>500 Internal Server Error</body></html>"
            handler.send_response(500)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        if mode in ("huge", "endless"):
            handler.send_response(200)
            handler.send_header("Content-Type", "text/xml")
            if mode == "huge":
                handler.send_header("Content-Length", str(self.size))
            handler.end_headers()
            for piece in self._chunks(self.size if mode == "huge" else None):
                handler.wfile.write(piece)
                self.sent += len(piece)
            return
        if mode == "garbage":
            body = b"<html><head><title>502 Bad Gateway</title></head></html>"
        elif mode == "truncated":
            body = good_answer(method)[:-40]
        elif mode == "wrong-shape":
            body = response("this is not what was asked for")
        elif mode == "bad-entry":
            if method == "supervisor.getAllProcessInfo":
                body = response([dict(PROCESS, pid="not-a-number")])
            else:
                body = good_answer(method)
        else:
            body = good_answer(method)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
