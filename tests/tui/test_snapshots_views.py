"""Snapshots of the gunicorn, nginx, logs and command-mode screens at 80x24 and 160x48, in the
default and monochrome themes, on fixed data (tests/tui/fakes.py).

The gunicorn scanner, the nginx monitor, ``nginx.inspect`` and ``nginx -t`` are replaced by
fakes returning fixed models, so nothing on this machine shows up and no time depends on the
clock. The views themselves, the app and the key paths are the real ones.

Update the baselines after an intended change with:
.venv/bin/pytest tests/tui/test_snapshots_views.py --snapshot-update
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Tree

from opsconsole.core import gunicorn as gunicorn_core
from opsconsole.core import nginx as nginx_core
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets import nginx as nginx_widget
from opsconsole.tui.widgets.commandbar import CommandBar
from opsconsole.tui.widgets.gunicorn import GunicornView
from opsconsole.tui.widgets.logs import LogsView
from opsconsole.tui.widgets.logview import LogView
from opsconsole.tui.widgets.nginx import NginxView
from tests.tui.fakes import (
    ACCESS_LOG,
    APP_LOG,
    NOW,
    FixedNginxMonitor,
    FixedScanner,
    FrozenClock,
    StaticMonitor,
    demo_inspection,
    failed_config_test,
    fake_config,
)
from tests.tui.helpers import no_probes_of_this_machine, screen_text, until

SIZES = [(80, 24), (160, 48)]
THEMES = ["opsconsole-dark", "opsconsole-mono"]
size_ids = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
themes = pytest.mark.parametrize("theme", THEMES)


@pytest.fixture(autouse=True)
def fixed_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    """UTC, and fixed models instead of what this machine runs."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(gunicorn_core, "GunicornScanner", FixedScanner)
    monkeypatch.setattr(nginx_core, "NginxMonitor", FixedNginxMonitor)
    monkeypatch.setattr(nginx_core, "inspect", demo_inspection)
    monkeypatch.setattr(nginx_core, "run_config_test", failed_config_test)
    monkeypatch.setattr(nginx_widget, "time", FrozenClock(NOW))
    no_probes_of_this_machine(monkeypatch)


def make_app(theme: str) -> OpsConsoleApp:
    cfg = fake_config(theme=theme)
    return OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="web-01")


async def ready(pilot: Any) -> None:
    """Until the supervisor snapshot, the gunicorn scan and the nginx sample and inspection
    are in (all three views fill in the background, shown or not)."""
    app = pilot.app
    gv = app.query_one(GunicornView)
    nv = app.query_one(NginxView)
    await until(pilot, lambda: app.monitor.snapshots.get("demo") is not None)
    await until(pilot, lambda: gv.scans > 0)
    await until(pilot, lambda: nv.status is not None and nv.inspection is not None)


async def show_view(pilot: Any, key: str) -> None:
    await ready(pilot)
    await pilot.press(key)
    await pilot.pause(0.1)


async def settled(pilot: Any, view: LogView, quiet: float = 0.8) -> None:
    """Until ``view`` has lines and has added none for ``quiet`` seconds (it polls its
    sources every 0.5 s)."""
    body = view.lines_widget
    count, since = -1, time.monotonic()

    def still() -> bool:
        nonlocal count, since
        if len(body.store) != count:
            count, since = len(body.store), time.monotonic()
        return count > 0 and time.monotonic() - since >= quiet

    await until(pilot, still)


def write_logs(tmp_path: Path) -> tuple[Path, Path]:
    """The two fixed logs in a directory named ``demo`` (the list shows ``demo/app.log``)."""
    folder = tmp_path / "demo"
    folder.mkdir()
    app_log, access_log = folder / "app.log", folder / "access.log"
    app_log.write_bytes(APP_LOG)
    access_log.write_bytes(ACCESS_LOG)
    return app_log, access_log


APP_LINES = APP_LOG.count(b"\n")
ACCESS_LINES = ACCESS_LOG.count(b"\n")


@size_ids
@themes
def test_gunicorn(snap_compare: Any, size: tuple[int, int], theme: str) -> None:
    """Masters under their programs, a stuck worker, a master below target, one not run by
    supervisor; the summary describes the selected master."""

    async def before(pilot: Any) -> None:
        await show_view(pilot, "2")
        view = pilot.app.query_one(GunicornView)
        await until(pilot, lambda: view.table.row_count == 10)
        text = screen_text(pilot)
        assert "◆ stuck" in text
        if size[0] >= 160:  # at 80 columns a master's flags are cut ("▼ be")
            assert "▼ below target" in text and "▲ RSS>2×median" in text

    assert snap_compare(make_app(theme), terminal_size=size, run_before=before)


