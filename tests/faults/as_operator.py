"""Run the console as an ordinary operator account, for faults root cannot see.

Root reads every file and signals every process, so "permission denied" faults need the
console to run as someone else: when the tests run as root, :func:`run` starts this module in
a child process that drops to ``nobody`` (uid 65534) before the console starts; otherwise the
child runs as the current user (the test then makes the files unreadable to itself).

The interpreter may live where ``nobody`` cannot read (pyenv under /root), so the child starts
as root, imports everything and runs the console once without the fault (a warm-up that
loads every lazily imported module), and only then drops all its privileges for good.

The child drives the real :class:`OpsConsoleApp` headless with Pilot and talks to the test
over its stdin/stdout: ``STEP <name>`` asks the test to change the world (clear the fault)
and waits for ``go``; ``RESULT <json>`` is what the operator saw. Usage (from a test)::

    seen = run("nginx-unreadable", conf_path, steps={"fix": lambda: conf_dir.chmod(0o755)})
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

NOBODY = 65534
REPO = Path(__file__).resolve().parents[2]


def drops_privileges() -> bool:
    return os.geteuid() == 0


def _drop() -> None:
    """Become ``nobody`` for good (no saved root uid to return to)."""
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)


def run(
    scenario: str,
    *args: str,
    steps: dict[str, Callable[[], None]] | None = None,
    timeout: float = 90.0,
) -> dict[str, Any]:
    """Run ``scenario`` in a child console; call ``steps[name]()`` when it asks; return its
    RESULT. Fails (AssertionError with the child's output) if it ends without one."""
    steps = steps or {}
    home = Path(os.environ.get("TMPDIR", "/tmp"))
    env = dict(os.environ, HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    env["OPSCONSOLE_FAULT_DROP"] = "1" if drops_privileges() else ""
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        env.pop(var, None)
    env["XDG_CONFIG_HOME"] = "/nonexistent/config"  # no user config; audit stays off
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.as_operator", scenario, *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    result: dict[str, Any] | None = None
    seen: list[str] = []
    try:
        assert proc.stdout is not None and proc.stdin is not None
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("STEP "):
                steps[line.split()[1]]()
                proc.stdin.write("go\n")
                proc.stdin.flush()
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
        proc.wait(timeout=10)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read() if proc.stderr is not None else ""
    assert result is not None, f"the console run ended without a result:\n{''.join(seen)}{err}"
    return result


# --------------------------------------------------------------------------- child side


async def _step(name: str) -> None:
    import asyncio

    print(f"STEP {name}", flush=True)
    await asyncio.to_thread(sys.stdin.readline)


def _events(app: Any) -> str:
    return "\n".join(f"{e.level} {e.text}" for e in app.timeline.events)


async def _record_fault(pilot: Any, app: Any, out: dict[str, Any]) -> None:
    """What the operator sees once the fault shows; then the keys still answer."""
    from tests.faults.common import keys_still_work
    from tests.tui.helpers import screen_text

    await pilot.pause(0.2)
    out["fault_screen"] = screen_text(pilot)
    out["fault_events"] = _events(app)
    await keys_still_work(pilot)
    await pilot.press("3")


async def _nginx(conf: str, mode: str) -> dict[str, Any]:
    from opsconsole.core.config import AppConfig, NginxSettings
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.widgets.nginx import NginxView
    from tests.tui.helpers import screen_text, until

    cfg = AppConfig(nginx=NginxSettings(config=conf), refresh=0.3)
    app = OpsConsoleApp(cfg, audit=False)
    out: dict[str, Any] = {"uid": os.geteuid()}
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("3")
        view = app.query_one(NginxView)
        await until(pilot, lambda: view.status is not None and view.status.running, 30)
        out["master_pid"] = view.status.instance.master_pid if view.status else None
        if mode == "unreadable":
            await pilot.press("t")
            await until(pilot, lambda: "test config: error" in _events(app), 15)
            await _record_fault(pilot, app, out)
            out["status_after_fault"] = bool(view.status and view.status.running)
            await _step("fix")
            await pilot.press("t")
            await until(pilot, lambda: view.last_test is not None and view.last_test.ok, 15)
            await pilot.pause(0.2)
            out["fixed_screen"] = screen_text(pilot)
        else:  # another user's master: reload is refused by the kernel (EPERM)
            await pilot.press("R")
            await until(pilot, lambda: "Reload nginx" in screen_text(pilot), 5)
            await pilot.press("y")
            await until(pilot, lambda: "reload: error" in _events(app), 20)
            await _record_fault(pilot, app, out)
            await pilot.pause(2.0)  # a refresh or two after the refusal
            out["status_after_fault"] = bool(view.status and view.status.running)
    return out


async def _log(path: str, total: str) -> dict[str, Any]:
    from opsconsole.core.config import AppConfig
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.widgets.logs import LogsView
    from tests.faults.common import keys_still_work
    from tests.tui.helpers import flat, screen_text, until

    app = OpsConsoleApp(AppConfig(refresh=0.3), audit=False)
    out: dict[str, Any] = {"uid": os.geteuid()}
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        logs = app.query_one(LogsView)
        logs.open_sources([path])
        await until(pilot, lambda: "no permission to read" in flat(screen_text(pilot)), 10)
        out["fault_screen"] = screen_text(pilot)
        stream = logs.log_view.stream
        errors = stream.errors.values() if stream is not None else []
        out["fault_errors"] = [f"{e.message} | {e.hint}" for e in errors]
        await pilot.press("j", "k", "G")
        await keys_still_work(pilot)
        await pilot.press("4")
        await _step("fix")
        store = logs.log_view.lines_widget.store
        await until(pilot, lambda: len(store) >= int(total), 10)
        await pilot.pause(0.5)  # nothing more (no repeats) comes after
        out["lines"] = [line.text for line in store]
        out["fixed_screen"] = screen_text(pilot)
        logs.log_view.set_sources([])  # stop following before the app exits
        await pilot.pause(0.1)
    return out


def _import_all() -> None:
    import importlib
    import pkgutil

    for name in ("textual", "rich", "opsconsole", "httpx", "httpcore", "psutil", "crossplane"):
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if info.name.endswith("__main__") or ".demo" in info.name or "._sleep" in info.name:
                continue
            try:
                importlib.import_module(info.name)
            except Exception:  # optional extras (tree-sitter …) may be missing
                continue


async def _warm_up(scenario: str, args: list[str]) -> None:
    """Run the console once, as root and without the fault, through the same views."""
    from opsconsole.core.config import AppConfig, NginxSettings
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.widgets.logs import LogsView
    from tests.tui.helpers import screen_text

    nginx = NginxSettings(config=args[0]) if scenario.startswith("nginx") else NginxSettings()
    app = OpsConsoleApp(AppConfig(nginx=nginx, refresh=0.3), audit=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        for key in ("2", "3", "4", "5", "1", "3"):
            await pilot.press(key)
        await pilot.pause(0.3)
        if scenario.startswith("nginx"):
            await pilot.press("t")
            await pilot.pause(0.5)
            await pilot.press("R")
            await pilot.pause(0.2)
            await pilot.press("n")  # declined: nothing is sent
        else:
            await pilot.press("4")
            app.query_one(LogsView).open_sources([__file__])
            await pilot.pause(0.3)
            app.query_one(LogsView).log_view.set_sources([])
        app.notify("warm-up", severity="error", title="warm-up")
        await pilot.pause(0.2)
        screen_text(pilot)


def main(argv: list[str]) -> int:
    import asyncio

    scenario, args = argv[0], argv[1:]
    if os.environ.get("OPSCONSOLE_FAULT_DROP"):
        _import_all()
        asyncio.run(_warm_up(scenario, args))
        _drop()
    if scenario == "nginx-unreadable":
        result = asyncio.run(_nginx(args[0], "unreadable"))
    elif scenario == "nginx-eperm":
        result = asyncio.run(_nginx(args[0], "eperm"))
    elif scenario == "log-unreadable":
        result = asyncio.run(_log(args[0], args[1]))
    else:
        print(f"unknown scenario {scenario}", file=sys.stderr)
        return 2
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
