"""The console on several hosts for real: two demo stacks behind one local sshd (the fleet of
``opsconsole demo --hosts 2``), each host read by its agent over ssh.

The hosts view shows both up with their programs; a SIGSTOPped agent turns its host stale with
the age of its data while the other host still refreshes and a key is answered, then up
again after SIGCONT; ``enter`` narrows every view, ``:host all`` widens; programs marked on
both hosts start one host at a time behind the health gate and stop at the first failure.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psutil
import pytest
from textual.widgets import Tab
from textual.widgets.data_table import CellDoesNotExist

from opsconsole.core.config import build_config
from opsconsole.demo.fleet import DemoFleet
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.fleet_rows import columns
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.widgets.hosts import HostsView
from opsconsole.tui.widgets.programs import ProgramsView
from opsconsole.tui.widgets.statusbar import StatusBar

pytestmark = pytest.mark.integration

T = TypeVar("T")


@pytest.fixture(scope="module")
def tui_fleet() -> Iterator[DemoFleet]:
    """Two real stacks (no nginx: cheaper) behind one real sshd, for the whole module."""
    fleet = DemoFleet(count=2, with_nginx=False).start()
    try:
        yield fleet
    finally:
        fleet.stop()


def console(fleet: DemoFleet) -> OpsConsoleApp:
    config = build_config(config_file=str(fleet.config_path), refresh=1.0, timeout=3.0)
    return OpsConsoleApp(config, audit=False)


async def until(pilot: Any, check: Callable[[], T], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        await pilot.pause(0.1)


def cell(view: HostsView, host: str, column: str) -> str:
    try:
        return str(view.table.get_cell(host, column))
    except CellDoesNotExist:  # not drawn yet
        return ""


def agent_of(fleet: DemoFleet, index: int) -> list[psutil.Process]:
    """The agent process(es) serving host ``index`` (its command names that stack's conf)."""
    conf = str(fleet.stacks[index].conf_path)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        words = proc.info["cmdline"] or []
        if "agent" in words and conf in words and not any("ssh" in w for w in words[:1]):
            found.append(proc)
    return found


def state_of(fleet: DemoFleet, index: int, name: str) -> dict[str, Any]:
    info: dict[str, Any] = fleet.stacks[index].rpc().supervisor.getProcessInfo(name)
    return info


async def test_hosts_view_stale_host_and_narrowing(
    tui_fleet: DemoFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = console(tui_fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        fleet = app.session.fleet
        assert fleet is not None and fleet.names == ["host1", "host2"]
        await pilot.press("6")
        view = app.query_one(HostsView)
        await until(pilot, lambda: app.current_view == "hosts")
        # Both up, with their programs by state (flaky is FATAL on purpose in the demo).
        await until(
            pilot,
            lambda: (
                all(cell(view, h, "link") == "up" for h in ("host1", "host2"))
                and all("FATAL" in cell(view, h, "programs") for h in ("host1", "host2"))
            ),
        )
        for host in ("host1", "host2"):
            assert cell(view, host, "agent") == "0.1.0"
            assert cell(view, host, "rtt").endswith("ms")
            assert "run" in cell(view, host, "programs")

        # host2's agent stops answering: host2 turns stale with its age, host1 goes on.
        stopped = agent_of(tui_fleet, 1)
        assert stopped, "host2's agent is running"
        for proc in stopped:
            proc.send_signal(signal.SIGSTOP)
        try:
            host1 = fleet.states["host1"]
            await until(pilot, lambda: cell(view, "host2", "link").startswith("stale "), 20)
            seen = host1.fresh_at
            await until(pilot, lambda: (host1.fresh_at or 0) > (seen or 0), 10)
            assert cell(view, "host1", "link") == "up"
            # A key is answered at once while host2 hangs.
            row = view.table.cursor_row
            await pilot.press("j")
            assert view.table.cursor_row == row + 1
            detail = str(view.query_one("#hosts-detail").render())
            assert "host2: stale" in detail and "s ago" in detail
            # The program list marks host2's rows stale with their age, never as current.
            await pilot.press("1")
            programs = app.query_one(ProgramsView)
            await until(
                pilot,
                lambda: [
                    r
                    for r in programs.rows
                    if r.server == "host2" and r.proc and str(r.cells[-1]).startswith("stale ")
                ],
            )
            fresh = [r for r in programs.rows if r.server == "host1" and r.proc]
            assert fresh and not any("stale" in str(r.cells[-1]) for r in fresh)
            assert str(fresh[0].cells[0]) == "host1"  # the HOST column
            # the hosts view, hidden, is not redrawn (each redraw was a layout pass of the
            # whole screen, every second); it is drawn afresh when shown again (below)
            redraws: list[float] = []
            real_show = view.show

            def counted() -> None:
                redraws.append(time.time())
                real_show()

            monkeypatch.setattr(view, "show", counted)
            await pilot.pause(2.5)
            assert redraws == []
        finally:
            for proc in stopped:
                proc.send_signal(signal.SIGCONT)
        await pilot.press("6")
        await until(pilot, lambda: cell(view, "host2", "link") == "up", 40)
        timeline = [e.text for e in app.session.timeline.events if e.source == "host2"]
        assert any("stale" in text for text in timeline)
        assert "host answers again" in timeline

        # enter on host2 narrows every view to it; :host all widens again.
        view.table.move_cursor(row=1)
        await pilot.press("enter")
        await until(pilot, lambda: fleet.narrowed == "host2" and app.current_view == "programs")
        programs = app.query_one(ProgramsView)
        await until(pilot, lambda: {r.server for r in programs.rows} == {"host2"})
        assert "host2 (1 of 2 hosts)" in str(app.query_one(StatusBar).render_text())
        # the views of one host name it: they now show host2's gunicorn and nginx
        assert str(app.query_one("#tab-gunicorn", Tab).label) == "2 Gunicorn host2"
        assert fleet.machine._focus is fleet.states["host2"].host
        await pilot.press(":", *"host all", "enter")
        await until(pilot, lambda: {r.server for r in programs.rows} == {"host1", "host2"})
        assert fleet.narrowed is None
        assert "2 hosts" in str(app.query_one(StatusBar).render_text())
        assert str(app.query_one("#tab-gunicorn", Tab).label) == "2 Gunicorn host1"
        # A host that is not in the console is said in words and changes nothing.
        await pilot.press(":", *"host nosuch", "enter")
        await pilot.pause(0.2)
        assert fleet.narrowed is None


async def mark(pilot: Any, view: ProgramsView, keys: list[str]) -> None:
    """Mark rows by key with the keyboard (cursor on the row, space)."""
    for key in keys:
        await until(pilot, lambda key=key: key in [r.key for r in view.rows])  # type: ignore[misc]
        view.table.move_cursor(row=[r.key for r in view.rows].index(key))
        await pilot.press("space")
    assert view.marked == set(keys)


async def test_an_action_across_hosts_goes_one_host_at_a_time(tui_fleet: DemoFleet) -> None:
    app = console(tui_fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(ProgramsView)
        before = [state_of(tui_fleet, i, "idle")["statename"] for i in (0, 1)]
        assert before == ["STOPPED", "STOPPED"]
        await mark(pilot, view, ["host1/idle", "host2/idle"])
        await pilot.press("s")
        screen = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert isinstance(screen, ConfirmScreen)
        assert screen.title_text == "Start idle on host1, then host2?"
        assert "One host at a time" in screen.detail and "probes are green" in screen.detail
        await pilot.press("y")
        try:
            await until(
                pilot,
                lambda: any(
                    "start done on host1, host2" in e.text for e in app.session.timeline.events
                ),
                90,
            )
            starts = [state_of(tui_fleet, i, "idle") for i in (0, 1)]
            assert [s["statename"] for s in starts] == ["RUNNING", "RUNNING"]
            # host2 only after host1 was RUNNING and steady (the health gate: 3 s)
            assert starts[1]["start"] >= starts[0]["start"] + 3
            steps = [e.text for e in app.session.timeline.events if e.kind == "action"]
            gate = next(i for i, t in enumerate(steps) if "waiting for idle RUNNING" in t)
            assert gate < next(i for i, t in enumerate(steps) if t.startswith("2/2 host2"))
        finally:
            for stack in tui_fleet.stacks:
                stack.rpc().supervisor.stopProcess("idle")

        # The first failure stops it: flaky cannot start on host1, host2 is not touched.
        untouched = state_of(tui_fleet, 1, "flaky")
        view.marked.clear()
        await mark(pilot, view, ["host1/flaky", "host2/flaky"])
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        stopped = await until(
            pilot,
            lambda: [e for e in app.session.timeline.events if "stopped at host1" in e.text],
            60,
        )
        assert "not run on: host2" in stopped[0].text
        after = state_of(tui_fleet, 1, "flaky")
        assert (after["start"], after["stop"]) == (untouched["start"], untouched["stop"])
        asked = [r.target for r in app.session.gate.history if r.action == "supervisor.start"]
        assert "flaky on host1" in asked and "flaky on host2" not in asked


def programs_sub(host: Any) -> Any:
    """The host's programs subscription (the fleet's one per host)."""
    subs = [s for s in host._subscriptions if s.topic == "programs"]
    assert len(subs) == 1, f"one programs subscription on {host.name}: {subs}"
    return subs[0]


def clock_alone(value: Any) -> bool:
    """Whether a pushed diff moves some program's clock (``now``) and nothing else of it (a
    program that changed carries its clock along: that is not an uptime pushed)."""
    if isinstance(value, dict):
        if "now" in value and not set(value) - {"now", "description"}:
            return True
        return any(clock_alone(v) for v in value.values())
    if isinstance(value, list):
        return any(clock_alone(v) for v in value)
    return False


async def test_programs_are_pushed_changes_not_full_reads(tui_fleet: DemoFleet) -> None:
    """The agent pushes what changed: a program started on host1 shows within a refresh
    without the console asking for programs, and an idle fleet's pushes carry far fewer
    bytes than the full snapshots a read every refresh would."""
    app = console(tui_fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        fleet = app.session.fleet
        assert fleet is not None
        programs = app.query_one(ProgramsView)
        await until(pilot, lambda: {"host1/idle", "host2/idle"} <= {r.key for r in programs.rows})
        # spies on the link: the requests the console sends, the bytes of programs pushes
        asked: list[tuple[str, str]] = []
        pushed: dict[str, list[int]] = {"host1": [], "host2": []}
        clocks: list[bytes] = []  # programs pushes that moved a program's clock alone
        for name in ("host1", "host2"):
            host: Any = fleet.states[name].host
            send = host._request

            async def spy(method: str, *a: Any, _n: str = name, _s: Any = send, **k: Any) -> Any:
                asked.append((_n, method))
                return await _s(method, *a, **k)

            host._request = spy
            stdout = host._proc.stdout
            readline = stdout.readline

            async def counting(_n: str = name, _r: Any = readline) -> bytes:
                line: bytes = await _r()
                if b'"topic":"programs"' in line:
                    pushed[_n].append(len(line))
                    if b'"now"' in line and clock_alone(json.loads(line)):
                        clocks.append(line)
                return line

            stdout.readline = counting
        host1: Any = fleet.states["host1"].host
        sub = programs_sub(host1)
        full = len(json.dumps(sub.data, separators=(",", ":")))  # what a read answers
        rows = programs.redraws["rows"]
        uptime = [c[0] for c in columns(app.session)].index("uptime")
        web = programs._row_index["host2/web"]
        was = str(web.cells[uptime])
        await until(pilot, lambda: len(pushed["host1"]) >= 5, 30)
        idle = pushed["host1"][:5]
        assert sum(idle) * 3 < 5 * full, f"5 idle pushes {idle} vs a full snapshot {full} B"
        # the uptimes moved by each host's clock, though no push carried a program's clock:
        # drawn in place (rows looked at again; the list is built again only when a program
        # changes, e.g. the demo's flaky one cycling at start)
        await until(
            pilot,
            lambda: (
                str(programs._row_index["host2/web"].cells[uptime]) != was
                and programs.redraws["rows"] > rows
            ),
        )
        assert clocks == [], clocks[:1]

        # a program started on host1 (by its supervisord, not the console) shows in time
        heard: list[str] = []  # idle's state in each value pushed from now on
        sub.listeners.append(
            lambda s: heard.append(next(p.state for p in s.value.programs if p.name == "idle"))
        )
        tui_fleet.stacks[0].rpc().supervisor.startProcess("idle")  # returns once RUNNING
        try:
            started = time.monotonic()

            def shown() -> str:
                row = next((r for r in programs.rows if r.key == "host1/idle"), None)
                return str(row.cells[2]) if row is not None else ""

            await until(pilot, lambda: shown().endswith("RUNNING"), 20)
            # within one refresh: the agent's next read pushed it (or the one in flight)
            assert "RUNNING" in heard[:2], heard
            assert time.monotonic() - started < 20
            row = next(r for r in programs.rows if r.key == "host2/idle")
            assert str(row.cells[2]).endswith("STOPPED")  # host2's idle did not move
        finally:
            tui_fleet.stacks[0].rpc().supervisor.stopProcess("idle")
        assert not [a for a in asked if a[1] in ("programs", "supervisord")], asked
        assert sub.fulls == 1 and sub.resyncs == 0 and sub.diffs >= 5
        # probes, gunicorn and nginx are pushed too: never asked, and on the hosts view
        # (the gunicorn and nginx views read the host they show, host1, themselves)
        extras = ("probes", "gunicorn", "nginx")
        assert not [
            a for a in asked if a[1] == "probes" or (a[0], a[1]) in {("host2", e) for e in extras}
        ], asked
        topics = {s.topic for s in host1._subscriptions}
        assert topics == {"programs", "probes", "gunicorn", "nginx"}, topics
        await pilot.press("6")
        view = app.query_one(HostsView)
        await until(pilot, lambda: "/" in cell(view, "host1", "workers"), 20)
        live, target = cell(view, "host1", "workers").split("/")
        assert int(live) >= 1 and int(target) >= 1
        assert cell(view, "host1", "probes") != ""


async def test_a_dropped_link_shows_stale_and_comes_back_subscribed(
    tui_fleet: DemoFleet,
) -> None:
    app = console(tui_fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        fleet = app.session.fleet
        assert fleet is not None
        programs = app.query_one(ProgramsView)
        await until(pilot, lambda: {"host1/idle", "host2/idle"} <= {r.key for r in programs.rows})
        host2: Any = fleet.states["host2"].host
        sub = programs_sub(host2)
        await until(pilot, lambda: sub.fulls == 1 and host2.link.state == "up")
        argv, pid = list(host2.argv), host2.pid
        agents = agent_of(tui_fleet, 1)
        assert agents, "host2's agent is running"
        # the agent dies, and the next start fails for a while (the host is unreachable)
        host2.argv = [sys.executable, "-c", "import sys; sys.exit(3)"]
        for proc in agents:
            proc.send_signal(signal.SIGKILL)

        def stale_rows() -> list[Any]:
            return [
                r
                for r in programs.rows
                if r.server == "host2" and r.proc and str(r.cells[-1]).startswith(("stale", "down"))
            ]

        await until(pilot, stale_rows, 30)
        state = fleet.states["host2"]
        assert state.stale(fleet.refresh) and host2.link.reason
        assert host2.link.reason in state.words(fleet.refresh)
        fresh = [r for r in programs.rows if r.server == "host1" and r.proc]
        assert fresh and not any("stale" in str(r.cells[-1]) for r in fresh)
        # reachable again: reconnected by itself (bounded backoff), subscribed again
        host2.argv = argv
        await until(pilot, lambda: host2.link.state == "up" and sub.fulls == 2, 60)
        assert host2.pid != pid
        await until(pilot, lambda: not stale_rows() and not state.stale(fleet.refresh), 20)
        timeline = [e.text for e in app.session.timeline.events if e.source == "host2"]
        assert "host answers again" in timeline
