"""The exporter's series: a :class:`~opsconsole.core.metrics.poll.Poller`'s latest values as
Prometheus metric families (``prometheus_client``'s GaugeMetricFamily and
CounterMetricFamily; ``prometheus_client`` writes the exposition format).

Every series carries a ``host`` label (the host's name) so that several hosts scraped by one
console, or several consoles, never collide. Cardinality is bounded by what is configured:
one series per program (and per supervisor state of it), per gunicorn master, per worker
*slot* (workers are numbered 0..n-1 by age within their master, not labelled by pid, unless
``worker_pids`` is asked for), per probe and per upstream target of the nginx config.
:data:`METRICS` lists every family with its help text (the README's table is made from it).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from opsconsole.core.host import TopoNode
from opsconsole.core.metrics.poll import Poller
from opsconsole.core.metrics.track import master_key

#: supervisor's process states (each program has one 0/1 series per state)
STATES = ("STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN")

PREFIX = "opsconsole_"

_PROGRAM = ["host", "server", "program", "group"]
_MASTER = ["host", "master"]
_WORKER = ["host", "master", "worker"]

#: name (without prefix) → (type, labels, help). Counters are listed without ``_total``.
METRICS: dict[str, tuple[str, list[str], str]] = {
    "supervisor_up": (
        "gauge",
        ["host", "server"],
        "1 when the supervisord answered the last poll, 0 when it did not",
    ),
    "supervisor_response_seconds": (
        "gauge",
        ["host", "server"],
        "How long the supervisord took to answer the last poll",
    ),
    "program_state": (
        "gauge",
        [*_PROGRAM, "state"],
        "1 for the supervisor state the program is in, 0 for the others",
    ),
    "program_uptime_seconds": (
        "gauge",
        _PROGRAM,
        "Seconds since the program started (0 when it is not running)",
    ),
    "program_exit_status": (
        "gauge",
        _PROGRAM,
        "The exit status of the program's last exit (supervisor's exitstatus)",
    ),
    "program_unexpected": (
        "gauge",
        _PROGRAM,
        "1 when the program is FATAL, BACKOFF, UNKNOWN or exited with a code its config "
        "does not expect",
    ),
    "program_starts_seen": (
        "counter",
        _PROGRAM,
        "Starts of the program this console has seen (a new start time) since it started",
    ),
    "program_flaps_seen": (
        "counter",
        _PROGRAM,
        "Exits nobody asked for this console has seen (up, then FATAL/BACKOFF/unexpected "
        "exit, or restarted between two polls)",
    ),
    "program_flapping": (
        "gauge",
        _PROGRAM,
        "1 when at least 3 unexpected exits were seen in the last 5 minutes",
    ),
    "gunicorn_workers_live": ("gauge", _MASTER, "Live workers of the gunicorn master"),
    "gunicorn_workers_target": (
        "gauge",
        _MASTER,
        "The worker count the master aims for (its control socket, the last scale asked, "
        "else configured)",
    ),
    "gunicorn_workers_configured": (
        "gauge",
        _MASTER,
        "The worker count in the master's command line or config file",
    ),
    "gunicorn_reloads_seen": (
        "counter",
        _MASTER,
        "Reloads of the master seen (every worker replaced at once, or its own count)",
    ),
    "gunicorn_worker_deaths_seen": (
        "counter",
        _MASTER,
        "Workers seen replaced by the master outside a reload (crashed or killed by the timeout)",
    ),
    "gunicorn_worker_cpu_percent": (
        "gauge",
        _WORKER,
        "CPU use of the worker since the previous sample, percent of one core",
    ),
    "gunicorn_worker_rss_bytes": ("gauge", _WORKER, "Resident memory of the worker"),
    "gunicorn_worker_connections": (
        "gauge",
        _WORKER,
        "Established TCP connections held by the worker",
    ),
    "gunicorn_worker_heartbeat_age_seconds": (
        "gauge",
        _WORKER,
        "Seconds since the worker last touched its heartbeat file",
    ),
    "gunicorn_worker_stuck": (
        "gauge",
        _WORKER,
        "1 when the worker's heartbeat is older than half the master's timeout",
    ),
    "nginx_up": ("gauge", ["host"], "1 when an nginx master is serving"),
    "nginx_connections_active": ("gauge", ["host"], "stub_status: active client connections"),
    "nginx_connections_reading": ("gauge", ["host"], "stub_status: connections reading"),
    "nginx_connections_writing": ("gauge", ["host"], "stub_status: connections writing"),
    "nginx_connections_waiting": ("gauge", ["host"], "stub_status: idle keep-alive connections"),
    "nginx_connections_accepted": ("counter", ["host"], "stub_status: accepted connections"),
    "nginx_connections_handled": ("counter", ["host"], "stub_status: handled connections"),
    "nginx_http_requests": ("counter", ["host"], "stub_status: client requests"),
    "nginx_config_test_ok": (
        "gauge",
        ["host"],
        "1 when the last nginx -t (nginx -T) of the serving config passed",
    ),
    "nginx_config_test_timestamp_seconds": (
        "gauge",
        ["host"],
        "When the last nginx -t ran (unix time)",
    ),
    "nginx_config_applied": (
        "gauge",
        ["host"],
        "1 when the serving workers run the config on disk, 0 when it changed since and no "
        "reload took effect (edited and not reloaded, or a reload was rejected)",
    ),
    "nginx_last_reload_timestamp_seconds": (
        "gauge",
        ["host"],
        "When the serving workers started after a reload (unix time; 0: none seen)",
    ),
    "nginx_reloads_seen": (
        "counter",
        ["host"],
        "Reloads that took effect (the serving workers replaced) seen by this console",
    ),
    "nginx_upstream_target_listening": (
        "gauge",
        ["host", "target"],
        "1 when something listens on the proxy_pass/upstream target, 0 when nothing does",
    ),
    "nginx_upstream_targets_without_listener": (
        "gauge",
        ["host"],
        "How many upstream targets of the nginx config have nothing listening",
    ),
    "probe_up": ("gauge", ["host", "probe"], "1 when the HTTP probe's last answer was good"),
    "probe_status_code": (
        "gauge",
        ["host", "probe"],
        "HTTP status of the probe's last answer (0: no answer)",
    ),
    "probe_latency_seconds": ("gauge", ["host", "probe"], "How long the probe's answer took"),
    "collect_duration_seconds": (
        "gauge",
        ["host", "part"],
        "How long the console's last read of this part took",
    ),
    "collect_age_seconds": (
        "gauge",
        ["host", "part"],
        "Age of the values served for this part (since its last good read)",
    ),
    "collect_ok": (
        "gauge",
        ["host", "part"],
        "1 when the last read of this part succeeded, 0 when the values are stale",
    ),
    "collect_errors": ("counter", ["host", "part"], "Reads of this part that failed"),
    "scrape_stale": (
        "gauge",
        ["host"],
        "1 when this scrape could not read supervisord in time and serves the last values",
    ),
}


class Families:
    """The samples of every entry of :data:`METRICS`, added by name. They are kept as plain
    rows and turned into ``prometheus_client`` families only when asked (:meth:`family`), so
    a caller that reuses the text of an unchanged family (the exporter) builds no sample
    objects for it."""

    def __init__(self, worker_pids: bool = False) -> None:
        self.worker_pids = worker_pids
        self.labels: dict[str, list[str]] = {}
        #: name → the label values of every sample, one after the other, and the values
        self.flat: dict[str, list[str]] = {}
        self.values: dict[str, list[float]] = {}
        for name, (_, labels, _) in METRICS.items():
            if name.startswith("gunicorn_worker_") and worker_pids:
                labels = [*labels, "pid"]
            self.labels[name] = labels
            self.flat[name] = []
            self.values[name] = []

    def add(self, name: str, labels: list[str], value: float | None) -> None:
        if value is None:
            return
        self.flat[name].extend(labels)
        self.values[name].append(float(value))

    def key(self, name: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
        """What the family's text depends on besides its name (equal keys: equal text)."""
        return tuple(self.flat[name]), tuple(self.values[name])

    def family(self, name: str) -> GaugeMetricFamily | CounterMetricFamily:
        """The ``prometheus_client`` family of ``name`` with its samples."""
        kind, _, help_text = METRICS[name]
        labels = self.labels[name]
        cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        fam = cls(PREFIX + name, help_text, labels=labels)
        flat, width = self.flat[name], len(labels)
        for i, value in enumerate(self.values[name]):
            fam.add_metric(flat[i * width : (i + 1) * width], value)
        return fam

    def __iter__(self) -> Iterator[Metric]:
        return (self.family(name) for name in self.labels)


