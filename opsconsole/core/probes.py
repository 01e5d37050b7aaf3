"""HTTP health probes: status code and latency, so user impact sits next to process state."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opsconsole import __version__
from opsconsole.core.procs import children_map, descendants

if TYPE_CHECKING:  # httpx (with httpcore) is imported by the first probe runner
    import httpx


@dataclass(frozen=True)
class Probe:
    name: str
    url: str
    expect: int = 200  # a status code; 0 accepts any answer below 500
    timeout: float = 2.0


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    at: float
    ok: bool
    status: int | None
    latency: float  # seconds
    error: str = ""

    @property
    def summary(self) -> str:
        if self.status is None:
            return f"no answer: {self.error}"
        return f"HTTP {self.status} in {self.latency * 1000:.0f} ms"


def judge(probe: Probe, status: int) -> bool:
    """Whether a status code counts as healthy for ``probe`` (pure)."""
    if probe.expect:
        return status == probe.expect
    return status < 500


@dataclass
class ProbeState:
    probe: Probe
    history: deque[ProbeResult] = field(default_factory=lambda: deque(maxlen=120))

    @property
    def last(self) -> ProbeResult | None:
        return self.history[-1] if self.history else None

    def latencies_ms(self) -> list[float]:
        return [r.latency * 1000 if r.ok else 0.0 for r in self.history]


class ProbeRunner:
    """Runs every probe once per call of :meth:`run_once`; keeps a short history each."""

    def __init__(self, probes: list[Probe]) -> None:
        self.states = {p.name: ProbeState(p) for p in probes}
        #: the HTTP clients, made at the first probe that needs each: True for https. Blocking
        #: clients, each request in a thread (httpx's async client brings anyio, ~2 MB, for a
        #: few GETs a few seconds apart)
        self._clients: dict[bool, httpx.Client] = {}

    def _client(self, url: str) -> httpx.Client:
        """The client for ``url``. Only an https URL gets the verifying client: loading the
        CA store costs ~3 MB and ~25 ms, and an http:// probe never does TLS (redirects are
        not followed), so its client skips it."""
        import httpx

        tls = url[:6].lower() == "https:"
        client = self._clients.get(tls)
        if client is None:
            client = self._clients[tls] = httpx.Client(
                follow_redirects=False,
                trust_env=False,
                verify=tls,
                headers={"User-Agent": f"opsconsole-probe/{__version__}"},
            )
        return client

    def set_probes(self, probes: list[Probe]) -> None:
        """Replace the probe list, keeping the history of probes that stay."""
        self.states = {p.name: self.states.get(p.name, ProbeState(p)) for p in probes}
        for p in probes:
            self.states[p.name].probe = p

    async def check(self, probe: Probe) -> ProbeResult:
        import httpx

        client = self._client(probe.url)

        def get() -> tuple[httpx.Response, float]:
            started = time.monotonic()
            response = client.get(probe.url, timeout=probe.timeout)
            return response, time.monotonic() - started

        try:
            response, latency = await asyncio.to_thread(get)
        except httpx.TimeoutException:
            return ProbeResult(probe.name, time.time(), False, None, probe.timeout, "timed out")
        except httpx.HTTPError as exc:
            reason = type(exc).__name__.replace("Error", " error").lower()
            return ProbeResult(probe.name, time.time(), False, None, 0.0, reason)
        status = response.status_code
        return ProbeResult(probe.name, time.time(), judge(probe, status), status, latency)

    async def run_once(self) -> list[tuple[ProbeResult, ProbeResult | None]]:
        """Check every probe; return (new result, previous result) pairs."""
        out = []
        for state in list(self.states.values()):
            previous = state.last
            result = await self.check(state.probe)
            state.history.append(result)
            out.append((result, previous))
        return out

    async def aclose(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            client.close()


def probes_from_config(entries: list[dict[str, object]]) -> list[Probe]:
    out = []
    for i, entry in enumerate(entries):
        url = str(entry.get("url", ""))
        if not url.startswith(("http://", "https://")):
            continue
        expect = entry.get("expect", 200)
        timeout = entry.get("timeout", 2.0)
        out.append(
            Probe(
                name=str(entry.get("name", f"probe{i + 1}")),
                url=url,
                expect=int(expect) if isinstance(expect, (int, str)) else 200,
                timeout=float(timeout) if isinstance(timeout, (int, float)) else 2.0,
            )
        )
    return out


def _listening_table() -> tuple[dict[int, list[tuple[str, int]]], dict[int, list[int]]]:
    """(pid → TCP LISTEN addresses, parent → children), each from one system-wide read."""
    import psutil

    listening: dict[int, list[tuple[str, int]]] = {}
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        conns = []
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.pid:
            addr = (str(c.laddr.ip), int(c.laddr.port))
            if addr not in listening.setdefault(c.pid, []):
                listening[c.pid].append(addr)
    return listening, children_map()


def listening_addresses(
    pid: int,
    table: tuple[dict[int, list[tuple[str, int]]], dict[int, list[int]]] | None = None,
) -> list[tuple[str, int]]:
    """TCP addresses the process or its descendants listen on (empty if not allowed)."""
    listening, kids = table if table is not None else _listening_table()
    found: list[tuple[str, int]] = []
    for current in descendants(pid, kids):
        for addr in listening.get(current, []):
            if addr not in found:
                found.append(addr)
    return found


def _probe_host(host: str) -> str:
    """Where to connect for a socket bound to ``host`` (a wildcard means this machine)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"  # nginx's ``listen [::]:80`` is IPv6-only by default
    return host


def _nginx_masters() -> list[tuple[str, int]]:
    """("nginx", pid) of every running nginx master, under supervisor or not."""
    from opsconsole.core import nginx  # the nginx backend, at the first probe discovery

    return [("nginx", m.pid) for m in nginx.find_masters()]


def default_probes(programs: list[tuple[str, int]]) -> list[Probe]:
    """One probe per listening TCP address of each running (name, pid) program, and of
    every running nginx master (its listening servers), supervisor program or not.

    Nginx's listen ports probe the user's path; each gunicorn bind probes the app directly.
    An address is probed once, named after the first owner that holds it (a supervised
    nginx keeps its program name). Any answer below 500 counts as healthy (a 404 on / still
    means the server works).
    """
    table = _listening_table()
    probes: list[Probe] = []
    seen: set[tuple[str, int]] = set()
    for name, pid in [*programs, *_nginx_masters()]:
        for host, port in listening_addresses(pid, table):
            host = _probe_host(host)
            if (host, port) in seen:
                continue
            seen.add((host, port))
            shown = f"[{host}]" if ":" in host else host
            taken = {p.name for p in probes}
            label = next(
                (c for c in (name, f"{name}:{port}", f"{name}:{shown}:{port}") if c not in taken),
                f"{name}:{shown}:{port}#{len(probes)}",
            )
            probes.append(Probe(label, f"http://{shown}:{port}/", expect=0))
    return probes
