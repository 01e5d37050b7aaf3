"""The nginx view inside the real app, on the demo stack's nginx, at 80x24."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher

from opsconsole.core import nginx
from opsconsole.core.config import NginxSettings
from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.widgets.nginx import ConfigViewer, NginxView
from tests.tui.helpers import screen_text, shows, stack_config, until

pytestmark = pytest.mark.integration


@asynccontextmanager
async def nginx_app(
    stack: DemoStack, read_only: bool = False
) -> AsyncIterator[tuple[OpsConsoleApp, Pilot[Any], NginxView]]:
    config = stack_config(stack, read_only=read_only)
    config.nginx = NginxSettings(config=str(stack.nginx_conf))
    app = OpsConsoleApp(config, audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(NginxView)
        view.refresh_interval = 0.5
        await pilot.press("3")
        # press() returns once the app looks idle: on a loaded machine that can be before
        # the key was handled (the process got no CPU, which looks the same)
        await until(pilot, lambda: app.query_one(ContentSwitcher).current == "nginx")
        await until(pilot, lambda: view.status is not None and view.status.running, timeout=20)
        yield app, pilot, view


def _workers(stack: DemoStack) -> set[int]:
    inst = nginx.discover(NginxSettings(config=str(stack.nginx_conf)))
    assert inst.master_pid is not None
    return nginx.worker_pids(inst.master_pid)


@pytest.fixture
def conf_d(demo_stack: DemoStack) -> Any:
    directory = demo_stack.nginx_dir / "conf.d"
    yield directory
    for path in directory.glob("zz-tui-*.conf"):
        path.unlink()


async def test_status_fits_80x24(demo_stack: DemoStack) -> None:
    async with nginx_app(demo_stack) as (app, pilot, view):
        workers = _workers(demo_stack)
        await until(pilot, lambda: view.status is not None and view.status.rps is not None)
        text = screen_text(pilot)
        assert view.status is not None and view.status.instance.master_pid is not None
        assert f"master {view.status.instance.master_pid}" in text
        assert "program nginx" in text and "nginx 1." in text
        for pid in workers:
            assert str(pid) in text
        assert "req/s" in text and "act " in text
        # traffic shows up as requests/s and in the sparkline
        for _ in range(20):
            httpx.get(demo_stack.url("nginx", "/static/index.html"), timeout=5)
        await until(pilot, lambda: view.status is not None and (view.status.rps or 0) > 0)
        assert max(app.query_one("NginxView").spark_data or [0]) > 0
        assert "Test" in text and "Reload" in text  # footer keys


async def test_broken_config_diagnostic_opens_viewer_at_the_line(
    demo_stack: DemoStack, conf_d: Path
) -> None:
    bad = conf_d / "zz-tui-bad.conf"
    bad.write_text("server {\n    listen 127.0.0.1:1;\n    lisen 80;\n}\n")
    async with nginx_app(demo_stack) as (app, pilot, view):
        await pilot.press("t")
        await until(pilot, lambda: view.last_test is not None)
        text = screen_text(pilot)
        assert "zz-tui-bad.conf:3" in text and "lisen" in text
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfigViewer))
        viewer = app.screen
        assert isinstance(viewer, ConfigViewer)
        assert viewer.path == str(bad) and viewer.line == 3
        await shows(pilot, "zz-tui-bad.conf:3", "3 lisen 80;")
        await pilot.press("slash", *"listen", "enter")
        await shows(pilot, "/listen 1/1")
        assert viewer.matches == [2] and viewer.line == 2
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfigViewer))


async def test_reload_asks_then_reloads_and_refuses_a_broken_config(
    demo_stack: DemoStack, conf_d: Path
) -> None:
    async with nginx_app(demo_stack) as (app, pilot, view):
        before = _workers(demo_stack)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        text = screen_text(pilot)
        assert "nginx -t" in text and "SIGHUP" in text and "old one serving" in text
        await pilot.press("y")
        await until(pilot, lambda: view.last_reload is not None, timeout=12)
        assert view.last_reload is not None and view.last_reload.ok
        after = _workers(demo_stack)
        assert after.isdisjoint(before)
        await until(pilot, lambda: "reloaded" in screen_text(pilot))

        (conf_d / "zz-tui-bad.conf").write_text("server {\n  lisen 80;\n}\n")
        view.last_reload = None
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: view.last_reload is not None, timeout=12)
        assert view.last_reload is not None and view.last_reload.status == "refused"
        assert _workers(demo_stack) == after  # no signal was sent
        text = screen_text(pilot)
        assert "no signal sent" in text and "zz-tui-bad.conf:2" in text


async def test_read_only_refuses_reload(demo_stack: DemoStack) -> None:
    async with nginx_app(demo_stack, read_only=True) as (app, pilot, view):
        before = _workers(demo_stack)
        await pilot.press("R")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        assert _workers(demo_stack) == before
        await pilot.press("t")  # testing is not mutating: allowed
        await until(pilot, lambda: view.last_test is not None and view.last_test.ok)


async def test_topology_tree(demo_stack: DemoStack) -> None:
    async with nginx_app(demo_stack) as (app, pilot, view):
        await pilot.press("p")
        # the topology reads nginx -T, every master and supervisord: slow on a loaded machine
        await until(pilot, lambda: view.inspection is not None, 40)
        tree = app.query_one("#nginx-topology")
        await until(pilot, lambda: tree.has_focus)
        labels = [n.label for n in view.inspection.topology.walk()] if view.inspection else []
        assert "supervisor program web" in labels
        text = screen_text(pilot)
        assert "server demo.local" in text and "proxy_pass http://127.0.0.1:" in text
        await pilot.press("p")
        assert app.query_one("#nginx-diags").has_focus


async def test_l_opens_the_logs_the_config_names(demo_stack: DemoStack) -> None:
    async with nginx_app(demo_stack) as (app, pilot, _view):
        await pilot.press("l")
        await until(pilot, lambda: app.query_one(ContentSwitcher).current == "logs")
        from opsconsole.tui.widgets.logs import LogsView

        keys = " ".join(app.query_one(LogsView).open_keys)
        assert str(demo_stack.nginx_dir / "logs" / "error.log") in keys
        assert str(demo_stack.nginx_dir / "logs" / "access.log") in keys
