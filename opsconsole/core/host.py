"""The host: one interface for everything the console reads from and does to a machine.

A :class:`Host` is async. Its reads return **snapshots**: frozen dataclasses of primitives
(str, int, float, bool, None, tuples of those, nested snapshot types) that carry the host's
name and the time they were taken, so the same value can be rendered, diffed, written as JSON
and read back unchanged. Its one write, :meth:`Host.perform`, takes an
:class:`OperationRequest` (an operation id of the registry, a target, parameters) and answers
an :class:`OperationResult` (done, refused or failed, in words, with what was verified).

The types here import no backend (no psutil, no httpx, no Textual): they are the wire format
the fleet issue carries over SSH, and stay stable while the backends behind them change.
:mod:`opsconsole.core.local` turns the backends' models into them.

JSON: every type has ``to_json()`` (a dict of JSON values: ``json.dumps`` accepts it) and
``from_json(data)``; ``T.from_json(x.to_json()) == x`` for every value whose floats are not
NaN (NaN is never equal to itself). Unknown keys are ignored and missing ones take the
field's default, so an older and a newer console can still read each other's snapshots.
Errors travel as :class:`HostError` (kind, message, hint) and become the same typed
:class:`~opsconsole.core.errors.OpsError` subclass again on the other side.

Longer than 600 lines on purpose: it is the wire format, every field that crosses it in one
place (declarations and their JSON shapes, no behaviour beyond the codec).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from opsconsole.core.errors import OpsError

#: A JSON value, as ``json.loads`` returns it.
JSONValue = Any

T = TypeVar("T", bound="Snapshot")

# --------------------------------------------------------------------------- JSON codec


class Snapshot:
    """Mixin for the dataclasses of this module: ``to_json`` / ``from_json`` by type hints."""

    def to_json(self) -> dict[str, JSONValue]:
        """The value as a dict of JSON values (``json.dumps`` accepts it)."""
        out = _encode(self)
        assert isinstance(out, dict)
        return out

    @classmethod
    def from_json(cls: type[T], data: Mapping[str, JSONValue]) -> T:
        """The value ``to_json`` wrote. Raises HostProtocolError when ``data`` does not fit."""
        try:
            value = _decode(cls, data)
        except (TypeError, ValueError, KeyError) as exc:
            raise HostProtocolError(
                f"a {cls.__name__} from the host does not have the expected shape: {exc}",
                "are both sides the same opsconsole version?",
            ) from None
        assert isinstance(value, cls)
        return value


class HostProtocolError(OpsError):
    """A snapshot, request or result read from JSON does not have the expected shape."""


def _encode(value: Any) -> JSONValue:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{type(value).__name__} is not a snapshot value")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _decode(tp: Any, data: JSONValue) -> Any:
    if tp is Any:
        return data
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if data is None and type(None) in options:
            return None
        last: Exception | None = None
        for option in options:
            if option is type(None):
                continue
            try:
                return _decode(option, data)
            except (TypeError, ValueError, KeyError) as exc:
                last = exc
        raise last or TypeError(f"{data!r} fits none of {tp}")
    if origin is tuple:
        if not isinstance(data, list):
            raise TypeError(f"expected a list, got {type(data).__name__}")
        (item, *_) = typing.get_args(tp)
        return tuple(_decode(item, v) for v in data)
    if origin is list:
        if not isinstance(data, list):
            raise TypeError(f"expected a list, got {type(data).__name__}")
        (item,) = typing.get_args(tp)
        return [_decode(item, v) for v in data]
    if origin is dict:
        if not isinstance(data, dict):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        _, item = typing.get_args(tp)
        return {str(k): _decode(item, v) for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object for {tp.__name__}, got {type(data).__name__}")
        hints = _hints(tp)
        kwargs = {
            f.name: _decode(hints[f.name], data[f.name])
            for f in dataclasses.fields(tp)
            if f.init and f.name in data
        }
        return tp(**kwargs)
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise TypeError(f"expected a number, got {data!r}")
        return float(data)
    if tp is bool:
        if not isinstance(data, bool):
            raise TypeError(f"expected true or false, got {data!r}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise TypeError(f"expected an integer, got {data!r}")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise TypeError(f"expected a string, got {data!r}")
        return data
    raise TypeError(f"cannot decode {tp}")


# --------------------------------------------------------------------------- errors

#: Error kinds in operator words, by exception class name (the ``kind`` of a HostError).
ERROR_WORDS: dict[str, str] = {
    "Unreachable": "unreachable",
    "NotResponding": "not responding",
    "AuthFailed": "auth failed",
    "ReadOnlyError": "read-only",
    "ConfirmationRequired": "needs confirmation",
    "ProcessChanged": "process changed",
    "ScaleRefused": "refused",
    "MasterNotFound": "not found",
    "NoSuchProcess": "not found",
    "ConfigError": "bad config",
    "HostProtocolError": "protocol",
}


@dataclass(frozen=True)
class HostError(Snapshot):
    """An error as it travels: ``kind`` is the OpsError subclass's name (``Unreachable``,
    ``ReadOnlyError``, ``ProcessChanged`` ...), ``message`` what happened, ``hint`` what to
    do; ``code`` is supervisord's fault code when it answered with one."""

    kind: str
    message: str
    hint: str = ""
    code: int = 0

    @classmethod
    def of(cls, exc: OpsError) -> HostError:
        return cls(type(exc).__name__, exc.message, exc.hint, int(getattr(exc, "code", 0) or 0))

    @property
    def words(self) -> str:
        """The kind in operator words (``unreachable``, ``read-only`` ...)."""
        return ERROR_WORDS.get(self.kind, "error")

    def exception(self) -> OpsError:
        """The typed exception again: the OpsError subclass named ``kind`` when this process
        knows one (else OpsError), with the same message and hint."""
        cls = _error_classes().get(self.kind, OpsError)
        exc = cls.__new__(cls)
        OpsError.__init__(exc, self.message, self.hint)
        if cls.__init__ is not OpsError.__init__:  # e.g. supervisor's RPCFault(code, ...)
            exc.code = self.code  # type: ignore[attr-defined]
            exc.fault_string = ""  # type: ignore[attr-defined]
        return exc


