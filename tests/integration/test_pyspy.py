"""A stuck gunicorn worker's stack read with py-spy, without killing it: a real gunicorn whose
one worker is stuck in a known function, read through LocalHost and the CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from opsconsole.core import actions
from opsconsole.core.config import AppConfig
from opsconsole.core.gunicorn import stack
from opsconsole.core.host import OperationRequest, OperationResult
from opsconsole.core.local import LocalHost
from opsconsole.demo.stack import free_port
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.screens.stack import StackViewer
from opsconsole.tui.widgets.gunicorn import GunicornView
from tests.conftest import wait_for
from tests.tui.fakes import StaticMonitor, fake_config
from tests.tui.helpers import screen_text, until

pytestmark = pytest.mark.integration

APP = textwrap.dedent(
    """\
    import time


    def spin_forever_marker():
        while True:
            time.sleep(0.05)


    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/spin":
            spin_forever_marker()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    """
)


@dataclass
class Stuck:
    master: int
    worker: int


@pytest.fixture(scope="module")
def stuck_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stuck]:
    problem = stack.ptrace_problem(os.getpid())
    if problem is not None:
        pytest.skip(f"ptrace is not permitted on this machine: {problem}")
    d = tmp_path_factory.mktemp("pyspy")
    (d / "stuckapp.py").write_text(APP)
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "300",  # the master leaves the stuck worker alone for the test
            "--name",
            "stuck",
            "--no-control-socket",
            "stuckapp:app",
        ],
        cwd=d,
        env=dict(os.environ, XDG_RUNTIME_DIR=str(d)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = socket.socket()
    try:
        worker = wait_for(lambda: psutil.Process(proc.pid).children(), timeout=30)[0].pid
        # a request that never ends: the worker sits in spin_forever_marker from now on
        wait_for(lambda: client.connect_ex(("127.0.0.1", port)) == 0, timeout=20)
        client.sendall(b"GET /spin HTTP/1.0\r\nHost: x\r\n\r\n")
        yield Stuck(proc.pid, worker)
    finally:
        client.close()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


async def _stack(pid: int, read_only: bool = False) -> OperationResult:
    host = LocalHost(AppConfig(read_only=read_only), gate=actions.ActionGate(read_only=read_only))
    async with host:
        result = await host.perform(OperationRequest("gunicorn.stack", str(pid)))
    if result.ok:  # a stack read is in the audit trail (who looked at which worker)
        assert [(r.action, r.result) for r in host.gate.history] == [("gunicorn.stack", "ok")]
    return result


def test_dump_shows_the_function_the_worker_is_stuck_in(stuck_worker: Stuck) -> None:
    async def read_only() -> OperationResult:
        # a read: allowed in read-only mode (and audited), it changes nothing
        return await _stack(stuck_worker.worker, read_only=True)

    def dumped() -> OperationResult | None:
        result = asyncio.run(read_only())
        assert result.ok, result.message
        return result if "spin_forever_marker" in str(result.data["text"]) else None

    result = wait_for(dumped, timeout=30, interval=0.3)
    data = result.data
    assert data["worker_pid"] == stuck_worker.worker and data["master_pid"] == stuck_worker.master
    assert "stuckapp.py" in str(data["text"])
    # not killed: the same worker is still there
    assert psutil.Process(stuck_worker.master).children()[0].pid == stuck_worker.worker


def test_a_master_pid_is_refused_in_words(stuck_worker: Stuck) -> None:
    result = asyncio.run(_stack(stuck_worker.master))
    assert result.outcome == "failed" and result.error is not None
    assert result.message == f"pid {stuck_worker.master} is a gunicorn master, not a worker"


def test_cli_prints_the_stack_with_the_worker_and_its_master(stuck_worker: Stuck) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "opsconsole", "stack", str(stuck_worker.worker)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith(f"worker {stuck_worker.worker}  up ")
    assert f"gunicorn master {stuck_worker.master}" in first
    assert "spin_forever_marker" in out.stdout


def test_without_py_spy_it_says_why_and_offers_abrt(
    stuck_worker: Stuck, monkeypatch: pytest.MonkeyPatch
) -> None:
    # py-spy is a dev dependency here: hide it to see what a machine without it says
    monkeypatch.setattr(stack, "find_pyspy", lambda: None)
    result = asyncio.run(_stack(stuck_worker.worker))
    assert result.outcome == "failed" and result.error is not None
    assert "py-spy is not installed" in result.message
    assert "opsconsole[debug]" in result.error.hint and "ABRT" in result.error.hint
    assert psutil.pid_exists(stuck_worker.worker)


async def test_s_in_the_gunicorn_view_shows_the_stack_and_offers_abrt_without_py_spy(
    stuck_worker: Stuck, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = fake_config()
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="web-01")
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(GunicornView)
        await pilot.press("2")
        await until(pilot, lambda: view.select(f"w:{stuck_worker.worker}"), 20)
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, StackViewer), 20)
        await until(pilot, lambda: "spin_forever_marker" in screen_text(pilot), 10)
        assert screen_text(pilot).startswith(f" worker {stuck_worker.worker}  up ")
        await pilot.press("escape")
        # without py-spy: the reason, and ABRT (which kills it) as the one question
        monkeypatch.setattr(stack, "find_pyspy", lambda: None)
        await until(pilot, lambda: not isinstance(app.screen, StackViewer))
        assert view.select(f"w:{stuck_worker.worker}")
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 20)
        text = screen_text(pilot)
        assert "Send ABRT to worker" in text and "py-spy is not installed" in text
        assert "ABRT prints its stack to the error log but kills it" in text
        await pilot.press("n")
    assert psutil.pid_exists(stuck_worker.worker)
