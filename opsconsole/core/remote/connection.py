"""The connection to an agent process: start, handshake, requests and answers, pushes,
timeouts, resets and reconnection (the base of :class:`~opsconsole.core.remote.RemoteHost`)."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from opsconsole.core import actions
from opsconsole.core.agent import (
    MAX_ANSWER_LINE,
    MAX_IN_FLIGHT,
    PROTOCOL,
    SUMMARY,
    skew_words,
)
from opsconsole.core.config import PASSWORD_ENV
from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    HostDown,
    HostError,
    HostNotResponding,
    ProgramsSnapshot,
    ProtocolMismatch,
)
from opsconsole.core.host.diff import apply, top_scalars
from opsconsole.core.remote.link import (
    CONNECTING,
    DOWN,
    STALE,
    STDERR_KEEP,
    UP,
    ExplainExit,
    Link,
    _Ended,
    explain,
    mark_link,
)
from opsconsole.core.remote.subscription import PROVE_EVERY, Subscription

#: the round trip shown is measured this often (seconds) on a link whose pushes keep it busy
RTT_EVERY = 60.0


class AgentConnection:
    """A host served by ``argv`` (an agent on stdin/stdout). See the module's doc.

    ``gate``: the console's gate (default: read-only as ``read_only`` says); ``password``:
    the supervisord password sent in ``open``; ``timeout``: seconds a read waits for its
    answer, ``perform_timeout`` a write; ``explain_exit``: the typed error for an agent
    process that ended (ssh's classification); ``max_line``: the longest line read from the
    agent; ``env``: the agent process's environment (default: ours).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        gate: actions.ActionGate | None = None,
        read_only: bool = False,
        password: str | None = None,
        timeout: float = 20.0,
        connect_timeout: float = 30.0,
        perform_timeout: float = 600.0,
        explain_exit: ExplainExit | None = None,
        max_line: int = MAX_ANSWER_LINE,
        backoff: tuple[float, float] = (0.5, 30.0),
        max_timeouts: int = 2,
        ping_interval: float = 10.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.gate = gate if gate is not None else actions.make_gate(read_only)
        self.read_only = read_only or self.gate.read_only
        self.argv = list(argv)
        if self.read_only and "--read-only" not in self.argv:
            self.argv.append("--read-only")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.perform_timeout = perform_timeout
        self.explain_exit = explain_exit
        self.max_line = max_line
        self.backoff = backoff
        self.max_timeouts = max_timeouts
        self.ping_interval = ping_interval
        # The password goes in ``open``: never in the agent's environment (a local agent
        # would inherit the console's OPSCONSOLE_SUPERVISOR_PASSWORD).
        self.env = {k: v for k, v in (os.environ if env is None else env).items()}
        self.env.pop(PASSWORD_ENV, None)
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.listeners: list[Callable[[Link], None]] = []
        self._password = password
        self._link = Link(since=time.time())
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._open = False  # an agent is connected and opened now
        #: what the agent of the current session named in its hello (methods and features)
        self.capabilities: frozenset[str] = frozenset()
        self._was_up = False  # the current session was opened
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 1
        self._timeouts = 0
        self._reset_error: OpsError | None = None
        self._agent_said: OpsError | None = None
        self._stderr = bytearray()
        self._subscriptions: list[Subscription] = []
        self._by_sid: dict[int, Subscription] = {}
        self._last_programs: ProgramsSnapshot | None = None
        self._closing = False

    # -- the link ------------------------------------------------------------------------

    @property
    def link(self) -> Link:
        return self._link

    @property
    def pid(self) -> int | None:
        """The agent process's pid (ssh's, over ssh) while one runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def start(self) -> None:
        """Start connecting (reads do it by themselves)."""
        if self._closed:
            return  # closed for good: reads say so
        if self._runner is None or self._runner.done():
            self._closing = False
            self._runner = asyncio.create_task(self._run(), name=f"agent link {self.name}")

    async def connect(self, timeout: float | None = None) -> Link:
        """Start and wait until the link is up (or down, or ``timeout`` passed)."""
        self.start()
        deadline = time.monotonic() + (timeout or self.connect_timeout)
        while self._link.state not in (UP, DOWN) and time.monotonic() < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
        return self._link

    def reconnect(self) -> None:
        """Try again now (after a backoff, or a link that is down for good)."""
        self._wake.set()
        self.start()

    def _set(self, **changes: Any) -> None:
        if "state" in changes and changes["state"] != self._link.state:
            changes.setdefault("since", time.time())
        self._link = replace(self._link, **changes)
        event, self._changed = self._changed, asyncio.Event()
        event.set()
        for listener in list(self.listeners):
            try:
                listener(self._link)
            except Exception:  # a view's bug must not stop the link
                continue

    def _lost(self, error: OpsError, *, was_up: bool, for_good: bool = False) -> None:
        """Stale when a link that was up is lost (what it answered is old now, and it is
        being restarted); down when an agent could not be started or opened."""
        state = STALE if was_up and not for_good else DOWN
        self._set(state=state, reason=error.message, hint=error.hint, error=error)

    async def _run(self) -> None:
        delay = self.backoff[0]
        while not self._closing:
            started = time.monotonic()
            self._was_up = False
            error = await self._session()
            if self._closing:
                return
            for_good = isinstance(error, ProtocolMismatch) or getattr(error, "for_good", False)
            self._lost(error, was_up=self._was_up, for_good=for_good)
            if for_good:
                return
            if time.monotonic() - started > 30:
                delay = self.backoff[0]
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            delay = min(delay * 2, self.backoff[1])

    async def _session(self) -> OpsError:
        """One agent process from start to end; returns why it ended."""
        self._reset_error = self._agent_said = None
        self._stderr.clear()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=self.max_line,
                env=self.env,
                start_new_session=True,  # the terminal's Ctrl-C is the console's, not the agent's
            )
        except OSError as exc:
            return mark_link(
                HostDown(
                    f"cannot start the agent for {self.name}: {self.argv[0]}: {exc.strerror}",
                    "check the agent command",
                )
            )
        self._proc = proc
        drain = asyncio.create_task(self._drain_stderr(proc))
        reader: asyncio.Task[OpsError | None] | None = None
        pinger: asyncio.Task[None] | None = None
        error: OpsError | None = None
        try:
            hello = await self._hello(proc)
            if hello is None:
                raise _Ended()
            caps = hello.get("capabilities")
            self.capabilities = frozenset(str(c) for c in (caps if isinstance(caps, list) else ()))
            reader = asyncio.create_task(self._read_loop(proc))
            opened = await self._request(
                "open", self._open_params(), self.connect_timeout, ready=False
            )
            if self.read_only and not opened.get("read_only"):
                failed = HostDown(
                    f"the agent on {self.name} did not confirm read-only mode",
                    f"upgrade opsconsole on {self.name}; nothing was sent to it",
                )
                failed.for_good = True  # type: ignore[attr-defined]
                raise failed
            self._open, self._timeouts = True, 0
            limit = hello.get("max_in_flight")
            self._slots = asyncio.Semaphore(limit if isinstance(limit, int) and limit > 0 else 1)
            self._set(
                state=UP,
                reason="",
                hint="",
                error=None,
                last_answer=time.time(),
                agent_version=str(hello.get("version", "")),
                protocol=PROTOCOL,
                agent_host=str(hello.get("host", "")),
                agent_user=str(hello.get("user", "")),
                ssh_user=str(hello.get("ssh_user", "")),
                read_only=bool(opened.get("read_only")),
                connects=self._link.connects + 1,
            )
            self._was_up = True
            # those made before it opened; one made from now on starts itself (subscribe):
            # iterating the list itself would start it a second time
            for sub in list(self._subscriptions):
                if sub not in self._subscriptions:
                    continue  # closed meanwhile
                with contextlib.suppress(OpsError):  # a timeout marks the link stale
                    await self._start_sub(sub)
            pinger = asyncio.create_task(self._pinger())
            error = await reader
        except _Ended:
            error = None
        except OpsError as exc:
            error = exc
        except Exception as exc:  # a bug must end this connection, not the reconnection
            error = HostDown(
                f"the link to {self.name} failed: {type(exc).__name__}: {exc}",
                "it is restarted by itself; please report this",
            )
        finally:
            self._open = False
            for task in (pinger, reader):
                if task is not None:
                    task.cancel()
            error = self._reset_error or error or self._agent_said
            exit_error = await self._end(proc, drain)
            error = mark_link(error or exit_error)
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(error)
            self._pending.clear()
            self._by_sid.clear()
            self._proc = None
        return error

    async def _end(self, proc: asyncio.subprocess.Process, drain: asyncio.Task[None]) -> OpsError:
        """Make sure the process is gone (it is our child: its pid is still ours until it is
        reaped) and say, through ``explain_exit``, why it ended."""
        if proc.returncode is None and proc.stdin is not None:
            proc.stdin.close()  # an agent ends when its stdin closes
        try:
            await asyncio.wait_for(proc.wait(), 2.0)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(drain, 2.0)
        drain.cancel()
        stderr = self._stderr.decode("utf-8", "replace")
        if self.explain_exit is not None:
            return self.explain_exit(proc.returncode, stderr)
        return explain(self.name, proc.returncode, stderr)

    async def _drain_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while chunk := await proc.stderr.read(4096):
            self._stderr += chunk
            del self._stderr[:-STDERR_KEEP]

    def _open_params(self) -> dict[str, Any]:
        try:
            user = getpass.getuser()
        except Exception:  # pragma: no cover - no passwd entry
            user = str(os.getuid())
        params: dict[str, Any] = {
            "protocol": PROTOCOL,
            "name": self.name,
            "console": f"{user}@{socket.gethostname()}",
            "read_only": self.read_only,
            "max_line": self.max_line,
        }
        if self._password:
            params["password"] = self._password
        return params

    async def _hello(self, proc: asyncio.subprocess.Process) -> dict[str, Any] | None:
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), self.connect_timeout)
        except asyncio.TimeoutError:
            raise HostNotResponding(
                f"the agent on {self.name} did not say hello within {self.connect_timeout:g}s",
                "is the host slow to log in, or is something waiting for input there?",
            ) from None
        except ValueError:
            line = b"x" * 80  # longer than a line may be: garbage, said below
        if not line:
            return None  # it ended before a word: its exit status and stderr say why
        try:
            hello = json.loads(line)
        except ValueError:
            hello = None
        if not isinstance(hello, dict) or hello.get("hello") != "opsconsole-agent":
            shown = line[:60].decode("utf-8", "replace").strip()
            raise HostDown(
                f"the agent on {self.name} did not start with a hello: it wrote {shown!r}",
                "a login script that prints on stdout (an echo in .bashrc, a banner) breaks the "
                "agent's protocol: print only in interactive shells",
            )
        theirs = hello.get("protocol")
        if theirs != PROTOCOL:
            message, hint = skew_words(
                self.name, theirs if isinstance(theirs, int) else 0, PROTOCOL, agent_side=False
            )
            raise ProtocolMismatch(message, hint)
        return hello

    async def _read_loop(self, proc: asyncio.subprocess.Process) -> OpsError | None:
        """Answers to their requests, pushes to their subscriptions, until the agent's
        stdout ends (None) or it breaks the protocol (the reason)."""
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except ValueError:
                return self._reset(
                    HostDown(
                        f"the agent on {self.name} sent a line longer than {self.max_line} bytes",
                        "the connection was reset and is restarted",
                    )
                )
            if not line:
                return None
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                shown = line[:60].decode("utf-8", "replace").strip()
                return self._reset(
                    HostDown(
                        f"the agent on {self.name} sent a line that is not a message: {shown!r}",
                        "the connection was reset and is restarted",
                    )
                )
            now = time.time()
            if self._link.state == STALE and self._open:
                self._set(state=UP, reason="", hint="", error=None, last_answer=now)
            elif now - (self._link.last_answer or 0.0) >= 0.1:  # a burst: one copy, not one a line
                self._link = replace(self._link, last_answer=now)
            try:
                if "id" in message:
                    fut = self._pending.pop(int(message["id"]), None)
                    if fut is not None and not fut.done():
                        fut.set_result(message)
                    self._timeouts = 0
                elif "push" in message:
                    self._on_push(message)
            except (TypeError, ValueError, KeyError, OpsError) as exc:
                return self._reset(
                    HostDown(
                        f"the agent on {self.name} sent a message that does not fit: {exc}",
                        "the connection was reset and is restarted",
                    )
                )

    def _reset(self, error: OpsError) -> OpsError:
        """End this connection (the runner starts another) for ``error``."""
        self._reset_error = self._reset_error or mark_link(error)
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.kill()  # our own child, not yet reaped: the pid is still this process
        return self._reset_error

    async def _pinger(self) -> None:
        """Ping the agent when it was silent for ``ping_interval`` (a link that does not
        answer turns stale), and at least every :data:`RTT_EVERY` seconds for the round trip
        shown: pushes every few seconds already prove the link alive."""
        measured = -math.inf
        while True:
            silent = time.time() - (self._link.last_answer or 0.0) >= self.ping_interval
            started = time.monotonic()
            if silent or started - measured >= RTT_EVERY:
                with contextlib.suppress(OpsError):
                    await self._request("ping", {}, self.timeout, ready=False)
                    measured = time.monotonic()
                    self._set(rtt=measured - started)
            await asyncio.sleep(self.ping_interval)

    # -- requests ------------------------------------------------------------------------

    async def _ready(self, deadline: float) -> None:
        self.start()
        while True:
            link = self._link
            if self._open:
                return
            if link.state != CONNECTING:
                raise mark_link(link.error or HostDown(f"{self.name} is {link.state}"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise mark_link(
                    HostNotResponding(
                        f"the agent on {self.name} is not up yet",
                        "it is still connecting: try again in a moment",
                    )
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def _request(
        self,
        method: str,
        params: dict[str, Any],
        timeout: float,
        *,
        ready: bool = True,
        rid: int | None = None,
    ) -> Any:
        deadline = time.monotonic() + timeout
        if ready:
            await self._ready(deadline)
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise mark_link(
                self._link.error or HostDown(f"the agent on {self.name} is not running")
            )
        if rid is None:
            rid, self._next_id = self._next_id, self._next_id + 1
        slots = self._slots
        try:  # no more requests in flight than the agent runs at once
            await asyncio.wait_for(slots.acquire(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise mark_link(
                HostNotResponding(
                    f"{method} to {self.name} waited {timeout:g}s for its turn",
                    "the agent is busy with as many requests as it runs at once",
                )
            ) from None
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        line = json.dumps({"id": rid, "method": method, "params": params}, separators=(",", ":"))
        try:
            proc.stdin.write(line.encode("ascii") + b"\n")
            await asyncio.wait_for(proc.stdin.drain(), max(0.0, deadline - time.monotonic()))
            answer = await asyncio.wait_for(fut, max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            self._pending.pop(rid, None)
            raise self._timed_out(method, timeout) from None
        except (ConnectionError, BrokenPipeError):
            self._pending.pop(rid, None)
            raise mark_link(HostDown(f"the agent on {self.name} is gone")) from None
        finally:
            slots.release()
        if answer.get("ok"):
            return answer.get("result")
        raise HostError.from_json(answer.get("error") or {}).exception()

    def _timed_out(self, method: str, timeout: float) -> OpsError:
        self._timeouts += 1
        age = self._link.age
        error = mark_link(
            HostNotResponding(
                f"{self.name} did not answer {method} within {timeout:g}s"
                + (f" (last answer {age:.0f}s ago)" if age is not None else ""),
                "what is shown from it is stale; the connection is restarted if it stays silent",
            )
        )
        if self._open and self._link.state in (UP, STALE):
            self._set(state=STALE, reason=error.message, hint=error.hint, error=error)
        if self._timeouts >= self.max_timeouts:
            self._reset(error)
        return error

    # -- subscriptions -------------------------------------------------------------------

    async def _start_sub(self, sub: Subscription) -> None:
        """Subscribe ``sub`` on this connection. A feed it already has here is ended: two
        feeds of one subscription would each send changes from its own last value, every
        change of one a CRC mismatch for the other (a full snapshot every round)."""
        old = sub.sid
        if old is not None and self._by_sid.get(old) is sub:
            del self._by_sid[old]
            self._spawn(self._request("unsubscribe", {"sub": old}, self.timeout, ready=False))
        rid, self._next_id = self._next_id, self._next_id + 1
        sub.sid, sub.data, sub.crc = rid, None, None
        self._by_sid[rid] = sub
        params: dict[str, Any] = {
            "topic": sub.topic,
            "interval": sub.interval,
            "heartbeat": sub.heartbeat,
        }
        if sub.summary and SUMMARY in self.capabilities:  # an older agent sends it whole
            params["summary"] = True
        try:
            await self._request("subscribe", params, self.timeout, ready=False, rid=rid)
        except OpsError:
            self._by_sid.pop(rid, None)
            raise

    async def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
        sid = sub.sid
        if sid is not None and self._by_sid.pop(sid, None) is not None and self._open:
            with contextlib.suppress(OpsError):
                await self._request("unsubscribe", {"sub": sid}, self.timeout, ready=False)

    def _on_push(self, message: dict[str, Any]) -> None:
        sub = self._by_sid.get(message.get("sub"))  # type: ignore[arg-type]
        kind = message.get("push")
        if sub is None:
            if kind == "error" and "sub" not in message:  # why the agent ends the connection
                self._agent_said = mark_link(HostError.from_json(message["error"]).exception())
            return
        if kind == "error":
            sub._failed(HostError.from_json(message["error"]))
            return
        try:
            if kind == "snapshot":
                data = message["data"]
                crc = sub.canon.checksum(data)
                sub.fulls += 1
            elif kind == "diff" and sub.data is not None:
                change = message["diff"]
                same = sub.value is not None and sub.crc is not None
                if change is None and same and message.get("crc") == sub.crc:
                    sub.diffs += 1  # nothing moved: the same value, fresh as of now
                    sub._push(sub.value)  # type: ignore[arg-type]
                    return
                data = apply(sub.data, change)
                said = message.get("crc")
                if (
                    same
                    and isinstance(said, int)
                    and top_scalars(change)
                    and sub.taken + 1 < PROVE_EVERY
                ):
                    # an idle push sets a few plain fields at the top of a proven value:
                    # there is nothing in it to prove that every PROVE_EVERY-th push does not
                    crc, sub.taken = said, sub.taken + 1
                else:
                    crc = sub.canon.checksum(data)  # what changed only (core.host.steady)
                    if crc != message.get("crc"):
                        raise ValueError("the rebuilt snapshot is not the agent's")
                    sub.taken = 0
                sub.diffs += 1
            else:
                raise ValueError(f"unexpected push {kind!r}")
            value = sub.decode(data)
        except (ValueError, KeyError, TypeError, OpsError):
            sub.resyncs += 1  # start it again: its first push is whole
            self._restart(sub)
            return
        sub.data, sub.crc = data, crc
        sub._push(value)

    def _restart(self, sub: Subscription) -> None:
        if not self._open or sub not in self._subscriptions:
            return  # the next connection subscribes it again
        self._spawn(self._resync(sub))

    def _spawn(self, work: Awaitable[Any]) -> None:
        """Run ``work`` beside the reader (kept until it ends; an OpsError in it is the
        link's business, already said)."""

        async def run() -> None:
            with contextlib.suppress(OpsError):
                await work

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resync(self, sub: Subscription) -> None:
        with contextlib.suppress(OpsError):
            await self._start_sub(sub)  # which ends its old feed on the agent

    # -- the end -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the agent's stdin (it ends), wait a moment, kill it if it does not. Reads
        after this raise HostDown ("... is closed")."""
        self._closing = self._closed = True
        self._subscriptions.clear()
        self._wake.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 3.0)
            except asyncio.TimeoutError:
                proc.kill()
        runner = self._runner
        if runner is not None:
            try:
                await asyncio.wait_for(runner, 5.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                runner.cancel()
        self._set(state=DOWN, reason="closed", hint="", error=HostDown(f"{self.name} is closed"))
