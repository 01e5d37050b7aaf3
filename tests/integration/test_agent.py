"""The agent and RemoteHost on the real demo stack: ``opsconsole agent`` runs as a real
subprocess (what ssh would run on a fleet host) and RemoteHost talks to it over its
stdin/stdout. Every Host method through the agent answers what LocalHost answers; pushed
changes rebuild the agent's snapshots exactly; a read-only agent refuses on its own; the
password never appears in the agent's argv or environment; a killed or stopped agent is said
in words, marked stale with its age, and reconnected, while another host goes on answering.
Fakes: only a tiny stub that prints a hello of another protocol version (no real agent can
be made to speak another version), next to the real handshake."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from opsconsole import __version__
from opsconsole.core.agent import MAX_REQUEST_LINE, PROTOCOL
from opsconsole.core.config import AppConfig, build_config
from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    GunicornSnapshot,
    Host,
    HostDown,
    HostNotResponding,
    LogRef,
    NginxSnapshot,
    OperationRequest,
    ProgramsSnapshot,
)
from opsconsole.core.host.diff import apply, checksum, diff
from opsconsole.core.local import LocalHost
from opsconsole.core.remote import DOWN, STALE, UP, Link, RemoteHost, is_link_error
from opsconsole.demo.stack import DemoStack

pytestmark = pytest.mark.integration

AGENT = [sys.executable, "-m", "opsconsole", "agent"]


def agent_argv(stack: DemoStack, *extra: str) -> list[str]:
    return [*AGENT, "--supervisor-url", stack.socket_url, "--user", stack.username, *extra]


def agent_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPSCONSOLE_SUPERVISOR_PASSWORD"}
    env["XDG_STATE_HOME"] = str(state)  # the agent's audit trail
    return env


def local_config(stack: DemoStack) -> AppConfig:
    return build_config(
        supervisor_urls=[stack.socket_url], user=stack.username, password=stack.password
    )


async def until(check: Any, timeout: float = 30.0, what: str = "") -> None:
    """Poll ``check()`` (sync or async) until true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return
        assert loop.time() < deadline, f"timed out waiting for {what or check}"
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def agent_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("agent-state")


@pytest.fixture(scope="module")
async def remote(demo_stack: DemoStack, agent_state: Path) -> AsyncIterator[RemoteHost]:
    """One agent for the module (the password travels in its open request)."""
    host = RemoteHost(
        "web2",
        agent_argv(demo_stack),
        password=demo_stack.password,
        env=agent_env(agent_state),
        timeout=60.0,
    )
    link = await host.connect(60)
    assert link.state == UP, link.words
    yield host
    await host.aclose()


@pytest.fixture(scope="module")
async def spare(demo_stack: DemoStack, agent_state: Path) -> AsyncIterator[RemoteHost]:
    """A second host to kill and stop (short timeouts, quick reconnection)."""
    host = RemoteHost(
        "web3",
        agent_argv(demo_stack),
        password=demo_stack.password,
        env=agent_env(agent_state),
        timeout=2.0,
        max_timeouts=2,
        backoff=(0.1, 0.5),
        ping_interval=600.0,  # only the tests' own requests time out
    )
    assert (await host.connect(60)).state == UP
    yield host
    pid = host.pid
    if pid is not None:
        os.kill(pid, signal.SIGCONT)
    await host.aclose()


# --------------------------------------------------------------------------- handshake


async def test_handshake_says_who_and_what(remote: RemoteHost) -> None:
    assert isinstance(remote, Host)
    link = remote.link
    assert link.state == UP and link.protocol == PROTOCOL
    assert link.agent_version == __version__
    assert link.agent_user and link.ssh_user  # who it runs as, who logged in
    assert link.agent_host and not link.read_only
    assert link.words.startswith("up")
    info = await remote.info()
    assert info.host == "web2" and not info.read_only
    assert "supervisor.stop" in info.operations and "nginx.reload" in info.operations