def _error_classes() -> dict[str, type[OpsError]]:
    found: dict[str, type[OpsError]] = {"OpsError": OpsError}
    todo: list[type[OpsError]] = [OpsError]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.setdefault(sub.__name__, sub)
            todo.append(sub)
    return found


# --------------------------------------------------------------------------- supervisor

#: States an operator must look at (supervisor's words).
BAD_STATES = frozenset({"FATAL", "BACKOFF", "UNKNOWN"})


@dataclass(frozen=True)
class Program(Snapshot):
    """One supervisor program (process) as its supervisord reported it.

    ``exitcodes`` are the exit codes its config expects (None when not read: 0 is expected).
    """

    server: str
    name: str
    group: str
    state: str  # statename: RUNNING, FATAL ...
    pid: int = 0
    description: str = ""
    start: int = 0
    stop: int = 0
    now: int = 0
    spawnerr: str = ""
    exitstatus: int = 0
    stdout_logfile: str = ""
    stderr_logfile: str = ""
    exitcodes: tuple[int, ...] | None = None

    @property
    def fullname(self) -> str:
        return self.name if self.group == self.name else f"{self.group}:{self.name}"

    @property
    def statename(self) -> str:
        """``state`` under the name supervisor's ProcessInfo gives it (views use either)."""
        return self.state

    @property
    def key(self) -> tuple[str, str]:
        """``(server, fullname)``: unique across every supervisord of the host."""
        return (self.server, self.fullname)

    @property
    def uptime(self) -> float | None:
        if self.state == "RUNNING" and self.start and self.now:
            return float(max(0, self.now - self.start))
        return None

    @property
    def trouble(self) -> bool:
        """FATAL, BACKOFF, UNKNOWN, or EXITED with a code its config does not expect."""
        if self.state in BAD_STATES:
            return True
        if self.state == "EXITED":
            return self.exitstatus not in (self.exitcodes or (0,))
        return False


