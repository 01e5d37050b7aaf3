"""The program list's refresh costs what changed where a user sees it, not the whole list.

A real supervisord with 60 programs, all stopped: at idle its answer still moves every
second (each program's clock); each test hands the view its answers. An idle refresh then
rebuilds no program row (no row is rendered again); a program started shows as RUNNING in
its row, the only row rendered again; a program started below the visible rows is rendered
only once it is scrolled into view, where it shows RUNNING.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import textwrap
import xmlrpc.client
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.demo.stack import MARKER_ENV, _bin, _UnixTransport, teardown
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.programs import ProgramsView, ProgramTable
from tests.conftest import wait_for
from tests.tui.helpers import no_probes_of_this_machine, screen_text, until

pytestmark = pytest.mark.integration

PROGRAMS = [f"p{i:02d}" for i in range(60)]
SIZE = (100, 30)  # about 20 program rows in sight: p40 and below are out of it


class Sup:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.socket = directory / "s.sock"

    def rpc(self) -> Any:
        return xmlrpc.client.ServerProxy("http://localhost/RPC2", _UnixTransport(str(self.socket)))

    def states(self) -> dict[str, str]:
        return {i["name"]: i["statename"] for i in self.rpc().supervisor.getAllProcessInfo()}


@pytest.fixture(autouse=True)
def _no_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    no_probes_of_this_machine(monkeypatch)  # nothing else on this machine moves the screen


@pytest.fixture(scope="module")
def sup() -> Iterator[Sup]:
    d = Path(tempfile.mkdtemp(prefix="oc-redraw-", dir="/tmp"))  # short: a unix socket
    s = Sup(d)
    conf = d / "supervisord.conf"
    conf.write_text(
        textwrap.dedent(
            f"""
            [unix_http_server]
            file={s.socket}
            [supervisord]
            logfile={d}/supervisord.log
            pidfile={d}/supervisord.pid
            childlogdir={d}
            directory={d}
            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
            """
        )
        + "".join(
            f"[program:{name}]\ncommand=/bin/sleep 600\nautostart=false\nstartsecs=0\n"
            "stdout_logfile=NONE\nstderr_logfile=NONE\n"
            for name in PROGRAMS
        )
    )
    proc = subprocess.Popen(
        [_bin("supervisord"), "-n", "-c", str(conf)],
        cwd=d,
        env={**os.environ, MARKER_ENV: str(d)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def ready() -> bool:
            try:
                return len(s.states()) == len(PROGRAMS)
            except (OSError, xmlrpc.client.Error):
                return False

        wait_for(ready, 30)
        yield s
    finally:
        teardown(d, proc.pid)
        proc.wait(timeout=10)


def _config(sup: Sup) -> AppConfig:
    target = SupervisorTarget("t", f"unix://{sup.socket}", source="test")
    # the session polls once at start; then the tests hand the view each refresh themselves
    return AppConfig(supervisors=[target], refresh=60.0, timeout=2.0)


class RowSpy:
    """Which program rows the table renders again: a line of a row not in the table's
    cache of rendered rows (a cached row is only put on screen again, at no cost)."""

    def __init__(self, table: ProgramTable) -> None:
        self.rows: Counter[str] = Counter()
        render = table._render_line_in_row
        cache = table._row_render_cache

        def spied(row_key: Any, *args: Any, **kwargs: Any) -> Any:
            cached = len(cache)
            lines = render(row_key, *args, **kwargs)
            if len(cache) > cached and str(row_key.value).startswith("t/"):
                self.rows[str(row_key.value)] += 1
            return lines

        table._render_line_in_row = spied  # type: ignore[method-assign]
        #: lines of the table painted again (from its caches or not)
        self.lines = 0
        paint = table.render_line

        def painted(y: int) -> Any:
            self.lines += 1
            return paint(y)

        table.render_line = painted  # type: ignore[method-assign]


async def _settled(pilot: Any, app: OpsConsoleApp) -> ProgramsView:
    view = app.query_one(ProgramsView)
    await until(pilot, lambda: sum(1 for r in view.rows if r.proc) == len(PROGRAMS))
    await until(pilot, lambda: "p00" in screen_text(pilot))
    await until(pilot, lambda: "Quit" in screen_text(pilot).splitlines()[-1])  # the footer
    await pilot.pause(0.2)  # the first frames are painted
    return view


async def _refresh(pilot: Any, app: OpsConsoleApp, sup: Sup) -> int:
    """One refresh of the program list with supervisord's whole answer once its clock moved
    (the app's refresh hands the view the snapshots the same way). Returns the clock shown."""
    view = app.query_one(ProgramsView)
    snap = view.snapshots[0]
    shown = max(p.now for p in snap.programs)

    def answer() -> dict[str, Any]:
        """supervisord's answer with its clock past what the console shows"""
        got = {i["name"]: i for i in sup.rpc().supervisor.getAllProcessInfo()}
        return got if min(i["now"] for i in got.values()) > shown else {}

    got = await until(pilot, answer)
    fields = ("pid", "start", "stop", "now", "description", "spawnerr", "exitstatus")
    programs = tuple(
        replace(p, state=got[p.name]["statename"], **{f: got[p.name][f] for f in fields})
        for p in snap.programs
    )
    view.show([replace(snap, programs=programs)], app.session.usage)
    await pilot.pause()  # painted
    return programs[0].now


def _table_text(pilot: Any) -> str:
    """The screen from the table's header down (the top line's refresh note may move)."""
    lines = screen_text(pilot).splitlines()
    top = next(i for i, ln in enumerate(lines) if "Name" in ln and "State" in ln)
    return "\n".join(lines[top:])


def _row_line(pilot: Any, name: str) -> str:
    return next((ln for ln in screen_text(pilot).splitlines() if f" {name} " in ln), "")


async def test_an_idle_refresh_renders_no_program_row(sup: Sup) -> None:
    app = OpsConsoleApp(_config(sup), audit=False)
    async with app.run_test(size=SIZE) as pilot:
        view = await _settled(pilot, app)
        spy = RowSpy(view.table)
        builds = Counter[str]()
        build = view.build_rows
        view.build_rows = lambda: (builds.update(["build"]), build())[1]  # type: ignore[method-assign]
        before = _table_text(pilot)
        clocks = [await _refresh(pilot, app, sup) for _ in range(3)]  # supervisord's clock moves
        assert clocks[0] < clocks[1] < clocks[2]
        assert all(r.proc is not None and r.proc.now == clocks[2] for r in view.rows)
        assert not spy.rows, f"rows rendered again at idle: {dict(spy.rows)}"
        assert spy.lines == 0, "the table was painted again at idle"
        assert not builds, "the whole list was built again at idle"
        after = _table_text(pilot)
        moved = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
        assert not moved, f"the table's text changed at idle: {moved}"


async def test_a_started_program_renders_its_row_only_and_shows_running(sup: Sup) -> None:
    app = OpsConsoleApp(_config(sup), audit=False)
    async with app.run_test(size=SIZE) as pilot:
        view = await _settled(pilot, app)
        assert "STOPPED" in _row_line(pilot, "p03")
        spy = RowSpy(view.table)
        sup.rpc().supervisor.startProcess("p03")
        try:
            await _refresh(pilot, app, sup)  # the refresh that brings the new state shows it
            assert "RUNNING" in _row_line(pilot, "p03")
            assert "STOPPED" in _row_line(pilot, "p02")
            assert "STOPPED" in _row_line(pilot, "p04")
            await _refresh(pilot, app, sup)
            assert set(spy.rows) == {"t/p03"}, dict(spy.rows)
        finally:
            sup.rpc().supervisor.stopProcess("p03")


async def test_a_row_changed_out_of_sight_is_rendered_when_scrolled_in(sup: Sup) -> None:
    app = OpsConsoleApp(_config(sup), audit=False)
    async with app.run_test(size=SIZE) as pilot:
        view = await _settled(pilot, app)
        assert "p55" not in screen_text(pilot)  # below the visible rows
        spy = RowSpy(view.table)
        sup.rpc().supervisor.startProcess("p55")
        try:

            def p55_running() -> bool:
                row = view._row_index.get("t/p55")
                return row is not None and row.proc is not None and row.proc.state == "RUNNING"

            await _refresh(pilot, app, sup)
            assert p55_running()
            await _refresh(pilot, app, sup)
            assert not spy.rows, f"rows out of sight rendered: {dict(spy.rows)}"
            assert spy.lines == 0, "the table was painted again for a row out of sight"
            await pilot.press("G")  # to the bottom of the list
            await until(pilot, lambda: "RUNNING" in _row_line(pilot, "p55"))
            assert "t/p55" in spy.rows
            assert "STOPPED" in _row_line(pilot, "p54")
        finally:
            sup.rpc().supervisor.stopProcess("p55")


async def test_rows_coming_in_above_leave_an_untouched_cursor_on_the_top_row(sup: Sup) -> None:
    """Another supervisord (another host) answering after the first puts its rows above:
    a cursor nobody moved stays on the top row, the list is shown from its top (it used to
    follow the first program it sat on, scrolling a ten-host list down to a later host);
    a cursor the user moved keeps its program."""
    app = OpsConsoleApp(_config(sup), audit=False)
    async with app.run_test(size=SIZE) as pilot:
        view = await _settled(pilot, app)
        view.table.focus()
        snap = view.snapshots[0]
        other = replace(
            snap,
            name="aaa",
            programs=tuple(replace(p, server="aaa") for p in snap.programs),
        )
        view.show([other, snap], app.session.usage)
        await pilot.pause()
        assert view.table.cursor_row == 0 and view.table.scroll_y == 0
        assert view.rows[0].server == "aaa"
        assert "[aaa]" in _table_text(pilot).splitlines()[1]
        # moved by the user: the cursor keeps its program when rows come in above
        await pilot.press("j", "j")
        chosen = view.current_key()
        assert chosen is not None and view.table.cursor_row == 2
        third = replace(
            other, name="a00", programs=tuple(replace(p, server="a00") for p in snap.programs)
        )
        view.show([third, other, snap], app.session.usage)
        await pilot.pause()
        assert view.current_key() == chosen