@size_ids
@themes
def test_nginx_status(snap_compare: Any, size: tuple[int, int], theme: str) -> None:
    """Master, workers (one still shutting down), stub_status rate, and the extra checks."""

    async def before(pilot: Any) -> None:
        await show_view(pilot, "3")
        await until(pilot, lambda: "nginx 1.22.1" in screen_text(pilot))
        assert "11:35:00 (25m ago)" in screen_text(pilot)

    assert snap_compare(make_app(theme), terminal_size=size, run_before=before)


@size_ids
@themes
def test_nginx_test_failed(snap_compare: Any, size: tuple[int, int], theme: str) -> None:
    """``t`` runs the config test through the gate; the failure and every diagnostic with
    its file:line are listed."""

    async def before(pilot: Any) -> None:
        await show_view(pilot, "3")
        view = pilot.app.query_one(NginxView)
        await pilot.press("t")
        await until(pilot, lambda: view.last_test is not None)
        await pilot.pause(0.1)
        pilot.app.clear_notifications()  # the "Test config …" toast times out on its own
        assert 'unknown directive "proxy_passs"' in screen_text(pilot)

    assert snap_compare(make_app(theme), terminal_size=size, run_before=before)


@size_ids
@themes
def test_nginx_topology(snap_compare: Any, size: tuple[int, int], theme: str) -> None:
    """``p``: nginx → server → location → upstream/target → gunicorn → program, with the
    dead backend marked."""

    async def before(pilot: Any) -> None:
        await show_view(pilot, "3")
        await pilot.press("p")
        tree = pilot.app.query_one("#nginx-topology", Tree)
        await until(pilot, lambda: tree.has_focus and len(tree.root.children) == 3)
        await pilot.pause(0.1)

    assert snap_compare(make_app(theme), terminal_size=size, run_before=before)


@size_ids
@themes
def test_logs_file(snap_compare: Any, size: tuple[int, int], theme: str, tmp_path: Path) -> None:
    """One log open: levels tagged, the traceback kept with its error, hostile bytes inert."""
    app_log, _ = write_logs(tmp_path)

    async def before(pilot: Any) -> None:
        await show_view(pilot, "4")
        pilot.app.query_one(LogsView).open_sources([str(app_log)])
        body = pilot.app.query_one(LogView).lines_widget
        await until(pilot, lambda: len(body.store) == APP_LINES)
        await pilot.pause(0.1)
        shown = body.get_plain()
        assert "[bold red]x[/]" in shown and "\x1b" not in shown and "␀" in shown

    assert snap_compare(make_app(theme), terminal_size=size, run_before=before)


@size_ids
@themes
def test_logs_merged(snap_compare: Any, size: tuple[int, int], theme: str, tmp_path: Path) -> None:
    """An error log and an access log merged by time, with a source column."""
    app_log, access_log = write_logs(tmp_path)

    async def before(pilot: Any) -> None:
        await show_view(pilot, "4")
        pilot.app.query_one(LogsView).open_sources([str(app_log), str(access_log)])
        body = pilot.app.query_one(LogView).lines_widget
        await until(pilot, lambda: len(body.store) == APP_LINES + ACCESS_LINES)
        await pilot.pause(0.1)

    assert snap_compare(make_app(theme), terminal_size=size, run_before=before)


@size_ids
@themes
def test_command_mode(snap_compare: Any, size: tuple[int, int], theme: str) -> None:
    """``:`` opens the command line; a program name is suggested (tab accepts it)."""

    async def before(pilot: Any) -> None:
        await ready(pilot)
        await pilot.press("colon", "s", "c", "a", "l", "e", "space", "w")
        bar = pilot.app.query_one(CommandBar)
        bar.cursor_blink = False  # a blinking cursor would make the snapshot flaky
        await until(pilot, lambda: bar._suggestion == ":scale web")
        if size[0] >= 160:  # the wide program list follows the selection's log beside it
            await settled(pilot, pilot.app.query_one("#program-log", LogView))

    assert snap_compare(make_app(theme), terminal_size=size, run_before=before)