@dataclass(frozen=True)
class Supervisord(Snapshot):
    """One configured supervisord and its programs.

    ``status``: connected, unreachable, not responding, auth failed or error (``error`` then
    says why); ``stale`` means the programs are from an earlier poll. ``local`` is true when
    its pids are this host's (a unix socket or a loopback URL): only those are matched to
    gunicorn masters and nginx.
    """

    name: str
    url: str
    local: bool = True
    status: str = "connected"
    error: HostError | None = None
    version: str = ""
    pid: int = 0
    state: str = ""
    latency: float = 0.0
    stale: bool = False
    programs: tuple[Program, ...] = ()
    identification: str = ""

    @property
    def reachable(self) -> bool:
        return self.status == "connected"


@dataclass(frozen=True)
class ProgramsSnapshot(Snapshot):
    """Every configured supervisord of one host, at one time."""

    host: str
    at: float
    servers: tuple[Supervisord, ...] = ()

    @property
    def programs(self) -> tuple[Program, ...]:
        return tuple(p for s in self.servers for p in s.programs)

    def server(self, name: str) -> Supervisord | None:
        return next((s for s in self.servers if s.name == name), None)


# --------------------------------------------------------------------------- gunicorn


@dataclass(frozen=True)
class GunicornWorker(Snapshot):
    """One worker of a master. ``create_time`` proves which process ``pid`` was."""

    pid: int
    create_time: float
    age: float
    cpu_percent: float | None = None
    rss: int | None = None
    threads: int | None = None
    connections: int | None = None
    heartbeat_age: float | None = None
    status: str = ""
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class GunicornStats(Snapshot):
    """The master's ``show stats`` from its control socket (None: not given)."""

    pid: int | None = None
    uptime: float | None = None
    workers_current: int | None = None
    workers_target: int | None = None
    workers_spawned: int | None = None
    workers_killed: int | None = None
    reloads: int | None = None


@dataclass(frozen=True)
class GunicornMaster(Snapshot):
    """One gunicorn master, as ``opsconsole tree`` shows it. ``create_time`` proves which
    process ``pid`` was (a request naming it is refused if the pid now is another)."""

    pid: int
    create_time: float
    name: str
    program: str | None = None
    server: str | None = None
    binds: tuple[str, ...] = ()
    worker_class: str = "sync"
    configured: int | None = None
    live: int = 0
    target: int | None = None
    target_source: str = "configured"
    uptime: float = 0.0
    timeout: int = 30
    unknown: tuple[str, ...] = ()  # settings that cannot be read (worker_class, timeout)
    control_socket: str | None = None
    error_log: str | None = None
    pidfile: str | None = None
    cwd: str | None = None
    found_by: str = "scan"
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    workers: tuple[GunicornWorker, ...] = ()
    stats: GunicornStats | None = None
    #: its error log, then its access log: the absolute paths among them (for log views)
    log_files: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"gunicorn master {self.pid} ({self.program or self.name})"

    @property
    def scale_base(self) -> int:
        """The worker count a relative scale starts from (the scanned master's rule): the
        master's own target when known (control socket, or what opsconsole asked for
        last), else the live count."""
        if self.target is not None and self.target_source in ("control socket", "requested"):
            return self.target
        return self.live

    @property
    def ctl_usable(self) -> bool:
        """A control socket proven to be this master's at the scan (and not down)."""
        return self.control_socket is not None and not (
            {"ctl-down", "ctl-shared"} & set(self.flags)
        )

    @property
    def timeout_text(self) -> str:
        return "unknown" if "timeout" in self.unknown else f"{self.timeout}s"

    @property
    def unknown_settings(self) -> list[str]:
        return (["workers"] if self.configured is None else []) + list(self.unknown)

    def tree_json(self) -> dict[str, JSONValue]:
        """What ``opsconsole tree --json`` prints for this master (its stable shape)."""
        return {
            "pid": self.pid,
            "name": self.name,
            "program": self.program,
            "server": self.server,
            "binds": list(self.binds),
            "worker_class": self.worker_class,
            "configured": self.configured,
            "live": self.live,
            "target": self.target,
            "target_source": self.target_source,
            "uptime": round(self.uptime, 1),
            "timeout": None if "timeout" in self.unknown else self.timeout,
            "unknown": self.unknown_settings,
            "control_socket": self.control_socket,
            "error_log": self.error_log,
            "pidfile": self.pidfile,
            "found_by": self.found_by,
            "flags": list(self.flags),
            "notes": list(self.notes),
            "workers": [
                {
                    "pid": w.pid,
                    "age": round(w.age, 1),
                    "cpu_percent": w.cpu_percent,
                    "rss": w.rss,
                    "threads": w.threads,
                    "connections": w.connections,
                    "heartbeat_age": None if w.heartbeat_age is None else round(w.heartbeat_age, 2),
                    "status": w.status,
                    "flags": list(w.flags),
                }
                for w in self.workers
            ],
        }


