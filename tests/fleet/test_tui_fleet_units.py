"""The console's fleet without processes: what reaches which host (a supervisord's request,
a log and its close), narrowing in words, and how old data is said.

The hosts are recorders (a fake: which host was asked what is what these tests check; the
same paths on real hosts through a real sshd are tests/fleet/test_tui_fleet.py)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
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
    Program,
    ProgramsSnapshot,
    Supervisord,
)
from opsconsole.core.logs import available_sources
from opsconsole.tui.fleet import Fleet, HostState, log_servers, server_name
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


def test_uptimes_are_shown_at_the_hosts_clock_and_do_not_grow_while_it_is_stale() -> None:
    """An agent pushes no uptime that only grew: the program list shows a program's uptime
    at its host's clock (the console's plus the skew its answers showed), and a stale host's
    uptimes stay as they were when its data was last current (never shown as current)."""
    fleet, _ = fleet_of("web2")
    state = fleet.states["web2"]
    assert fleet.clock("web2") is None  # before its first answer: the programs' own clocks
    ahead = 3600.0  # the host's clock is an hour ahead of the console's
    start = int(time.time() + ahead) - 125
    sent = Program("demo", "api", "api", "RUNNING", pid=7, start=start, now=start + 5)
    server = Supervisord("demo", "unix://x", programs=(sent,))
    state.programs = ProgramsSnapshot("web2", time.time() + ahead, (server,))
    state.fresh_at, state.skew = time.time(), ahead
    clock = fleet.clock("web2")
    assert clock is not None
    assert 124 <= sent.uptime_at(clock) <= 127  # not the 5 s its pushed clock says
    assert sent.uptime == 5
    state.fresh_at = time.time() - 12  # silent 12 s: stale
    state.error = "web2 did not answer within 10 s"
    frozen = fleet.clock("web2")
    assert frozen is not None and frozen == pytest.approx(clock - 12, abs=1)
    assert fleet.clock("nowhere") is None


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


class Screen:
    """What a fleet reports to (the session's part it uses): the redraws it asks for."""

    def __init__(self) -> None:
        self.servers: dict[str, Supervisord] = {}
        self.posted: list[Any] = []
        self.ui = SimpleNamespace(post_message=self.posted.append)

    def _observe(self, snap: Supervisord) -> None:
        self.servers[snap.name] = snap


def programs_of(host: str, count: int) -> ProgramsSnapshot:
    programs = tuple(
        Program("demo", f"p{i}", f"p{i}", "RUNNING", pid=1000 + i) for i in range(count)
    )
    return ProgramsSnapshot(
        host, time.time(), (Supervisord("demo", "unix://x", programs=programs),)
    )


async def test_ten_hosts_answering_are_drawn_once_not_ten_times() -> None:
    """Ten hosts answering one after another ask for ONE redraw of the program list (not
    one each: ten full redraws of 3000 rows a refresh saturated the console); a host that
    answers again while that redraw is due is in it too. An answer whose programs are the
    very tuple of the last one keeps the console's renamed tuple (the views skip it)."""
    names = [f"web{i}" for i in range(10)]
    fleet, _ = fleet_of(*names)
    screen = Screen()
    fleet._session = screen  # type: ignore[assignment]
    snaps = {n: programs_of(n, 30) for n in names}
    for name in names:
        fleet._take(fleet.states[name], snaps[name], time.time())
    fleet._take(fleet.states["web0"], snaps["web0"], time.time())
    for _ in range(200):
        if screen.posted:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert len(screen.posted) == 1 and fleet.changes == 10 and fleet.redraws == 1
    assert sorted(screen.servers) == names  # every host's programs are in that one redraw
    assert all(p.server == "web3" for p in screen.servers["web3"].programs)
    kept = screen.servers["web0"].programs
    # supervisord's clock moved (every answer at idle): nothing to redraw, the same tuple
    server = snaps["web0"].servers[0]
    ticked = tuple(replace(p, now=p.now + 1) for p in server.programs)
    again = replace(snaps["web0"], servers=(replace(server, programs=ticked),))
    fleet._take(fleet.states["web0"], again, time.time())
    assert screen.servers["web0"].programs is kept and fleet.changes == 10
    # a program stopped: its host is drawn again, with the new state
    stopped = (replace(ticked[0], state="STOPPED", pid=0), *ticked[1:])
    fleet._take(
        fleet.states["web0"],
        replace(again, servers=(replace(server, programs=stopped),)),
        time.time(),
    )
    assert fleet.changes == 11
    assert screen.servers["web0"].programs[0].statename == "STOPPED"
    for _ in range(500):
        if len(screen.posted) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(screen.posted) == 2


def test_a_console_that_asked_late_does_not_call_a_host_stale() -> None:
    """Old data is the host's staleness only when the host is to blame (its read failed, or
    waits for its answer): not when the console's own loop was late to ask."""
    state = HostState("web2", Recorder("web2"))  # type: ignore[arg-type]
    state.programs = ProgramsSnapshot("web2", time.time(), (Supervisord("demo", "unix://x"),))
    state.fresh_at = time.time() - 12
    assert state.state_word(1.0) == "up"  # no read waiting: the console asks late
    state.asked_at = time.time() - 0.5
    assert state.state_word(1.0) == "up"  # just asked
    state.asked_at = time.time() - 10
    assert state.state_word(1.0) == "stale 12s"  # asked 10 s ago, no answer


def test_the_logs_list_offers_each_hosts_supervisord_not_this_machines() -> None:
    """The Logs view's ``supervisord`` entries on a fleet are the hosts' (``host1``, reached
    through the fleet), not the configured ``local`` one a fleet does not read."""
    fleet, _ = fleet_of("web1", "web2")
    servers = {n: Supervisord(n, "unix://x") for n in ("web1", "web2")}
    monitor = SimpleNamespace(snapshots={"local": "this machine's, unread"})
    session = SimpleNamespace(fleet=fleet, servers=servers, monitor=monitor)
    specs = available_sources(log_servers(session))  # type: ignore[arg-type]
    assert [(s.kind, s.server) for s in specs] == [("supervisord", "web1"), ("supervisord", "web2")]
    assert fleet.route(specs[0].server)[0].name == "web1"  # no "no host runs 'local'"
