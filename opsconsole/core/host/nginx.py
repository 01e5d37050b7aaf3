"""Nginx snapshots: the instance, a status sample, tests, reloads, config, topology."""

from __future__ import annotations

import typing
from dataclasses import dataclass, replace

from opsconsole.core.host.codec import JSONValue, Snapshot, _encode
from opsconsole.core.host.errors import HostError


@dataclass(frozen=True)
class NginxInstance(Snapshot):
    """The nginx the host operates on: binary, config, prefix and its master (if running)."""

    binary: str | None
    conf_path: str
    prefix: str
    label: str = "nginx"
    master_pid: int | None = None
    master_create_time: float | None = None
    program: str | None = None
    flags: tuple[str, ...] = ()
    source: str = ""
    other_masters: tuple[int, ...] = ()
    #: why no nginx binary could be used (empty when ``binary`` is set)
    binary_problem: str = ""

    @property
    def running(self) -> bool:
        return self.master_pid is not None

    def status_json(self) -> dict[str, JSONValue]:
        """The ``instance`` object of ``opsconsole nginx ... --json``."""
        return {
            "binary": self.binary,
            "conf_path": self.conf_path,
            "prefix": self.prefix,
            "master_pid": self.master_pid,
            "program": self.program,
            "flags": list(self.flags),
            "source": self.source,
            "other_masters": list(self.other_masters),
        }


@dataclass(frozen=True)
class NginxWorker(Snapshot):
    pid: int
    role: str  # worker, shutting down, cache manager, cache loader
    create_time: float
    cpu_percent: float | None = None
    rss: int | None = None
    connections: int | None = None


@dataclass(frozen=True)
class StubCounts(Snapshot):
    """nginx's stub_status counters."""

    active: int
    accepts: int
    handled: int
    requests: int
    reading: int
    writing: int
    waiting: int


@dataclass(frozen=True)
class NginxSnapshot(Snapshot):
    """One sample of the serving nginx, as ``opsconsole nginx status`` shows it."""

    host: str
    at: float
    instance: NginxInstance
    version: str = ""
    workers: tuple[NginxWorker, ...] = ()
    last_reload: float | None = None
    reloads_seen: int = 0
    stub_url: str | None = None
    stub: StubCounts | None = None
    stub_error: str | None = None
    rps: float | None = None
    rps_history: tuple[float, ...] = ()
    #: the error logs, then the access logs, that the serving config names (files only)
    log_files: tuple[str, ...] = ()
    #: without its workers and its stub_status sample (:meth:`summarised`)
    summary: bool = False

    @property
    def running(self) -> bool:
        return self.instance.running

    def summarised(self) -> NginxSnapshot:
        """What a fleet's hosts view shows of the host's nginx: the instance (running or not,
        its master), version and reloads, not its workers or its stub_status sample (their
        CPU and counters move at every read; this moves only when the instance or a reload
        does)."""
        return replace(self, workers=(), stub=None, rps=None, rps_history=(), summary=True)

    def status_json(self) -> dict[str, JSONValue]:
        """What ``opsconsole nginx status --json`` prints (its stable shape)."""
        return {
            "running": self.running,
            "instance": self.instance.status_json(),
            "version": self.version,
            "workers": [_encode(w) for w in self.workers],
            "last_reload": self.last_reload,
            "reloads_seen": self.reloads_seen,
            "stub_url": self.stub_url,
            "stub_status": _encode(self.stub) if self.stub else None,
            "stub_error": self.stub_error,
            "requests_per_second": self.rps,
            "rps_history": list(self.rps_history),
        }


@dataclass(frozen=True)
class NginxDiagnostic(Snapshot):
    """A message nginx printed (``nginx -t``, the error log) or a check found."""

    level: str
    message: str
    file: str | None = None
    line: int | None = None
    category: str = "other"
    raw: str = ""
    check: str = ""  # the extra check's name, for findings

    @property
    def is_error(self) -> bool:
        """emerg, alert, crit or error (what fails a test or a reload)."""
        return self.level in ("emerg", "alert", "crit", "error")

    @property
    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def diagnostic_json(self) -> dict[str, JSONValue]:
        """A message nginx printed, as ``--json`` output shows it."""
        return {
            "level": self.level,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "category": self.category,
            "raw": self.raw,
            "where": self.where,
        }

    def finding_json(self) -> dict[str, JSONValue]:
        """A check's finding, as ``--json`` output shows it."""
        return {
            "check": self.check,
            "level": self.level,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "where": self.where,
        }


