"""The gunicorn view on the real demo stack, at 80x24, driven from the keyboard."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Footer

from opsconsole.core import gunicorn, procs
from opsconsole.core.actions import ActionGate
from opsconsole.core.config import AppConfig
from opsconsole.core.procs import ProcIdentity
from opsconsole.core.supervisor.monitor import SupervisorMonitor
from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.session import Session
from opsconsole.tui.widgets.gunicorn import GunicornView
from tests.tui.helpers import screen_text, shows, stack_config, until

pytestmark = pytest.mark.integration  # starts the demo stack


class GunicornApp(App[None]):
    """Only the gunicorn view, with the real session's request path (gate, confirm, worker)."""

    CSS_PATH = "../../opsconsole/tui/app.tcss"

    confirm = OpsConsoleApp.confirm
    pick_signal = OpsConsoleApp.pick_signal

    def __init__(self, config: AppConfig, *, read_only: bool = False) -> None:
        super().__init__()
        self.monitor = SupervisorMonitor(config.supervisors, timeout=2, refresh=0.3)
        gate = ActionGate(read_only=read_only)
        self.session = Session(config, self, monitor=self.monitor, gate=gate, audit=False)
        self.notes: list[str] = []

    def compose(self) -> ComposeResult:
        yield GunicornView(session=self.session, interval=0.3, id="gunicorn")
        yield Footer()

    async def on_mount(self) -> None:
        for name in self.monitor.clients:
            await self.monitor.poll(name)
        self.query_one("#gunicorn-table").focus()

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        self.notes.append(f"{kwargs.get('title', '')}: {message}")
        super().notify(message, **kwargs)

    async def on_unmount(self) -> None:
        await self.session.aclose()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    calls: list[tuple[int, str]] = []
    real = procs.send_signal

    def spy(identity: ProcIdentity, sig: signal.Signals) -> None:
        real(identity, sig)
        calls.append((identity.pid, sig.name.removeprefix("SIG")))

    monkeypatch.setattr(procs, "send_signal", spy)
    return calls


def pid_of(stack: DemoStack, name: str) -> int:
    return int(stack.rpc().supervisor.getProcessInfo(name)["pid"])


def master(app: GunicornApp, pid: int) -> gunicorn.Master | None:
    """The master with ``pid`` once the view has tied it to its supervisor program."""
    view = app.query_one(GunicornView)
    return next((m for m in view.masters if m.pid == pid and m.program), None)


def restore(stack: DemoStack, name: str) -> None:
    scanner = gunicorn.GunicornScanner()
    pid = pid_of(stack, name)
    m = next(m for m in scanner.scan() if m.pid == pid)
    if m.live != 2 or m.scale_base != 2:
        try:
            gunicorn.scale(m, "2", scanner=scanner, wait=True, timeout=20)
        except gunicorn.ScaleRefused:
            pass


async def test_tree_fits_80x24_and_shows_both_masters(demo_stack: DemoStack) -> None:
    app = GunicornApp(stack_config(demo_stack))
    web, api = pid_of(demo_stack, "web"), pid_of(demo_stack, "api")
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(GunicornView)
        await until(pilot, lambda: master(app, web) and master(app, api), timeout=20)
        assert view.select(f"m:{web}")
        text = await shows(pilot, "web [demo] master")
        lines = text.splitlines()
        assert max(len(ln.rstrip()) for ln in lines) <= 80
        m = master(app, web)
        assert m is not None and m.program == "web"
        assert "web [demo] master" in text
        assert "ctl ✓" in text and "configured 2" in text
        row = next(ln for ln in lines if "▾ web" in ln)
        assert str(web) in row and "2/2" in row
        assert "sync" in lines[next(i for i, ln in enumerate(lines) if "web [demo] master" in ln)]
        for w in m.workers:
            assert any(str(w.pid) in ln and "worker" in ln for ln in lines)
        # the worker rows of api follow its master row
        await pilot.press("G")
        await pilot.pause(0.1)
        assert view.select(f"m:{api}")
        await shows(pilot, "api [demo]", "ctl ✗ (signals)")


