"""``opsconsole demo --hosts 2``'s fleet for real (two demo stacks behind one local sshd), and the
commands over it: status and tail from both, restart one host at a time with the health gate,
stopping at the first failure, and a teardown that leaves nothing behind (checked when the
module's fleet stops)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from opsconsole.demo.fleet import DemoFleet
from opsconsole.demo.stack import stack_processes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_fleet() -> Iterator[DemoFleet]:
    """Two stacks behind one sshd; its teardown checks that nothing is left behind."""
    fleet = DemoFleet(count=2, with_nginx=False).start()
    directory = fleet.dir
    try:
        yield fleet
    finally:
        fleet.stop()
    assert not directory.exists()
    assert stack_processes(directory) == []
    left = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(directory) in " ".join(p.info["cmdline"] or [])
    ]
    assert left == [], f"processes left after the fleet stopped: {left}"


def fleet_cli(fleet: DemoFleet, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsconsole", "--config", str(fleet.config_path), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )


def web_pid(fleet: DemoFleet, index: int) -> int:
    return int(fleet.stacks[index].rpc().supervisor.getProcessInfo("web")["pid"])


def web_start(fleet: DemoFleet, index: int) -> int:
    return int(fleet.stacks[index].rpc().supervisor.getProcessInfo("web")["start"])


def test_every_host_of_the_fleet_answers_over_ssh(demo_fleet: DemoFleet) -> None:
    run = fleet_cli(demo_fleet, "status", "--json")
    assert run.returncode == 1, run.stderr  # 'flaky' is FATAL on purpose
    hosts = {entry["host"]: entry for entry in json.loads(run.stdout)["servers"]}
    assert set(hosts) == {"host1", "host2"}
    for index, name in enumerate(("host1", "host2")):
        web = next(p for p in hosts[name]["programs"] if p["name"] == "web")
        assert web["pid"] == web_pid(demo_fleet, index)  # each host is its own stack
    # --host picks one of the config's hosts.
    run = fleet_cli(demo_fleet, "--host", "host2", "status", "--json")
    assert {entry["host"] for entry in json.loads(run.stdout)["servers"]} == {"host2"}
    # The same log from both, each line labelled.
    run = fleet_cli(demo_fleet, "tail", "supervisord", "-n", "3")
    assert run.returncode == 0, run.stderr
    labels = {line.split(" ", 1)[0] for line in run.stdout.splitlines()}
    assert labels == {"[host1]", "[host2]"}


def test_a_restart_goes_one_host_at_a_time_and_stops_at_the_first_failure(
    demo_fleet: DemoFleet,
) -> None:
    before = [web_pid(demo_fleet, 0), web_pid(demo_fleet, 1)]
    run = fleet_cli(demo_fleet, "restart", "web", "--yes")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.index("== host1") < run.stdout.index("== host2")
    after = [web_pid(demo_fleet, 0), web_pid(demo_fleet, 1)]
    assert after[0] != before[0] and after[1] != before[1]
    # host2 was restarted only after host1 was back and steady (the health gate).
    assert web_start(demo_fleet, 1) > web_start(demo_fleet, 0)
    # A failure on host1 stops there: host2 is not touched, and the operator is told.
    run = fleet_cli(demo_fleet, "restart", "web", "nosuch", "--yes")
    assert run.returncode != 0
    assert "not run on: host2" in run.stderr
    assert "== host2" not in run.stdout
    assert web_pid(demo_fleet, 1) == after[1]


def test_a_bad_host_count_is_refused_in_words() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "opsconsole", "demo", "--hosts", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "--hosts must be from 1 to 8" in run.stderr


def test_read_only_refuses_on_the_first_host_and_parallel_acts_on_all(
    demo_fleet: DemoFleet,
) -> None:
    before = [web_pid(demo_fleet, 0), web_pid(demo_fleet, 1)]
    run = fleet_cli(demo_fleet, "--read-only", "restart", "web", "--yes")
    assert run.returncode == 2
    assert "read-only" in run.stderr and "not run on: host2" in run.stderr
    assert [web_pid(demo_fleet, 0), web_pid(demo_fleet, 1)] == before
    # --parallel: every host at once (no gate), each said.
    run = fleet_cli(demo_fleet, "start", "idle", "--yes", "--parallel")
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        assert "== host1" in run.stdout and "== host2" in run.stdout
        for stack in demo_fleet.stacks:
            assert stack.rpc().supervisor.getProcessInfo("idle")["statename"] == "RUNNING"
    finally:
        fleet_cli(demo_fleet, "stop", "idle", "--yes", "--parallel")
