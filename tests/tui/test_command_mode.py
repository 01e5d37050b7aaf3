"""Command mode on the real stack: completion, history, actions, theme, filter, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.commandbar import CommandBar
from tests.tui.helpers import screen_text, shows, stack_config, until

pytestmark = pytest.mark.integration  # starts the demo stack


async def type_command(pilot: Any, text: str) -> None:
    await pilot.press("colon")
    for ch in text:
        await pilot.press(ch if ch != " " else "space")
    await pilot.press("enter")
    await pilot.pause(0.1)


async def test_restart_via_command_with_confirmation(demo_stack: DemoStack, tmp_path: Path) -> None:
    rpc = demo_stack.rpc()
    rpc.supervisor.startProcess("idle")
    before = rpc.supervisor.getProcessInfo("idle")["pid"]
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.monitor.snapshots["demo"].ok)
            await type_command(pilot, "restart idle")
            assert "Restart idle?" in screen_text(pilot)
            await pilot.press("y")
            await until(pilot, lambda: rpc.supervisor.getProcessInfo("idle")["pid"] != before, 10)
            # history: ↑ brings the last command back
            await pilot.press("colon", "up")
            assert app.query_one(CommandBar).value == ":restart idle"
            await pilot.press("escape")
            # export writes the action into the incident note
            note = tmp_path / "note.md"
            await type_command(pilot, f"export {note}")
            await until(pilot, note.exists)
            text = note.read_text()
            assert "supervisor.restart" in text and "| idle |" in text
    finally:
        rpc.supervisor.stopProcess("idle")


async def test_completion_theme_filter_and_errors(demo_stack: DemoStack) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: app.monitor.snapshots["demo"].ok)
        await pilot.press("colon", "r", "e", "s")
        await until(pilot, lambda: app.query_one(CommandBar).value == ":res")
        await pilot.press("tab")
        await until(pilot, lambda: app.query_one(CommandBar).value == ":restart")
        await pilot.press("escape")
        await type_command(pilot, "theme mono")
        assert app.theme == "opsconsole-mono"
        await type_command(pilot, "filter queue")

        def names() -> set[str]:
            return {r.proc.fullname for r in app.query_one("ProgramsView").rows if r.proc}  # type: ignore[attr-defined]

        queue = {"queue:queue_00", "queue:queue_01", "queue:queue_02"}
        await until(pilot, lambda: names() == queue)
        assert app.focused is not None and app.focused.id == "program-table"
        await type_command(pilot, "restat web")
        await until(pilot, lambda: "unknown command :restat" in screen_text(pilot))
        await type_command(pilot, "audit")
        await shows(pilot, "Audit trail of this session")


async def test_palette_lists_actions_with_keys(demo_stack: DemoStack) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.monitor.snapshots["demo"].ok)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        for ch in "restart":
            await pilot.press(ch)
        text = await shows(pilot, "Programs: Restart", "key r")
        assert ":restart NAME…" in text
        await pilot.press("enter")  # the best hit: Programs: Restart, on the selected program
        await until(pilot, lambda: "Restart api?" in screen_text(pilot))
        await pilot.press("n")
