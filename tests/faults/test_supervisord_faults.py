"""supervisord failing under the console: it keeps answering keys, says what is wrong in plain
words, and recovers by itself when the fault clears."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from tests.faults.common import keys_still_work
from tests.tui.helpers import flat, screen_text, shows, stack_config, until

pytestmark = pytest.mark.integration  # starts supervisord (the demo stack and stacks of its own)


async def test_socket_replaced_by_a_file_then_restored() -> None:
    stack = DemoStack(with_nginx=False).start()
    moved = stack.dir / "moved.sock"
    try:
        app = OpsConsoleApp(stack_config(stack), audit=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.monitor.snapshots["demo"].ok)
            os.rename(stack.socket_path, moved)
            stack.socket_path.write_text("not a socket\n")
            await until(
                pilot, lambda: "supervisor.sock is not a socket" in flat(screen_text(pilot)), 5
            )
            await keys_still_work(pilot)
            stack.socket_path.unlink()
            os.rename(moved, stack.socket_path)
            await until(pilot, lambda: app.monitor.snapshots["demo"].ok, 5)
            # the screen follows the snapshot with a message: wait for the redraw
            await until(pilot, lambda: "is not a socket" not in flat(screen_text(pilot)), 5)
    finally:
        stack.stop()


async def test_password_changed_under_us() -> None:
    stack = DemoStack(with_nginx=False).start()
    conf = stack.conf_path
    original = conf.read_text()
    try:
        app = OpsConsoleApp(stack_config(stack), audit=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.monitor.snapshots["demo"].ok)
            conf.write_text(re.sub(r"password=\S+", "password=rotated-elsewhere", original))
            assert stack.supervisord is not None
            os.kill(stack.supervisord.pid, signal.SIGHUP)  # supervisord reloads its config
            await until(pilot, lambda: "was rejected" in flat(screen_text(pilot)), 15)
            assert "auth failed" in screen_text(pilot).splitlines()[0]
            assert "rotated-elsewhere" not in screen_text(pilot)
            await keys_still_work(pilot)
            conf.write_text(original)
            os.kill(stack.supervisord.pid, signal.SIGHUP)
            await until(pilot, lambda: app.monitor.snapshots["demo"].ok, 15)
    finally:
        stack.stop()


async def test_rapid_resizes_keep_selection(demo_stack: DemoStack) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one("ProgramsView")
        await until(pilot, lambda: len(view.rows) > 5)  # type: ignore[attr-defined]
        for _ in range(3):
            await pilot.press("j")
        selected = view.current_key()  # type: ignore[attr-defined]
        for i in range(40):
            await pilot.resize_terminal(40 + (i * 37) % 160, 10 + (i * 13) % 50)
        await pilot.resize_terminal(80, 24)
        await shows(pilot, "RUNNING")
        assert view.current_key() == selected  # type: ignore[attr-defined]
        await keys_still_work(pilot)
        assert "RUNNING" in screen_text(pilot)


async def test_starts_at_40x10(demo_stack: DemoStack, tmp_path: Path) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(40, 10)) as pilot:
        await until(pilot, lambda: app.monitor.snapshots["demo"].ok)
        # counts squeeze into the header
        await until(pilot, lambda: "RUNNING" in (t := screen_text(pilot)) or "FATAL" in t)
        await keys_still_work(pilot)
        await pilot.press("question_mark")
        await shows(pilot, "Keys")
