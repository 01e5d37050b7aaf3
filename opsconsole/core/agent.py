"""``opsconsole agent``: a LocalHost served as JSON lines on stdin/stdout, for one console.

The console runs the agent on a host (over the operator's own ssh, or as a local process) and
talks to it with :class:`~opsconsole.core.remote.RemoteHost`. The protocol, one JSON object
per line both ways (ASCII: anything else is escaped):

1. The agent starts with a **hello**: ``{"hello": "opsconsole-agent", "protocol": N,
   "version", "python", "host", "user", "ssh_user", "ssh_client", "read_only",
   "capabilities": [methods, then features such as "log.keep"], "topics": [subscribable
   reads], "operations": [operation ids], "max_line", "max_in_flight"}``. A feature adds
   optional fields within the protocol: the console uses it only with an agent that names it.
2. The console's first request is ``open``: ``{"id": 1, "method": "open", "params":
   {"protocol": N, "name": "web2", "console": "alice@laptop", "read_only": bool,
   "max_line": bytes, "password": "..."}}``. The supervisord password travels here, never
   in the agent's argv or environment. ``read_only`` can only turn read-only on. A console of
   another protocol is answered with an error that says which side to upgrade.
3. Then **requests** ``{"id": n, "method": m, "params": {...}}`` (``m``: a Host method,
   ``subscribe``, ``unsubscribe`` or ``ping``) get **answers** ``{"id": n, "ok": true,
   "result": ...}`` or ``{"id": n, "ok": false, "error": HostError}``, in any order: each
   request runs in its own task, so a slow one never holds up another answer or a push.
4. **Pushes** carry no id: ``{"push": "snapshot" | "diff" | "error", "sub": id, "topic",
   ...}``. A subscription (``subscribe {"topic": "programs", "interval": 1}``; its id is the
   id of the subscribe request) first pushes the full snapshot, then only what changed
   (:mod:`opsconsole.core.host.diff`) with the CRC of the full value, so the console can
   prove that what it rebuilt equals the snapshot taken here. A programs subscription sends
   a program again only when what a view shows of it moved, not for supervisord's clock
   alone (:mod:`opsconsole.core.host.steady`): at idle a push is the snapshot's time, and
   it is sent only every ``heartbeat`` seconds (a subscribe parameter, at least the
   interval, the interval when not given): the console's proof that the host is alive.
   ``"summary": true`` (an agent naming ``subscribe.summary``) asks for a gunicorn or nginx
   summary: without workers, stats and samples, what moves only when a master, a worker
   count or the instance does (the fleet's hosts view shows no more).

Bounds: a request line longer than :data:`MAX_REQUEST_LINE` or one that is not a JSON request
is answered with an error push in words and the agent exits (the connection is reset; the
console reconnects); more than :data:`MAX_IN_FLIGHT` requests at once are refused one by one;
a read gives up after its ``timeout`` (at most :data:`READ_TIMEOUT`); an answer or a push
longer than the console reads in a line (its ``max_line``) is replaced by an error in words.

Every mutating request passes this agent's own gate (read-only refusal, confirmation, the
audit trail here, each record naming the ssh user, the ssh client and the console as it
introduced itself), whatever the console's gate said.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import platform
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from opsconsole import __version__
from opsconsole.core import actions
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    HostError,
    HostNotResponding,
    HostProtocolError,
    LogCursor,
    LogRef,
    OperationRequest,
    ProtocolMismatch,
)
from opsconsole.core.host.diff import checksum, diff, top_scalars
from opsconsole.core.host.logs import LOG_KEEP
from opsconsole.core.host.steady import Canon, SteadyPrograms
from opsconsole.core.local import LocalHost

#: The version of this protocol. Bump it when a message changes shape.
PROTOCOL = 1
#: The longest request line the agent reads (requests are small; snapshots go the other way).
MAX_REQUEST_LINE = 1 << 20
#: The longest answer line a console reads by default (a config dump, 5000 log lines).
MAX_ANSWER_LINE = 64 << 20
#: Requests the agent runs at once; one more is refused until one ends.
MAX_IN_FLIGHT = 32
#: A read gives up after this many seconds at most (a request may ask for less).
READ_TIMEOUT = 120.0
#: Subscriptions at once, and the shortest interval between two rounds of one.
MAX_SUBSCRIPTIONS = 16
MIN_INTERVAL = 0.2
#: What the console may subscribe to (the reads whose changes are pushed).
TOPICS = ("programs", "gunicorn", "nginx", "probes")
#: The Host methods served (``subscribe``, ``unsubscribe``, ``ping`` besides).
METHODS = (
    "info",
    "programs",
    "supervisord",
    "gunicorn",
    "nginx",
    "nginx_config",
    "topology",
    "probes",
    "log",
    "close_log",
    "perform",
)
#: What this agent does besides its methods, named among its hello's ``capabilities``: a
#: console sends what a feature adds only to an agent that names it (an older agent ignores
#: parameters it does not know, and an older console the fields of an answer it does not).
#: A subscribe request may ask for a summary (``"summary": true``) of these topics: the
#: snapshot's ``summarised()``, what a fleet's hosts view shows (and what moves only when a
#: master, a worker count or the nginx instance does, not at every read).
SUMMARY = "subscribe.summary"
SUMMARY_TOPICS = ("gunicorn", "nginx")
FEATURES = (LOG_KEEP, SUMMARY)
UPGRADE = "pip install -U opsconsole"


def skew_words(where: str, theirs: int, ours: int, *, agent_side: bool) -> tuple[str, str]:
    """A protocol mismatch in words, naming the side to upgrade (the older one).
    ``where`` is the host the agent runs on; ``agent_side``: these words are the agent's."""
    agent, console = (ours, theirs) if agent_side else (theirs, ours)
    message = f"the agent on {where} speaks protocol {agent}, this console {console}"
    if agent < console:
        return message, f"upgrade opsconsole on {where} ({UPGRADE})"
    return message, f"upgrade opsconsole on this console's machine ({UPGRADE})"


