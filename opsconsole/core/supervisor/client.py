"""Supervisor over its XML-RPC interface: an async client (unix socket or HTTP).

XML-RPC bodies are serialised with stdlib ``xmlrpc.client``; our own small HTTP transport
(:mod:`.wire`: a blocking socket in a thread, the whole answer in one read) carries them over
a unix socket or plain HTTP; httpx carries them over https or through a transport handed in
(tests' fakes). Every failure becomes a :class:`SupervisorError` subclass whose message says
what happened and whose hint says what to check. The password is never part of any message.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from opsconsole.core import actions
from opsconsole.core.config import SupervisorTarget
from opsconsole.core.errors import ReadOnlyError
from opsconsole.core.supervisor.fastdecode import decode_process_infos, decode_process_list
from opsconsole.core.supervisor.model import (
    READ_METHODS,
    AuthFailed,
    ConfigDiff,
    Faults,
    NotResponding,
    NotRunning,
    ProcessInfo,
    ProtocolError,
    RPCFault,
    ServerInfo,
    SpawnError,
    SupervisorError,
    Unreachable,
)
from opsconsole.core.supervisor.protocol import decode_response
from opsconsole.core.supervisor.wire import (
    Credentials,
    Endpoint,
    Exchange,
    WireConnectError,
    WireError,
    WireTimeout,
    WireTooLarge,
)

if TYPE_CHECKING:  # httpx is imported only when it carries calls (https, tests' fakes)
    import httpx

#: Largest response body accepted (a misbehaving server must not exhaust memory).
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


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
        #: the last getAllProcessInfo answer (its bytes) and what it was decoded to
        self._last_all: tuple[bytes, list[ProcessInfo]] | None = None
        #: how many getAllProcessInfo answers were byte-identical to the one before
        self.unchanged_answers = 0
        parsed = urlparse(target.url)
        self.socket_path: str | None = None
        if parsed.scheme == "unix":
            self.socket_path = target.url[len("unix://") :]
        elif parsed.scheme not in ("http", "https"):
            raise SupervisorError(
                f"unsupported supervisor URL {target.url!r}",
                "use unix:///path/to/supervisor.sock or http://host:port",
            )
        username = target.username if target.username is not None else parsed.username
        password = (target.password or "") if target.username is not None else ""
        #: our own transport (unix socket or plain HTTP): a fresh connection per call, so what
        #: we see is always what the socket path leads to now, even after it was replaced or
        #: re-permissioned; httpx only for https or a transport handed in (tests' fakes)
        self._wire: Endpoint | None = None
        self._auth: Credentials | None = None  # never in a message or a repr
        self._http: httpx.AsyncClient | None = None
        if transport is None and parsed.scheme != "https":
            try:
                port = parsed.port
            except ValueError as exc:
                raise SupervisorError(
                    f"unsupported supervisor URL {target.url!r}: the port is not a number",
                    "use unix:///path/to/supervisor.sock or http://host:port",
                ) from exc
            self._wire = Endpoint(
                socket_path=self.socket_path,
                host=parsed.hostname or "localhost",
                port=port or 80,
                path=("" if self.socket_path else parsed.path.rstrip("/")) + "/RPC2",
            )
            if username is not None:
                self._auth = Credentials(username, password)
            return
        import httpx  # 20+ ms at start: imported only when it carries calls

        base_url = "http://localhost" if self.socket_path is not None else target.url.rstrip("/")
        if self.socket_path is not None:
            transport = transport or httpx.AsyncHTTPTransport(
                uds=self.socket_path, limits=httpx.Limits(max_keepalive_connections=0)
            )
        self._http = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            auth=httpx.BasicAuth(username, password) if username is not None else None,
            timeout=httpx.Timeout(timeout),
            headers={"Content-Type": "text/xml"},
        )

    @property
    def via_httpx(self) -> bool:
        """True when httpx carries the calls (https, or a transport handed in), False for
        our own transport (a unix socket or plain HTTP)."""
        return self._http is not None

    @property
    def is_local(self) -> bool:
        """True when the processes it reports live on this machine (pids mean something)."""
        if self.socket_path is not None:
            return True
        host = urlparse(self.target.url).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")

    async def aclose(self) -> None:
        """Close the HTTP connection pool (httpx only; our transport keeps no connection).
        Raises nothing."""
        if self._http is not None:
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
        if self.on_send is not None:
            self.on_send(method)
        wait = timeout or self.timeout
        started = time.monotonic()
        if self._wire is not None:
            return await self._post_wire(body, method, wait, started)
        return await self._post_httpx(body, method, wait, started)

    def _auth_failed(self) -> AuthFailed:
        return AuthFailed(
            f"the username/password from {self.target.source} was rejected "
            f"by supervisord at {self.target.url}",
            "check username= and password= (or OPSCONSOLE_SUPERVISOR_PASSWORD)",
        )

    def _bad_status(self, status: int) -> ProtocolError:
        error = ProtocolError(
            f"supervisord at {self.target.url} answered HTTP {status}",
            "is this URL really supervisord's XML-RPC server?",
        )
        error.status = status
        return error

    def _too_large(self, method: str) -> ProtocolError:
        return ProtocolError(
            f"answer from {self.target.url} to {method} is larger than "
            f"{MAX_RESPONSE_BYTES // (1024 * 1024)} MB; not read",
        )

    def _not_responding(self, started: float) -> NotResponding:
        waited = time.monotonic() - started
        return NotResponding(
            f"supervisord at {self.target.url} is not responding (no answer in {waited:.1f} s)",
            "it may be hung, stopped (SIGSTOP) or overloaded; opsconsole keeps retrying",
        )

    def _cannot_connect(self, exc: BaseException) -> Unreachable:
        if self.socket_path is not None:
            message, hint = _describe_socket_problem(self.socket_path, exc)
        else:
            message = f"cannot connect to supervisord at {self.target.url}"
            hint = "is supervisord running with [inet_http_server] on that port?"
        return Unreachable(message, hint)

    def _closed(self) -> Unreachable:
        return Unreachable(
            f"supervisord at {self.target.url} closed the connection",
            "it may be restarting; opsconsole keeps retrying",
        )

    async def _post_wire(self, body: bytes, method: str, wait: float, started: float) -> bytes:
        """The POST over our own transport (:mod:`.wire`): one wake-up for the whole answer."""
        assert self._wire is not None
        exchange = Exchange(self._wire, body, self._auth, wait, MAX_RESPONSE_BYTES)
        try:
            status, answer = await exchange.send()
        except WireTimeout as exc:
            raise self._not_responding(started) from exc
        except WireConnectError as exc:
            raise self._cannot_connect(exc) from exc
        except WireTooLarge as exc:
            raise self._too_large(method) from exc
        except WireError as exc:
            raise self._closed() from exc
        if status == 401:
            raise self._auth_failed()
        if status != 200:
            raise self._bad_status(status)
        return answer

    async def _post_httpx(self, body: bytes, method: str, wait: float, started: float) -> bytes:
        """The POST through httpx (https, or a transport handed in)."""
        import httpx  # (__init__ imported it already)

        assert self._http is not None
        try:
            async with self._http.stream(
                "POST", "/RPC2", content=body, timeout=httpx.Timeout(wait)
            ) as response:
                if response.status_code == 401:
                    raise self._auth_failed()
                if response.status_code != 200:
                    raise self._bad_status(response.status_code)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise self._too_large(method)
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise self._not_responding(started) from exc
        except httpx.ConnectError as exc:
            raise self._cannot_connect(exc) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise self._closed() from exc
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"cannot talk to supervisord at {self.target.url}: {type(exc).__name__}"
            ) from exc
        return b"".join(chunks)

    # -- reads ------------------------------------------------------------------

    async def get_all_process_info(self) -> list[ProcessInfo]:
        """``getAllProcessInfo``: every program of this supervisord, as :class:`ProcessInfo`.

        An answer byte-identical to the previous one (nothing changed within the second:
        supervisord's ``now`` and uptimes move once a second) is not decoded again: the
        previous list comes back, the very same object, so callers can tell by identity.
        The lists and their ProcessInfo objects are shared: do not change them.

        Raises Unreachable, NotResponding, AuthFailed, ProtocolError (malformed answer)."""
        method = "supervisor.getAllProcessInfo"
        body = await self.call_raw(method)
        last = self._last_all
        if last is not None and last[0] == body:
            self.unchanged_answers += 1
            return last[1]  # byte-identical answer: the same list, nothing decoded
        fast = decode_process_infos(body, self.target.name)
        if fast is not None:  # supervisord's usual answer: straight to ProcessInfo objects
            self._last_all = (body, fast)
            return fast
        raw: Any = decode_process_list(body)
        if raw is None:  # not the usual shape: the generic decoder decodes it or says why
            raw = decode_response(body, method, self.target.url)
        if not isinstance(raw, list):
            raise ProtocolError(f"getAllProcessInfo from {self.target.url} is not a list")
        try:
            result = [ProcessInfo.from_rpc(d, self.target.name) for d in raw if isinstance(d, dict)]
        except (TypeError, ValueError) as exc:  # e.g. a pid that is not a number
            raise ProtocolError(
                f"getAllProcessInfo from {self.target.url} has a malformed entry "
                "(a field of the wrong type, e.g. a pid that is not a number)",
                "is the URL really supervisord's XML-RPC server?",
            ) from exc
        self._last_all = (body, result)
        return result

    def forget_last_answer(self) -> None:
        """Decode the next ``getAllProcessInfo`` answer even when it is byte-identical to
        the last one (benchmarks measure the decoding path with it)."""
        self._last_all = None

    async def get_process_info(self, name: str) -> ProcessInfo:
        """``getProcessInfo``: one program (``name`` or ``group:name``).

        Raises NoSuchProcess (BAD_NAME), or a transport SupervisorError."""
        raw = await self.call("supervisor.getProcessInfo", name)
        return ProcessInfo.from_rpc(raw, self.target.name)

    async def get_server_info(self) -> ServerInfo:
        """Version, pid, state and identification of supervisord, in one ``system.multicall``
        (a part it refuses reads as unknown).

        Raises ProtocolError when the answer is not the four results, or a transport error."""
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
        """``getAllConfigInfo``: each program's configuration as supervisord reports it
        (dicts; [] when the answer is not a list). Raises a transport SupervisorError."""
        raw = await self.call("supervisor.getAllConfigInfo")
        return [d for d in raw if isinstance(d, dict)] if isinstance(raw, list) else []

    async def tail_log(
        self, name: str, offset: int, length: int, stream: str = "stdout"
    ) -> tuple[str, int, bool]:
        """``tailProcessStdoutLog``/``tailProcessStderrLog`` (``stream``): up to ``length`` bytes
        of ``name``'s log ending at ``offset``; returns (text, new offset, overflow).

        Raises NoSuchProcess, RPCFault (e.g. NO_FILE: no log file for that stream), or a
        transport SupervisorError."""
        method = (
            "supervisor.tailProcessStdoutLog"
            if stream == "stdout"
            else "supervisor.tailProcessStderrLog"
        )
        text, new_offset, overflow = await self.call(method, name, offset, length)
        return str(text), int(new_offset), bool(overflow)

    async def read_main_log(self, offset: int, length: int) -> str:
        """``readLog``: ``length`` bytes of supervisord's own log from ``offset``.

        Raises RPCFault (BAD_ARGUMENTS, NO_FILE), or a transport SupervisorError."""
        return str(await self.call("supervisor.readLog", offset, length))

    # -- writes (call only through core.actions) ------------------------------

    async def _act(self, method: str, *params: Any) -> Any:
        return await self.call(method, *params, timeout=self.action_timeout)

    async def start(self, name: str) -> None:
        """``startProcess(name, wait=True)``: returns once the program is RUNNING.

        Raises ReadOnlyError (before sending), NoSuchProcess, AlreadyStarted, SpawnError
        (its message carries supervisord's spawn error), or a transport SupervisorError."""
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
        """``stopProcess(name, wait=True)``: returns once the program is stopped.

        Raises ReadOnlyError, NoSuchProcess, NotRunning, or a transport SupervisorError."""
        await self._act("supervisor.stopProcess", name, True)

    async def restart(self, name: str) -> None:
        """Stop (if running) then start, as ``supervisorctl restart``. Raises as :meth:`start`."""
        try:
            await self.stop(name)
        except NotRunning:
            pass
        await self.start(name)

    async def signal(self, name: str, signame: str) -> None:
        """``signalProcess``: send ``signame`` (``HUP``, ``TERM``, …) to one program.

        Raises ReadOnlyError, NoSuchProcess, NotRunning, BadSignal, or a transport error."""
        await self._act("supervisor.signalProcess", name, signame)

    async def signal_group(self, group: str, signame: str) -> list[dict[str, Any]]:
        """``signalProcessGroup``: returns supervisord's per-program result dicts.

        Raises ReadOnlyError, NoSuchProcess (BAD_NAME), BadSignal, or a transport error."""
        return list(await self._act("supervisor.signalProcessGroup", group, signame))

    async def signal_all(self, signame: str) -> list[dict[str, Any]]:
        """``signalAllProcesses``: returns supervisord's per-program result dicts.

        Raises ReadOnlyError, BadSignal, or a transport SupervisorError."""
        return list(await self._act("supervisor.signalAllProcesses", signame))

    async def clear_logs(self, name: str) -> None:
        """``clearProcessLogs``: empty one program's stdout and stderr logs.

        Raises ReadOnlyError, NoSuchProcess, RPCFault (FAILED), or a transport error."""
        await self._act("supervisor.clearProcessLogs", name)

    async def start_group(self, group: str) -> list[dict[str, Any]]:
        """``startProcessGroup(group, wait=True)``: returns the per-program result dicts.

        Raises ReadOnlyError, NoSuchProcess (BAD_NAME), or a transport SupervisorError."""
        return list(await self._act("supervisor.startProcessGroup", group, True))

    async def stop_group(self, group: str) -> list[dict[str, Any]]:
        """``stopProcessGroup(group, wait=True)``: returns the per-program result dicts.

        Raises ReadOnlyError, NoSuchProcess (BAD_NAME), or a transport SupervisorError."""
        return list(await self._act("supervisor.stopProcessGroup", group, True))

    async def start_all(self) -> list[dict[str, Any]]:
        """``startAllProcesses(wait=True)``: returns the per-program result dicts.

        Raises ReadOnlyError, or a transport SupervisorError."""
        return list(await self._act("supervisor.startAllProcesses", True))

    async def stop_all(self) -> list[dict[str, Any]]:
        """``stopAllProcesses(wait=True)``: returns the per-program result dicts.

        Raises ReadOnlyError, or a transport SupervisorError."""
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


async def gather_settled(*aws: Any) -> list[Any]:
    """asyncio.gather that returns exceptions instead of raising (one server down is not all)."""
    return list(await asyncio.gather(*aws, return_exceptions=True))
