"""The rolling restart screen on the real demo stack: ``W`` on a group plans the roll, asks
once (naming every program and what each must pass), shows each step, and ``esc`` stops it
between steps saying what was left undone; read-only refuses it before anything is asked;
``u`` says which processes a changed group's update restarts (the whole group)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.screens.rolling import RollingScreen
from opsconsole.tui.widgets.programs import ProgramsView
from tests.tui.helpers import shows, stack_config, until

pytestmark = pytest.mark.integration  # the demo stack

QUEUE = ["queue:queue_00", "queue:queue_01", "queue:queue_02"]


def pids(stack: DemoStack) -> dict[str, int]:
    return {
        f"{p['group']}:{p['name']}": int(p["pid"])
        for p in stack.rpc().supervisor.getAllProcessInfo()
        if p["group"] == "queue"
    }


def noted(app: OpsConsoleApp, text: str) -> bool:
    return any(text in n.message for n in app._notifications)


async def on_queue_group(pilot: Any, app: OpsConsoleApp) -> None:
    view = app.query_one(ProgramsView)
    await until(pilot, lambda: any(r.key == "demo/queue:*" for r in view.rows), 10)
    index = next(i for i, r in enumerate(view.rows) if r.key == "demo/queue:*")
    view.table.move_cursor(row=index)
    await until(pilot, lambda: view.current_key() == "demo/queue:*")


async def test_roll_a_group_then_esc_stops_it_between_steps(
    demo_stack: DemoStack, tmp_path: Path
) -> None:
    before = pids(demo_stack)
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_queue_group(pilot, app)
        await pilot.press("W")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 40)
        await shows(pilot, "Restart group queue (3 programs) one at a time?")
        await shows(pilot, "1. queue:queue_00 (RUNNING pid", "must stay RUNNING 2 s")
        await pilot.press("y")
        screen = app.screen
        assert isinstance(screen, RollingScreen)
        await shows(pilot, "queue:queue_00", "esc stop after this step", timeout=15)
        await pilot.press("escape")  # during step 1: it finishes its checks, then stops
        await shows(
            pilot,
            "cancelled by the operator; not restarted: queue:queue_01, queue:queue_02",
            "esc close",
            timeout=20,
        )
        await shows(pilot, "✓ 1 queue:queue_00 healthy (RUNNING 2 s)", "- 3 queue:queue_02")
        after = pids(demo_stack)
        assert after[QUEUE[0]] != before[QUEUE[0]]
        assert [after[n] for n in QUEUE[1:]] == [before[n] for n in QUEUE[1:]]  # untouched
        records = [(r.action, r.target, r.result) for r in app.gate.history]
        assert records == [
            ("supervisor.restart", "queue:queue_00", "ok"),
            ("supervisor.rolling_restart", "group queue", "error"),
        ]
        assert "cancelled" in app.gate.history[-1].detail
        texts = [e.text for e in app.timeline.events if e.source == "queue:queue_00"]
        assert "rolling restart: healthy (RUNNING 2 s)" in texts
        note = tmp_path / "incident.md"
        app.session.export_note(str(note))  # :export
        text = note.read_text()
        assert "rolling restart: healthy (RUNNING 2 s)" in text
        assert "| supervisor.rolling_restart | group queue | error |" in text  # actions table
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RollingScreen))


async def test_read_only_refuses_the_roll_before_asking(demo_stack: DemoStack) -> None:
    before = pids(demo_stack)
    app = OpsConsoleApp(stack_config(demo_stack, read_only=True), audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_queue_group(pilot, app)
        await pilot.press("W")
        await until(
            pilot, lambda: noted(app, "read-only mode: rolling restart group queue refused")
        )
        await pilot.press("colon", *"restart", "space", *"--rolling", "space", *"queue:*", "enter")
        await until(pilot, lambda: noted(app, "read-only mode: rolling restart queue:* refused"))
        assert len(app.screen_stack) == 1  # nothing was asked, no roll screen
        assert [(r.action, r.result) for r in app.gate.history] == [
            ("supervisor.rolling_restart", "refused"),
            ("supervisor.rolling_restart", "refused"),
        ]
    assert pids(demo_stack) == before


async def test_update_asks_group_by_group_naming_every_restart(demo_stack: DemoStack) -> None:
    """A changed group: the question names every running process of it (supervisord stops
    and starts the whole group); n leaves it, and nothing is restarted."""
    conf = demo_stack.conf_path
    text = conf.read_text()
    conf.write_text(text.replace("numprocs=3", "numprocs=3\nstartretries=5"))
    before = pids(demo_stack)
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await on_queue_group(pilot, app)
            await pilot.press("u")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 40)
            await shows(
                pilot,
                "Update group queue: stop and start its 3 running processes?",
                "supervisord stops the whole group, not only the",  # (changed program)
                "restarts (new pids): queue:queue_00, queue:queue_01,",
                "Group 1 of 1",
            )
            await pilot.press("n")
            await until(pilot, lambda: len(app.screen_stack) == 1)
        assert pids(demo_stack) == before
        assert [r.action for r in app.gate.history] == ["supervisor.reread"]
    finally:
        conf.write_text(text)
        demo_stack.rpc().supervisor.reloadConfig()
