"""Every supervisorctl operation and every connection error, against the real supervisord."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from opsconsole.core.config import SupervisorTarget
from opsconsole.core.supervisor import (
    AuthFailed,
    NoSuchProcess,
    NotResponding,
    RPCFault,
    SupervisorClient,
    Unreachable,
    perform,
)
from opsconsole.demo.stack import DemoStack
from tests.conftest import wait_for


@pytest.fixture
async def client(stack_target: SupervisorTarget) -> AsyncIterator[SupervisorClient]:
    async with SupervisorClient(stack_target, timeout=5) as c:
        yield c


def states(stack: DemoStack) -> dict[str, str]:
    return {
        (p["name"] if p["group"] == p["name"] else f"{p['group']}:{p['name']}"): p["statename"]
        for p in stack.rpc().supervisor.getAllProcessInfo()
    }


async def test_single_program_start_signal_restart_stop(
    client: SupervisorClient, demo_stack: DemoStack
) -> None:
    res = await perform(client, "start", ["idle"])
    assert res[0].ok and states(demo_stack)["idle"] == "RUNNING"
    pid = (await client.get_process_info("idle")).pid
    res = await perform(client, "signal", ["idle"], signame="STOP")
    assert res[0].ok
    wait_for(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, 5)
    await perform(client, "signal", ["idle"], signame="CONT")
    res = await perform(client, "restart", ["idle"])
    assert res[0].ok
    new_pid = (await client.get_process_info("idle")).pid
    assert new_pid and new_pid != pid
    res = await perform(client, "stop", ["idle"])
    assert res[0].ok and states(demo_stack)["idle"] == "STOPPED"


async def test_group_and_marked_programs(client: SupervisorClient, demo_stack: DemoStack) -> None:
    res = await perform(client, "stop", ["queue:*"])
    assert len(res) == 3 and all(r.ok for r in res)
    assert {states(demo_stack)[f"queue:queue_0{i}"] for i in range(3)} == {"STOPPED"}
    res = await perform(client, "start", ["queue:*"])
    assert all(r.ok for r in res)
    assert {states(demo_stack)[f"queue:queue_0{i}"] for i in range(3)} == {"RUNNING"}
    before = {p.fullname: p.pid for p in await client.get_all_process_info()}
    marked = ["queue:queue_00", "queue:queue_02"]
    res = await perform(client, "restart", marked)
    assert [r.ok for r in res] == [True, True]
    after = {p.fullname: p.pid for p in await client.get_all_process_info()}
    assert after["queue:queue_00"] != before["queue:queue_00"]
    assert after["queue:queue_02"] != before["queue:queue_02"]
    assert after["queue:queue_01"] == before["queue:queue_01"]  # not marked, untouched


async def test_clear_logs(client: SupervisorClient, demo_stack: DemoStack) -> None:
    log = demo_stack.logs_dir / "queue_00.out.log"
    wait_for(lambda: log.stat().st_size > 0, 5)
    res = await perform(client, "clear_logs", ["queue:queue_00"])
    assert res[0].ok
    assert log.stat().st_size < 100  # at most a line written since


async def test_unknown_name_and_state_errors(client: SupervisorClient) -> None:
    res = await perform(client, "start", ["nope"])
    assert not res[0].ok and "no such program: nope" in res[0].message
    with pytest.raises(NoSuchProcess, match="no such program"):
        await client.start("nope")
    with pytest.raises(RPCFault, match="web is already running"):
        await client.start("web")
    with pytest.raises(RPCFault, match="idle is not running"):
        await client.stop("idle")


async def test_wrong_password_names_the_source_not_the_password(demo_stack: DemoStack) -> None:
    target = SupervisorTarget("demo", demo_stack.socket_url, "demo", "wrong-pw", "my.toml")
    async with SupervisorClient(target) as c:
        with pytest.raises(AuthFailed) as info:
            await c.get_all_process_info()
    assert "the username/password from my.toml was rejected" in info.value.message
    assert "wrong-pw" not in str(info.value)


async def test_http_transport_works_too(demo_stack: DemoStack) -> None:
    target = SupervisorTarget("demo", demo_stack.http_url, "demo", demo_stack.password)
    async with SupervisorClient(target) as c:
        assert {p.name for p in await c.get_all_process_info()} >= {"web", "api"}


async def test_missing_socket_and_not_a_socket(tmp_path: Path) -> None:
    async with SupervisorClient(SupervisorTarget("x", f"unix://{tmp_path}/nope.sock")) as c:
        with pytest.raises(Unreachable) as info:
            await c.get_all_process_info()
    assert "does not exist" in info.value.message and "is supervisord running" in info.value.hint
    plain = tmp_path / "file.sock"
    plain.write_text("")
    async with SupervisorClient(SupervisorTarget("x", f"unix://{plain}")) as c:
        with pytest.raises(Unreachable, match="is not a socket"):
            await c.get_all_process_info()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_socket_without_permission_says_so(demo_stack: DemoStack) -> None:
    """The demo socket is mode 0700 (chmod= in [unix_http_server]); user nobody may not use it.

    A forked child drops to nobody (no exec: the interpreter stays loaded) and reports what
    the client said.
    """
    import asyncio

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)

            async def probe() -> str:
                target = SupervisorTarget("x", demo_stack.socket_url, "demo", "pw")
                async with SupervisorClient(target) as c:
                    try:
                        await c.get_all_process_info()
                    except Unreachable as e:
                        return f"{e.message} | {e.hint}"
                return "connected?!"

            os.write(write_end, asyncio.run(probe()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as fh:
        said = fh.read().decode()
    assert said.startswith("no permission to use supervisord socket"), said
    assert "sudo" in said


async def test_hung_supervisord_times_out(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    assert demo_stack.supervisord is not None
    pid = demo_stack.supervisord.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        async with SupervisorClient(stack_target, timeout=0.5) as c:
            started = time.monotonic()
            with pytest.raises(NotResponding, match="not responding"):
                await c.get_all_process_info()
            assert time.monotonic() - started < 3
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_update_shows_diff_and_applies_it(
    client: SupervisorClient, demo_stack: DemoStack
) -> None:
    confd = demo_stack.dir / "conf.d"
    not_exec = demo_stack.dir / "not-executable.sh"
    not_exec.write_text("#!/bin/sh\nsleep 100\n")
    not_exec.chmod(0o644)

    def program(name: str, command: str, autostart: bool = True) -> None:
        (confd / f"{name}.conf").write_text(
            f"[program:{name}]\ncommand={command}\nautostart={str(autostart).lower()}\n"
            f"startsecs=0\nstdout_logfile=NONE\nstderr_logfile=NONE\n"
        )

    try:
        program("extra_a", "/bin/sleep 101")
        program("extra_b", "/bin/sleep 102")
        diff = await client.reread()
        assert (diff.added, diff.changed, diff.removed) == (["extra_a", "extra_b"], [], [])
        await client.apply_update(diff)
        assert states(demo_stack)["extra_a"] == "RUNNING"

        program("extra_a", "/bin/sleep 103")  # changed
        (confd / "extra_b.conf").unlink()  # removed
        program("broken", str(not_exec), autostart=False)  # added
        diff = await client.reread()
        assert (diff.added, diff.changed, diff.removed) == (["broken"], ["extra_a"], ["extra_b"])
        await client.apply_update(diff)
        now = states(demo_stack)
        assert "extra_b" not in now and now["broken"] == "STOPPED"
        running = [
            p
            for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] == ["/bin/sleep", "103"]
        ]
        assert running, "the changed program runs its new command"

        res = await perform(client, "start", ["broken"])
        assert not res[0].ok
        assert "not executable" in res[0].message or "could not be spawned" in res[0].message
    finally:
        for f in confd.glob("*.conf"):
            f.unlink()
        diff = await client.reread()
        await client.apply_update(diff)
    assert not {"extra_a", "broken"} & set(states(demo_stack))
