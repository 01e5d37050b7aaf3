"""Deterministic data for snapshot tests: a monitor that returns fixed snapshots.

Real-server behaviour is covered by the other TUI tests; snapshots need pixels that do not
change between runs (pids, uptimes, host name, clock).
"""

from __future__ import annotations

from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.monitor import ServerSnapshot, SupervisorMonitor
from opsconsole.core.supervisor import ProcessInfo, ServerInfo, SupervisorError, Unreachable

NOW = 1_764_072_000  # 2025-11-25 12:00:00 UTC


def proc(
    name: str,
    state: str,
    code: int,
    pid: int = 0,
    group: str | None = None,
    up: int = 0,
    desc: str = "",
    spawnerr: str = "",
    exitstatus: int = 0,
) -> ProcessInfo:
    return ProcessInfo.from_rpc(
        {
            "name": name,
            "group": group or name,
            "statename": state,
            "state": code,
            "pid": pid,
            "start": NOW - up if up else 0,
            "now": NOW,
            "description": desc,
            "spawnerr": spawnerr,
            "exitstatus": exitstatus,
        },
        "demo",
    )


def demo_processes() -> list[ProcessInfo]:
    return [
        proc("api", "RUNNING", 20, 4101, up=3725),
        proc(
            "flaky",
            "FATAL",
            200,
            desc="Exited too quickly (process log may have details)",
            exitstatus=3,
        ),
        proc("idle", "STOPPED", 0, desc="Not started"),
        proc("nginx", "RUNNING", 20, 4102, up=3724),
        proc("queue_00", "RUNNING", 20, 4103, group="queue", up=3720),
        proc("queue_01", "RUNNING", 20, 4104, group="queue", up=3720),
        proc("queue_02", "BACKOFF", 30, group="queue", desc="Exited too quickly"),
        proc("web", "RUNNING", 20, 4105, up=86_500),
        proc("worker", "EXITED", 100, desc="Nov 25 11:58 AM", exitstatus=1),
    ]


class StaticMonitor(SupervisorMonitor):
    """Returns the same snapshot on every poll; sends nothing anywhere."""

    def __init__(self, config: AppConfig, error: SupervisorError | None = None) -> None:
        super().__init__(config.supervisors, refresh=60)
        self.error = error

    async def poll(self, server: str) -> ServerSnapshot:
        target = self.clients[server].target
        if self.error is not None:
            snap = ServerSnapshot(
                server, target.url, status="unreachable", error=self.error, at=NOW
            )
        else:
            snap = ServerSnapshot(
                server,
                target.url,
                status="connected",
                processes=demo_processes(),
                info=ServerInfo("4.3.0", 4100, "RUNNING", "supervisor"),
                at=NOW,
            )
        self.snapshots[server] = snap
        return snap


def fake_config(theme: str | None = None, read_only: bool = False) -> AppConfig:
    # A .invalid host: never resolved or contacted (the StaticMonitor never sends).
    return AppConfig(
        supervisors=[SupervisorTarget("demo", "http://opsconsole-demo.invalid:9001")],
        theme=theme,
        read_only=read_only,
    )


def unreachable() -> Unreachable:
    return Unreachable(
        "supervisord socket /run/supervisor.sock does not exist",
        "is supervisord running? check the socket path (serverurl / [unix_http_server] file=)",
    )
