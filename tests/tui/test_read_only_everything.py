"""Read-only mode, proven for the whole app.

Pilot drives every binding of every view and every ``:`` command in read-only mode, answering
``y`` to anything that asks. The spies sit at the lowest layers, below the action gate, so a
mutating path that bypassed the gate would be caught here:
- every XML-RPC method sent to supervisord (the transport's allowlist),
- every signal (``os.kill`` and psutil's senders),
- every gunicorn control-socket command,
- every subprocess started (no ``nginx -s``),
and the real stack is checked unchanged afterwards.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Any

import psutil
import pytest

from opsconsole.core.commands import COMMANDS
from opsconsole.core.gunicorn import control as gunicorn_ctl
from opsconsole.core.supervisor import READ_METHODS
from opsconsole.core.supervisor.monitor import SupervisorMonitor
from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.widgets.gunicorn import GunicornView
from opsconsole.tui.widgets.logs import LogsView
from opsconsole.tui.widgets.logview import LogView
from opsconsole.tui.widgets.nginx import NginxView
from opsconsole.tui.widgets.programs import ProgramsView
from tests.tui.helpers import burst, stack_config, until

pytestmark = pytest.mark.integration  # starts the demo stack

#: sample arguments for each command (every entry of COMMANDS must be here)
COMMAND_LINES = {
    "start": "start idle",
    "stop": "stop web",
    "restart": ["restart all", "restart --rolling web"],
    "signal": "signal HUP web",
    "update": "update",
    "scale": "scale web 3",
    "reload": "reload web",
    "nginx": ["nginx test", "nginx reload", "nginx status", "nginx diff", "nginx rollback"],
    "logs": "logs web",
    "filter": "filter web",
    "theme": "theme mono",
    "view": "view programs",
    "export": None,  # writes a file, changes nothing: covered in test_command_mode
    "audit": "audit",
    "hosts": "hosts",  # one host here: said in words, nothing else
    "host": ["host web-01", "host all"],
    "help": "help",
    "q": None,
    "quit": None,
}


class Spies:
    def __init__(self) -> None:
        self.rpc: list[str] = []
        self.signals: list[tuple[int, int]] = []
        self.ctl: list[str] = []
        self.processes: list[list[str]] = []


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> Spies:
    spy = Spies()

    real_kill = os.kill

    def kill(pid: int, sig: int) -> None:
        if sig == 0:  # delivers nothing: only asks whether the pid exists (psutil.pid_exists)
            real_kill(pid, 0)
            return
        spy.signals.append((pid, sig))  # recorded, never sent

    monkeypatch.setattr(os, "kill", kill)
    for name in ("send_signal", "kill", "terminate", "suspend", "resume"):
        monkeypatch.setattr(
            psutil.Process, name, lambda self, *a, _n=name: spy.signals.append((self.pid, -1))
        )
    original = gunicorn_ctl.ControlClient.command

    def command(self: Any, cmd: str, args: list[str] | None = None) -> Any:
        spy.ctl.append(" ".join([cmd, *(args or [])]))
        return original(self, cmd, args)

    monkeypatch.setattr(gunicorn_ctl.ControlClient, "command", command)
    real_exec = asyncio.create_subprocess_exec
    real_popen = subprocess.Popen.__init__

    async def create_exec(*argv: Any, **kw: Any) -> Any:
        spy.processes.append([str(a) for a in argv])
        return await real_exec(*argv, **kw)

    def popen(self: Any, argv: Any, *a: Any, **kw: Any) -> None:
        spy.processes.append([str(x) for x in (argv if isinstance(argv, list) else [argv])])
        real_popen(self, argv, *a, **kw)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", create_exec)
    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    return spy


def stack_state(stack: DemoStack) -> dict[str, Any]:
    procs = {
        p["name"]: (p["statename"], p["pid"]) for p in stack.rpc().supervisor.getAllProcessInfo()
    }
    web = psutil.Process(procs["web"][1])
    nginx = psutil.Process(procs["nginx"][1])
    return {
        "programs": procs,
        "web_workers": sorted(c.pid for c in web.children()),
        "nginx_workers": sorted(c.pid for c in nginx.children()),
    }


async def answer_everything(pilot: Any) -> None:
    """Say yes to whatever asks, fill any prompt, then close what is left open."""
    app: OpsConsoleApp = pilot.app
    for _ in range(6):
        await pilot.pause(0.05)
        screen = app.screen
        if isinstance(screen, ConfirmScreen):
            await pilot.press("y")
        elif type(screen).__name__ == "PickScreen":
            await pilot.press("enter")
        elif type(screen).__name__ == "CountScreen":
            await pilot.press("3", "enter")
        elif len(app.screen_stack) > 1 or type(app.focused).__name__ in ("Input", "CommandBar"):
            await pilot.press("escape")
        else:
            return


def keys_of(bindings: list[Any]) -> list[str]:
    keys = []
    for b in bindings:
        key = b.key.split(",")[0]
        if key not in ("q", "ctrl+c", "tab", "colon", "question_mark", "escape"):
            keys.append(key)
    return keys


async def test_nothing_changes_in_read_only_mode(demo_stack: DemoStack, spies: Spies) -> None:
    cfg = stack_config(demo_stack, read_only=True)
    monitor = SupervisorMonitor(cfg.supervisors, timeout=2, refresh=0.3, read_only=True)
    for client in monitor.clients.values():
        client.on_send = spies.rpc.append
    before = stack_state(demo_stack)
    app = OpsConsoleApp(cfg, monitor=monitor, audit=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: monitor.snapshots["demo"].ok)
        gv = app.main.query_one(GunicornView)
        nv = app.main.query_one(NginxView)
        # discovery walks every process of this machine: slow while it is loaded
        await until(pilot, lambda: any(m.program == "web" for m in gv.masters), 30)
        await until(pilot, lambda: nv.instance is not None, 30)
        pressed = 0
        plan = [
            ("1", ProgramsView.BINDINGS, ["G"]),
            ("2", GunicornView.BINDINGS, ["g", "j"]),  # on a worker: K has a target
            ("2", GunicornView.BINDINGS, ["g"]),  # on a master: + - = R
            ("3", NginxView.BINDINGS, []),
            ("4", LogsView.BINDINGS, ["G"]),
            ("4", LogView.BINDINGS, ["enter", "tab"]),
        ]
        for view_key, bindings, setup in plan:
            for key in keys_of(bindings):
                await pilot.press(view_key, *setup)
                await pilot.press(key)
                await answer_everything(pilot)
                pressed += 1
        for lines in COMMAND_LINES.values():
            for line in [lines] if isinstance(lines, str) else lines or []:
                # typed as one burst (proven to reach the command bar whole in
                # test_new_user_bugs): a wait for the app to go idle after each character
                # made this walk take minutes
                await pilot.press("colon")  # the bar opens, then the line comes as a burst
                await burst(pilot, *[c if c != " " else "space" for c in line])
                typed = getattr(app.focused, "value", None)
                assert typed == f":{line}", f"the command bar holds {typed!r}, not ':{line}'"
                await pilot.press("enter")
                await answer_everything(pilot)
                pressed += 1
        await pilot.pause(1.0)  # let any background work that was started finish
    assert set(COMMAND_LINES) == set(COMMANDS), "every command is exercised"
    assert pressed > 40
    mutating = sorted(set(spies.rpc) - READ_METHODS)
    assert spies.rpc and not mutating, f"mutating XML-RPC sent: {mutating}"
    assert spies.signals == [], f"signals sent: {spies.signals}"
    changing = [c for c in spies.ctl if c.split()[0] not in gunicorn_ctl.READ_COMMANDS]
    assert changing == [], f"control-socket commands sent: {changing}"
    assert not [p for p in spies.processes if "-s" in p], "an nginx -s ... was started"
    assert stack_state(demo_stack) == before
