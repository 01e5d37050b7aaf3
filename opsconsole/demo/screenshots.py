"""``make screenshots``: SVGs of each main screen, driven against the real demo stack.

Usage: python -m opsconsole.demo.screenshots OUTPUT_DIR
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.demo.stack import DemoStack

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from opsconsole.tui.app import OpsConsoleApp


def typed(text: str) -> list[str]:
    """The key presses that type ``text`` (``:`` opens command mode)."""
    names = {" ": "space", ":": "colon"}
    return [names.get(ch, ch) for ch in text]


def _gunicorn_shown(app: OpsConsoleApp) -> bool:
    from opsconsole.tui.widgets.gunicorn import GunicornView

    view = app.query_one(GunicornView)
    return bool(view.rows) and all(len(m.workers) == m.live for m in view.masters)


def _nginx_shown(app: OpsConsoleApp) -> bool:
    from opsconsole.tui.widgets.nginx import NginxView

    view = app.query_one(NginxView)
    return view.status is not None and view.status.rps is not None


def _nginx_tested(app: OpsConsoleApp) -> bool:
    from opsconsole.tui.widgets.nginx import NginxView

    view = app.query_one(NginxView)
    return view.last_test is not None and view.inspection is not None


def _topology_shown(app: OpsConsoleApp) -> bool:
    from textual.widgets import Tree

    return bool(app.query_one("#nginx-topology", Tree).root.children)


def _log_shown(app: OpsConsoleApp) -> bool:
    from opsconsole.tui.widgets.logview import LogView

    return len(app.query_one(LogView).lines_widget.store) > 0


def _suggested(app: OpsConsoleApp) -> bool:
    from opsconsole.tui.widgets.commandbar import CommandBar

    return bool(app.query_one(CommandBar)._suggestion)


@dataclass
class Shot:
    """One screenshot: keys pressed from the program list, then ``ready`` is awaited."""

    stem: str
    keys: list[str]
    size: tuple[int, int] = (80, 24)
    ready: Callable[[OpsConsoleApp], bool] | None = None
    #: an extra nginx conf.d file present while the shot is taken (removed afterwards)
    nginx_conf: str | None = None


#: A typo in an included file: ``nginx -t`` names it with file and line.
TYPO_CONF = """\
server {
    listen 127.0.0.1:{port};
    server_name typo.local;
    location / {
        proxy_passs http://127.0.0.1:{port};
    }
}
"""

SHOTS: list[Shot] = [
    Shot("programs-80x24", []),
    Shot("programs-160x48", [], (160, 48)),
    Shot("help", ["question_mark"]),
    Shot("confirm-restart", ["down", "r"]),
    Shot("events", ["5"]),
    Shot("gunicorn-80x24", ["2"], ready=_gunicorn_shown),
    Shot("gunicorn-160x48", ["2"], (160, 48), ready=_gunicorn_shown),
    Shot("nginx", ["3"], ready=_nginx_shown),
    Shot("nginx-test-failed", ["3", "t"], ready=_nginx_tested, nginx_conf=TYPO_CONF),
    Shot("nginx-topology", ["3", "T"], (160, 48), ready=_topology_shown),
    # the second source of the list: api's stderr (gunicorn's error log goes there)
    Shot("logs-program", ["4", "down", "enter"], ready=_log_shown),
    # stdout, stderr, error log and access log of web, merged by time
    Shot("logs-merged", [*typed(":logs web"), "enter"], (160, 48), ready=_log_shown),
    Shot("command-completion", typed(":scale w"), ready=_suggested),
]


def _get(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
    except urllib.error.HTTPError:
        pass  # a 500 is what /error is for
    except OSError:
        pass


def make_history(stack: DemoStack) -> None:
    """Some events and log lines to look at: a start and a stop, app log lines, a 500 with
    its traceback in web's and api's logs, a 404."""
    rpc = stack.rpc()
    rpc.supervisor.startProcess("idle")
    rpc.supervisor.stopProcess("idle")
    for path in ("/", "/health", "/error", "/missing/page"):
        _get(stack.url("web", path))
    for path in ("/log?n=3", "/error", "/"):
        _get(stack.url("api", path))


class Traffic:
    """A few requests a second through nginx, so its request rate is not zero."""

    def __init__(self, stack: DemoStack) -> None:
        self.stack = stack
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        paths = ["/", "/api/", "/health", "/static/missing.css"]
        i = 0
        while not self.stop.wait(0.15):
            _get(self.stack.url("nginx", paths[i % len(paths)]))
            i += 1

    def __enter__(self) -> Traffic:
        if self.stack.nginx_bin:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(5)


async def _until(
    pilot: Pilot[None], predicate: Callable[[OpsConsoleApp], bool], timeout: float
) -> bool:
    app: OpsConsoleApp = pilot.app  # type: ignore[assignment]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate(app):
            return True
        await pilot.pause(0.1)
    return False


def _filled(app: OpsConsoleApp) -> bool:
    """Supervisor polled with CPU samples, gunicorn scanned, nginx sampled and inspected."""
    from opsconsole.tui.widgets.gunicorn import GunicornView
    from opsconsole.tui.widgets.nginx import NginxView

    nginx_view = app.query_one(NginxView)
    nginx_done = nginx_view.status is not None and (
        not nginx_view.status.running or nginx_view.inspection is not None
    )
    return (
        app.monitor.snapshots["demo"].ok
        and bool(app.usage)
        and bool(app.query_one(GunicornView).masters)
        and nginx_done
    )


async def take(stack: DemoStack, shot: Shot, out: Path) -> Path:
    """Start the app on the stack, press the shot's keys, wait until it shows, save it."""
    from textual.widgets import Input

    from opsconsole.tui.app import OpsConsoleApp

    cfg = AppConfig(
        supervisors=[SupervisorTarget("demo", stack.socket_url, stack.username, stack.password)],
        refresh=0.5,
    )
    extra = stack.nginx_dir / "conf.d" / "typo.conf"
    if shot.nginx_conf is not None and stack.nginx_bin:
        extra.write_text(shot.nginx_conf.replace("{port}", str(stack.ports["web"])))
    app = OpsConsoleApp(cfg, audit=False)
    try:
        async with app.run_test(size=shot.size) as pilot:
            await _until(pilot, _filled, 10)
            await pilot.pause(1.2)  # a second CPU sample
            for key in shot.keys:
                await pilot.press(key)
                await pilot.pause(0.3)
            if shot.ready is not None and not await _until(pilot, shot.ready, 15):
                print(f"warning: {shot.stem}: the screen did not fill within 15 s")
            await pilot.pause(0.5)
            app.clear_notifications()  # "Test config …" and other passing toasts
            for box in app.query(Input):
                box.cursor_blink = False  # a still image: show the cursor
            await pilot.pause(0.2)
            path = out / f"{shot.stem}.svg"
            path.write_text(app.export_screenshot(title=f"opsconsole — {shot.stem}"))
            return path
    finally:
        extra.unlink(missing_ok=True)


async def shoot(stack: DemoStack, out: Path) -> list[Path]:
    return [await take(stack, shot, out) for shot in SHOTS]


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with DemoStack() as stack:
        make_history(stack)
        with Traffic(stack):
            for path in asyncio.run(shoot(stack, out)):
                print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
