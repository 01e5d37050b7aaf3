"""The incident walk-through on the real stack: the app breaks, the probe turns red, the
timeline shows it, a confirmed restart fixes it, the probe recovers, :export has all of it."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from tests.tui.helpers import screen_text, stack_config, until

pytestmark = pytest.mark.integration  # starts the demo stack


def probe_ok(app: OpsConsoleApp, name: str) -> bool | None:
    state = app.probes.states.get(name)
    return None if state is None or state.last is None else state.last.ok


def timeline(app: OpsConsoleApp) -> str:
    return "\n".join(f"{e.kind} {e.source}: {e.text}" for e in app.timeline.events)


async def type_command(pilot: Any, text: str) -> None:
    await pilot.press("colon", *[c if c != " " else "space" for c in text], "enter")
    await pilot.pause(0.1)


async def test_incident_walkthrough(demo_stack: DemoStack, tmp_path: Path) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    app.probe_interval = 0.3
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: probe_ok(app, "web") and probe_ok(app, "nginx"), 30)
        # the probe line is redrawn by a message after the round: wait for the screen itself
        await until(pilot, lambda: "✔ nginx" in screen_text(pilot).splitlines()[1], 15)
        assert "✔ nginx" in screen_text(pilot).splitlines()[1]
        try:
            urllib.request.urlopen(demo_stack.url("web", "/break"), timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 500
        await until(
            pilot, lambda: probe_ok(app, "web") is False and probe_ok(app, "nginx") is False, 10
        )
        await until(pilot, lambda: "✖ nginx 500" in screen_text(pilot).splitlines()[1], 15)
        assert "✖ nginx 500" in screen_text(pilot).splitlines()[1]
        assert "probe web: failing: HTTP 500" in timeline(app)
        await type_command(pilot, "restart web")
        assert "Restart web?" in screen_text(pilot)
        await pilot.press("y")
        await until(pilot, lambda: probe_ok(app, "web") and probe_ok(app, "nginx"), 30)
        assert "probe nginx: recovered" in timeline(app)
        note = tmp_path / "incident.md"
        await type_command(pilot, f"export {note}")
        await until(pilot, note.exists)
    text = note.read_text()
    assert "failing: HTTP 500" in text and "recovered" in text
    assert "supervisor.restart" in text and "| web |" in text
