"""The config diff viewer and the stack viewer at 80x24 (no processes: the diff is made from
two configs in memory by the same code the host uses), and the rollback refused read-only in
the whole app before anything is fetched or asked."""

from __future__ import annotations

import time
from typing import Any

import pytest
from textual.app import App

from opsconsole.core.config import NginxSettings
from opsconsole.core.nginx.history import ConfigDiff, ConfigFile, diff_files
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.screens.diff import DiffViewer
from opsconsole.tui.screens.stack import StackViewer
from opsconsole.tui.widgets.nginx import NginxView
from opsconsole.tui.widgets.nginx_history import rollback_detail
from tests.integration.test_nginx_history import OwnNginx
from tests.integration.test_nginx_history import own_nginx as own_nginx  # the fixture
from tests.tui.fakes import StaticMonitor, fake_config
from tests.tui.helpers import screen_text, until, use_fixed_backends

GOOD = [
    ConfigFile("/etc/nginx/nginx.conf", b"events {}\nhttp {\n    include conf.d/*.conf;\n}\n"),
    ConfigFile("/etc/nginx/conf.d/site.conf", b"server {\n    listen 80;\n    return 200;\n}\n"),
]
NOW = [
    GOOD[0],
    ConfigFile("/etc/nginx/conf.d/site.conf", b"server {\n    lisen 80;\n    return 200;\n}\n"),
    ConfigFile("/etc/nginx/conf.d/zz-new.conf", b"# new\n"),
]


def a_diff() -> ConfigDiff:
    files, same = diff_files(GOOD, NOW)
    good = {"at": time.time() - 60, "user": "alice", "result": "reloaded-verified", "id": "x"}
    return ConfigDiff(good, files, same, "disk", False, fingerprint="f" * 16)


class Host(App[None]):
    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.viewer = screen
        self.choice: str | None = "unset"

    def on_mount(self) -> None:
        def closed(choice: str | None) -> None:
            self.choice = choice

        self.push_screen(self.viewer, callback=closed)


async def test_diff_viewer_shows_each_file_with_line_numbers_and_offers_rollback() -> None:
    app = Host(DiffViewer(a_diff(), "nginx (demo:nginx)", offer_rollback=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(pilot)
        title = text.splitlines()[0]
        assert "2 file(s) differ from the good config of" in title and "(alice)" in title
        assert "file 1/2" in title and "U roll back to it" in text
        assert "nginx -t fails now" in text
        # file by file, old and new line numbers in the gutter
        assert "/etc/nginx/conf.d/site.conf  changed  +1 -1" in text
        assert "    2       -     listen 80;" in text
        assert "          2 +     lisen 80;" in text
        assert "/etc/nginx/conf.d/zz-new.conf  added since (a rollback leaves it)" in text
        await pilot.press("right_square_bracket")
        assert "file 2/2" in screen_text(pilot)
        await pilot.press("U")
        await pilot.pause()
        assert app.choice == "rollback"


async def test_diff_viewer_without_a_good_config_offers_nothing() -> None:
    diff = ConfigDiff(None, [], 2, "nginx -T", True)
    app = Host(DiffViewer(diff, "nginx", offer_rollback=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(pilot)
        assert "no last good config yet" in text and "nothing to" in text
        assert "U roll back" not in text
        await pilot.press("U")
        await pilot.pause()
        assert app.choice == "unset" and isinstance(app.screen, DiffViewer)
        await pilot.press("escape")
        await pilot.pause()
        assert app.choice is None


def test_the_confirmation_lists_the_files_written_back_and_left() -> None:
    text = rollback_detail(a_diff())
    assert "(alice)" in text
    assert "/etc/nginx/conf.d/site.conf (the current one kept as site.conf.rejected)" in text
    assert "Left as they are (added since): /etc/nginx/conf.d/zz-new.conf" in text
    assert "nginx.conf" not in text  # unchanged: not written
    assert "nginx -t" in text


async def test_stack_viewer_title_names_worker_age_and_master() -> None:
    data = {
        "worker_pid": 4242,
        "worker_age": 125.0,
        "worker_flags": ["stuck"],
        "master_label": "gunicorn master 4240 (web)",
        "text": 'Thread 4242 (idle): "MainThread"\n    spin (app.py:4)\n    app (app.py:9)\n',
    }
    app = Host(StackViewer(data))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(pilot)
        assert "worker 4242  up 2m  [stuck]  of gunicorn master 4240 (web)" in text
        assert "spin (app.py:4)" in text


async def test_rollback_is_refused_read_only_before_anything_is_fetched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_fixed_backends(monkeypatch)
    cfg = fake_config(read_only=True)
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="web-01")
    sent: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        original = app.session.machine.perform

        async def perform(request: Any) -> Any:
            sent.append(request.operation)
            return await original(request)

        monkeypatch.setattr(app.session.machine, "perform", perform)
        view = app.query_one(NginxView)
        await pilot.press("3")
        await until(pilot, lambda: view.instance is not None, 10)
        await pilot.press("U")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, (ConfirmScreen, DiffViewer))
        assert sent == []  # not even the diff was fetched
        refusals = [(r.action, r.result) for r in app.session.gate.history]
        assert refusals == [("nginx.rollback", "refused")]
        # the diff itself is a read: allowed, and its viewer offers no rollback
        await pilot.press("d")
        await until(pilot, lambda: "nginx.diff" in sent, 5)


@pytest.mark.integration  # a real nginx of its own
async def test_after_a_failed_reload_u_shows_the_diff_then_rolls_back(
    own_nginx: OwnNginx,
) -> None:
    own = own_nginx
    cfg = fake_config()
    cfg.nginx = NginxSettings(config=str(own.conf))
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="web-01")
    good = own.site.read_bytes()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(NginxView)
        await pilot.press("3")
        await until(pilot, lambda: view.instance is not None and view.instance.running, 10)
        await pilot.press("R")  # the config serving now becomes the last good one
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: view.last_reload is not None, 20)
        assert view.last_reload is not None and view.last_reload.ok
        own.site.write_bytes(good.replace(b"listen", b"lissen"))
        view.last_reload = None
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: view.last_reload is not None, 20)
        # offered with the failure: the notification names the keys
        assert any("U: roll back to it" in n.message for n in app._notifications)
        await pilot.press("U")
        await until(pilot, lambda: isinstance(app.screen, DiffViewer), 10)
        text = screen_text(pilot)
        assert "1 file(s) differ" in text and "+ " in text and "lissen" in text
        await pilot.press("U")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        # the dialog is drawn a frame after it is pushed (a loaded machine shows the gap)
        await until(pilot, lambda: "site.conf.rejected" in screen_text(pilot), 10)
        # a long temp path wraps inside the dialog (where depends on its length): the whole of
        # what is asked is the dialog's text
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen) and str(own.site) in dialog.detail
        assert f"{own.site} (the current one kept as site.conf.rejected)" in dialog.detail
        await pilot.press("y")
        await until(pilot, lambda: "rolled back to the config of" in screen_text(pilot), 20)
    assert own.site.read_bytes() == good
    assert [r.action for r in app.session.gate.history][-1] == "nginx.rollback"