@dataclass(frozen=True)
class GunicornSnapshot(Snapshot):
    """Every gunicorn master on the host. ``problems``: supervisords that could not be read
    (their masters are shown unattached)."""

    host: str
    at: float
    masters: tuple[GunicornMaster, ...] = ()
    problems: tuple[str, ...] = ()


# --------------------------------------------------------------------------- nginx


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

    @property
    def running(self) -> bool:
        return self.instance.running

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


# --------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class ProbeOutcome(Snapshot):
    """One HTTP probe and its latest answer (``status`` None: no answer, ``error`` why)."""

    name: str
    url: str
    ok: bool
    status: int | None
    latency: float  # seconds
    at: float
    error: str = ""


@dataclass(frozen=True)
class ProbesSnapshot(Snapshot):
    host: str
    at: float
    results: tuple[ProbeOutcome, ...] = ()


# --------------------------------------------------------------------------- logs


@dataclass(frozen=True)
class LogRef(Snapshot):
    """Names a log: ``kind`` program (``server``, ``name``, ``stream``), supervisord
    (``server``) or file (``path``). An empty ``server`` means the first configured one."""

    kind: str
    server: str = ""
    name: str = ""
    stream: str = "stdout"
    path: str = ""


@dataclass(frozen=True)
class LogEntry(Snapshot):
    """One sanitised line: ``ts`` its own or inherited time, ``offset`` its byte offset in
    the log (-1 unknown) and ``gen`` the log's rotation count."""

    text: str
    level: str | None = None
    ts: float | None = None
    offset: int = -1
    gen: int = 0
    #: ``ts`` is the line's own time (not inherited from the line above)
    ts_own: bool = False
    #: what merging several logs by time sorts by (``ts``, or when the line was read)
    order_ts: float = 0.0


@dataclass(frozen=True)
class LogCursor(Snapshot):
    """Where a chunk ended: pass it back as ``after`` to get what was written since.

    A chunk read with ``before`` carries the position of its first line instead (``offset``
    in the log and ``gen``, its rotation count): pass it back as ``before`` to read further
    up. ``offset`` 0 means the top was reached (or the log was rotated since)."""

    key: str
    handle: int
    offset: int = -1
    gen: int = 0


@dataclass(frozen=True)
class LogChunk(Snapshot):
    """Lines of one log. ``notice`` says why part of it is not shown as written."""

    host: str
    at: float
    source: LogRef
    label: str
    lines: tuple[LogEntry, ...] = ()
    cursor: LogCursor | None = None
    notice: HostError | None = None


#: ``Host.log(before=...)`` reads at most this many lines at a time.
MAX_BEFORE_LINES = 5000


# --------------------------------------------------------------------------- info


@dataclass(frozen=True)
class HostInfo(Snapshot):
    """Who and what the host is: versions, capabilities, read-only, the user it runs as."""

    host: str
    at: float
    opsconsole_version: str
    python_version: str
    user: str
    read_only: bool
    capabilities: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    supervisors: tuple[str, ...] = ()


# --------------------------------------------------------------------------- operations

#: The outcomes of a request.
DONE, REFUSED, FAILED = "done", "refused", "failed"


@dataclass(frozen=True)
class OperationRequest(Snapshot):
    """Do ``operation`` (an id of the operations registry) to ``target`` (what the operator
    named: a program, ``group:*``, ``all``, a master pid or program, nginx). ``parameters``
    are JSON values (``server``, ``names``, ``signal``, ``count``, ``wait`` ...);
    ``confirmed`` is the operator's yes for operations that need one."""

    operation: str
    target: str
    parameters: dict[str, JSONValue] = field(default_factory=dict)
    confirmed: bool = False


