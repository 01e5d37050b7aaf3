"""What nginx is doing now: its status (stub_status, workers) and an inspection of its config
(model, topology, extra checks), for the views and the CLI.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psutil

from opsconsole.core.config import NginxSettings
from opsconsole.core.nginx.checks import Finding, run_checks
from opsconsole.core.nginx.config import NginxConfig
from opsconsole.core.nginx.control import load_config
from opsconsole.core.nginx.instance import (
    NginxError,
    NginxInstance,
    WorkerInfo,
    _tie_program,
    discover,
    nginx_version,
    process_role,
    worker_processes,
)
from opsconsole.core.nginx.parse import (
    StubStatus,
    parse_stub_status,
)
from opsconsole.core.nginx.topology import Facts, TopoNode, build_topology
from opsconsole.core.supervisor import ProcessInfo

# --------------------------------------------------------------------------- inspection


@dataclass
class Inspection:
    """The parsed config with its topology and extra-check findings."""

    config: NginxConfig
    topology: TopoNode
    findings: list[Finding]

    def to_dict(self) -> dict[str, Any]:
        return {
            "conf_path": self.config.conf_path,
            "files": self.config.files,
            "parse_errors": [d.to_dict() for d in self.config.errors],
            "topology": self.topology.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }


def inspect(
    inst: NginxInstance, programs: list[ProcessInfo] | None = None, facts: Facts | None = None
) -> Inspection:
    """Parse the config, build the topology and run the extra checks (blocking: psutil).

    ``programs`` ties listening processes to supervisor programs; ``facts`` replaces what the
    machine says (tests). Raises NginxConfigUnreadable.
    """
    cfg = load_config(inst)
    topo = build_topology(cfg, master_pid=inst.master_pid, programs=programs, facts=facts)
    return Inspection(cfg, topo, run_checks(cfg, topology=topo))


# --------------------------------------------------------------------------- status


@dataclass
class NginxStatus:
    """One sample of the serving nginx: master, workers, last reload, stub_status."""

    instance: NginxInstance
    version: str = ""
    workers: list[WorkerInfo] = field(default_factory=list)
    last_reload: float | None = None
    reloads_seen: int = 0
    stub_url: str | None = None
    stub: StubStatus | None = None
    stub_error: str | None = None
    rps: float | None = None
    rps_history: list[float] = field(default_factory=list)
    at: float = field(default_factory=time.time)

    @property
    def running(self) -> bool:
        return self.instance.running

    def to_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "instance": self.instance.to_dict(),
            "version": self.version,
            "workers": [asdict(w) for w in self.workers],
            "last_reload": self.last_reload,
            "reloads_seen": self.reloads_seen,
            "stub_url": self.stub_url,
            "stub_status": asdict(self.stub) if self.stub else None,
            "stub_error": self.stub_error,
            "requests_per_second": self.rps,
            "rps_history": self.rps_history,
        }


#: between full discoveries (every process on the machine looked at), :meth:`NginxMonitor.sample`
#: re-checks the master it found (same pid and create time) and the supervisor's pids; a
#: discovery is due after DISCOVERY_SECONDS and DISCOVERY_SAMPLES samples both (a hidden view
#: sampling every 30 s discovers every 90 s)
DISCOVERY_SECONDS = 30.0
DISCOVERY_SAMPLES = 3


class NginxMonitor:
    """Samples the serving nginx; keeps CPU baselines, worker generations and a short
    requests/s history between calls. Blocking (psutil, subprocess, HTTP): call it from a
    thread.

    A sample does a full discovery only every :data:`DISCOVERY_SECONDS` (and
    :data:`DISCOVERY_SAMPLES` samples), when the master it found is gone (its pid is not the
    process with its create time) or when the supervised programs' pids changed (a program
    started or stopped); otherwise it keeps the master, or that there was none."""

    def __init__(self, settings: NginxSettings | None = None, history: int = 60) -> None:
        self.settings = settings or NginxSettings()
        self.history: deque[float] = deque(maxlen=history)
        self._procs: dict[tuple[int, float], psutil.Process] = {}
        self._generation: frozenset[int] = frozenset()
        self._master_pid: int | None = None
        self.last_reload: float | None = None
        self.reloads_seen = 0
        self._stub_prev: tuple[float, StubStatus] | None = None
        self._config: tuple[tuple[tuple[str, float], ...], NginxConfig] | None = None
        self.instance: NginxInstance | None = None
        self.discoveries = 0
        # the last discovery: (instance, supervised pids then, monotonic time)
        self._found: tuple[NginxInstance, frozenset[int], float] | None = None
        #: samples since the last discovery (see DISCOVERY_SAMPLES)
        self._samples_since = 0

    def config(self, inst: NginxInstance) -> NginxConfig | None:
        """The parsed config, reparsed only when one of its files changed."""
        key_files = [inst.conf_path, *(self._config[1].files if self._config else [])]
        key = tuple((p, _mtime(p)) for p in dict.fromkeys(key_files))
        if self._config is not None and self._config[0] == key:
            return self._config[1]
        try:
            cfg = load_config(inst)
        except NginxError:
            self._config = None
            return None
        key = tuple((p, _mtime(p)) for p in dict.fromkeys([inst.conf_path, *cfg.files]))
        self._config = (key, cfg)
        return cfg

    def _proc(self, pid: int, create_time: float) -> psutil.Process | None:
        key = (pid, create_time)
        p = self._procs.get(key)
        if p is None:
            try:
                p = psutil.Process(pid)
                p.cpu_percent(None)
            except psutil.Error:
                return None
            self._procs[key] = p
        return p

    def _workers(self, master_pid: int) -> list[WorkerInfo]:
        out = []
        live: set[tuple[int, float]] = set()
        established = _established_inodes(master_pid)  # one read for all workers
        for c in worker_processes(master_pid):
            try:
                with c.oneshot():
                    role = process_role(c.cmdline()) or "worker"
                    ct = c.create_time()
                    info = WorkerInfo(c.pid, role, ct)
                    p = self._proc(c.pid, ct)
                    if p is not None:
                        info.cpu_percent = p.cpu_percent(None)
                        info.rss = p.memory_info().rss
                    sockets = _socket_inodes(c.pid)
                    info.connections = (
                        len(sockets & established)
                        if sockets is not None and established is not None
                        else None
                    )
            except psutil.Error:
                continue
            live.add((c.pid, ct))
            out.append(info)
        for key in list(self._procs):
            if key not in live:
                del self._procs[key]
        out.sort(key=lambda w: (w.role != "worker", w.pid))
        return out

    def _track_generation(self, inst: NginxInstance, workers: list[WorkerInfo]) -> None:
        serving = frozenset(w.pid for w in workers if w.role == "worker")
        master = inst.master
        if master is None:
            return
        if self._master_pid != master.pid:
            self._master_pid = master.pid
            self._generation = serving
            self.reloads_seen = 0
            # workers much younger than the master mean a reload happened before we looked
            created = [w.create_time for w in workers if w.role == "worker"]
            oldest = min(created) if created else None
            self.last_reload = (
                oldest if oldest is not None and oldest - master.create_time > 2.0 else None
            )
            return
        if serving and self._generation and not (serving & self._generation):
            self.reloads_seen += 1
            created = [w.create_time for w in workers if w.role == "worker"]
            self.last_reload = min(created) if created else time.time()
        if serving:
            self._generation = serving

    def _stub(self, cfg: NginxConfig | None, status: NginxStatus) -> None:
        urls = cfg.stub_status_urls() if cfg is not None else []
        if not urls:
            return
        url, host = urls[0]
        status.stub_url = url
        headers = {"Host": host} if host else {}
        try:
            with httpx.Client(timeout=2.0, verify=False, trust_env=False) as client:
                resp = client.get(url, headers=headers)
            if resp.status_code != 200:
                status.stub_error = f"{url} answered HTTP {resp.status_code}"
                return
            stub = parse_stub_status(resp.text)
        except (httpx.HTTPError, ValueError) as exc:
            status.stub_error = f"{url}: {exc or type(exc).__name__}"
            return
        now = time.monotonic()
        status.stub = stub
        if self._stub_prev is not None:
            then, prev = self._stub_prev
            elapsed = now - then
            if elapsed > 0 and stub.requests >= prev.requests:
                # our own stub_status request is counted too; leave it out
                rps = max(0, stub.requests - prev.requests - 1) / elapsed
                status.rps = rps
                self.history.append(rps)
        self._stub_prev = (now, stub)

    def discover(self, programs: list[ProcessInfo] | None = None) -> NginxInstance:
        """The serving nginx now, as :meth:`sample` finds it (:func:`discover` with this
        monitor's settings). Blocking; raises as :func:`discover`. Always a full discovery
        (what an operation acts on); :meth:`sample` keeps its result."""
        inst = discover(self.settings, programs)
        self.discoveries += 1
        self._samples_since = 0
        pids = frozenset(p.pid for p in programs or [] if p.pid)
        self._found = (inst, pids, time.monotonic())
        return inst

    def _current(self, programs: list[ProcessInfo] | None) -> NginxInstance:
        """The master found before when it still is that process, the supervised pids are
        the same and the last discovery is recent; else a full discovery."""
        found = self._found
        if found is not None:
            inst, pids, at = found
            master = inst.master
            now_pids = frozenset(p.pid for p in programs or [] if p.pid)
            # a hidden view samples rarely: not every sample walks the machine; none found
            # is looked for again every DISCOVERY_SAMPLES samples (an nginx started by hand)
            counted = self._samples_since < DISCOVERY_SAMPLES
            recent = (
                counted
                if master is None
                else counted or (time.monotonic() - at < DISCOVERY_SECONDS)
            )
            if (
                inst.binary  # a missing binary is looked for again at every sample
                and pids == now_pids
                and recent
                and (master is None or _same_process(master.pid, master.create_time))
            ):
                self._samples_since += 1
                if master is None:  # none found then: none now (until the next discovery)
                    return inst
                return replace(inst, program=_tie_program(master, programs or []))
        return self.discover(programs)

    def sample(self, programs: list[ProcessInfo] | None = None) -> NginxStatus:
        """Discover nginx and take one sample. Raises nothing for a stopped nginx: the
        status says ``running`` False."""
        inst = self._current(programs)
        self.instance = inst
        status = NginxStatus(instance=inst)
        if inst.binary:
            try:
                status.version = nginx_version(inst.binary)
            except NginxError:
                status.version = ""
        if inst.master is not None:
            status.workers = self._workers(inst.master.pid)
            self._track_generation(inst, status.workers)
            cfg = self.config(inst)
            self._stub(cfg, status)
        status.last_reload = self.last_reload
        status.reloads_seen = self.reloads_seen
        status.rps_history = list(self.history)
        return status


def _established_inodes(pid: int) -> set[int] | None:
    """Inodes of the established TCP sockets in ``pid``'s network namespace (one read of its
    tcp and tcp6 tables), or None when neither is readable."""
    found: set[int] = set()
    readable = False
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}", "rb") as fh:
                next(fh, None)
                for line in fh:
                    parts = line.split()
                    if len(parts) > 9 and parts[3] == b"01":  # TCP_ESTABLISHED
                        found.add(int(parts[9]))
        except (OSError, ValueError):
            continue
        readable = True
    return found if readable else None


def _socket_inodes(pid: int) -> set[int] | None:
    """Inodes of the sockets ``pid`` has open; None when its fds cannot be read (another
    user's process, or gone)."""
    base = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(base)
    except OSError:
        return None
    out: set[int] = set()
    for fd in fds:
        try:
            target = os.readlink(f"{base}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            try:
                out.add(int(target[8:-1]))
            except ValueError:
                continue
    return out


def _same_process(pid: int, create_time: float) -> bool:
    """Whether ``pid`` still is the process created at ``create_time`` (not ended, not
    reused)."""
    try:
        return bool(psutil.Process(pid).create_time() == create_time)
    except psutil.Error:
        return False


def _mtime(path: str) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return -1.0
