"""The app shell on the real demo stack: program list, header, help, read-only, errors."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from opsconsole.core.actions import ActionGate
from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.supervisor import READ_METHODS
from opsconsole.core.supervisor.monitor import SupervisorMonitor
from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from tests.tui.helpers import flat, screen_text, shows, stack_config, until


def rows(app: OpsConsoleApp) -> dict[str, str]:
    view = app.query_one("ProgramsView")
    out = {}
    for row in view.rows:  # type: ignore[attr-defined]
        if row.proc is not None:
            out[row.proc.fullname] = row.proc.statename
    return out


async def test_program_list_shows_the_stack_within_3_s(demo_stack: DemoStack) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(rows(app)) >= 8, timeout=3)
        text = screen_text(pilot)
        for name, state in [
            ("web", "RUNNING"),
            ("api", "RUNNING"),
            ("flaky", "FATAL"),
            ("idle", "STOPPED"),
            ("nginx", "RUNNING"),
        ]:
            line = next(ln for ln in text.splitlines() if f" {name} " in ln)
            assert state in line, line
        assert "queue" in text and "queue_01" in text
        assert "RUNNING" in text.splitlines()[0]  # per-state counts in the header
        assert "READ-ONLY" not in text


async def test_help_lists_every_binding(demo_stack: DemoStack) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.press("question_mark")
        await shows(pilot, "Keys", "Start", "Stop", "Restart", "Signal", "Filter", "Quit", "Mark")
        await pilot.press("escape")
        await until(pilot, lambda: "Keys" not in screen_text(pilot))


async def test_read_only_refuses_before_any_request(demo_stack: DemoStack) -> None:
    cfg = stack_config(demo_stack, read_only=True)
    sent: list[str] = []
    monitor = SupervisorMonitor(cfg.supervisors, timeout=1, refresh=0.3, read_only=True)
    for client in monitor.clients.values():
        client.on_send = sent.append
    gate = ActionGate(read_only=True)
    app = OpsConsoleApp(cfg, monitor=monitor, gate=gate, audit=False)
    pid_before = demo_stack.rpc().supervisor.getProcessInfo("web")["pid"]
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "web" in rows(app))
        assert "READ-ONLY" in screen_text(pilot).splitlines()[0]
        view = app.query_one("ProgramsView")
        table = app.query_one("#program-table")
        target = next(i for i, r in enumerate(view.rows) if r.proc and r.proc.name == "web")  # type: ignore[attr-defined]
        table.move_cursor(row=target)  # type: ignore[attr-defined]
        for key in ("x", "y", "r", "y", "s", "C", "y", "u", "y"):
            await pilot.press(key)
        await pilot.pause(0.5)
    assert sent, "the console kept polling"
    assert set(sent) <= READ_METHODS, f"mutating calls left the process: {set(sent) - READ_METHODS}"
    assert [r.result for r in gate.history] and {r.result for r in gate.history} == {"refused"}
    assert demo_stack.rpc().supervisor.getProcessInfo("web")["pid"] == pid_before


async def test_restart_from_the_console_with_confirmation(demo_stack: DemoStack) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    rpc = demo_stack.rpc()
    rpc.supervisor.startProcess("idle")
    before = rpc.supervisor.getProcessInfo("idle")["pid"]
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: rows(app).get("idle") == "RUNNING")
            view = app.query_one("ProgramsView")
            idx = next(i for i, r in enumerate(view.rows) if r.proc and r.proc.name == "idle")  # type: ignore[attr-defined]
            app.query_one("#program-table").move_cursor(row=idx)  # type: ignore[attr-defined]
            await pilot.press("r")
            await shows(pilot, "Restart idle?")
            await pilot.press("n")  # declined: nothing happens
            await pilot.pause(0.3)
            assert rpc.supervisor.getProcessInfo("idle")["pid"] == before
            await pilot.press("r")
            await pilot.pause(0.1)
            await pilot.press("y")
            await until(pilot, lambda: rpc.supervisor.getProcessInfo("idle")["pid"] != before, 10)
            await until(
                pilot, lambda: "restart: ok" in "\n".join(e.text for e in app.timeline.events)
            )
    finally:
        rpc.supervisor.stopProcess("idle")


async def test_wrong_password_opens_and_explains(demo_stack: DemoStack) -> None:
    cfg = stack_config(demo_stack)
    cfg.supervisors[0].password = "not-the-password"
    app = OpsConsoleApp(cfg, audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "was rejected" in flat(screen_text(pilot)))
        text = screen_text(pilot)
        assert "auth failed" in text.splitlines()[0]
        assert "not-the-password" not in text
        assert "Traceback" not in text


async def test_missing_socket_keeps_retrying(tmp_path: Path) -> None:
    cfg2 = AppConfig(
        supervisors=[SupervisorTarget("local", f"unix://{tmp_path}/supervisor.sock")],
        refresh=0.2,
    )
    app = OpsConsoleApp(cfg2, audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "does not exist" in flat(screen_text(pilot)))
        first = app.monitor.snapshots["local"].at
        await until(pilot, lambda: app.monitor.snapshots["local"].at > first)
        text = screen_text(pilot)
        assert "is supervisord running?" in flat(text) and "retrying" in text
        await pilot.press("5")  # still answers keys
        await pilot.pause(0.1)
        assert app.query_one("ContentSwitcher").current == "events"


@pytest.mark.integration  # starts a stack of its own
async def test_supervisord_stopped_and_killed_then_back() -> None:
    stack = DemoStack(with_nginx=False).start()
    try:
        app = OpsConsoleApp(stack_config(stack), audit=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "web" in rows(app))
            assert stack.supervisord is not None
            os.kill(stack.supervisord.pid, signal.SIGSTOP)
            try:
                await until(
                    pilot, lambda: "not responding" in screen_text(pilot).splitlines()[0], 15
                )
                await pilot.press("5")
                await pilot.pause(0.05)
                assert app.query_one("ContentSwitcher").current == "events"
                await pilot.press("1")
            finally:
                os.kill(stack.supervisord.pid, signal.SIGCONT)
            await until(pilot, lambda: app.monitor.snapshots["demo"].ok, 15)
            stack.supervisord.kill()
            stack.supervisord.wait()
            await until(pilot, lambda: "unreachable" in screen_text(pilot).splitlines()[0], 15)
            stack.launch_supervisord()
            await until(pilot, lambda: stack.socket_path.exists(), 10)
            # supervisord answers as soon as its socket is up; the console must follow within 2 s
            while not _answering(stack):
                await pilot.pause(0.05)
            t0 = time.monotonic()
            await until(pilot, lambda: app.monitor.snapshots["demo"].ok, 5)
            assert time.monotonic() - t0 < 2.0
            events = "\n".join(e.text for e in app.timeline.events)
            assert "reachable again" in events
    finally:
        stack.stop()


def _answering(stack: DemoStack) -> bool:
    try:
        stack.rpc().supervisor.getState()
        return True
    except Exception:
        return False


async def test_several_supervisords_one_down(demo_stack: DemoStack, tmp_path: Path) -> None:
    cfg = stack_config(demo_stack)
    cfg.supervisors.append(
        SupervisorTarget("viahttp", demo_stack.http_url, demo_stack.username, demo_stack.password)
    )
    cfg.supervisors.append(SupervisorTarget("gone", f"unix://{tmp_path}/gone.sock"))
    app = OpsConsoleApp(cfg, audit=False)
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one("ProgramsView")

        def servers_with_rows() -> set[str]:
            return {r.server for r in view.rows if r.proc is not None}  # type: ignore[attr-defined]

        await until(pilot, lambda: servers_with_rows() == {"demo", "viahttp"})
        text = screen_text(pilot)
        assert "[demo]" in text and "[viahttp]" in text
        assert "gone: supervisord socket" in flat(text) and "does not exist" in flat(text)
        header = text.splitlines()[0]
        assert "gone ✖ unreachable" in header


async def test_notifications_show_hostile_text_literally(demo_stack: DemoStack) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        app.query_one("ProgramsView").notify("no such program: [bold red]x[/] [link=http://e]y")
        # On a loaded machine the first frames take a while: wait for the toast, do not sleep.
        await until(
            pilot, lambda: "[bold red]x[/] [link=http://e]y" in flat(screen_text(pilot)), 10
        )


async def test_server_info_key(demo_stack: DemoStack) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await until(pilot, lambda: app.monitor.snapshots["demo"].info is not None)
        await pilot.press("i")
        text = flat(await shows(pilot, "state RUNNING"))
        assert demo_stack.supervisord is not None
        assert f"pid {demo_stack.supervisord.pid}" in text and "state RUNNING" in text
        assert "supervisor 4." in text and ", up 0:" in text


async def test_start_up_objects_are_frozen_out_of_collections_until_the_console_ends(
    demo_stack: DemoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the console has settled, what it made so far (modules, widgets, the first
    programs) is collected once and kept out of every later full collection, which walked
    them all again about once a minute at idle; the program list goes on changing; and a
    console run inside another program (here pytest) leaves that program's heap as it was."""
    import gc

    import opsconsole.tui.app as app_module

    monkeypatch.setattr(app_module, "GC_FREEZE_AFTER", 0.5)
    assert gc.get_freeze_count() == 0
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(rows(app)) >= 8, timeout=10)
        await until(pilot, lambda: gc.get_freeze_count() > 10_000, timeout=10)
        assert gc.isenabled()  # what is made from now on is collected as before
        rpc = demo_stack.rpc().supervisor
        rpc.startProcess("idle")
        try:
            await until(pilot, lambda: rows(app).get("idle") == "RUNNING", timeout=10)
        finally:
            rpc.stopProcess("idle")
    assert gc.get_freeze_count() == 0
