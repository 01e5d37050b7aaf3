"""Fleet faults made for real on a private sshd (alias web3): sshd killed and restarted, the
agent killed, the host SIGSTOPped while another host (web1) still answers, an agent of another
protocol version, and a changed host key (last: it re-keys the server)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psutil
import pytest

from opsconsole.cli import hosts
from opsconsole.core.config import build_config
from opsconsole.core.host import Host, ProgramsSnapshot
from opsconsole.core.remote import RemoteHost
from opsconsole.core.ssh import exit_explainer
from opsconsole.demo.sshd import LocalSshd
from opsconsole.demo.stack import DemoStack
from tests.fleet.conftest import AGENT
from tests.fleet.test_fleet_cli import by_host, opsconsole

pytestmark = pytest.mark.integration


def remote(sshd: LocalSshd, alias: str, stack: DemoStack, timeout: float = 5.0) -> RemoteHost:
    """A RemoteHost to ``alias`` as ``opsconsole --host alias`` builds its ssh command, with
    short timeouts and backoff so faults show quickly."""
    config = build_config(
        hosts=[alias],
        ssh_config=str(sshd.ssh_config),
        agent=AGENT,
        supervisor_conf=str(stack.conf_path),
    )
    settings = config.hosts[0]
    return RemoteHost(
        alias,
        hosts.ssh_command(settings, config),
        timeout=timeout,
        connect_timeout=20.0,
        backoff=(0.2, 1.0),
        explain_exit=exit_explainer(alias, settings.agent),
    )


@pytest.fixture
async def web3(own_sshd: LocalSshd, demo_stack: DemoStack) -> AsyncIterator[RemoteHost]:
    host = remote(own_sshd, "web3", demo_stack, timeout=3.0)
    try:
        yield host
    finally:
        await host.aclose()


def fresh(snapshot: ProgramsSnapshot) -> bool:
    return bool(snapshot.servers) and not any(s.stale for s in snapshot.servers)


async def until(
    read: Callable[[], object], check: Callable[[object], bool], timeout: float = 60.0
) -> object:
    """Poll an async read until ``check`` holds; fail the test with the last value."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = await read()  # type: ignore[misc]
        if check(last):
            return last
        await asyncio.sleep(0.2)
    pytest.fail(f"not reached within {timeout} s; last: {last!r}")


def agents(sshd: LocalSshd) -> list[psutil.Process]:
    found = []
    for proc in sshd.sessions():
        try:
            cmdline = proc.cmdline()
        except psutil.Error:
            continue
        if "opsconsole" in cmdline and "agent" in cmdline:
            found.append(proc)
    return found


def errors_seen(host: RemoteHost) -> list[str]:
    """Collect the kind of each link error from now on."""
    seen: list[str] = []
    host.listeners.append(
        lambda link: seen.append(type(link.error).__name__) if link.error else None
    )
    return seen


async def test_sshd_killed_mid_session_then_restarted_reconnects(
    web3: RemoteHost, own_sshd: LocalSshd
) -> None:
    assert fresh(await web3.programs())
    connects = web3.link.connects
    seen = errors_seen(web3)
    own_sshd.kill()
    # The session ends; the last programs are shown stale, with ssh's reason in words (a
    # request that races the end may first say only that the agent is gone).
    ssh_kinds = {"SshConnectionLost", "SshConnectionRefused"}

    def stale_with_ssh_words(snapshot: ProgramsSnapshot) -> bool:
        error = snapshot.servers[0].error if snapshot.servers else None
        return not fresh(snapshot) and error is not None and error.kind in ssh_kinds

    stale = await until(web3.programs, stale_with_ssh_words)  # type: ignore[arg-type]
    error = stale.servers[0].error  # type: ignore[attr-defined]
    assert "web3" in error.message and error.hint
    assert ssh_kinds & set(seen)
    own_sshd.restart()
    await until(web3.programs, fresh)  # type: ignore[arg-type]
    assert web3.link.connects > connects


async def test_agent_killed_is_said_and_the_link_comes_back(
    web3: RemoteHost, own_sshd: LocalSshd
) -> None:
    assert fresh(await web3.programs())
    connects = web3.link.connects
    seen = errors_seen(web3)
    (agent,) = agents(own_sshd)
    agent.send_signal(signal.SIGKILL)
    await until(lambda: _noop(), lambda _: web3.link.connects > connects)
    assert "SshConnectionLost" in seen  # "the session with web3 ended without an exit status"
    assert fresh(await web3.programs())
    assert agent.pid not in {p.pid for p in agents(own_sshd)}


async def _noop() -> None:
    return None


async def test_a_stopped_host_does_not_hold_up_another(
    web3: RemoteHost, own_sshd: LocalSshd, fleet_sshd: LocalSshd, demo_stack: DemoStack
) -> None:
    web1 = remote(fleet_sshd, "web1", demo_stack)
    try:
        assert fresh(await web3.programs()) and fresh(await web1.programs())
        stopped = own_sshd.processes()  # sshd, its session and the agent: the whole "host"
        for proc in stopped:
            proc.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            slow, quick = await asyncio.gather(web3.programs(), _timed(web1))
            assert fresh(quick[0]), "web1 answered with fresh programs"
            assert quick[1] < time.monotonic() - started  # web1 did not wait for web3
            assert not fresh(slow)
            error = slow.servers[0].error
            assert error is not None and error.kind == "HostNotResponding"
        finally:
            for proc in stopped:
                proc.send_signal(signal.SIGCONT)
        await until(web3.programs, fresh)  # type: ignore[arg-type]
    finally:
        await web1.aclose()


async def _timed(host: Host) -> tuple[ProgramsSnapshot, float]:
    started = time.monotonic()
    snapshot = await host.programs()
    return snapshot, time.monotonic() - started


def test_an_agent_of_another_protocol_says_which_side_to_upgrade(
    fleet_sshd: LocalSshd, tmp_path: Path
) -> None:
    """An older agent (its hello says protocol 0): refused in words, naming the host to
    upgrade. The only fake here: no older opsconsole is installed to run for real."""
    old = tmp_path / "old-agent"
    old.write_text(
        "#!/bin/sh\n"
        'echo \'{"hello": "opsconsole-agent", "protocol": 0, "version": "0.1.0"}\'\n'
        "cat >/dev/null\n"
    )
    old.chmod(0o755)
    run = opsconsole(fleet_sshd, "--agent", str(old), "--host", "web1", "status", "--json")
    assert run.returncode == 2
    entry = by_host(json.loads(run.stdout))["web1"]
    assert entry["kind"] == "ProtocolMismatch"
    assert "protocol 0" in entry["error"]
    assert "upgrade opsconsole on web1" in entry["hint"]


def test_a_changed_host_key_is_refused_quoting_ssh(
    own_sshd: LocalSshd, demo_stack: DemoStack
) -> None:
    """The server is re-keyed (as after a reinstall); known_hosts still has the old key."""
    own_sshd.rotate_host_key()
    try:
        run = opsconsole(
            own_sshd, "--agent", AGENT, "-c", str(demo_stack.conf_path),
            "--host", "web3", "status", "--json",
        )  # fmt: skip
        assert run.returncode == 2
        entry = by_host(json.loads(run.stdout))["web3"]
        assert entry["kind"] == "SshHostKeyChanged"
        assert "CHANGED" in entry["error"] and "refused" in entry["error"]
        assert "SHA256:" in entry["error"]  # the fingerprint ssh printed
        assert "before trusting" in entry["hint"]
        assert agents(own_sshd) == []  # nothing ran there
    finally:
        own_sshd.write_known_hosts()  # record the new key, as the operator would after checking