@dataclass(frozen=True)
class NginxTest(Snapshot):
    """The outcome of ``nginx -t`` with the serving master's flags."""

    ok: bool
    summary: str
    conf_path: str
    returncode: int = 0
    failure: str | None = None  # syntax, environment, other
    command: tuple[str, ...] = ()
    duration: float = 0.0
    diagnostics: tuple[NginxDiagnostic, ...] = ()


@dataclass(frozen=True)
class NginxReload(Snapshot):
    """What ``nginx.reload`` did (the ``data`` of its result): ``status`` reloaded,
    reloaded-with-errors, refused (the test failed: no signal sent), rejected (the master kept
    the old workers), unverified or master-exited; ``log_errors`` what the error log said."""

    status: str
    message: str
    hint: str = ""
    test: NginxTest | None = None
    master_pid: int | None = None
    old_workers: tuple[int, ...] = ()
    new_workers: tuple[int, ...] = ()
    old_remaining: tuple[int, ...] = ()
    log_errors: tuple[NginxDiagnostic, ...] = ()
    log_files: tuple[str, ...] = ()
    signal_sent: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "reloaded"

    @property
    def took_effect(self) -> bool:
        return self.status in ("reloaded", "reloaded-with-errors")


@dataclass(frozen=True)
class NginxFile(Snapshot):
    path: str
    text: str


@dataclass(frozen=True)
class NginxConfigDump(Snapshot):
    """``nginx -T``: the test, and every file of the effective config with its text.

    ``on_disk``: the files ``files`` lacks (all of them when the test failed: nginx -T then
    prints none) as they are on disk: the main file, the files the config includes and the
    files the test's messages name; ``unread`` says which could not be read, and why."""

    host: str
    at: float
    instance: NginxInstance
    test: NginxTest
    files: tuple[NginxFile, ...] = ()
    on_disk: tuple[NginxFile, ...] = ()
    unread: tuple[HostError, ...] = ()


@dataclass(frozen=True)
class TopoNode(Snapshot):
    """A node of the topology tree (nginx → upstreams → gunicorn → supervisor)."""

    kind: str
    label: str
    status: str = "ok"  # ok, warn, error
    detail: str = ""
    file: str | None = None
    line: int | None = None
    pid: int | None = None
    children: tuple[TopoNode, ...] = ()

    def walk(self) -> typing.Iterator[TopoNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def tree_json(self) -> dict[str, JSONValue]:
        """The node as ``opsconsole topology --json`` prints it."""
        return {
            "kind": self.kind,
            "label": self.label,
            "status": self.status,
            "detail": self.detail,
            "file": self.file,
            "line": self.line,
            "pid": self.pid,
            "children": [c.tree_json() for c in self.children],
        }


@dataclass(frozen=True)
class TopologySnapshot(Snapshot):
    """The topology and the extra checks' findings for the serving nginx."""

    host: str
    at: float
    instance: NginxInstance
    conf_path: str
    topology: TopoNode
    files: tuple[str, ...] = ()
    parse_errors: tuple[NginxDiagnostic, ...] = ()
    findings: tuple[NginxDiagnostic, ...] = ()
    notes: tuple[str, ...] = ()  # supervisords that could not be read

    def topology_json(self) -> dict[str, JSONValue]:
        """What ``opsconsole topology --json`` prints (its stable shape)."""
        return {
            "conf_path": self.conf_path,
            "files": list(self.files),
            "parse_errors": [d.diagnostic_json() for d in self.parse_errors],
            "topology": self.topology.tree_json(),
            "findings": [f.finding_json() for f in self.findings],
            "instance": self.instance.status_json(),
            "notes": list(self.notes),
        }