async def stub_link(tmp_path: Path, protocol: int, name: str) -> RemoteHost:
    """A stub that says hello in another protocol version (and then waits for stdin)."""
    hello = {"hello": "opsconsole-agent", "protocol": protocol, "version": "9.9"}
    stub = tmp_path / "stub.py"
    stub.write_text(
        f"import sys\nprint({json.dumps(json.dumps(hello))}, flush=True)\nsys.stdin.read()\n"
    )
    host = RemoteHost(name, [sys.executable, str(stub)], backoff=(0.05, 0.1))
    await host.connect(30)
    return host


async def test_version_skew_says_which_side_to_upgrade(tmp_path: Path) -> None:
    older = await stub_link(tmp_path, PROTOCOL - 1, "web9")
    newer = await stub_link(tmp_path, PROTOCOL + 1, "web8")
    try:
        for host, other in ((older, PROTOCOL - 1), (newer, PROTOCOL + 1)):
            assert host.link.state == DOWN  # not retried: retrying cannot help
            assert host.link.reason == (
                f"the agent on {host.name} speaks protocol {other}, this console {PROTOCOL}"
            )
            with pytest.raises(Exception, match="protocol") as caught:
                await host.programs()
            assert is_link_error(caught.value)
        assert older.link.hint == "upgrade opsconsole on web9 (pip install -U opsconsole)"
        assert newer.link.hint.startswith("upgrade opsconsole on this console's machine")
    finally:
        await older.aclose()
        await newer.aclose()


async def test_an_agent_that_cannot_start_is_down_in_the_hooks_words() -> None:
    missing = RemoteHost("web0", ["/nonexistent/opsconsole", "agent"], backoff=(5.0, 5.0))
    said = "ssh: Could not resolve hostname web1: Name or service not known"
    failing = RemoteHost(
        "web1",
        [sys.executable, "-c", f"import sys; sys.stderr.write({said!r}); sys.exit(255)"],
        explain_exit=lambda code, stderr: OpsError(f"{code}: {stderr}", "check the name"),
        backoff=(5.0, 5.0),
    )
    try:
        link = await missing.connect(30)
        assert link.state == DOWN and link.reason == (
            "cannot start the agent for web0: /nonexistent/opsconsole: No such file or directory"
        )
        link = await failing.connect(30)
        assert link.state == DOWN and link.reason == f"255: {said}"
        assert link.hint == "check the name" and type(link.error) is OpsError
        with pytest.raises(OpsError, match="Could not resolve") as caught:
            await failing.gunicorn()
        assert is_link_error(caught.value)
    finally:
        await missing.aclose()
        await failing.aclose()


async def test_a_login_banner_on_stdout_is_said_in_words(tmp_path: Path) -> None:
    stub = tmp_path / "banner.py"
    stub.write_text("print('Welcome to web7!', flush=True)\nimport sys\nsys.stdin.read()\n")
    host = RemoteHost("web7", [sys.executable, str(stub)], backoff=(5.0, 5.0))
    try:
        await host.connect(30)
        assert host.link.state == DOWN
        assert "did not start with a hello: it wrote 'Welcome to web7!'" in host.link.reason
        assert "login script" in host.link.hint
    finally:
        await host.aclose()


# --------------------------------------------------------------------------- every method


