"""Supervisor over its XML-RPC interface: an async client (httpx, unix socket or HTTP).

XML-RPC bodies are serialised with stdlib ``xmlrpc.client``; httpx carries them. Every failure
becomes a :class:`SupervisorError` subclass whose message says what happened and whose hint
says what to check. The password is never part of any message.

Read-only enforcement lives in the transport: when the process is read-only
(:func:`opsconsole.core.actions.is_read_only`) or the client was built read-only, only methods in
:data:`READ_METHODS` may be sent; anything else raises before a byte leaves the process.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import time
import xmlrpc.client
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any
from urllib.parse import urlparse
from xml.parsers.expat import ExpatError

import httpx

from opsconsole.core import actions
from opsconsole.core.config import SupervisorTarget
from opsconsole.core.errors import OpsError, ReadOnlyError

#: Methods that never change anything. Everything else is mutating.
READ_METHODS = frozenset(
    {
        "supervisor.getAPIVersion",
        "supervisor.getVersion",
        "supervisor.getSupervisorVersion",
        "supervisor.getIdentification",
        "supervisor.getState",
        "supervisor.getPID",
        "supervisor.readLog",
        "supervisor.readMainLog",
        "supervisor.getProcessInfo",
        "supervisor.getAllProcessInfo",
        "supervisor.getAllConfigInfo",
        "supervisor.readProcessLog",
        "supervisor.readProcessStdoutLog",
        "supervisor.readProcessStderrLog",
        "supervisor.tailProcessLog",
        "supervisor.tailProcessStdoutLog",
        "supervisor.tailProcessStderrLog",
        "system.listMethods",
        "system.methodHelp",
        "system.methodSignature",
        "system.multicall",  # its inner calls are checked one by one
    }
)

#: Largest response body accepted (a misbehaving server must not exhaust memory).
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ProcessState(IntEnum):
    STOPPED = 0
    STARTING = 10
    RUNNING = 20
    BACKOFF = 30
    STOPPING = 40
    EXITED = 100
    FATAL = 200
    UNKNOWN = 1000

    @classmethod
    def parse(cls, value: Any) -> ProcessState:
        try:
            return cls(int(value))
        except (TypeError, ValueError):
            return cls.UNKNOWN


#: States an operator must look at.
BAD_STATES = frozenset({ProcessState.FATAL, ProcessState.BACKOFF, ProcessState.UNKNOWN})


class Faults:
    UNKNOWN_METHOD = 1
    INCORRECT_PARAMETERS = 2
    BAD_ARGUMENTS = 3
    SIGNATURE_UNSUPPORTED = 4
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    BAD_SIGNAL = 11
    NO_FILE = 20
    NOT_EXECUTABLE = 21
    FAILED = 30
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    STILL_RUNNING = 91
    CANT_REREAD = 92


# --------------------------------------------------------------------------- errors


class SupervisorError(OpsError):
    """Any failure talking to supervisord."""


class Unreachable(SupervisorError):
    """Could not connect: socket missing, refused, or not permitted."""


class NotResponding(SupervisorError):
    """Connected (or tried to) but no answer within the timeout: hung or stopped."""


class AuthFailed(SupervisorError):
    """HTTP 401: the username/password were rejected."""


class ProtocolError(SupervisorError):
    """The answer was not valid XML-RPC, or too large."""

    #: the HTTP status when supervisord answered with one other than 200 (else 0)
    status = 0


class RPCFault(SupervisorError):
    """supervisord answered with an XML-RPC fault."""

    def __init__(self, code: int, fault_string: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.code = code
        self.fault_string = fault_string


class NoSuchProcess(RPCFault):
    pass


class AlreadyStarted(RPCFault):
    pass


class NotRunning(RPCFault):
    pass


class SpawnError(RPCFault):
    pass


class BadSignal(RPCFault):
    pass


def fault_to_error(code: int, fault_string: str, method: str = "") -> RPCFault:
    """Map an XML-RPC fault to an error with operator words (pure, for tests and fuzzing)."""
    _, _, detail = fault_string.partition(":")
    name = detail.strip() or fault_string
    if code == Faults.BAD_NAME:
        return NoSuchProcess(
            code,
            fault_string,
            f"no such program: {name}",
            "check the name (group:name for grouped programs) in the program list",
        )
    if code == Faults.ALREADY_STARTED:
        return AlreadyStarted(code, fault_string, f"{name} is already running")
    if code == Faults.NOT_RUNNING:
        return NotRunning(code, fault_string, f"{name} is not running")
    if code == Faults.SPAWN_ERROR:
        return SpawnError(
            code,
            fault_string,
            f"{name} could not be spawned",
            "see the program's stderr log and its command= line",
        )
    if code == Faults.BAD_SIGNAL:
        return BadSignal(code, fault_string, f"bad signal: {name}", "use a name like HUP or TERM")
    if code == Faults.NO_FILE:
        return RPCFault(code, fault_string, f"command not found: {name}", "check command=")
    if code == Faults.NOT_EXECUTABLE:
        return RPCFault(code, fault_string, f"command is not executable: {name}", "chmod +x it")
    if code == Faults.ABNORMAL_TERMINATION:
        return RPCFault(code, fault_string, f"{name} terminated abnormally while stopping")
    if code == Faults.SHUTDOWN_STATE:
        return RPCFault(code, fault_string, "supervisord is shutting down", "wait, then retry")
    if code == Faults.STILL_RUNNING:
        return RPCFault(code, fault_string, f"{name} is still running", "stop it first")
    if code == Faults.CANT_REREAD:
        return RPCFault(
            code, fault_string, f"supervisord cannot reread its config: {name}", "fix the config"
        )
    if code == Faults.UNKNOWN_METHOD:
        return RPCFault(
            code, fault_string, f"supervisord does not know {method or name}", "upgrade supervisor"
        )
    return RPCFault(code, fault_string, f"supervisord refused {method}: {fault_string}")


# --------------------------------------------------------------------------- models


@dataclass
class ProcessInfo:
    """One program (process) as supervisord reports it."""

    name: str
    group: str
    state: ProcessState
    statename: str
    pid: int
    description: str = ""
    start: int = 0
    stop: int = 0
    now: int = 0
    spawnerr: str = ""
    exitstatus: int = 0
    stdout_logfile: str = ""
    stderr_logfile: str = ""
    server: str = "local"

    @property
    def fullname(self) -> str:
        return self.name if self.group == self.name else f"{self.group}:{self.name}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.server, self.fullname)

    @property
    def uptime(self) -> float | None:
        if self.state == ProcessState.RUNNING and self.start and self.now:
            return float(max(0, self.now - self.start))
        return None

    @classmethod
    def from_rpc(cls, data: dict[str, Any], server: str = "local") -> ProcessInfo:
        return cls(
            name=str(data.get("name", "?")),
            group=str(data.get("group", data.get("name", "?"))),
            state=ProcessState.parse(data.get("state")),
            statename=str(data.get("statename", "UNKNOWN")),
            pid=int(data.get("pid") or 0),
            description=str(data.get("description", "")),
            start=int(data.get("start") or 0),
            stop=int(data.get("stop") or 0),
            now=int(data.get("now") or 0),
            spawnerr=str(data.get("spawnerr") or ""),
            exitstatus=int(data.get("exitstatus") or 0),
            stdout_logfile=str(data.get("stdout_logfile") or data.get("logfile") or ""),
            stderr_logfile=str(data.get("stderr_logfile") or ""),
            server=server,
        )


@dataclass
class ServerInfo:
    version: str
    pid: int
    statename: str
    identification: str


@dataclass
class ConfigDiff:
    """What ``reread`` found: group names added, changed, removed."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d {hours:02}:{minutes:02}:{secs:02}"
    return f"{hours}:{minutes:02}:{secs:02}"