@dataclass(frozen=True)
class ResultItem(Snapshot):
    """The outcome for one program of a request that named several."""

    name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class OperationResult(Snapshot):
    """What a request did. ``outcome`` is done, refused (nothing was sent: read-only, no
    confirmation, a bound) or failed; ``message`` says it in words, ``verified`` what was
    checked afterwards, ``error`` the typed error of a refusal or failure. ``items`` holds a
    line per program; ``data`` the operation's own details as JSON values (what the CLI
    prints with ``--json``); ``notes`` what else the operator should know."""

    host: str
    operation: str
    target: str
    outcome: str
    message: str
    at: float
    verified: str = ""
    error: HostError | None = None
    items: tuple[ResultItem, ...] = ()
    data: dict[str, JSONValue] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what the operator should know besides (a server unread)
    duration: float = 0.0

    OUTCOMES: ClassVar[tuple[str, ...]] = (DONE, REFUSED, FAILED)

    @property
    def ok(self) -> bool:
        return self.outcome == DONE

    def raise_error(self) -> None:
        """Raise the typed error of a refused or failed request (nothing when done)."""
        if self.error is not None and not self.ok:
            raise self.error.exception()


# --------------------------------------------------------------------------- the protocol


@runtime_checkable
class Host(Protocol):
    """One machine the console reads and acts on. Reads never raise for a backend that is
    down (the snapshot says so) unless noted; every error raised is an OpsError subclass."""

    name: str

    async def info(self) -> HostInfo:
        """Versions, capabilities, read-only, the user it runs as."""
        ...

    async def programs(self) -> ProgramsSnapshot:
        """Every configured supervisord and its programs; one that cannot be read says why
        in its ``status`` and ``error`` and keeps its last programs, marked ``stale``."""
        ...

    async def supervisord(self, name: str) -> Supervisord:
        """One configured supervisord (``name``), read now: what :meth:`programs` gives for
        it. A console refreshes each on its own clock (one slow or down supervisord never
        delays the others). Raises OpsError when no supervisord of that name is configured."""
        ...

    async def gunicorn(self) -> GunicornSnapshot:
        """Every gunicorn master on the host with its workers, tied to the programs of the
        host's own supervisords. CPU% is known from the second call on."""
        ...

    async def nginx(self) -> NginxSnapshot:
        """One sample of the serving nginx (``running`` False when none). Requests/s is
        known from the second call on. Raises NginxError when its config cannot be read."""
        ...

    async def nginx_config(self) -> NginxConfigDump:
        """``nginx -T``: the effective config file by file. Raises NginxError."""
        ...

    async def topology(self) -> TopologySnapshot:
        """nginx → upstreams → gunicorn → supervisor, with the checks' findings. Raises
        NginxError when there is no config to read."""
        ...

    async def probes(self) -> ProbesSnapshot:
        """Run each HTTP probe once (configured ones, else one per listening address)."""
        ...

    async def log(
        self,
        source: LogRef,
        *,
        lines: int | None = None,
        since: float | None = None,
        after: LogCursor | None = None,
        before: LogCursor | None = None,
    ) -> LogChunk:
        """Lines of a log. Without ``after``: the last ``lines`` (default 10), or every line
        since the epoch time ``since`` (bounded). With ``after`` (a chunk's cursor): the lines
        written since that chunk. With ``before`` (a cursor naming a line by ``offset`` and
        ``gen``, e.g. the oldest line shown): the ``lines`` (default 10, at most
        :data:`MAX_BEFORE_LINES`) lines above it, oldest first, the chunk's cursor naming
        its first line (offset 0 and no lines at the top, or when the log was rotated since).
        Raises LogError (unknown source, unreadable file, a log no longer open, bad counts)."""
        ...

    async def close_log(self, cursor: LogCursor) -> None:
        """Stop following the log a cursor came from (nothing if it is closed already)."""
        ...

    async def perform(self, request: OperationRequest) -> OperationResult:
        """Run a request through the host's gate (read-only refusal, confirmation, audit).
        Never raises for the operation's own failure: the result says refused or failed."""
        ...

    async def aclose(self) -> None:
        """Release connections, open logs and threads."""
        ...
