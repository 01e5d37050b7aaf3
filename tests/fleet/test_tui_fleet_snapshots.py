"""Snapshots (80x24) of a console of two hosts: the hosts view, and the program list with its
HOST column and a stale host's rows dimmed with their age.

Pixels must not change between runs, so the two hosts here are fixed snapshots served by a
small fake Host (pids, uptimes, round trips, the age of stale data); the same console on two
real hosts through a real sshd is tests/fleet/test_tui_fleet.py.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from opsconsole.core.config import AppConfig, HostSettings, SupervisorTarget
from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    GunicornMaster,
    GunicornSnapshot,
    HostError,
    LogCursor,
    LogRef,
    NginxInstance,
    NginxSnapshot,
    OperationRequest,
    ProbeOutcome,
    ProbesSnapshot,
    Program,
    ProgramsSnapshot,
    Supervisord,
)
from opsconsole.core.remote import Link
from opsconsole.tui import fleet as fleet_module
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.fleet import Fleet

NOW = 1_764_072_000  # 2025-11-25 12:00:00 UTC


class FrozenTime:
    """The fleet's clock stopped at NOW (ages are then fixed); monotonic time runs."""

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(lambda: float(NOW))


def programs(server: str) -> tuple[Program, ...]:
    def p(name: str, state: str, pid: int = 0, up: int = 0, group: str = "", **kw: Any) -> Program:
        start = NOW - up if up else 0
        return Program(server, name, group or name, state, pid, start=start, now=NOW, **kw)

    return (
        p("api", "RUNNING", 4101, 3725),
        p("flaky", "FATAL", description="Exited too quickly (process log may have details)"),
        p("idle", "STOPPED", description="Not started"),
        p("queue_00", "RUNNING", 4103, 3720, "queue"),
        p("queue_01", "RUNNING", 4104, 3720, "queue"),
        p("web", "RUNNING", 4105, 86_500),
    )


class FakeHost:
    """A host that answers fixed snapshots (``stale``: its last programs, marked stale)."""

    def __init__(self, name: str, link: Link, stale: bool = False) -> None:
        self.name = name
        self.link = link
        self.stale = stale
        self.timeout = 10.0

    async def programs(self) -> ProgramsSnapshot:
        error = HostError("HostNotResponding", f"{self.name} did not answer within 10 s")
        server = Supervisord(
            "demo",
            "unix:///srv/demo/supervisor.sock",
            status="not responding" if self.stale else "connected",
            error=error if self.stale else None,
            version="4.3.0",
            pid=100,
            state="RUNNING",
            stale=self.stale,
            programs=programs("demo"),
        )
        return ProgramsSnapshot(self.name, NOW, (server,))

    async def supervisord(self, name: str) -> Supervisord:
        return (await self.programs()).servers[0]

    async def probes(self) -> ProbesSnapshot:
        ok = ProbeOutcome("web", "http://127.0.0.1:8001/", True, 200, 0.004, NOW)
        api = ProbeOutcome("api", "http://127.0.0.1:8002/", not self.stale, 200, 0.003, NOW)
        return ProbesSnapshot(self.name, NOW, (ok, api))

    async def gunicorn(self) -> GunicornSnapshot:
        master = GunicornMaster(4105, NOW - 86_500, "web", program="web", live=4, target=4)
        return GunicornSnapshot(self.name, NOW, (master,))

    async def nginx(self) -> NginxSnapshot:
        instance = NginxInstance(
            "/usr/sbin/nginx", "/srv/demo/nginx.conf", "/srv/demo", master_pid=90
        )
        return NginxSnapshot(self.name, NOW, instance, version="1.22.1")

    async def topology(self) -> Any:
        raise OpsError("no topology in this snapshot")

    async def nginx_config(self) -> Any:
        raise OpsError("no nginx config in this snapshot")

    async def info(self) -> Any:
        raise OpsError("no info in this snapshot")

    async def log(self, source: LogRef, **kw: Any) -> Any:
        raise OpsError("no logs in this snapshot")

    async def close_log(self, cursor: LogCursor) -> None:
        return None

    async def perform(self, request: OperationRequest) -> Any:
        raise OpsError("nothing is done in a snapshot")

    async def aclose(self) -> None:
        return None


def make_app(monkeypatch: pytest.MonkeyPatch) -> OpsConsoleApp:
    up = Link(state="up", since=NOW, last_answer=NOW, rtt=0.003, agent_version="0.1.0")
    stale = Link(
        state="stale",
        reason="web2 did not answer within 10 s",
        since=NOW - 12,
        last_answer=NOW - 12,
        rtt=0.004,
        agent_version="0.1.0",
    )

    def open_fleet(config: AppConfig, gate: Any) -> Fleet:
        hosts = [("web1", FakeHost("web1", up)), ("web2", FakeHost("web2", stale, stale=True))]
        fleet = Fleet(hosts, refresh=1.0, timeout=2.0)  # type: ignore[arg-type]
        fleet.states["web2"].fresh_at = NOW - 12  # its last current answer, 12 s ago
        return fleet

    monkeypatch.setattr(fleet_module, "open_fleet", open_fleet)
    monkeypatch.setattr(fleet_module, "time", FrozenTime)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    config = AppConfig(
        supervisors=[SupervisorTarget("demo", "http://opsconsole-demo.invalid:9001")],
        hosts=[HostSettings("web1", "web1"), HostSettings("web2", "web2")],
        theme="opsconsole-dark",
    )
    app = OpsConsoleApp(config, audit=False, host="console-01")
    app.session.probe_interval = 600.0  # one probe round: the probe line stays the same
    return app


async def ready(pilot: Any) -> None:
    """Every host read once, its probes, gunicorn and nginx too, and the probe line drawn."""
    app: OpsConsoleApp = pilot.app
    fleet = app.session.fleet
    assert fleet is not None
    for _ in range(100):
        states = fleet.states.values()
        if all(s.programs and s.probes and s.gunicorn and s.nginx for s in states) and (
            app.session.probes.states
        ):
            break
        await pilot.pause(0.1)
    await pilot.pause(0.3)


def test_hosts_view(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("6")
        await pilot.pause(1.2)  # the view's own tick has drawn the latest

    assert snap_compare(make_app(monkeypatch), terminal_size=(80, 24), run_before=run_before)


def test_programs_with_hosts(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async def run_before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.pause(1.2)  # a stale host's rows are redrawn once a second

    assert snap_compare(make_app(monkeypatch), terminal_size=(80, 24), run_before=run_before)