def state_counts(procs: Sequence[ProcessInfo]) -> dict[str, int]:
    """Per-state counts, most important states first (for the header)."""
    counts: dict[str, int] = {}
    for p in procs:
        counts[p.statename] = counts.get(p.statename, 0) + 1
    order = ["FATAL", "BACKOFF", "EXITED", "UNKNOWN", "STARTING", "STOPPING", "RUNNING", "STOPPED"]
    return {
        k: counts[k] for k in sorted(counts, key=lambda s: order.index(s) if s in order else 99)
    }


# --------------------------------------------------------------------------- transport


def _describe_socket_problem(path: str, exc: BaseException) -> tuple[str, str]:
    """Explain why connecting to a unix socket failed (checks the path ourselves)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return (
            f"supervisord socket {path} does not exist",
            "is supervisord running? check the socket path (serverurl / [unix_http_server] file=)",
        )
    except PermissionError:
        return (
            f"no permission to reach supervisord socket {path}",
            "check the directory permissions, or run with sudo / as the socket's owner",
        )
    if not stat.S_ISSOCK(st.st_mode):
        return (
            f"{path} is not a socket",
            "check the socket path; supervisord may have been started with another config",
        )
    if not os.access(path, os.R_OK | os.W_OK):
        return (
            f"no permission to use supervisord socket {path} (mode {stat.S_IMODE(st.st_mode):o})",
            "check chmod/chown= in [unix_http_server], or run with sudo",
        )
    err = _find_oserror(exc)
    if err is not None and err.errno == errno.EACCES:
        return (
            f"no permission to use supervisord socket {path}",
            "check chmod/chown= in [unix_http_server], or run with sudo",
        )
    return (
        f"supervisord is not accepting connections on {path}",
        "is supervisord running? (the socket file is left over from an earlier run)",
    )


def _find_oserror(exc: BaseException | None) -> OSError | None:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


@dataclass
class RequestLog:
    """Every method name sent, in order (tests use it to prove what left the process)."""

    methods: list[str] = field(default_factory=list)


class SupervisorClient:
    """Async XML-RPC client for one supervisord.

    All public methods raise :class:`SupervisorError` subclasses only.
    """

    def __init__(
        self,
        target: SupervisorTarget,
        *,
        timeout: float = 5.0,
        action_timeout: float = 60.0,
        read_only: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        on_send: Callable[[str], None] | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.action_timeout = max(action_timeout, timeout)
        self.read_only = read_only
        self.on_send = on_send
        parsed = urlparse(target.url)
        self.socket_path: str | None = None
        if parsed.scheme == "unix":
            self.socket_path = target.url[len("unix://") :]
            base_url = "http://localhost"
            # A fresh connection per call (cheap on a unix socket): what we see is always what
            # the socket path leads to now, even after it was replaced or re-permissioned.
            transport = transport or httpx.AsyncHTTPTransport(
                uds=self.socket_path, limits=httpx.Limits(max_keepalive_connections=0)
            )
        elif parsed.scheme in ("http", "https"):
            base_url = target.url.rstrip("/")
        else:
            raise SupervisorError(
                f"unsupported supervisor URL {target.url!r}",
                "use unix:///path/to/supervisor.sock or http://host:port",
            )
        auth = None
        if target.username is not None:
            auth = httpx.BasicAuth(target.username, target.password or "")
        self._http = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            auth=auth,
            timeout=httpx.Timeout(timeout),
            headers={"Content-Type": "text/xml"},
        )

    @property
    def is_local(self) -> bool:
        """True when the processes it reports live on this machine (pids mean something)."""
        if self.socket_path is not None:
            return True
        host = urlparse(self.target.url).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> SupervisorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- low level -------------------------------------------------------------

    def _check_method(self, method: str, params: tuple[Any, ...]) -> None:
        mutating = method not in READ_METHODS
        if method == "system.multicall" and params:
            calls = params[0] if isinstance(params[0], list) else []
            mutating = any(
                not isinstance(c, dict)
                or c.get("methodName") not in READ_METHODS
                or c.get("methodName") == "system.multicall"
                for c in calls
            )
        if mutating and (self.read_only or actions.is_read_only()):
            raise ReadOnlyError(
                f"read-only mode: {method} was not sent to supervisord",
                "restart opsconsole without --read-only to make changes",
            )

    async def call(self, method: str, *params: Any, timeout: float | None = None) -> Any:
        """Send one XML-RPC call; return its decoded result."""
        body = await self.call_raw(method, *params, timeout=timeout)
        return decode_response(body, method, self.target.url)

    async def call_raw(self, method: str, *params: Any, timeout: float | None = None) -> bytes:
        """Send one XML-RPC call; return the body of supervisord's HTTP 200 answer undecoded
        (for a caller that must decode an answer :func:`decode_response` rejects, such as
        log bytes supervisord put raw into its XML). Same checks as :meth:`call`: read-only,
        timeout, size cap, errors mapped to SupervisorError subclasses."""
        self._check_method(method, params)
        body = xmlrpc.client.dumps(params, methodname=method, allow_none=True).encode("utf-8")
        where = self.target.url
        if self.on_send is not None:
            self.on_send(method)
        started = time.monotonic()
        try:
            async with self._http.stream(
                "POST", "/RPC2", content=body, timeout=httpx.Timeout(timeout or self.timeout)
            ) as response:
                if response.status_code == 401:
                    raise AuthFailed(
                        f"the username/password from {self.target.source} was rejected "
                        f"by supervisord at {where}",
                        "check username= and password= (or OPSCONSOLE_SUPERVISOR_PASSWORD)",
                    )
                if response.status_code != 200:
                    error = ProtocolError(
                        f"supervisord at {where} answered HTTP {response.status_code}",
                        "is this URL really supervisord's XML-RPC server?",
                    )
                    error.status = response.status_code
                    raise error
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise ProtocolError(
                            f"answer from {where} to {method} is larger than "
                            f"{MAX_RESPONSE_BYTES // (1024 * 1024)} MB; not read",
                        )
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            waited = time.monotonic() - started
            raise NotResponding(
                f"supervisord at {where} is not responding (no answer in {waited:.1f} s)",
                "it may be hung, stopped (SIGSTOP) or overloaded; opsconsole keeps retrying",
            ) from exc
        except httpx.ConnectError as exc:
            if self.socket_path is not None:
                message, hint = _describe_socket_problem(self.socket_path, exc)
            else:
                message = f"cannot connect to supervisord at {where}"
                hint = "is supervisord running with [inet_http_server] on that port?"
            raise Unreachable(message, hint) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise Unreachable(
                f"supervisord at {where} closed the connection",
                "it may be restarting; opsconsole keeps retrying",
            ) from exc
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"cannot talk to supervisord at {where}: {type(exc).__name__}"
            ) from exc
        return b"".join(chunks)

    # -- reads ------------------------------------------------------------------

    async def get_all_process_info(self) -> list[ProcessInfo]:
        raw = await self.call("supervisor.getAllProcessInfo")
        if not isinstance(raw, list):
            raise ProtocolError(f"getAllProcessInfo from {self.target.url} is not a list")
        try:
            return [ProcessInfo.from_rpc(d, self.target.name) for d in raw if isinstance(d, dict)]
        except (TypeError, ValueError) as exc:  # e.g. a pid that is not a number
            raise ProtocolError(
                f"getAllProcessInfo from {self.target.url} has a malformed entry "
                "(a field of the wrong type, e.g. a pid that is not a number)",
                "is the URL really supervisord's XML-RPC server?",
            ) from exc

    async def get_process_info(self, name: str) -> ProcessInfo:
        raw = await self.call("supervisor.getProcessInfo", name)
        return ProcessInfo.from_rpc(raw, self.target.name)

    async def get_server_info(self) -> ServerInfo:
        results = await self.call(
            "system.multicall",
            [
                {"methodName": "supervisor.getSupervisorVersion", "params": []},
                {"methodName": "supervisor.getPID", "params": []},
                {"methodName": "supervisor.getState", "params": []},
                {"methodName": "supervisor.getIdentification", "params": []},
            ],
        )
        if not isinstance(results, list) or len(results) != 4:
            raise ProtocolError(
                f"the answer from {self.target.url} to system.multicall is not the 4 results "
                "asked for",
                "is the URL really supervisord's XML-RPC server?",
            )
        values: list[Any] = []
        for item in results:
            if isinstance(item, list) and item:
                values.append(item[0])
            elif isinstance(item, dict) and "faultCode" in item:
                values.append(None)
            else:
                values.append(item)
        state = values[2] if isinstance(values[2], dict) else {}
        return ServerInfo(
            version=str(values[0] or "?"),
            pid=values[1] if isinstance(values[1], int) else 0,
            statename=str(state.get("statename", "?")),
            identification=str(values[3] or ""),
        )

    async def get_all_config_info(self) -> list[dict[str, Any]]:
        raw = await self.call("supervisor.getAllConfigInfo")
        return [d for d in raw if isinstance(d, dict)] if isinstance(raw, list) else []

    async def tail_log(
        self, name: str, offset: int, length: int, stream: str = "stdout"
    ) -> tuple[str, int, bool]:
        method = (
            "supervisor.tailProcessStdoutLog"
            if stream == "stdout"
            else "supervisor.tailProcessStderrLog"
        )
        text, new_offset, overflow = await self.call(method, name, offset, length)
        return str(text), int(new_offset), bool(overflow)

    async def read_main_log(self, offset: int, length: int) -> str:
        return str(await self.call("supervisor.readLog", offset, length))

    # -- writes (call only through core.actions) ------------------------------

    async def _act(self, method: str, *params: Any) -> Any:
        return await self.call(method, *params, timeout=self.action_timeout)

    async def start(self, name: str) -> None:
        try:
            await self._act("supervisor.startProcess", name, True)
        except SpawnError as exc:
            await self._explain_spawn(name, exc)

    async def _explain_spawn(self, name: str, exc: SpawnError) -> None:
        detail = ""
        try:
            info = await self.get_process_info(name)
            detail = info.spawnerr or info.description
        except SupervisorError:
            pass
        if detail:
            exc.message = f"{name} could not be spawned: {detail}"
        raise exc

    async def stop(self, name: str) -> None:
        await self._act("supervisor.stopProcess", name, True)

    async def restart(self, name: str) -> None:
        try:
            await self.stop(name)
        except NotRunning:
            pass
        await self.start(name)

    async def signal(self, name: str, signame: str) -> None:
        await self._act("supervisor.signalProcess", name, signame)

    async def signal_group(self, group: str, signame: str) -> list[dict[str, Any]]:
        return list(await self._act("supervisor.signalProcessGroup", group, signame))

    async def signal_all(self, signame: str) -> list[dict[str, Any]]:
        return list(await self._act("supervisor.signalAllProcesses", signame))

    async def clear_logs(self, name: str) -> None:
        await self._act("supervisor.clearProcessLogs", name)

    async def start_group(self, group: str) -> list[dict[str, Any]]:
        return list(await self._act("supervisor.startProcessGroup", group, True))

    async def stop_group(self, group: str) -> list[dict[str, Any]]:
        return list(await self._act("supervisor.stopProcessGroup", group, True))

    async def start_all(self) -> list[dict[str, Any]]:
        return list(await self._act("supervisor.startAllProcesses", True))

    async def stop_all(self) -> list[dict[str, Any]]:
        return list(await self._act("supervisor.stopAllProcesses", True))

    async def reread(self) -> ConfigDiff:
        """``supervisorctl reread``: ask supervisord to reread its config; returns the diff."""
        result = await self._act("supervisor.reloadConfig")
        added, changed, removed = result[0]
        return ConfigDiff(sorted(added), sorted(changed), sorted(removed))

    async def apply_update(self, diff: ConfigDiff) -> list[str]:
        """What ``supervisorctl update`` does with a diff. Returns a line per group."""
        done: list[str] = []
        for group in diff.removed:
            await self._stop_quietly(group)
            await self._act("supervisor.removeProcessGroup", group)
            done.append(f"{group}: stopped and removed")
        for group in diff.changed:
            await self._stop_quietly(group)
            await self._act("supervisor.removeProcessGroup", group)
            await self._act("supervisor.addProcessGroup", group)
            done.append(f"{group}: updated")
        for group in diff.added:
            await self._act("supervisor.addProcessGroup", group)
            done.append(f"{group}: added")
        return done

    async def _stop_quietly(self, group: str) -> None:
        try:
            await self._act("supervisor.stopProcessGroup", group, True)
        except RPCFault as exc:
            if exc.code not in (Faults.BAD_NAME, Faults.NOT_RUNNING):
                raise


def decode_response(body: bytes, method: str = "", where: str = "supervisord") -> Any:
    """Decode an XML-RPC response body (pure: no I/O). Faults become RPCFault subclasses."""
    try:
        params, _ = xmlrpc.client.loads(body, use_builtin_types=True)
    except xmlrpc.client.Fault as fault:
        raise fault_to_error(int(fault.faultCode), str(fault.faultString), method) from None
    except (ExpatError, xmlrpc.client.ResponseError, ValueError, TypeError, IndexError) as exc:
        raise ProtocolError(
            f"the answer from {where} to {method or 'a call'} is not valid XML-RPC",
            "is the URL really supervisord's XML-RPC server?",
        ) from exc
    if len(params) != 1:
        raise ProtocolError(f"the answer from {where} to {method} has {len(params)} values, not 1")
    return params[0]


async def gather_settled(*aws: Any) -> list[Any]:
    """asyncio.gather that returns exceptions instead of raising (one server down is not all)."""
    return list(await asyncio.gather(*aws, return_exceptions=True))


# --------------------------------------------------------------------------- operations

VERBS = ("start", "stop", "restart", "signal", "clear_logs")


@dataclass
class OpResult:
    """Outcome of one verb on one program."""

    name: str
    ok: bool
    message: str


def parse_spec(spec: str) -> tuple[str, str]:
    """``all`` → ("all", ""); ``grp:*`` → ("group", "grp"); else ("process", spec)."""
    spec = spec.strip()
    if spec == "all":
        return ("all", "")
    if spec.endswith(":*"):
        return ("group", spec[:-2])
    return ("process", spec)


def _group_results(raw: list[dict[str, Any]], verb: str) -> list[OpResult]:
    out = []
    for item in raw:
        name = str(item.get("name", "?"))
        group = str(item.get("group", name))
        full = name if group == name else f"{group}:{name}"
        code = int(item.get("status", Faults.SUCCESS))
        if code == Faults.SUCCESS:
            out.append(OpResult(full, True, f"{full}: {verb} done"))
        else:
            err = fault_to_error(code, f"{item.get('description', '')}: {full}", verb)
            out.append(OpResult(full, False, err.message))
    return out


async def perform(
    client: SupervisorClient,
    verb: str,
    specs: Sequence[str],
    *,
    signame: str = "HUP",
) -> list[OpResult]:
    """Apply ``verb`` to every spec (a name, ``group:*`` or ``all``), the way supervisorctl does.

    Per-program failures are returned as results, not raised; connection failures raise.
    Call only from inside :meth:`ActionGate.run`.
    """
    if verb not in VERBS:
        raise ValueError(f"unknown verb {verb}")
    results: list[OpResult] = []
    for spec in specs:
        kind, name = parse_spec(spec)
        try:
            if kind == "process":
                await _one(client, verb, name, signame)
                results.append(OpResult(name, True, f"{name}: {_done(verb, signame)}"))
                continue
            if verb == "start":
                raw = await (client.start_all() if kind == "all" else client.start_group(name))
            elif verb == "stop":
                raw = await (client.stop_all() if kind == "all" else client.stop_group(name))
            elif verb == "restart":
                await (client.stop_all() if kind == "all" else client.stop_group(name))
                raw = await (client.start_all() if kind == "all" else client.start_group(name))
            elif verb == "signal":
                if kind == "all":
                    raw = await client.signal_all(signame)
                else:
                    raw = await client.signal_group(name, signame)
            else:
                procs = await client.get_all_process_info()
                raw = []
                for p in procs:
                    if kind == "all" or p.group == name:
                        await client.clear_logs(p.fullname)
                        raw.append({"name": p.name, "group": p.group, "status": Faults.SUCCESS})
            results.extend(_group_results(list(raw), _done(verb, signame)))
        except RPCFault as exc:
            results.append(OpResult(spec, False, exc.message))
    return results


def _done(verb: str, signame: str) -> str:
    return {
        "start": "started",
        "stop": "stopped",
        "restart": "restarted",
        "signal": f"sent {signame}",
        "clear_logs": "logs cleared",
    }[verb]


async def _one(client: SupervisorClient, verb: str, name: str, signame: str) -> None:
    if verb == "start":
        await client.start(name)
    elif verb == "stop":
        await client.stop(name)
    elif verb == "restart":
        await client.restart(name)
    elif verb == "signal":
        await client.signal(name, signame)
    else:
        await client.clear_logs(name)