async def test_every_method_answers_what_local_host_answers(
    remote: RemoteHost, demo_stack: DemoStack
) -> None:
    async with LocalHost(local_config(demo_stack), name="web2") as local:
        here, there = await local.info(), await remote.info()
        assert (here.operations, here.capabilities, here.supervisors) == (
            there.operations,
            there.capabilities,
            there.supervisors,
        )

        async def agree(method: str, key: Any) -> tuple[Any, Any]:
            """Both hosts' answers to ``method`` once ``key`` of them is the same: the stack
            is live (the flaky program cycles through its states), so a read may be taken
            just before a change and the other just after it; a real difference stays."""
            got: list[Any] = []

            async def same() -> bool:
                got[:] = [await getattr(local, method)(), await getattr(remote, method)()]
                return bool(key(got[0]) == key(got[1]))

            await until(same, what=f"{method} to agree")
            return got[0], got[1]

        def states(snap: ProgramsSnapshot) -> set[tuple[str, str, str, int]]:
            return {(p.server, p.fullname, p.state, p.pid) for p in snap.programs}

        lp, rp = await agree("programs", states)
        assert rp.host == "web2" and rp.servers[0].status == "connected"
        assert len(rp.programs) > 5
        server = lp.servers[0].name
        assert {p.fullname for p in (await remote.supervisord(server)).programs} == {
            p.fullname for p in lp.programs
        }

        def masters(snap: Any) -> set[Any]:
            """The stack's masters (other gunicorns may come and go on a shared machine)."""
            return {
                (m.pid, m.create_time, m.program, frozenset(w.pid for w in m.workers))
                for m in snap.masters
                if m.program is not None
            }

        lg, _ = await agree("gunicorn", masters)
        assert masters(lg)
        ln, rn = await agree("nginx", lambda n: (n.instance, {w.pid for w in n.workers}))
        assert rn.running and rn.log_files == ln.log_files
        await agree("topology", lambda t: t.topology_json())
        lc, rc = await local.nginx_config(), await remote.nginx_config()
        assert lc.files == rc.files and lc.test.ok == rc.test.ok
        lpr, rpr = await local.probes(), await remote.probes()
        assert {(p.name, p.url) for p in lpr.results} == {(p.name, p.url) for p in rpr.results}
        assert any(p.ok and p.status == 200 for p in rpr.results)

        # a log that does not change: the nginx config, its tail, after and before a cursor
        ref = LogRef("file", path=str(demo_stack.nginx_conf))
        lchunk, rchunk = await local.log(ref, lines=4), await remote.log(ref, lines=4)
        assert [e.text for e in lchunk.lines] == [e.text for e in rchunk.lines]
        assert len(rchunk.lines) == 4 and rchunk.cursor is not None
        assert (await remote.log(ref, after=rchunk.cursor)).lines == ()
        top = rchunk.lines[0]  # scroll back from the oldest line shown
        above = dataclasses.replace(rchunk.cursor, offset=top.offset, gen=top.gen)
        back = await remote.log(ref, before=above, lines=3)
        assert lchunk.cursor is not None
        lback = await local.log(
            ref, before=dataclasses.replace(lchunk.cursor, offset=top.offset, gen=top.gen), lines=3
        )
        assert [e.text for e in back.lines] == [e.text for e in lback.lines] and back.lines
        await remote.close_log(rchunk.cursor)
        with pytest.raises(Exception, match="no longer open") as caught:
            await remote.log(ref, after=rchunk.cursor)
        assert not is_link_error(caught.value)  # the host's own answer, typed

        lres = await local.perform(OperationRequest("nginx.test", "nginx"))
        rres = await remote.perform(OperationRequest("nginx.test", "nginx"))
        assert (rres.outcome, rres.message, rres.host) == (lres.outcome, lres.message, "web2")


