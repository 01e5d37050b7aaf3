"""``make screenshots``: SVGs of each main screen, driven against the real demo stack.

Usage: python -m opsconsole.demo.screenshots OUTPUT_DIR
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.gunicorn import GunicornScanner, Master
from opsconsole.core.supervisor import ProcessInfo
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


def _worker_stuck(app: OpsConsoleApp) -> bool:
    from opsconsole.tui.widgets.gunicorn import GunicornView

    masters = app.query_one(GunicornView).masters
    return _gunicorn_shown(app) and any("stuck" in w.flags for m in masters for w in m.workers)


def _nginx_shown(app: OpsConsoleApp) -> bool:
    """A request rate with some history (one sample every 1.5 s)."""
    from opsconsole.tui.widgets.nginx import NginxView

    view = app.query_one(NginxView)
    return view.status is not None and len(view.status.rps_history) >= 8


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


def _events_shown(app: OpsConsoleApp) -> bool:
    """The changes :func:`stir` makes have been seen by the app."""
    states = {p.fullname: p.statename for p in app.monitor.snapshots["demo"].processes}
    return (
        states.get("idle") == "STOPPED"
        and states.get("flaky") == "FATAL"
        and len(app.timeline.events) >= 6
    )


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
    #: run (in a thread) once the app shows the stack, before the keys: something to see
    during: Callable[[DemoStack], None] | None = None
    #: an extra nginx conf.d file present while the shot is taken (removed afterwards)
    nginx_conf: str | None = None
    #: a few requests a second through nginx while the shot is taken
    traffic: bool = False
    #: wait for gunicorn masters tied to their programs (a hidden view rescans every 5 s)
    gunicorn: bool = False


#: A typo in an included file: ``nginx -t`` names it with file and line.
TYPO_CONF = """\
server {
    listen 127.0.0.1:{port};
    server_name typo.local;
    location / {
        proxy_pass http://127.0.0.1:{port};
        proxy_set_headr Host $host;
    }
}
"""

SHOTS: list[Shot] = [
    Shot("programs-80x24", []),
    Shot("programs-160x48", [], (160, 48)),
    Shot("help", ["question_mark"]),
    Shot("confirm-restart", ["down", "r"]),
    Shot("events", ["5"], ready=_events_shown, during=lambda stack: stir(stack)),
    Shot("gunicorn-80x24", ["2"], ready=_gunicorn_shown, gunicorn=True),
    # a request that sleeps 25 s keeps a sync worker of web from its heartbeat: stuck
    Shot(
        "gunicorn-160x48",
        ["2"],
        (160, 48),
        ready=_worker_stuck,
        during=lambda stack: slow_request(stack, "web", 25),
        gunicorn=True,
    ),
    # the second source of the list: api's stderr (gunicorn's error log goes there)
    Shot(
        "logs-program",
        ["4", "down", "enter"],
        ready=_log_shown,
        during=lambda stack: requests(stack, "api", "/log?n=3", "/error"),
        gunicorn=True,
    ),
    # stdout, stderr, error log and access log of web, merged by time
    Shot(
        "logs-merged",
        [*typed(":logs web"), "enter"],
        (160, 48),
        ready=_log_shown,
        during=lambda stack: requests(stack, "web", "/", "/error", "/health"),
        gunicorn=True,
    ),
    Shot("command-completion", typed(":scale w"), ready=_suggested),
    Shot("nginx", ["3"], ready=_nginx_shown, traffic=True),
    Shot(
        "nginx-test-failed",
        ["3", "t"],
        ready=_nginx_tested,
        nginx_conf=TYPO_CONF,
        traffic=True,
    ),
    Shot("nginx-topology", ["3", "p"], (160, 48), ready=_topology_shown, traffic=True),
]


def _get(url: str, timeout: float = 5.0) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
    except urllib.error.HTTPError:
        pass  # a 500 is what /error is for
    except OSError:
        pass


def requests(stack: DemoStack, program: str, *paths: str) -> None:
    """GET each path from ``program`` (web, api or nginx) directly."""
    for path in paths:
        _get(stack.url(program, path))


def slow_request(stack: DemoStack, program: str, seconds: int) -> None:
    """Start a request that keeps one worker of ``program`` busy for ``seconds`` (in the
    background; returns at once)."""
    url = stack.url(program, f"/slow?s={seconds}")
    threading.Thread(target=_get, args=(url, seconds + 5.0), daemon=True).start()


def make_history(stack: DemoStack) -> None:
    """A start and a stop, so idle has a stop time in the program list."""
    rpc = stack.rpc()
    rpc.supervisor.startProcess("idle")
    rpc.supervisor.stopProcess("idle")


def stir(stack: DemoStack) -> None:
    """Changes for the events view: a start and a stop, a worker killed (supervisord
    restarts it), a program that fails to start again."""
    rpc = stack.rpc()
    calls: list[tuple[str, tuple[object, ...]]] = [
        ("startProcess", ("idle",)),
        ("signalProcess", ("queue:queue_01", "KILL")),
        ("startProcess", ("flaky", False)),
    ]
    for method, args in calls:
        try:
            getattr(rpc.supervisor, method)(*args)
        except xmlrpc.client.Fault:
            pass  # flaky may answer SPAWN_ERROR: failing is what it is for
    time.sleep(1.5)
    rpc.supervisor.stopProcess("idle")


class DemoOnlyScanner(GunicornScanner):
    """Only the masters the demo's supervisord runs: gunicorns of other stacks on this
    machine (a test run, say) stay out of the pictures."""

    def scan(
        self,
        programs: Sequence[ProcessInfo] = (),
        commands: Mapping[str, str] | None = None,
        *,
        full: bool = False,
    ) -> list[Master]:
        masters = super().scan(programs, commands, full=full)
        return [m for m in masters if m.program is not None]


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
    """Supervisor polled with CPU samples, nginx sampled and inspected."""
    from opsconsole.tui.widgets.nginx import NginxView

    nginx_view = app.query_one(NginxView)
    nginx_done = nginx_view.status is not None and (
        not nginx_view.status.running or nginx_view.inspection is not None
    )
    return app.monitor.snapshots["demo"].ok and bool(app.session.usage) and nginx_done


def _masters_tied(app: OpsConsoleApp) -> bool:
    """The gunicorn view has the demo's masters, tied to their programs."""
    from opsconsole.tui.widgets.gunicorn import GunicornView

    masters = app.query_one(GunicornView).masters
    return bool(masters) and all(m.program is not None for m in masters)


