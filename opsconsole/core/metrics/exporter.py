"""The Prometheus endpoint: a custom ``prometheus_client`` collector over a host's poller.

:class:`Exporter` owns an asyncio loop in a thread of its own. In that loop it builds the
host (read-only: the gate is built there, so the loop and every task and thread it starts is
governed by it) and a :class:`~opsconsole.core.metrics.poll.Poller` that refreshes gunicorn,
nginx, probes, the topology and ``nginx -T`` on their intervals. A scrape (an HTTP server
thread of ``prometheus_client``) asks the loop to read the supervisords now and waits at most
``scrape_timeout``: when they do not answer in time the scrape serves the last good values
with ``opsconsole_scrape_stale 1`` and ``opsconsole_collect_ok{part="programs"} 0``. A scrape
never hangs on a backend.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from socketserver import ThreadingMixIn
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from opsconsole.core.actions import govern_threads
from opsconsole.core.host import Host
from opsconsole.core.metrics.families import Families, build
from opsconsole.core.metrics.poll import Poller

T = TypeVar("T")


class _One:
    """One family, as ``generate_latest`` takes a registry."""

    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> list[Metric]:
        return [self.family]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        # headers and body leave in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold the body back ~40 ms on every scrape
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HostCollector(Collector):
    """A ``prometheus_client`` collector: each ``collect()`` reads the supervisords of every
    host through ``refresh`` (at most ``timeout`` seconds; it answers the hosts that did not
    make it) and yields the families of the pollers."""

    def __init__(
        self,
        pollers: list[Poller],
        refresh: Callable[[float], set[str]],
        *,
        timeout: float,
        worker_pids: bool = False,
    ) -> None:
        self.pollers = pollers
        self.refresh = refresh
        self.timeout = timeout
        self.worker_pids = worker_pids

    def families(self) -> Families:
        """Read the supervisords now (bounded) and return every family's samples."""
        stale = self.refresh(self.timeout)
        return build(self.pollers, stale=stale, worker_pids=self.worker_pids)

    def collect(self) -> Iterator[Metric]:
        yield from self.families()

    def describe(self) -> list[Metric]:
        return []  # collected on each scrape only (registering must not read a host)


class Exporter:
    """Serve the metrics of one or more hosts (see the module docstring).

    ``make_hosts`` is called in the exporter's loop thread; it builds the hosts with a
    read-only gate (``LocalHost`` of a read-only config), which then governs the loop, every
    task and thread it starts, and every call made through :meth:`call`."""

    def __init__(
        self,
        make_hosts: Callable[[], Sequence[Host]],
        *,
        interval: float = 1.0,
        scrape_timeout: float = 10.0,
        poller_options: dict[str, Any] | None = None,
        worker_pids: bool = False,
    ) -> None:
        self.make_hosts = make_hosts
        self.interval = interval
        self.scrape_timeout = scrape_timeout
        self.poller_options = dict(poller_options or {})
        self.worker_pids = worker_pids
        self.loop: asyncio.AbstractEventLoop | None = None
        self.hosts: list[Host] = []
        self.pollers: list[Poller] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self._context: contextvars.Context | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._server: WSGIServer | None = None
        self._collector: HostCollector | None = None
        self._render_lock = threading.Lock()
        self._rendered: dict[str, tuple[Any, bytes]] = {}

    # -- the loop thread -----------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> Exporter:
        """Start the loop thread, build the hosts there and take a first reading."""
        self._thread = threading.Thread(target=self._main, name="opsconsole-exporter", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the exporter's hosts did not start in time")
        if self._failed is not None:
            raise self._failed
        self._collector = HostCollector(
            self.pollers,
            self._refresh,
            timeout=self.scrape_timeout,
            worker_pids=self.worker_pids,
        )
        self.registry.register(self._collector)
        return self

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        govern_threads(self.loop)
        try:
            self.hosts = list(self.make_hosts())
            self._context = contextvars.copy_context()  # the context the gate governs
            self.pollers = [
                Poller(
                    h,
                    interval=self.interval,
                    probe_interval=max(2.0, self.interval),
                    **self.poller_options,
                )
                for h in self.hosts
            ]
            self._stop = asyncio.Event()
            await asyncio.gather(*(p.refresh() for p in self.pollers))
        except BaseException as exc:  # reported to start()
            self._failed = exc
            self._ready.set()
            await asyncio.gather(*(h.aclose() for h in self.hosts), return_exceptions=True)
            return
        self._ready.set()
        stop = self._stop
        try:
            # programs are read by each scrape; between scrapes only the other parts
            await asyncio.gather(*(p.run(stop, programs=False) for p in self.pollers))
        finally:
            await asyncio.gather(*(h.aclose() for h in self.hosts), return_exceptions=True)

    def call(self, make: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        """Run ``make()`` in the exporter's loop, in the context its read-only gate governs,
        and wait for its result (at most ``timeout`` seconds: TimeoutError)."""
        loop, context = self.loop, self._context
        if loop is None or context is None:
            raise RuntimeError("the exporter is not running")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def start() -> None:
            task = asyncio.ensure_future(make())

            def done(t: asyncio.Future[T]) -> None:
                if future.cancelled():
                    return
                if t.cancelled():
                    future.cancel()
                elif t.exception() is not None:
                    future.set_exception(t.exception())  # type: ignore[arg-type]
                else:
                    future.set_result(t.result())

            task.add_done_callback(done)

        loop.call_soon_threadsafe(start, context=context)
        return future.result(timeout)

    def _refresh(self, timeout: float) -> set[str]:
        """Read every host's supervisords now (a scrape); the names of the hosts whose read
        did not end in time or failed (the scrape serves their last values)."""
        pollers = self.pollers

        async def refresh_all() -> None:
            await asyncio.gather(*(p.refresh_programs() for p in pollers))

        try:
            self.call(refresh_all, timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            return {p.host.name for p in pollers}
        return {p.host.name for p in pollers if not p.programs.ok}

    def scrape(self) -> bytes:
        """One scrape, as the HTTP endpoint answers it: the collector's families written by
        ``prometheus_client`` (``generate_latest``), one family at a time; the text of a
        family whose samples did not change since the last scrape is reused (most programs'
        state series: writing them is most of a scrape's cost at 300 programs)."""
        collector = self._collector
        if collector is None:
            raise RuntimeError("the exporter is not running")
        with self._render_lock:
            families = collector.families()
            out: list[bytes] = []
            cache: dict[str, tuple[Any, bytes]] = {}
            for name in families.labels:
                key = families.key(name)
                cached = self._rendered.get(name)
                if cached is not None and cached[0] == key:
                    text = cached[1]
                else:
                    text = generate_latest(_One(families.family(name)))
                cache[name] = (key, text)
                out.append(text)
            self._rendered = cache
            return b"".join(out)

    # -- HTTP ----------------------------------------------------------------------------

    def listen(self, addr: str, port: int) -> tuple[str, int]:
        """Serve ``/metrics`` on ``addr:port`` (port 0: any free port); the bound address."""
        scrape = self.scrape

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            if environ.get("PATH_INFO") not in ("/metrics", "/"):
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found: the metrics are at /metrics\n"]
            body = scrape()
            start_response(
                "200 OK",
                [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))],
            )
            return [body]

        server_class = _Server6 if ":" in addr else _Server
        server = make_server(addr, port, app, server_class, handler_class=_QuietHandler)
        threading.Thread(
            target=server.serve_forever, name="opsconsole-metrics", daemon=True
        ).start()
        self._server = server
        bound = server.server_address
        return str(bound[0]), int(bound[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def __enter__(self) -> Exporter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