async def test_password_travels_in_open_not_in_argv_or_environment(
    remote: RemoteHost, demo_stack: DemoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = remote.pid
    assert pid is not None
    secret = demo_stack.password.encode()
    assert secret not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert secret not in Path(f"/proc/{pid}/environ").read_bytes()
    # and it reached supervisord: the agent is let in (without it, auth fails)
    assert (await remote.programs()).servers[0].status == "connected"
    # a console whose environment has the password does not pass it on to a local agent
    monkeypatch.setenv("OPSCONSOLE_SUPERVISOR_PASSWORD", demo_stack.password)
    bare = RemoteHost("web5", agent_argv(demo_stack))
    try:
        programs = await bare.programs()
        assert programs.servers[0].status == "auth failed"
        assert secret not in Path(f"/proc/{bare.pid}/environ").read_bytes()
    finally:
        await bare.aclose()


# --------------------------------------------------------------------------- changes


async def test_pushed_changes_rebuild_the_agents_snapshots(
    remote: RemoteHost, demo_stack: DemoStack, agent_state: Path
) -> None:
    sub = await remote.subscribe("programs", interval=0.2)
    try:
        first = await sub.next(30)
        assert isinstance(first, ProgramsSnapshot) and sub.fulls == 1

        def idle(snap: Any) -> str:
            return next(p.state for p in snap.programs if p.fullname == "idle")

        assert idle(first) == "STOPPED"
        started = await remote.perform(OperationRequest("supervisor.start", "idle", confirmed=True))
        assert started.ok, started.message
        await until(lambda: sub.value is not None and idle(sub.value) == "RUNNING", what="push")
        stopped = await remote.perform(OperationRequest("supervisor.stop", "idle", confirmed=True))
        assert stopped.ok, stopped.message
        await until(lambda: sub.value is not None and idle(sub.value) == "STOPPED", what="push")
        # every change was applied to the last value and proven equal (CRC) to the agent's
        assert sub.diffs >= 2 and sub.fulls == 1 and sub.resyncs == 0
        fresh = await remote.programs()
        assert {(p.fullname, p.state, p.pid) for p in fresh.programs} == {
            (p.fullname, p.state, p.pid)
            for p in sub.value.programs  # type: ignore[union-attr]
        }
    finally:
        await sub.close()
    # both were run by the agent's own gate too, and are in its audit trail
    audit = agent_state / "opsconsole" / "audit.jsonl"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    done = [(r["action"], r["target"], r["result"]) for r in records]
    assert ("supervisor.start", "idle", "ok") in done and ("supervisor.stop", "idle", "ok") in done
    assert all(
        r["params"]["via"] == "opsconsole agent" and r["params"]["ssh_user"] for r in records
    )
    # and in the console's, naming the host
    console = [(r.action, r.target, r.params["host"]) for r in remote.gate.history]
    assert ("supervisor.start", "idle on web2", "web2") in console


async def test_an_idle_subscription_pushes_every_heartbeat_and_a_change_at_once(
    remote: RemoteHost, demo_stack: DemoStack
) -> None:
    """Read every 0.2 s; when nothing shown moved, a push (the host's proof of life) comes
    only every heartbeat (1 s); a state change is pushed at the next read all the same."""
    sub = await remote.subscribe("programs", interval=0.2, heartbeat=1.0)
    try:
        await sub.next(30)
        await asyncio.sleep(1.0)  # past the first pushes (uptimes of programs just started)
        times: list[float] = []
        sub.listeners.append(lambda _s: times.append(time.monotonic()))
        await asyncio.sleep(4.0)
        idle = [p.state for p in sub.value.programs if p.fullname == "idle"]  # type: ignore[union-attr]
        assert idle == ["STOPPED"]
        assert 2 <= len(times) <= 7, f"{len(times)} pushes in 4 s (a read every 0.2 s)"
        demo_stack.rpc().supervisor.startProcess("idle")
        try:
            started = time.monotonic()
            await until(
                lambda: any(
                    p.state == "RUNNING"
                    for p in sub.value.programs
                    if p.fullname == "idle"  # type: ignore[union-attr]
                ),
                what="the change pushed",
            )
            assert time.monotonic() - started < 1.0, "pushed at the next read, not the heartbeat"
        finally:
            demo_stack.rpc().supervisor.stopProcess("idle")
        assert sub.resyncs == 0
    finally:
        await sub.close()


async def test_every_topic_pushes_changes_that_rebuild_the_agents_value(
    remote: RemoteHost,
) -> None:
    subs = [await remote.subscribe(t, interval=0.2) for t in ("gunicorn", "nginx", "probes")]
    try:
        for sub in subs:
            await until(lambda s=sub: s.diffs >= 2, what=f"{sub.topic} changes")  # type: ignore[misc]
            assert sub.fulls == 1 and sub.resyncs == 0 and sub.value is not None
            assert sub.value.host == "web2"  # type: ignore[attr-defined]
    finally:
        for sub in subs:
            await sub.close()


async def test_a_summary_is_pushed_when_a_count_moves_not_at_every_read(
    remote: RemoteHost, demo_stack: DemoStack
) -> None:
    """The fleet's hosts view subscribes to gunicorn and nginx summaries: each master's
    worker counts and the nginx instance, not what moves at every read (worker ages,
    heartbeats and CPU, nginx's counters). At idle a summary sends nothing while the whole
    snapshot changes every round; a worker added is sent at once. (The agent sees every
    gunicorn on this machine: another test's master may move, ours must not.)"""
    whole = await remote.subscribe("gunicorn", interval=0.2)
    gunicorn, nginx = [
        await remote.subscribe(t, interval=0.2, heartbeat=600.0, summary=True)
        for t in ("gunicorn", "nginx")
    ]
    pushed: list[Any] = [] if gunicorn.value is None else [gunicorn.value]
    gunicorn.listeners.append(lambda sub: pushed.append(sub.value))
    try:
        await until(lambda: whole.diffs >= 3 and gunicorn.fulls and nginx.fulls, what="pushes")
        assert isinstance(whole.value, GunicornSnapshot) and not whole.value.summary
        assert isinstance(gunicorn.value, GunicornSnapshot) and gunicorn.value.summary
        assert isinstance(nginx.value, NginxSnapshot) and nginx.value.summary
        assert nginx.value.running and nginx.value.workers == ()
        bind = f"127.0.0.1:{demo_stack.ports['web']}"
        web = next(m for m in whole.value.masters if bind in m.binds)
        assert psutil.Process(web.pid).create_time() == pytest.approx(web.create_time, abs=0.01)

        def live() -> int:
            value = gunicorn.value
            assert isinstance(value, GunicornSnapshot)
            (master,) = [m for m in value.masters if m.pid == web.pid]
            assert master.workers == () and master.stats is None
            return master.live

        assert live() == 2
        # while ours was idle: a push only for another master, and none for nginx
        ours = [[m for m in value.masters if m.pid == web.pid] for value in pushed]
        assert all(o == ours[0] for o in ours) and len(ours) == 1 + gunicorn.diffs
        assert all(a.masters != b.masters for a, b in itertools.pairwise(pushed))
        assert (nginx.diffs, gunicorn.resyncs, nginx.resyncs) == (0, 0, 0)

        os.kill(web.pid, signal.SIGTTIN)
        try:
            await until(lambda: live() == 3, what="the third worker in the summary")
            assert gunicorn.diffs >= 1 and gunicorn.resyncs == 0
        finally:
            os.kill(web.pid, signal.SIGTTOU)
            await until(lambda: live() == 2, what="back to two workers")
    finally:
        for sub in (whole, gunicorn, nginx):
            await sub.close()


async def test_a_subscription_made_as_the_link_opens_is_fed_once(
    demo_stack: DemoStack, tmp_path: Path
) -> None:
    """A subscription asked for while the link subscribes the earlier ones (as the fleet's
    extras are, once its first programs arrive) gets one feed: two would each send changes
    from their own last value, and every change of one would fail the other's CRC (a full
    snapshot every round, for ever)."""
    host = RemoteHost(
        "web4",
        agent_argv(demo_stack),
        password=demo_stack.password,
        env=agent_env(tmp_path),
        timeout=60.0,
    )
    late: list[asyncio.Task[Any]] = []

    def opened(link: Link) -> None:
        if link.state == UP and not late:  # runs while the link subscribes "programs"
            late.append(asyncio.create_task(host.subscribe("probes", interval=0.2)))

    host.listeners.append(opened)
    try:
        first = await host.subscribe("programs", interval=0.2)
        await until(lambda: late and late[0].done(), 60, "the late subscription")
        probes = late[0].result()
        await until(lambda: probes.diffs >= 5, what="probes changes")
        assert (probes.fulls, probes.resyncs) == (1, 0)
        assert first.fulls == 1 and first.resyncs == 0
    finally:
        await host.aclose()


async def test_a_real_change_as_a_diff_equals_the_full_snapshot(demo_stack: DemoStack) -> None:
    async with LocalHost(local_config(demo_stack)) as local:
        before = (await local.programs()).to_json()
        await local.perform(OperationRequest("supervisor.start", "idle", confirmed=True))
        try:
            after = (await local.programs()).to_json()
        finally:
            await local.perform(OperationRequest("supervisor.stop", "idle", confirmed=True))
    change = diff(before, after)
    rebuilt = apply(before, change)
    assert rebuilt == after and checksum(rebuilt) == checksum(after)
    assert ProgramsSnapshot.from_json(rebuilt) == ProgramsSnapshot.from_json(after)
    # the change names the program that moved, field by field, not the whole list
    programs = change["o"]["servers"]["o"]
    (server,) = programs.values()
    changed = server["o"]["programs"]["o"]
    idle = next(k for k in changed if '"idle"' in k)
    assert {"state", "pid"} <= set(changed[idle]["o"])
    assert "name" not in changed[idle]["o"]


# --------------------------------------------------------------------------- the gate


async def raw_agent(*argv: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        limit=1 << 24,
    )


async def say(proc: asyncio.subprocess.Process, message: Any) -> None:
    assert proc.stdin is not None
    data = message if isinstance(message, bytes) else json.dumps(message).encode()
    proc.stdin.write(data + b"\n")
    await proc.stdin.drain()


async def hear(proc: asyncio.subprocess.Process, rid: int | None = None) -> dict[str, Any]:
    """The next message (with ``rid``: the answer to that request, pushes skipped)."""
    assert proc.stdout is not None
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            assert proc.stderr is not None
            said = (await proc.stderr.read()).decode(errors="replace")[-2000:]
            raise AssertionError(f"the agent ended ({await proc.wait()}): {said}")
        message: dict[str, Any] = json.loads(line)
        if rid is None or message.get("id") == rid:
            return message


async def test_read_only_agent_refuses_a_raw_mutating_request(
    demo_stack: DemoStack, tmp_path: Path
) -> None:
    proc = await raw_agent(*agent_argv(demo_stack, "--read-only"), env=agent_env(tmp_path))
    try:
        hello = await hear(proc)
        assert hello["hello"] == "opsconsole-agent" and hello["read_only"] is True
        # a console that asks for a writable agent cannot lift it
        open_ = {"protocol": PROTOCOL, "password": demo_stack.password, "read_only": False}
        await say(proc, {"id": 1, "method": "open", "params": {**open_, "console": "eve@x"}})
        assert (await hear(proc, 1))["result"]["read_only"] is True
        stop = OperationRequest("supervisor.stop", "web", confirmed=True)
        await say(proc, {"id": 2, "method": "perform", "params": {"request": stop.to_json()}})
        result = (await hear(proc, 2))["result"]
        assert result["outcome"] == "refused" and result["error"]["kind"] == "ReadOnlyError"
        await say(proc, {"id": 3, "method": "programs", "params": {}})
        programs = ProgramsSnapshot.from_json((await hear(proc, 3))["result"])
        assert next(p for p in programs.programs if p.fullname == "web").state == "RUNNING"
        # a slow answer (an nginx sample) does not hold up a quick one sent after it
        await say(proc, {"id": 4, "method": "nginx", "params": {}})
        await say(proc, {"id": 5, "method": "ping", "params": {}})
        assert (await hear(proc))["id"] == 5 and (await hear(proc))["id"] == 4
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), 30) == 0  # it ends when stdin closes
    audit = tmp_path / "opsconsole" / "audit.jsonl"
    (record,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert record["result"] == "refused" and record["action"] == "supervisor.stop"
    assert record["host"] and record["params"]["via"] == "opsconsole agent"
    assert record["params"]["ssh_user"] and record["params"]["console"] == "eve@x"
    assert demo_stack.password not in audit.read_text()


async def test_read_only_console_starts_its_agent_read_only(
    demo_stack: DemoStack, agent_state: Path
) -> None:
    host = RemoteHost(
        "web4",
        agent_argv(demo_stack),
        read_only=True,
        password=demo_stack.password,
        env=agent_env(agent_state),
    )
    try:
        assert (await host.connect(60)).read_only
        assert host.argv[-1] == "--read-only"
        result = await host.perform(OperationRequest("supervisor.stop", "web", confirmed=True))
        assert result.outcome == "refused" and result.error is not None
        assert result.error.kind == "ReadOnlyError"
        (record,) = host.gate.history  # the console's record names the host
        assert record.result == "refused" and record.target == "web on web4"
    finally:
        await host.aclose()
    with pytest.raises(HostDown, match="web4 is closed"):
        await host.info()
    assert host.pid is None


# --------------------------------------------------------------------------- failures


async def test_killed_agent_is_said_in_words_and_reconnected(spare: RemoteHost) -> None:
    await spare.programs()
    connects, pid = spare.link.connects, spare.pid
    assert pid is not None
    seen: list[Link] = []
    spare.listeners.append(seen.append)
    try:
        os.kill(pid, signal.SIGKILL)
        await until(
            lambda: spare.link.state == UP and spare.link.connects == connects + 1,
            what="reconnect",
        )
    finally:
        spare.listeners.remove(seen.append)
    lost = next(link for link in seen if link.state != UP)
    assert lost.state == STALE and lost.reason == "the agent on web3 was killed by SIGKILL"
    assert lost.words.startswith("stale") and "restarted by itself" in lost.hint
    assert spare.pid not in (None, pid)
    assert (await spare.programs()).servers[0].status == "connected"


async def test_stopped_agent_times_out_stale_and_other_host_answers(
    spare: RemoteHost, remote: RemoteHost
) -> None:
    await until(lambda: spare.link.state == UP, what="spare up")
    good = await spare.programs()
    connects, pid = spare.link.connects, spare.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        hung = asyncio.create_task(spare.gunicorn())
        other = asyncio.create_task(remote.programs())
        done, _ = await asyncio.wait({hung, other}, return_when=asyncio.FIRST_COMPLETED)
        assert other in done and not hung.done()  # the other host is not held up
        assert other.result().servers[0].status == "connected"
        with pytest.raises(HostNotResponding, match="web3 did not answer gunicorn within 2s"):
            await hung
        assert spare.link.state == STALE and (spare.link.age or 0) > 0
        assert spare.link.words.startswith("stale")
        stale = await spare.programs()  # old data, marked as such, never as now
        assert stale.at == good.at
        assert all(s.stale and s.status == "not responding" for s in stale.servers)
        assert stale.servers[0].error is not None and "web3" in stale.servers[0].error.message
    finally:
        # the link may already have reset the hung agent (killed it) on a slow machine
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    # after timeouts in a row the connection was reset and started again by itself
    await until(lambda: spare.link.state == UP and spare.link.connects > connects, what="reset")
    assert spare.pid != pid


async def test_lines_over_the_bound_or_garbage_reset_the_connection(
    demo_stack: DemoStack, tmp_path: Path
) -> None:
    env = agent_env(tmp_path)
    for line, words in (
        (b"x" * (MAX_REQUEST_LINE + 10), f"longer than {MAX_REQUEST_LINE} bytes"),
        (b"<garbage>", "line 1 from the console is not JSON: '<garbage>'"),
        (b"[1, 2]", "line 1 from the console is not a request"),
    ):
        proc = await raw_agent(*agent_argv(demo_stack), env=env)
        await hear(proc)
        await say(proc, line)
        push = await hear(proc)
        assert push["push"] == "error" and words in push["error"]["message"]
        assert "reset" in push["error"]["hint"] or "request is" in push["error"]["hint"]
        assert await asyncio.wait_for(proc.wait(), 30) == 2

    # the console says how long a line it reads: the agent answers a longer one in words
    host = RemoteHost(
        "web6",
        agent_argv(demo_stack),
        password=demo_stack.password,
        env=env,
        max_line=4096,
        backoff=(5.0, 5.0),
    )
    try:
        assert (await host.connect(60)).state == UP  # the hello and open fit
        with pytest.raises(OpsError, match=r"more than the 4,096 the console reads") as caught:
            await host.gunicorn()
        assert not is_link_error(caught.value) and host.link.state == UP
        assert (await host.info()).host == "web6"  # the connection goes on
    finally:
        await host.aclose()


async def test_a_line_over_the_consoles_bound_resets_the_link(tmp_path: Path) -> None:
    """A peer that breaks the bound anyway (no real agent does: a stub answers open, then
    writes a long line) resets the link in words, not the console."""
    stub = tmp_path / "long.py"
    hello = {"hello": "opsconsole-agent", "protocol": PROTOCOL, "version": "x"}
    stub.write_text(
        "import json, sys\n"
        f"print({json.dumps(json.dumps(hello))}, flush=True)\n"
        "request = json.loads(sys.stdin.readline())\n"
        'print(json.dumps({"id": request["id"], "ok": True, "result": {}}), flush=True)\n'
        'print("x" * 10000, flush=True)\n'
        "sys.stdin.read()\n"
    )
    host = RemoteHost("web6", [sys.executable, str(stub)], max_line=4096, backoff=(5.0, 5.0))
    seen: list[Link] = []
    host.listeners.append(seen.append)
    try:
        await host.connect(30)
        await until(lambda: host.link.state != UP, what="the reset")
        assert host.link.state == STALE and host.link.connects == 1
        assert host.link.reason == "the agent on web6 sent a line longer than 4096 bytes"
        assert UP in [link.state for link in seen]
    finally:
        await host.aclose()


async def test_a_log_burst_read_with_keep_comes_back_counted_through_the_agent(
    remote: RemoteHost, tmp_path: Path
) -> None:
    """The agent names ``log.keep`` in its hello; a burst of five ring-fulls read after a
    cursor with ``keep`` comes back as the file's last ring-full, ``passed`` counting the
    rest (the fast path the Logs view follows with). A console that does not see the feature
    (as with an older agent) sends no ``keep`` and gets one batch, ``passed`` 0."""
    from opsconsole.core.host.logs import LOG_KEEP
    from opsconsole.core.logs.file import LogFile

    def last(n: int) -> list[str]:
        with LogFile(path) as log:
            return [line.text for line in log.open_tail(n)]

    def append(start: int, count: int) -> None:
        with path.open("a") as fh:
            fh.writelines(f"request {i} done\n" for i in range(start, start + count))

    assert LOG_KEEP in remote.capabilities
    path = tmp_path / "burst.log"
    path.write_text("first line\n")
    ref = LogRef("file", path=str(path))
    opened = await remote.log(ref, lines=1)
    assert opened.cursor is not None and [e.text for e in opened.lines] == ["first line"]
    try:
        append(0, 5000)
        chunk = await remote.log(ref, after=opened.cursor, keep=1000)
        assert (chunk.passed, len(chunk.lines)) == (4000, 1000)
        assert [e.text for e in chunk.lines] == last(1000)
        append(5000, 3000)  # the burst goes on: the newest `first` lines only
        chunk = await remote.log(ref, after=opened.cursor, keep=1000, first=100)
        assert chunk.passed + len(chunk.lines) == 3000
        assert [e.text for e in chunk.lines] == last(100)
        saved = remote.capabilities
        remote.capabilities = saved - {LOG_KEEP}
        try:
            append(8000, 7000)
            chunk = await remote.log(ref, after=opened.cursor, keep=1000)
        finally:
            remote.capabilities = saved
        assert chunk.passed == 0 and len(chunk.lines) == 5000  # a batch, as before
        assert chunk.lines[0].text == "request 8000 done"
    finally:
        await remote.close_log(opened.cursor)
