"""Rolling restarts, ``update`` and nginx settings over hosts, for real: two hosts (``web1``,
``web2``: the session's real sshd), each its own real supervisord with a group ``svc`` of two
programs (``a`` and ``b``; each refuses to start while a ``fail-<name>`` file exists in its
host's directory), reached through ``opsconsole agent`` over ssh. The CLI runs in this process
(``opsconsole --config fleet.toml ...``).

A roll asks once with every host's plan, then goes host by host (one program at a time on each,
the next host only after the previous one's roll was healthy) and stops at the first failure
naming the host, the program, the reason and what is left; ``--parallel`` rolls both hosts at
once; read-only is refused by the console and, sent raw, by each agent. ``update`` previews
each host and applies host by host. A ``[[host]]``'s nginx_bin / nginx_conf reach its agent.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opsconsole.cli import hosts, main
from opsconsole.core.agent import PROTOCOL
from opsconsole.core.config import build_config
from opsconsole.core.host import OperationRequest
from opsconsole.demo.bare import BareSupervisord
from opsconsole.demo.sshd import LocalSshd
from opsconsole.demo.stack import DemoStack, _UnixTransport
from tests.conftest import wait_for
from tests.fleet.conftest import AGENT

pytestmark = pytest.mark.integration

HOSTS = ("web1", "web2")


class GroupSupervisord(BareSupervisord):
    """A bare supervisord whose programs ``a`` and ``b`` form the group ``svc``."""

    def __init__(self, root: Path) -> None:
        super().__init__({name: self.command(root, name) for name in ("a", "b")}, root)

    @staticmethod
    def command(root: Path, name: str) -> str:
        fail = root / f"fail-{name}"
        return (
            f'/bin/sh -c \'if [ -e {fail} ]; then echo "{name}: cannot start: {fail} exists"'
            " >&2; exit 3; fi; exec /bin/sleep 86400'"
        )

    def _conf(self) -> str:
        return super()._conf() + "\n[group:svc]\nprograms=a,b\n"

    def rpc(self) -> Any:
        return xmlrpc.client.ServerProxy(
            "http://localhost/RPC2", transport=_UnixTransport(str(self.sock))
        )

    def info(self, name: str) -> dict[str, Any]:
        info: dict[str, Any] = self.rpc().supervisor.getProcessInfo(name)
        return info

    def pids(self) -> dict[str, int]:
        return {n: int(self.info(f"svc:{n}")["pid"]) for n in ("a", "b")}

    def started(self, name: str) -> int:
        return int(self.info(f"svc:{name}")["start"])

    def running(self) -> bool:
        return all(self.info(f"svc:{n}")["statename"] == "RUNNING" for n in ("a", "b"))


@dataclass
class Fleet:
    config: Path
    sups: dict[str, GroupSupervisord]


def write_config(path: Path, sshd: LocalSshd, confs: dict[str, str]) -> Path:
    # timeout: generous (the agents' reads are slow on a loaded machine)
    lines = [f"ssh_config = {json.dumps(str(sshd.ssh_config))}", "timeout = 15"]
    for name, conf in confs.items():
        lines += [
            "",
            "[[host]]",
            f"name = {json.dumps(name)}",
            f"ssh = {json.dumps(name)}",
            f"agent = {json.dumps(AGENT)}",
            f"supervisor_config = {json.dumps(conf)}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def fleet(fleet_sshd: LocalSshd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    base = tmp_path_factory.mktemp("fleet-rolling")
    sups: dict[str, GroupSupervisord] = {}
    try:
        for name in HOSTS:
            sup = GroupSupervisord(base / name)
            sup.start(timeout=60)
            sups[name] = sup
        confs = {name: str(sup.conf_path) for name, sup in sups.items()}
        yield Fleet(write_config(base / "fleet.toml", fleet_sshd, confs), sups)
    finally:
        for sup in sups.values():
            sup.stop()


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.startswith("{")]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """``opsconsole --config FLEET ARGS…`` in this process: its exit code and output."""

    def run(config: Path, *args: str) -> Ran:
        capsys.readouterr()
        code = main(["--config", str(config), *args])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


def all_pids(fleet: Fleet) -> dict[str, dict[str, int]]:
    return {name: sup.pids() for name, sup in fleet.sups.items()}


# --------------------------------------------------------------------------- rolling


def test_one_confirmation_then_host_by_host_one_program_at_a_time(fleet: Fleet, cli: Any) -> None:
    before = all_pids(fleet)
    asked = cli(fleet.config, "restart", "svc:*", "--rolling")
    assert asked.code == 2 and "add --yes" in asked.err, asked.err
    # One question: every host's plan, in the order the hosts are rolled.
    assert asked.out.index("== web1: Restart svc:a, svc:b one at a time?") < asked.out.index(
        "== web2: Restart svc:a, svc:b one at a time?"
    )
    assert "Hosts one at a time: web1 then web2" in asked.out
    assert all_pids(fleet) == before  # nothing ran

    ran = cli(fleet.config, "restart", "svc:*", "--rolling", "--yes", "--json")
    assert ran.code == 0, ran.out + ran.err
    events = ran.events()
    assert events[-1]["kind"] == "fleet" and events[-1]["status"] == "done"
    assert events[-1]["done_hosts"] == ["web1", "web2"]
    order = [e["host"] for e in events[:-1]]
    # web1's whole roll, its health gate, then web2's roll: never interleaved.
    first_web2 = order.index("web2")
    assert set(order[:first_web2]) == {"web1"} and set(order[first_web2:]) == {"web2"}
    assert events[first_web2 - 1]["kind"] == "host_healthy"
    for name in HOSTS:
        kinds = [(e["kind"], e.get("program", "")) for e in events if e["host"] == name]
        assert kinds.index(("healthy", "svc:a")) < kinds.index(("step", "svc:b"))
        assert [k for k in kinds if k[0] != "host_healthy"][-1] == ("done", "")
    after = all_pids(fleet)
    for name in HOSTS:
        assert after[name]["a"] != before[name]["a"] and after[name]["b"] != before[name]["b"]
    # supervisord's own start times: b settled 2 s after a on each host; web2 after web1.
    web1, web2 = fleet.sups["web1"], fleet.sups["web2"]
    for sup in (web1, web2):
        assert sup.started("b") >= sup.started("a") + 2
    assert web2.started("a") >= web1.started("b") + 2


def test_the_roll_stops_at_the_first_failure_naming_host_program_reason_and_what_is_left(
    fleet: Fleet, cli: Any
) -> None:
    before = all_pids(fleet)
    fail = fleet.sups["web1"].root / "fail-a"
    fail.write_text("")
    try:
        ran = cli(fleet.config, "restart", "svc:*", "--rolling", "--yes")
    finally:
        fail.unlink()
    assert ran.code == 1, ran.out + ran.err
    assert "[web1] 1/2 svc:a: stopping and starting" in ran.out
    assert "[web2]" not in ran.out  # web2 was never begun
    said = ran.err.splitlines()[-1]
    assert said.startswith("opsconsole: rolling restart stopped on web1 at svc:a: "), ran.err
    assert "not restarted on web1: svc:b" in said
    assert "hosts not touched: web2 (svc:a, svc:b)" in said
    after = all_pids(fleet)
    assert after["web2"] == before["web2"]  # untouched
    assert after["web1"]["b"] == before["web1"]["b"]  # after the failing one: untouched
    wait_for(fleet.sups["web1"].running, timeout=60)


def test_ctrl_c_stops_the_roll_after_the_current_step_and_leaves_the_next_host_alone(
    fleet: Fleet,
) -> None:
    """ctrl-c (a real SIGINT to the command) while web1's first program restarts: that step is
    finished (never a program left between stop and verification), the rest of web1 and all
    of web2 are not touched, and the command says so (exit 1)."""
    import os
    import signal
    import subprocess
    import sys

    before = all_pids(fleet)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "opsconsole", "--config", str(fleet.config)),
            *("restart", "svc:*", "--rolling", "--yes", "--json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen: list[dict[str, Any]] = []
        for line in proc.stdout:  # until web1's first step has begun
            if line.startswith("{"):
                seen.append(json.loads(line))
                if seen[-1].get("kind") == "step" and seen[-1].get("host") == "web1":
                    break
        assert seen, proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    events = seen + [json.loads(x) for x in rest.splitlines() if x.startswith("{")]
    assert proc.returncode == 1, rest + err
    cancelled = [e for e in events if e["kind"] == "cancelled"]
    assert cancelled and cancelled[0]["host"] == "web1", events
    assert "cancelled by the operator; not restarted: svc:b" in cancelled[0]["message"]
    web1 = [(e["kind"], e.get("program", "")) for e in events if e["host"] == "web1"]
    assert ("healthy", "svc:a") in web1  # the step begun was finished and verified
    assert not any(e["host"] == "web2" for e in events[:-1] if e["kind"] != "cancelled")
    assert events[-1]["kind"] == "fleet" and events[-1]["status"] != "done"
    after = all_pids(fleet)
    assert after["web1"]["a"] != before["web1"]["a"]  # restarted, and RUNNING again
    assert after["web1"]["b"] == before["web1"]["b"]
    assert after["web2"] == before["web2"]
    assert fleet.sups["web1"].running() and fleet.sups["web2"].running()


def test_parallel_rolls_every_host_at_once_each_one_program_at_a_time(
    fleet: Fleet, cli: Any
) -> None:
    ran = cli(fleet.config, "restart", "svc:*", "--rolling", "--yes", "--json", "--parallel")
    assert ran.code == 0, ran.out + ran.err
    events = ran.events()
    assert events[-1]["status"] == "done"

    def at(host: str, kind: str, program: str = "") -> float:
        return float(
            next(
                e["at"]
                for e in events
                if (e["host"], e["kind"], e.get("program", "")) == (host, kind, program)
            )
        )

    # Both hosts began before either finished (at once), yet each went one at a time.
    assert at("web2", "step", "svc:a") < at("web1", "done")
    assert at("web1", "step", "svc:a") < at("web2", "done")
    for sup in fleet.sups.values():
        assert sup.started("b") >= sup.started("a") + 2


async def test_read_only_is_refused_by_the_console_and_by_each_agent_sent_raw(
    fleet: Fleet, cli: Any
) -> None:
    before = all_pids(fleet)
    ran = await asyncio.to_thread(
        cli, fleet.config, "--read-only", "restart", "svc:*", "--rolling", "--yes"
    )
    assert ran.code == 2 and "read-only" in ran.err, ran.err
    assert ran.out == ""
    # Each agent, started as a read-only console starts it, refuses a roll's step on its own.
    config = build_config(config_file=str(fleet.config), read_only=True)
    for settings in config.hosts:
        argv = hosts.ssh_command(settings, config)
        assert any("--read-only" in word for word in argv)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert (await hear(proc))["read_only"] is True
            params = {"protocol": PROTOCOL, "read_only": False, "console": "eve@x"}
            await say(proc, {"id": 1, "method": "open", "params": params})
            assert (await hear(proc, 1))["result"]["read_only"] is True  # cannot be lifted
            step = OperationRequest(
                "supervisor.restart", "svc:a", {"names": ["svc:a"]}, confirmed=True
            )
            await say(proc, {"id": 2, "method": "perform", "params": {"request": step.to_json()}})
            result = (await hear(proc, 2))["result"]
            assert result["outcome"] == "refused", result
            assert result["error"]["kind"] == "ReadOnlyError"
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            await asyncio.wait_for(proc.wait(), 30)
    assert all_pids(fleet) == before


async def say(proc: asyncio.subprocess.Process, message: Any) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    await proc.stdin.drain()


async def hear(proc: asyncio.subprocess.Process, rid: int | None = None) -> dict[str, Any]:
    assert proc.stdout is not None
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, "the agent ended"
        message: dict[str, Any] = json.loads(line)
        if rid is None or message.get("id") == rid:
            return message


# --------------------------------------------------------------------------- update


def test_update_previews_each_host_and_applies_host_by_host(fleet: Fleet, cli: Any) -> None:
    for sup in fleet.sups.values():  # svc:b's section changes on both hosts
        text = sup.conf_path.read_text()
        sup.conf_path.write_text(text.replace("[program:b]\n", '[program:b]\nenvironment=V="2"\n'))
    before = all_pids(fleet)
    asked = cli(fleet.config, "update")  # without --yes: the previews and the question
    assert asked.code == 2 and "applying on web1, web2" in asked.err, asked.err
    for name in HOSTS:
        assert f"[{name}] changed  svc" in asked.out
        assert f"[{name}] svc changed: supervisord stops the whole group" in asked.out
        assert "restarts (new pids): svc:a, svc:b" in asked.out
    dry = cli(fleet.config, "update", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    previews = json.loads(dry.out)
    assert [p["host"] for p in previews] == ["web1", "web2"]
    assert all(p["preview"][0]["restarts"] == ["svc:a", "svc:b"] for p in previews)
    assert all_pids(fleet) == before  # previews and the question changed nothing

    ran = cli(fleet.config, "update", "--group", "svc", "--yes")
    assert ran.code == 0, ran.out + ran.err
    assert ran.out.index("[web1] svc changed") < ran.out.index("[web2] svc changed")
    after = all_pids(fleet)
    for name in HOSTS:
        assert after[name]["a"] != before[name]["a"] and after[name]["b"] != before[name]["b"]
    # web2 only after web1 was back and steady (the health gate).
    web1, web2 = fleet.sups["web1"], fleet.sups["web2"]
    assert web2.started("a") >= web1.started("a") + 2
    # A host that fails stops the update there; the next is not touched, and said so.
    stopped = cli(fleet.config, "update", "--yes", "--server", "nosuch")
    assert stopped.code == 2 and "opsconsole: web1: " in stopped.err, stopped.err
    assert "not run on: web2" in stopped.err


# --------------------------------------------------------------------------- nginx settings


def test_a_hosts_nginx_bin_and_nginx_conf_reach_its_agent(
    fleet_sshd: LocalSshd, demo_stack: DemoStack, tmp_path: Path, cli: Any
) -> None:
    """web1's nginx_bin (a wrapper of the real binary) is the binary its agent reports;
    web2's nginx_conf (a copy no master serves) is the config its agent reports. Without
    them each agent would find the demo's serving nginx."""
    assert demo_stack.nginx_bin is not None
    wrapper = tmp_path / "nginx-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(str(demo_stack.nginx_bin))} "$@"\n')
    wrapper.chmod(0o755)
    copy = tmp_path / "nginx-copy.conf"
    copy.write_text(demo_stack.nginx_conf.read_text())
    conf = str(demo_stack.conf_path)
    config = write_config(tmp_path / "fleet.toml", fleet_sshd, {"web1": conf, "web2": conf})
    text = config.read_text().split("[[host]]")
    text[1] += f"nginx_bin = {json.dumps(str(wrapper))}\n"
    text[2] += f"nginx_conf = {json.dumps(str(copy))}\n"
    config.write_text("[[host]]".join(text))
    ran = cli(config, "nginx", "status", "--json")
    got = {entry["host"]: entry for entry in json.loads(ran.out)}
    assert set(got) == {"web1", "web2"}, ran.out + ran.err
    web1, web2 = got["web1"], got["web2"]
    assert web1["running"] is True and web1["instance"]["binary"] == str(wrapper)
    assert web1["instance"]["conf_path"] == str(demo_stack.nginx_conf)
    assert web2["running"] is False
    assert web2["instance"]["conf_path"] == str(copy)
    assert "no running master" in web2["instance"]["source"]
