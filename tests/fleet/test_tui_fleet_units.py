"""The console's fleet without processes: what reaches which host (a supervisord's request,
a log and its close), narrowing in words, and how old data is said.

The hosts are recorders (a fake: which host was asked what is what these tests check; the
same paths on real hosts through a real sshd are tests/fleet/test_tui_fleet.py)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    LogChunk,
    LogCursor,
    LogRef,
    OperationRequest,
    OperationResult,
    ProgramsSnapshot,
    Supervisord,
)
from opsconsole.tui.fleet import Fleet, HostState, server_name
from opsconsole.tui.fleet_host import for_server


class Recorder:
    """Answers every log with handle 1 (as each real host numbers its own from 1)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.asked: list[tuple[str, Any]] = []

    async def log(self, source: LogRef, **kw: Any) -> LogChunk:
        self.asked.append(("log", (source, kw.get("after"))))
        return LogChunk(self.name, 0.0, source, "x", (), LogCursor("k", 1, 10))

    async def close_log(self, cursor: LogCursor) -> None:
        self.asked.append(("close", cursor.handle))

    async def topology(self) -> str:
        self.asked.append(("topology", None))
        return f"topology of {self.name}"

    async def probes(self) -> str:
        self.asked.append(("probes", None))
        return f"probes of {self.name}"

    async def perform(self, request: OperationRequest) -> OperationResult:
        self.asked.append(("perform", request.parameters))
        return OperationResult(self.name, request.operation, request.target, "ok", "done", 0.0)


def fleet_of(*names: str) -> tuple[Fleet, list[Recorder]]:
    hosts = [Recorder(n) for n in names]
    fleet = Fleet([(h.name, h) for h in hosts], refresh=1.0, timeout=2.0)  # type: ignore[misc]
    for h in hosts:
        fleet.states[h.name].servers = {h.name: "demo"}
    return fleet, hosts


async def test_a_supervisords_request_goes_to_its_host_under_the_hosts_own_name() -> None:
    fleet, (one, two) = fleet_of("web1", "web2")
    request = OperationRequest("supervisor.start", "idle", {"server": "web2", "names": ["idle"]})
    result = await fleet.machine.perform(request)
    assert result.host == "web2"
    assert two.asked == [("perform", {"server": "demo", "names": ["idle"]})]
    assert one.asked == []
    with pytest.raises(OpsError, match="no host runs a supervisord named 'web9'"):
        await fleet.machine.perform(replace_server(request, "web9"))


def replace_server(request: OperationRequest, server: str) -> OperationRequest:
    return OperationRequest(request.operation, request.target, {"server": server})


async def test_a_log_is_followed_and_closed_on_the_host_that_opened_it() -> None:
    fleet, (one, two) = fleet_of("web1", "web2")
    a = await fleet.machine.log(LogRef("program", "web1", "web", "stdout"), lines=5)
    b = await fleet.machine.log(LogRef("program", "web2", "web", "stdout"), lines=5)
    assert a.cursor is not None and b.cursor is not None
    assert a.cursor.handle != b.cursor.handle  # both hosts said 1: the console tells them apart
    await fleet.machine.log(LogRef("program", "web2", "web", "stdout"), after=b.cursor)
    source, after = two.asked[-1][1]
    assert source.server == "demo" and after.handle == 1
    await fleet.machine.close_log(b.cursor)
    assert ("close", 1) in two.asked
    assert not [a for a in one.asked if a[0] == "close"]  # web1's log stays open
    await fleet.machine.close_log(b.cursor)  # twice: nothing
    assert len([a for a in two.asked if a[0] == "close"]) == 1


def test_narrowing_is_said_in_words() -> None:
    fleet, _ = fleet_of("web1", "web2")
    assert fleet.title() == "2 hosts"
    assert fleet.narrow("web2") == "host web2 only (:host all shows every host)"
    assert fleet.title() == "web2 (1 of 2 hosts)"
    assert fleet.focus().name == "web2"
    with pytest.raises(OpsError, match="no host 'web9' in this console"):
        fleet.narrow("web9")
    assert fleet.narrowed == "web2"  # a wrong name changes nothing
    assert fleet.narrow("all") == "every host (2)"
    assert fleet.narrowed is None and fleet.focus().name == "web1"


def test_old_data_is_stale_with_its_age_never_current() -> None:
    state = HostState("web2", Recorder("web2"))  # type: ignore[arg-type]
    assert state.state_word(1.0) == "connecting"
    state.programs = ProgramsSnapshot("web2", time.time(), (Supervisord("demo", "unix://x"),))
    state.fresh_at = time.time()
    assert state.state_word(1.0) == "up"
    state.fresh_at = time.time() - 12
    state.error = "web2 did not answer within 10 s"
    assert state.state_word(1.0) == "stale 12s"
    assert state.words(1.0) == (
        "stale 12s: web2 did not answer within 10 s; the programs shown are from 12s ago"
    )


def test_a_hosts_supervisords_are_named_after_it() -> None:
    assert server_name("web1", "demo", 1) == "web1"
    assert server_name("web1", "queue", 2) == "web1:queue"


async def test_a_roll_on_one_host_reads_that_hosts_topology_and_probes() -> None:
    """W on host2's program (not narrowed: the focused host is web1) plans with web2's own
    topology and probes, and restarts through web2."""
    fleet, (one, _) = fleet_of("web1", "web2")
    session = SimpleNamespace(fleet=fleet, machine=fleet.machine, timeline="the session's")
    seen = for_server(session, "web2")
    assert seen.timeline == "the session's" and seen.machine.name == "web2"
    assert await seen.machine.topology() == "topology of web2"
    assert await seen.machine.probes() == "probes of web2"
    request = OperationRequest("supervisor.restart", "web", {"server": "web2", "names": ["web"]})
    assert (await seen.machine.perform(request)).host == "web2"
    assert one.asked == []
    alone, _ = fleet_of("web1")
    single = SimpleNamespace(fleet=alone, machine=alone.machine)
    assert for_server(single, "web1") is single  # one host: the session itself
