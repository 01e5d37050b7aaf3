"""Snapshots of each main screen at 80x24 and 160x48, default and monochrome themes.

Update the baselines after an intended change with: .venv/bin/pytest tests/tui --snapshot-update
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from opsconsole.core.events import Event
from opsconsole.tui.app import OpsConsoleApp
from tests.tui.fakes import NOW, StaticMonitor, fake_config, unreachable
from tests.tui.helpers import no_probes_of_this_machine

SIZES = [(80, 24), (160, 48)]
THEMES = ["opsconsole-dark", "opsconsole-mono"]


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    no_probes_of_this_machine(monkeypatch)  # nothing this machine runs shows up


def make_app(theme: str, read_only: bool = False, error: bool = False) -> OpsConsoleApp:
    cfg = fake_config(theme=theme, read_only=read_only)
    monitor = StaticMonitor(cfg, error=unreachable() if error else None)
    app = OpsConsoleApp(cfg, monitor=monitor, audit=False, host="web-01")
    return app


async def settle(pilot: Any) -> None:
    await pilot.pause(0.3)


def add_events(app: OpsConsoleApp) -> None:
    for i, (kind, level, source, text) in enumerate(
        [
            ("state", "warning", "worker", "RUNNING → EXITED (exit status 1)"),
            ("state", "error", "flaky", "BACKOFF → FATAL"),
            ("action", "info", "web", "restart: ok"),
            ("restart", "warning", "queue:queue_02", "restarted: pid 4104 → 4110"),
            ("server", "error", "demo", "supervisord socket does not exist"),
        ]
    ):
        app.timeline.events.append(Event(NOW + i * 7, kind, level, source, text))
        app.query_one("EventsView").add(app.timeline.events[-1])  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_programs(snap_compare: Any, size: tuple[int, int], theme: str) -> None:
    assert snap_compare(make_app(theme), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_help(snap_compare: Any, size: tuple[int, int], theme: str) -> None:
    assert snap_compare(
        make_app(theme), terminal_size=size, press=["question_mark"], run_before=settle
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_events(snap_compare: Any, size: tuple[int, int], theme: str) -> None:
    async def before(pilot: Any) -> None:
        await settle(pilot)
        add_events(pilot.app)
        await pilot.press("5")
        await pilot.pause(0.1)

    assert snap_compare(make_app(theme), terminal_size=size, run_before=before)


@pytest.mark.parametrize("theme", THEMES)
def test_read_only_and_unreachable(snap_compare: Any, theme: str) -> None:
    assert snap_compare(
        make_app(theme, read_only=True, error=True), terminal_size=(80, 24), run_before=settle
    )


@pytest.mark.parametrize("theme", THEMES)
def test_confirm_dialog(snap_compare: Any, theme: str) -> None:
    assert snap_compare(
        make_app(theme), terminal_size=(80, 24), press=["down", "down", "x"], run_before=settle
    )
