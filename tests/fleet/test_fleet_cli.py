"""``opsconsole --host ...`` through a real sshd to the real demo stack, and each ssh failure
made for real (unknown host, refused, unknown host key, wrong key, agent not installed), with
the supervisord password never on any process's command line."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest

from opsconsole.demo.sshd import LocalSshd
from opsconsole.demo.stack import DemoStack
from tests.fleet.conftest import AGENT

pytestmark = pytest.mark.integration


def opsconsole(
    sshd: LocalSshd, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "opsconsole", "--ssh-config", str(sshd.ssh_config), *args]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or dict(os.environ),
        stdin=subprocess.DEVNULL,
    )


def by_host(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["host"]: entry for entry in report["servers"]}


def test_status_json_over_two_hosts(fleet_sshd: LocalSshd, demo_stack: DemoStack) -> None:
    run = opsconsole(
        fleet_sshd, "--agent", AGENT, "-c", str(demo_stack.conf_path),
        "--host", "web1", "--host", "web2", "status", "--json",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr  # the demo's 'flaky' is FATAL on purpose
    hosts = by_host(json.loads(run.stdout))
    assert set(hosts) == {"web1", "web2"}
    web_pid = demo_stack.rpc().supervisor.getProcessInfo("web")["pid"]
    for entry in hosts.values():
        assert entry["reachable"] is True
        states = {p["name"]: (p["state"], p["pid"]) for p in entry["programs"]}
        assert states["web"] == ("RUNNING", web_pid)
        assert states["flaky"][0] == "FATAL"
    # The table has a HOST column when there are several hosts.
    run = opsconsole(
        fleet_sshd, "--agent", AGENT, "-c", str(demo_stack.conf_path),
        "--host", "web1", "--host", "web2", "status",
    )  # fmt: skip
    lines = run.stdout.splitlines()
    assert lines[0].split()[:2] == ["HOST", "PROGRAM"]
    assert any(line.split()[:3] == ["web2", "web", "RUNNING"] for line in lines)


def test_local_beside_a_remote_host(fleet_sshd: LocalSshd, demo_stack: DemoStack) -> None:
    """``--host local`` is this machine, read here without ssh, beside a host reached over ssh:
    both answer, each named; a change over both without --yes is refused and nothing done."""
    run = opsconsole(
        fleet_sshd, "--agent", AGENT, "-c", str(demo_stack.conf_path),
        "--host", "local", "--host", "web1", "status", "--json",
    )  # fmt: skip
    hosts = by_host(json.loads(run.stdout))
    assert set(hosts) == {"local", "web1"}, run.stdout + run.stderr
    web_pid = demo_stack.rpc().supervisor.getProcessInfo("web")["pid"]
    for entry in hosts.values():
        states = {p["name"]: (p["state"], p["pid"]) for p in entry["programs"]}
        assert states["web"] == ("RUNNING", web_pid)
    before = demo_stack.rpc().supervisor.getProcessInfo("queue:queue_00")
    run = opsconsole(
        fleet_sshd, "--agent", AGENT, "-c", str(demo_stack.conf_path),
        "--host", "local", "--host", "web1", "stop", "queue:queue_00",
    )  # fmt: skip
    assert run.returncode == 2 and "needs confirmation" in run.stderr, run.stderr
    after = demo_stack.rpc().supervisor.getProcessInfo("queue:queue_00")
    assert (after["statename"], after["pid"]) == ("RUNNING", before["pid"])  # nothing done


def test_each_ssh_failure_is_said_in_words_and_the_good_host_still_answers(
    fleet_sshd: LocalSshd, demo_stack: DemoStack
) -> None:
    hosts = ["web1", "nohost", "closed", "unknownkey", "stranger"]
    run = opsconsole(
        fleet_sshd, "--agent", AGENT, "-c", str(demo_stack.conf_path),
        *[w for h in hosts for w in ("--host", h)], "status", "--json",
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    entries = by_host(json.loads(run.stdout))
    assert entries["web1"]["reachable"] is True
    expected = {
        "nohost": ("SshHostUnknown", "does not resolve", "Host alias"),
        "closed": ("SshConnectionRefused", "refused", "sshd running"),
        "unknownkey": ("SshHostKeyUnknown", "not known", "fingerprint"),
        "stranger": ("SshAuthFailed", "refused the login", "ssh-add"),
    }
    for host, (kind, words, hint) in expected.items():
        entry = entries[host]
        assert entry["reachable"] is False
        assert entry["kind"] == kind, entry
        assert words in entry["error"] and host in entry["error"]
        assert hint in entry["hint"]
    assert "Permission denied (publickey" in entries["stranger"]["error"]  # what ssh said
    # In the table: each failing host on its own line, labelled.
    run = opsconsole(
        fleet_sshd, "--agent", AGENT, "-c", str(demo_stack.conf_path),
        "--host", "web1", "--host", "closed", "status",
    )  # fmt: skip
    assert any(line.split()[:2] == ["closed", "UNREACHABLE"] for line in run.stdout.splitlines())


def test_agent_not_installed_says_how_to_install_it(fleet_sshd: LocalSshd) -> None:
    run = opsconsole(
        fleet_sshd, "--agent", "/nonexistent/venv/bin/opsconsole agent",
        "--host", "web1", "status", "--json",
    )  # fmt: skip
    assert run.returncode == 2
    entry = by_host(json.loads(run.stdout))["web1"]
    assert entry["kind"] == "AgentNotInstalled"
    assert "not installed on web1" in entry["error"]
    assert "pip install opsconsole" in entry["hint"] and "--agent" in entry["hint"]


def test_an_agent_path_with_a_space_and_a_dollar_runs_as_written(
    fleet_sshd: LocalSshd, demo_stack: DemoStack, tmp_path: Path
) -> None:
    """The remote shell sees exactly our words: the path is one word, $HOME stays literal."""
    where = tmp_path / "my $HOME venv"
    where.mkdir()
    script = where / "opsconsole"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m opsconsole "$@"\n')
    script.chmod(0o755)
    run = opsconsole(
        fleet_sshd, "--agent", f"{shlex.quote(str(script))} agent",
        "-c", str(demo_stack.conf_path), "--host", "web1", "status", "--json",
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert by_host(json.loads(run.stdout))["web1"]["reachable"] is True


def _scan_cmdlines(secret: str, stop: threading.Event, seen: list[str], count: list[int]) -> None:
    while not stop.is_set():
        for proc in psutil.process_iter(["cmdline"]):
            try:
                line = " ".join(proc.info["cmdline"] or [])
            except psutil.Error:
                continue
            if secret in line:
                seen.append(line)
        count[0] += 1


def test_the_password_never_appears_on_a_command_line(
    fleet_sshd: LocalSshd, demo_stack: DemoStack
) -> None:
    """The password comes from the environment here and reaches supervisord there (so it
    travelled, over the ssh channel), yet no process ever shows it in its argv."""
    env = dict(os.environ, OPSCONSOLE_SUPERVISOR_PASSWORD=demo_stack.password)
    stop, seen, rounds = threading.Event(), [], [0]
    scanner = threading.Thread(
        target=_scan_cmdlines, args=(demo_stack.password, stop, seen, rounds)
    )
    scanner.start()
    try:
        run = opsconsole(
            fleet_sshd, "--agent", AGENT, "--supervisor-url", demo_stack.socket_url,
            "--user", demo_stack.username, "--host", "web1", "--host", "web2",
            "status", "--json", env=env,
        )  # fmt: skip
    finally:
        stop.set()
        scanner.join()
    hosts = by_host(json.loads(run.stdout))
    assert all(entry["reachable"] for entry in hosts.values()), run.stdout
    assert rounds[0] > 1  # the scan ran while the command did
    assert seen == []
    # Without the password, the same command is refused by supervisord: it did travel.
    run = opsconsole(
        fleet_sshd, "--agent", AGENT, "--supervisor-url", demo_stack.socket_url,
        "--user", demo_stack.username, "--host", "web1", "status", "--json",
    )  # fmt: skip
    assert by_host(json.loads(run.stdout))["web1"]["reachable"] is False


def test_user_at_host_and_ssh_url_destinations_reach_the_host(
    fleet_sshd: LocalSshd, demo_stack: DemoStack
) -> None:
    """Not only aliases: ``user@127.0.0.1`` and ``ssh://user@127.0.0.1:PORT`` (the port on
    -p; the key and known_hosts from the ssh_config's ``Host 127.0.0.1`` block)."""
    fleet_sshd.add_alias("127.0.0.1", Port="1")  # a wrong default port: -p must win
    url = f"ssh://{fleet_sshd.user}@127.0.0.1:{fleet_sshd.port}"
    run = opsconsole(
        fleet_sshd, "--agent", AGENT, "-c", str(demo_stack.conf_path),
        "--host", url, "--host", f"{fleet_sshd.user}@127.0.0.1", "status", "--json",
    )  # fmt: skip
    hosts = by_host(json.loads(run.stdout))
    assert hosts[url]["reachable"] is True, hosts[url]
    # Without a port, the Host block's (wrong) port is used: refused, said as such.
    assert hosts[f"{fleet_sshd.user}@127.0.0.1"]["kind"] == "SshConnectionRefused"