def ssh_identity() -> tuple[str, str | None]:
    """Who logged in (``USER``, ``LOGNAME``, else the process's user) and from where (the
    client address of ``SSH_CONNECTION``; None when not started by sshd)."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    if not user:
        try:
            user = getpass.getuser()
        except Exception:  # pragma: no cover - no passwd entry
            user = str(os.getuid())
    client = (os.environ.get("SSH_CONNECTION") or "").split(" ")[0] or None
    return user, client


@dataclass
class AgentGate(actions.ActionGate):
    """The agent's gate: an ActionGate whose audit records also say who came in over ssh
    and which console (as it introduced itself in ``open``) asked."""

    ssh_user: str = ""
    console: str = ""

    def _new_record(
        self,
        op: actions.Operation,
        target: str,
        params: dict[str, Any],
        result: str,
        detail: str,
    ) -> actions.AuditRecord:
        record = super()._new_record(op, target, params, result, detail)
        record.params = {
            **record.params,
            "via": "opsconsole agent",
            "ssh_user": self.ssh_user,
            "console": self.console,
        }
        return record


class Reset(OpsError):
    """The console broke the protocol: the agent says why and ends the connection."""


class Agent:
    """Serves one console on a reader and a writer until the reader ends (or a reset)."""

    def __init__(
        self,
        config: AppConfig,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        audit: bool = True,
    ) -> None:
        self.config = config
        self.reader = reader
        self.writer = writer
        self.ssh_user, self.ssh_client = ssh_identity()
        self.audit = audit
        self.gate = self._gate(config.read_only)
        self.host = LocalHost(config, gate=self.gate)
        self.opened = False
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.subs: dict[int, asyncio.Task[None]] = {}
        self._write_lock = asyncio.Lock()
        self._lines = 0
        #: the longest line the console reads (it says in ``open``; at most MAX_ANSWER_LINE)
        self.max_answer = MAX_ANSWER_LINE

    def _gate(self, read_only: bool, console: str = "") -> AgentGate:
        return AgentGate(
            read_only=read_only,
            audit_path=actions.default_audit_path() if self.audit else None,
            ssh_user=self.ssh_user,
            console=console,
        )

    async def hello(self) -> dict[str, Any]:
        info = await self.host.info()
        return {
            "hello": "opsconsole-agent",
            "protocol": PROTOCOL,
            "version": __version__,
            "python": platform.python_version(),
            "host": socket.gethostname(),
            "user": info.user,
            "ssh_user": self.ssh_user,
            "ssh_client": self.ssh_client,
            "read_only": self.gate.read_only,
            "capabilities": [*METHODS, *FEATURES],
            "topics": list(TOPICS),
            "operations": list(info.operations),
            "supervisors": list(info.supervisors),
            "max_line": MAX_REQUEST_LINE,
            "max_in_flight": MAX_IN_FLIGHT,
        }

    async def send(self, message: dict[str, Any]) -> bool:
        """Write one message; False when it was too long and an error went instead."""
        data = json.dumps(message, separators=(",", ":")).encode("ascii") + b"\n"
        if len(data) > self.max_answer and ("id" in message or "sub" in message):
            # the console would reset the connection: say so in the answer instead
            error = HostProtocolError(
                f"the answer is {len(data):,} bytes, more than the {self.max_answer:,} "
                "the console reads in one line",
                "ask for less at a time (fewer log lines)",
            )
            if "id" in message:
                message = {"id": message["id"], "ok": False, "error": HostError.of(error).to_json()}
            else:
                message = self._sub_error(message["sub"], str(message.get("topic")), error)
            data = json.dumps(message, separators=(",", ":")).encode("ascii") + b"\n"
            sent = False
        else:
            sent = True
        async with self._write_lock:
            self.writer.write(data)
            await self.writer.drain()
        return sent

    async def serve(self) -> int:
        """Hello, then requests until the console closes stdin (0) or breaks a bound (2)."""
        try:
            await self.send(await self.hello())
            while True:
                try:
                    line = await self.reader.readline()
                except ValueError:  # longer than the reader's limit
                    raise Reset(
                        f"a request from the console was longer than {MAX_REQUEST_LINE} bytes",
                        "the agent reset the connection; the console starts it again",
                    ) from None
                if not line:
                    return 0
                self._lines += 1
                await self._dispatch(self._parse(line))
        except Reset as exc:
            await self._push_error(exc)
            return 2
        except (ConnectionError, BrokenPipeError):
            return 0  # the console went away
        finally:
            await self._wind_down()

    async def _wind_down(self) -> None:
        """Stop the subscriptions; let the requests still running end (a mutating one is
        never cut short: up to :data:`READ_TIMEOUT`), then close the host."""
        subs = list(self.subs.values())
        for task in subs:
            task.cancel()
        running = list(self.tasks.values())
        if running:
            _, late = await asyncio.wait(running, timeout=READ_TIMEOUT)
            for task in late:
                task.cancel()
        await asyncio.gather(*subs, *running, return_exceptions=True)
        await self.host.aclose()

    async def _push_error(self, exc: OpsError) -> None:
        try:
            error = HostError("HostProtocolError", exc.message, exc.hint)  # a kind both know
            await self.send({"push": "error", "error": error.to_json()})
        except (ConnectionError, BrokenPipeError):
            pass

    def _parse(self, line: bytes) -> dict[str, Any]:
        try:
            message = json.loads(line)
        except ValueError:
            shown = line[:60].decode("utf-8", "replace").strip()
            raise Reset(
                f"line {self._lines} from the console is not JSON: {shown!r}",
                "the agent speaks one JSON request per line; the connection was reset",
            ) from None
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("id"), int)
            or isinstance(message.get("id"), bool)
            or not isinstance(message.get("method"), str)
            or not isinstance(message.get("params", {}), dict)
        ):
            raise Reset(
                f"line {self._lines} from the console is not a request",
                'a request is {"id": <integer>, "method": <name>, "params": {...}}; '
                "the connection was reset",
            )
        return message

    async def _dispatch(self, message: dict[str, Any]) -> None:
        rid: int = message["id"]
        method: str = message["method"]
        params: dict[str, Any] = message.get("params") or {}
        if method == "open":
            await self._answer(rid, self._open, params)
            return
        if not self.opened:
            await self._error(rid, HostProtocolError("the console sent a request before open"))
            return
        if rid in self.tasks or rid in self.subs:
            await self._error(rid, HostProtocolError(f"request id {rid} is already in use"))
            return
        if len(self.tasks) >= MAX_IN_FLIGHT:
            await self._error(
                rid,
                HostNotResponding(
                    f"{MAX_IN_FLIGHT} requests are already running on this agent",
                    "wait for their answers before sending more",
                ),
            )
            return
        task = asyncio.create_task(self._answer(rid, lambda p: self._call(rid, method, p), params))
        self.tasks[rid] = task
        task.add_done_callback(lambda _t: self.tasks.pop(rid, None))

    async def _answer(
        self, rid: int, fn: Callable[[dict[str, Any]], Awaitable[Any]], params: dict[str, Any]
    ) -> None:
        try:
            result = await fn(params)
        except OpsError as exc:
            await self._error(rid, exc)
            return
        except (TypeError, ValueError, KeyError) as exc:
            await self._error(
                rid, HostProtocolError(f"bad parameters: {type(exc).__name__}: {exc}")
            )
            return
        except Exception as exc:  # a bug here must not end the agent for every request
            await self._error(
                rid,
                OpsError(
                    f"the agent failed: {type(exc).__name__}: {exc}",
                    "a bug in opsconsole agent: please report it",
                ),
            )
            return
        await self.send({"id": rid, "ok": True, "result": result})

    async def _error(self, rid: int, exc: OpsError) -> None:
        await self.send({"id": rid, "ok": False, "error": HostError.of(exc).to_json()})

    async def _open(self, params: dict[str, Any]) -> dict[str, Any]:
        theirs = params.get("protocol")
        if theirs != PROTOCOL:
            where = socket.gethostname()
            message, hint = skew_words(
                where, int(theirs) if isinstance(theirs, int) else 0, PROTOCOL, agent_side=True
            )
            raise ProtocolMismatch(message, hint)
        if self.opened:
            raise HostProtocolError("the connection is open already")
        limit = params.get("max_line")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            self.max_answer = min(limit, MAX_ANSWER_LINE)
        console = str(params.get("console") or "")
        read_only = self.gate.read_only or bool(params.get("read_only"))
        # The gate is built here, in the serving task, so that a read-only one governs every
        # request task started after it (and the lower layers' second line of defence).
        self.gate = self._gate(read_only, console)
        password = params.get("password")
        if isinstance(password, str) and password:
            for target in self.config.supervisors:
                if target.password is None:
                    target.password = password
        name = params.get("name")
        await self.host.aclose()
        self.host = LocalHost(
            self.config, gate=self.gate, name=str(name) if name else socket.gethostname()
        )
        self.host.max_open_logs = 1024  # the console closes what it stops showing
        self.opened = True
        return {"read_only": self.gate.read_only, "info": (await self.host.info()).to_json()}

    async def _call(self, rid: int, method: str, params: dict[str, Any]) -> Any:
        host = self.host
        if method == "ping":
            return {}
        if method == "perform":  # never cut short: its result says what was done
            request = OperationRequest.from_json(params["request"])
            return (await host.perform(request)).to_json()
        if method == "subscribe":
            return self._subscribe(rid, params)
        if method == "unsubscribe":
            task = self.subs.pop(int(params["sub"]), None)
            if task is not None:
                task.cancel()
            return {}
        if method not in METHODS:
            raise HostProtocolError(
                f"the agent has no method {method!r}", f"it serves: {', '.join(METHODS)}"
            )
        timeout = float(params.get("timeout") or READ_TIMEOUT)
        if not timeout > 0:  # also NaN: a ValueError is answered as bad parameters
            raise ValueError(f"timeout must be a number of seconds above 0, got {timeout!r}")
        timeout = min(timeout, READ_TIMEOUT)
        try:
            return await asyncio.wait_for(self._read(method, params), timeout)
        except asyncio.TimeoutError:
            raise HostNotResponding(
                f"{method} took longer than {timeout:g}s on {host.name}; the agent gave up",
                "a backend is slow to answer: look at it on the host",
            ) from None

    async def _read(self, method: str, params: dict[str, Any]) -> Any:
        host = self.host
        if method == "supervisord":
            return (await host.supervisord(str(params["name"]))).to_json()
        if method == "log":
            after, before = params.get("after"), params.get("before")
            chunk = await host.log(
                LogRef.from_json(params["source"]),
                lines=params.get("lines"),
                since=params.get("since"),
                after=LogCursor.from_json(after) if after is not None else None,
                before=LogCursor.from_json(before) if before is not None else None,
                keep=_count(params.get("keep")),
                first=_count(params.get("first")),
            )
            return chunk.to_json()
        if method == "close_log":
            await host.close_log(LogCursor.from_json(params["cursor"]))
            return {}
        snapshot = await getattr(host, method)()
        return snapshot.to_json()

    def _subscribe(self, rid: int, params: dict[str, Any]) -> dict[str, Any]:
        topic = str(params.get("topic"))
        if topic not in TOPICS:
            raise HostProtocolError(
                f"cannot subscribe to {topic!r}", f"topics: {', '.join(TOPICS)}"
            )
        if len(self.subs) >= MAX_SUBSCRIPTIONS:
            raise HostProtocolError(f"{MAX_SUBSCRIPTIONS} subscriptions are running already")
        interval = max(MIN_INTERVAL, float(params.get("interval") or 1.0))
        heartbeat = max(interval, float(params.get("heartbeat") or interval))
        summary = params.get("summary") is True and topic in SUMMARY_TOPICS
        self.subs[rid] = asyncio.create_task(self._feed(rid, topic, interval, heartbeat, summary))
        return {
            "sub": rid,
            "topic": topic,
            "interval": interval,
            "heartbeat": heartbeat,
            "summary": summary,
        }

    @staticmethod
    def _sub_error(sid: int, topic: str, exc: OpsError) -> dict[str, Any]:
        return {"push": "error", "sub": sid, "topic": topic, "error": HostError.of(exc).to_json()}

    async def _feed(
        self, sid: int, topic: str, interval: float, heartbeat: float, summary: bool = False
    ) -> None:
        """Push the first snapshot whole, then only its changes, every ``interval``; a round
        where nothing but the snapshot's time moved is pushed only once ``heartbeat``
        seconds have passed since the last push (the console hears the host is alive).
        ``summary``: each snapshot's ``summarised()`` (see :data:`SUMMARY`)."""
        sent_at = 0.0
        last: Any = None
        steady = SteadyPrograms() if topic == "programs" else None
        canon = Canon()
        await asyncio.sleep(0)  # the subscribe answer is sent first
        while True:
            try:
                snapshot = await asyncio.wait_for(getattr(self.host, topic)(), READ_TIMEOUT)
            except OpsError as exc:
                await self.send(self._sub_error(sid, topic, exc))
            except asyncio.TimeoutError:
                error = HostNotResponding(f"{topic} took longer than {READ_TIMEOUT:g}s")
                await self.send(self._sub_error(sid, topic, error))
            else:
                if summary:
                    snapshot = snapshot.summarised()
                value = snapshot.to_json() if steady is None else steady.encode(snapshot)
                if last is None:
                    full = {"push": "snapshot", "sub": sid, "topic": topic, "data": value}
                    if not await self.send(full):
                        await asyncio.sleep(interval)
                        continue  # the console has nothing to apply changes to
                else:
                    change = diff(last, value)
                    idle = change is None or top_scalars(change)
                    if idle and time.monotonic() - sent_at < heartbeat:
                        await asyncio.sleep(interval)
                        continue  # the console keeps what it has: the next diff is from it
                    await self.send(
                        {
                            "push": "diff",
                            "sub": sid,
                            "topic": topic,
                            "diff": change,
                            "crc": checksum(value) if steady is None else canon.checksum(value),
                        }
                    )
                last, sent_at = value, time.monotonic()
            await asyncio.sleep(interval)


def _count(value: Any) -> int | None:
    """A count parameter: None when absent. Raises ValueError (bad parameters) otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


class _Output(asyncio.streams.FlowControlMixin):
    """The protocol's side of stdout: flow control, and ``closed`` once all is written."""

    def __init__(self) -> None:
        super().__init__()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.closed.done():
            self.closed.set_result(None)


async def serve_stdio(config: AppConfig) -> int:
    """Serve on this process's stdin/stdout. The protocol keeps its own copies of fds 0 and
    1; fd 0 becomes /dev/null (no child process can read the console's requests) and fd 1
    the stderr (a stray print cannot break the protocol)."""
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    loop = asyncio.get_running_loop()
    actions.govern_threads(loop)
    reader = asyncio.StreamReader(limit=MAX_REQUEST_LINE)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(proto_in, "rb", 0)
    )
    transport, protocol = await loop.connect_write_pipe(_Output, os.fdopen(proto_out, "wb", 0))
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    try:
        return await Agent(config, reader, writer).serve()
    finally:
        transport.close()  # what is still buffered is written before the pipe closes
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(protocol.closed), 5.0)
        sys.stderr.flush()