async def test_scale_up_exact_and_refuse_below_one(
    demo_stack: DemoStack, sent: list[tuple[int, str]]
) -> None:
    app = GunicornApp(stack_config(demo_stack))
    api = pid_of(demo_stack, "api")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            view = app.query_one(GunicornView)
            await until(pilot, lambda: master(app, api), timeout=20)
            view.select(f"m:{api}")
            await pilot.press("plus")
            await shows(pilot, f"Send TTIN to gunicorn master {api} (api): 2 -> 3 workers?")
            assert not sent  # nothing before the confirmation
            await pilot.press("y")
            await until(pilot, lambda: any("now runs 3 workers" in n for n in app.notes), 20)
            assert any("Undo: press = and type 2" in n for n in app.notes)
            await until(pilot, lambda: (m := master(app, api)) and m.live == 3 and m.target == 3)
            row = next(ln for ln in screen_text(pilot).splitlines() if "▾ api" in ln)
            assert "3/3" in row

            # = asks for an exact count
            view.select(f"m:{api}")
            await pilot.press("equals_sign")
            await pilot.pause(0.2)
            await pilot.press("1", "enter")
            await shows(pilot, "3 -> 1 workers")
            await pilot.press("y")
            await until(pilot, lambda: any("now runs 1 workers" in n for n in app.notes), 20)
            await until(pilot, lambda: (m := master(app, api)) and m.live == 1)

            # - at 1 is refused with the reason; no signal goes out
            before = list(sent)
            view.select(f"m:{api}")
            await pilot.press("minus")
            await until(pilot, lambda: any("Refused" in n and "at least 1" in n for n in app.notes))
            assert sent == before
            assert sent == [(api, "TTIN"), (api, "TTOU"), (api, "TTOU")]
    finally:
        restore(demo_stack, "api")


async def test_reload_and_worker_term_from_the_keyboard(
    demo_stack: DemoStack, sent: list[tuple[int, str]]
) -> None:
    app = GunicornApp(stack_config(demo_stack))
    api = pid_of(demo_stack, "api")
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(GunicornView)
        m = await until(pilot, lambda: master(app, api), timeout=20)
        old = {w.pid for w in m.workers}
        view.select(f"m:{api}")
        await pilot.press("R")
        await shows(pilot, f"Send HUP to gunicorn master {api} (api)?")
        await pilot.press("y")
        await until(pilot, lambda: any("old workers replaced" in n for n in app.notes), 40)
        m = await until(
            pilot,
            lambda: (
                (x := master(app, api))
                and x.live == 2
                and not old & {w.pid for w in x.workers}
                and x
            ),
        )
        victim = m.workers[0].pid
        assert view.select(f"w:{victim}")
        await pilot.press("K")  # the signal picker, TERM first
        await shows(pilot, "TERM", "KILL", "ABRT")
        await pilot.press("enter")
        await shows(pilot, f"Send TERM to worker {victim} of gunicorn master {api} (api)?")
        await pilot.press("y")
        await until(pilot, lambda: any("replacement" in n for n in app.notes), 10)
        await until(
            pilot,
            lambda: (
                (x := master(app, api)) and x.live == 2 and victim not in {w.pid for w in x.workers}
            ),
        )
    assert sent == [(api, "HUP"), (victim, "TERM")]


async def test_read_only_refuses_keys_without_sending(
    demo_stack: DemoStack, sent: list[tuple[int, str]]
) -> None:
    app = GunicornApp(stack_config(demo_stack), read_only=True)
    web = pid_of(demo_stack, "web")
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(GunicornView)
        m = await until(pilot, lambda: master(app, web), timeout=20)
        view.select(f"m:{web}")
        for key in ("plus", "R", "y"):
            await pilot.press(key)
        view.select(f"w:{m.workers[0].pid}")
        await pilot.press("K", "j", "enter", "y")  # KILL from the picker
        await until(pilot, lambda: sum("Refused" in n and "read-only" in n for n in app.notes) >= 3)
        await pilot.pause(0.3)
        assert sum("Refused" in n and "read-only" in n for n in app.notes) == 3
        assert sent == []
        again = master(app, web)
        assert again is not None and again.stats is not None
        assert again.stats.workers_target == 2 and again.live == 2