async def take(stack: DemoStack, shot: Shot, out: Path) -> Path:
    """Start the app on the stack, press the shot's keys, wait until it shows, save it."""
    from textual.widgets import Input
    from textual.worker import WorkerFailed

    from opsconsole.tui.app import OpsConsoleApp

    cfg = AppConfig(
        supervisors=[SupervisorTarget("demo", stack.socket_url, stack.username, stack.password)],
        refresh=0.5,
    )
    extra = stack.nginx_dir / "conf.d" / "typo.conf"
    if shot.nginx_conf is not None and stack.nginx_bin:
        extra.write_text(shot.nginx_conf.replace("{port}", str(stack.ports["web"])))
    app = OpsConsoleApp(cfg, audit=False)
    traffic = Traffic(stack) if shot.traffic else contextlib.nullcontext()
    path = out / f"{shot.stem}.svg"
    written = False
    try:
        with traffic:
            async with app.run_test(size=shot.size) as pilot:
                app.session.machine.scanner = DemoOnlyScanner()  # the host scans for the view
                if not await _until(pilot, _filled, 15):
                    print(f"warning: {shot.stem}: the views did not fill within 15 s")
                if shot.gunicorn and not await _until(pilot, _masters_tied, 15):
                    print(f"warning: {shot.stem}: no gunicorn masters within 15 s")
                await pilot.pause(1.2)  # a second CPU sample
                if shot.during is not None:
                    await asyncio.to_thread(shot.during, stack)
                for key in shot.keys:
                    await pilot.press(key)
                    await pilot.pause(0.3)
                if shot.ready is not None and not await _until(pilot, shot.ready, 30):
                    print(f"warning: {shot.stem}: the screen did not fill within 30 s")
                await pilot.pause(0.5)
                app.clear_notifications()  # "Test config …" and other passing toasts
                for box in app.query(Input):
                    box.cursor_blink = False  # a still image: show the cursor
                await pilot.pause(0.2)
                path.write_text(app.export_screenshot(title=f"opsconsole — {shot.stem}"))
                written = True
    except WorkerFailed as exc:
        if not written:
            raise
        # the picture is saved; a failure while the app shuts down must not lose the others
        print(f"warning: {shot.stem}: the app failed while closing: {exc}")
    finally:
        extra.unlink(missing_ok=True)
    return path


async def shoot(stack: DemoStack, out: Path) -> list[Path]:
    written = []
    for shot in SHOTS:
        started = time.monotonic()
        written.append(await take(stack, shot, out))
        print(f"wrote {written[-1]} ({time.monotonic() - started:.1f} s)")
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with DemoStack() as stack:
        make_history(stack)
        asyncio.run(shoot(stack, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