def _targets(root: TopoNode) -> dict[str, bool]:
    """Each proxy target of the topology (by label) and whether something listens there."""
    found: dict[str, bool] = {}
    for node in root.walk():
        if node.kind == "target" and not node.detail.startswith(("uses variables", "remote")):
            found[node.label] = found.get(node.label, True) and node.status != "error"
    return found


def build(
    pollers: Sequence[Poller], *, stale: Collection[str] = (), worker_pids: bool = False
) -> Families:
    """The families for the pollers' latest values, one ``host`` label per poller
    (``stale``: the hosts whose supervisords were not read in time for this scrape)."""
    out = Families(worker_pids)
    for poller in pollers:
        _add_host(out, poller, poller.host.name in stale)
    return out


def _add_host(out: Families, poller: Poller, stale: bool) -> None:
    worker_pids = out.worker_pids
    host = poller.host.name
    tracker = poller.tracker
    programs = poller.programs.value
    if programs is not None:
        for server in programs.servers:
            out.add("supervisor_up", [host, server.name], 1 if server.reachable else 0)
            out.add("supervisor_response_seconds", [host, server.name], server.latency)
            for p in server.programs:
                labels = [host, server.name, p.fullname, p.group]
                for state in STATES:
                    out.add("program_state", [*labels, state], 1 if p.state == state else 0)
                out.add("program_uptime_seconds", labels, p.uptime_at(programs.at) or 0.0)
                out.add("program_exit_status", labels, p.exitstatus)
                out.add("program_unexpected", labels, 1 if p.trouble else 0)
                track = tracker.program(p.key)
                out.add("program_starts_seen", labels, track.starts if track else 0)
                out.add("program_flaps_seen", labels, track.flaps if track else 0)
                out.add("program_flapping", labels, 1 if tracker.flapping(p.key) else 0)
    gunicorn = poller.gunicorn.value
    if gunicorn is not None:
        named: set[str] = set()
        for m in gunicorn.masters:
            key = master_key(m.program, m.name, m.pid)
            if key in named:  # two masters of one program (a restart under way): by pid
                key = f"{key}@{m.pid}"
            named.add(key)
            labels = [host, key]
            out.add("gunicorn_workers_live", labels, m.live)
            out.add("gunicorn_workers_target", labels, m.target)
            out.add("gunicorn_workers_configured", labels, m.configured)
            mt = tracker.masters.get(key)
            out.add("gunicorn_reloads_seen", labels, mt.reloads if mt else 0)
            out.add("gunicorn_worker_deaths_seen", labels, mt.deaths if mt else 0)
            for slot, w in enumerate(sorted(m.workers, key=lambda w: (w.create_time, w.pid))):
                wl = [host, key, str(slot)] + ([str(w.pid)] if worker_pids else [])
                out.add("gunicorn_worker_cpu_percent", wl, w.cpu_percent)
                out.add("gunicorn_worker_rss_bytes", wl, w.rss)
                out.add("gunicorn_worker_connections", wl, w.connections)
                out.add("gunicorn_worker_heartbeat_age_seconds", wl, w.heartbeat_age)
                out.add("gunicorn_worker_stuck", wl, 1 if "stuck" in w.flags else 0)
    nginx = poller.nginx.value
    if nginx is not None:
        h = [host]
        out.add("nginx_up", h, 1 if nginx.running else 0)
        if nginx.stub is not None:
            s = nginx.stub
            out.add("nginx_connections_active", h, s.active)
            out.add("nginx_connections_reading", h, s.reading)
            out.add("nginx_connections_writing", h, s.writing)
            out.add("nginx_connections_waiting", h, s.waiting)
            out.add("nginx_connections_accepted", h, s.accepts)
            out.add("nginx_connections_handled", h, s.handled)
            out.add("nginx_http_requests", h, s.requests)
        out.add("nginx_last_reload_timestamp_seconds", h, nginx.last_reload or 0.0)
        out.add("nginx_reloads_seen", h, nginx.reloads_seen)
    cfg = tracker.nginx_config
    if cfg is not None:
        out.add("nginx_config_test_ok", [host], 1 if cfg.test_ok else 0)
        out.add("nginx_config_test_timestamp_seconds", [host], cfg.at)
        if cfg.applied is not None:
            out.add("nginx_config_applied", [host], 1 if cfg.applied else 0)
    topology = poller.topology.value
    if topology is not None:
        targets = _targets(topology.topology)
        for label, listening in sorted(targets.items()):
            out.add("nginx_upstream_target_listening", [host, label], 1 if listening else 0)
        missing = sum(1 for v in targets.values() if not v)
        out.add("nginx_upstream_targets_without_listener", [host], missing)
    probes = poller.probes.value
    if probes is not None:
        for r in probes.results:
            out.add("probe_up", [host, r.name], 1 if r.ok else 0)
            out.add("probe_status_code", [host, r.name], r.status or 0)
            out.add("probe_latency_seconds", [host, r.name], r.latency)
    now = time.monotonic()
    for part in poller.parts:
        if part.tried == 0.0:
            continue
        labels = [host, part.name]
        out.add("collect_duration_seconds", labels, part.duration)
        out.add("collect_age_seconds", labels, max(0.0, now - part.at) if part.at else None)
        out.add("collect_ok", labels, 1 if part.ok else 0)
        out.add("collect_errors", labels, part.failures)
    out.add("scrape_stale", [host], 1 if stale else 0)


def metric_names() -> list[str]:
    """Every series name the exporter writes (counters with ``_total``)."""
    return [
        PREFIX + name + ("_total" if kind == "counter" else "")
        for name, (kind, _, _) in METRICS.items()
    ]


def metric_table() -> list[tuple[str, str, str, str]]:
    """(name, type, labels, help) for the README's table."""
    return [
        (PREFIX + n + ("_total" if k == "counter" else ""), k, ", ".join(lbl), h)
        for n, (k, lbl, h) in METRICS.items()
    ]
