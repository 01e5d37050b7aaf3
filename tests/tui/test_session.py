"""The session behind the views: its refreshes reach the screen coalesced (``can_replace``);
its read-only gate governs everything the console runs, below the gate too."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from typing import Any

import pytest
from textual.worker import WorkerFailed

from opsconsole.core import procs
from opsconsole.core.errors import ReadOnlyError
from opsconsole.core.procs import ProcIdentity
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.session import SessionRefreshed
from opsconsole.tui.widgets.programs import ProgramsView
from tests.tui.fakes import StaticMonitor, fake_config
from tests.tui.helpers import until


async def test_a_burst_of_refreshes_is_drawn_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten supervisords answering at once (or a slow frame) queue many refreshes; the
    program list is redrawn once for them, with the latest snapshots."""
    cfg = fake_config()
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="h")
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(ProgramsView)
        await until(pilot, lambda: view.rows)
        await pilot.pause(0.3)
        drawn: list[int] = []
        show = view.show

        def counting(*args: Any) -> None:
            drawn.append(1)
            show(*args)

        monkeypatch.setattr(view, "show", counting)
        for _ in range(50):
            app.post_message(SessionRefreshed())
        await pilot.pause(0.3)
        assert 1 <= len(drawn) <= 2, f"{len(drawn)} redraws for one burst"


@pytest.mark.integration  # starts a process to refuse to signal
async def test_a_read_only_console_refuses_below_the_gate_too() -> None:
    """A code path that forgot the gate (here: a worker signalling a process directly) is
    still refused by the signal sender in a read-only console, in the worker's thread too."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        cfg = fake_config(read_only=True)
        app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="h")
        async with app.run_test(size=(80, 24)) as pilot:
            identity = ProcIdentity.of(child.pid)

            async def forgetful() -> None:
                await asyncio.to_thread(procs.send_signal, identity, signal.SIGTERM)

            worker = app.run_worker(forgetful(), exit_on_error=False)
            with pytest.raises(WorkerFailed):
                await worker.wait()
            assert isinstance(worker.error, ReadOnlyError)
            await pilot.pause(0.1)
        assert child.poll() is None, "the signal was sent"
    finally:
        child.kill()
        child.wait()


@pytest.mark.integration  # starts a process to refuse to signal
async def test_a_read_only_console_refuses_in_its_thread_workers_too() -> None:
    """Textual runs a thread worker through the event loop's executor, which does not carry
    the caller's context: the read-only gate must still govern it (fail closed)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        cfg = fake_config(read_only=True)
        app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="h")
        async with app.run_test(size=(80, 24)) as pilot:
            identity = ProcIdentity.of(child.pid)
            worker = app.run_worker(
                lambda: procs.send_signal(identity, signal.SIGTERM),
                thread=True,
                exit_on_error=False,
            )
            with pytest.raises(WorkerFailed):
                await worker.wait()
            assert isinstance(worker.error, ReadOnlyError)
            await pilot.pause(0.1)
        assert child.poll() is None, "the signal was sent"
    finally:
        child.kill()
        child.wait()
