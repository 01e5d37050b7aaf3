"""A fleet's program list draws an uptime that its host's clock moved only for the rows in
sight: the programs of ten hosts turn a minute together and the screen shows twenty of them.
A row scrolled into sight shows its uptime right at once.

The host is a small fake (polled, its snapshot's programs the same objects every time, as an
agent's pushes keep them) and the fleet's clock is the test's: the minute turns when the test
says. The same list over real agents is tests/fleet/test_tui_fleet.py.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from opsconsole.core.config import AppConfig, HostSettings, SupervisorTarget
from opsconsole.core.errors import OpsError
from opsconsole.core.host import Program, ProgramsSnapshot, Supervisord
from opsconsole.core.remote import Link
from opsconsole.tui import fleet as fleet_module
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.fleet import Fleet
from opsconsole.tui.fleet_rows import columns
from opsconsole.tui.widgets.programs import ProgramsView

NOW = 1_764_072_000
COUNT = 200


class Clock:
    """The fleet's wall clock, moved by the test; monotonic time runs."""

    now = float(NOW)
    monotonic = staticmethod(time.monotonic)

    @classmethod
    def time(cls) -> float:
        return cls.now


class FakeHost:
    """Programs started 119 s before NOW (``1m`` then, ``2m`` a second or two later)."""

    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.link = Link(state="up", since=NOW, last_answer=NOW, rtt=0.003, agent_version="1")
        self.timeout = 10.0
        programs = tuple(
            Program("demo", f"p{i:03}", f"p{i:03}", "RUNNING", 1000 + i, start=NOW - 119, now=NOW)
            for i in range(count)
        )
        server = Supervisord("demo", "unix:///x", state="RUNNING", programs=programs)
        self.snapshot = ProgramsSnapshot(name, NOW, (server,))

    async def programs(self) -> ProgramsSnapshot:
        return replace(self.snapshot, at=Clock.now)  # the same programs, the host's clock

    async def supervisord(self, name: str) -> Supervisord:
        return self.snapshot.servers[0]

    async def probes(self) -> Any:
        raise OpsError("no probes here")

    async def gunicorn(self) -> Any:
        raise OpsError("no gunicorn here")

    async def nginx(self) -> Any:
        raise OpsError("no nginx here")

    async def aclose(self) -> None:
        return None


def make_app(monkeypatch: pytest.MonkeyPatch) -> OpsConsoleApp:
    def open_fleet(config: AppConfig, gate: Any) -> Fleet:
        hosts = [("web1", FakeHost("web1", COUNT)), ("web2", FakeHost("web2", 1))]
        return Fleet(hosts, refresh=0.2, timeout=2.0)  # type: ignore[arg-type]

    Clock.now = float(NOW)
    monkeypatch.setattr(fleet_module, "open_fleet", open_fleet)
    monkeypatch.setattr(fleet_module, "time", Clock)
    config = AppConfig(
        supervisors=[SupervisorTarget("demo", "http://opsconsole-demo.invalid:9001")],
        hosts=[HostSettings("web1", "web1"), HostSettings("web2", "web2")],
    )
    return OpsConsoleApp(config, audit=False, host="console-01")


async def listed(pilot: Any) -> ProgramsView:
    """The program list once both hosts' rows are in it."""
    view = pilot.app.query_one(ProgramsView)
    for _ in range(100):
        if len(view.rows) > COUNT:
            break
        await pilot.pause(0.1)
    return view


async def test_uptimes_out_of_sight_are_drawn_when_they_come_into_sight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app(monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await listed(pilot)
        at = [c[0] for c in columns(app.session)].index("uptime")

        def shown(key: str) -> str:
            return str(view.table.get_cell(key, "uptime"))

        first, last = f"web1/p{0:03}", f"web1/p{COUNT - 1:03}"
        assert (shown(first), shown(last)) == ("1m", "1m")
        drawn = view.redraws["rows"]
        Clock.now += 2  # the minute turns for every program of web1
        for _ in range(50):
            if shown(first) == "2m":
                break
            await pilot.pause(0.1)
        assert shown(first) == "2m"
        # the rows out of sight are held: a screen of rows was drawn, not every program
        assert shown(last) == "1m" and str(view._row_index[last].cells[at]) == "1m"
        assert view.redraws["rows"] - drawn <= 30, view.redraws
        assert view.redraws["rebuilt"] == 1  # drawn in place, the list not built again

        view.table.focus()
        await pilot.press("G")  # to the bottom: the last rows come into sight
        await pilot.pause(0.05)
        assert shown(last) == "2m" and str(view._row_index[last].cells[at]) == "2m"
        assert "2m" in app.export_screenshot()


async def test_a_list_built_again_while_rows_are_held_shows_them_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Scrolled down, the minute turns: the rows above are held. A filter then builds the
    list again (the table is cleared and scrolled): the rows are drawn afresh at the host's
    clock, nothing held from the old list is drawn into the new one."""
    app = make_app(monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await listed(pilot)
        view.table.focus()
        await pilot.press("G")
        await pilot.pause(0.05)
        Clock.now += 2  # the rows at the top, out of sight, are held
        last = f"web1/p{COUNT - 1:03}"
        for _ in range(50):
            if str(view.table.get_cell(last, "uptime")) == "2m":
                break
            await pilot.pause(0.1)
        assert any(view._held.values())
        view.set_filter("p00")  # p000..p009 of both hosts: built again, from the top
        await pilot.pause(0.2)
        assert app.is_running
        keys = [r.key for r in view.rows if r.proc is not None]
        assert "web1/p000" in keys and last not in keys
        assert str(view.table.get_cell("web1/p000", "uptime")) == "2m"
