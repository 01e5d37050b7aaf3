"""Alerts on a real supervisord of their own (the shared stack is left alone): a program
made FATAL produces exactly one alert per destination, carrying its last log lines, and one
recovery when it runs again; a real webhook receiver on loopback and a real command (a small
python script writing its stdin to a file) receive them. ``opsconsole watch`` does the same
headless and ends cleanly on SIGTERM. A webhook's token never shows in what is reported."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import xmlrpc.client
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from opsconsole.core.alerts import AlertManager, parse_rules
from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.local import LocalHost
from opsconsole.core.metrics.poll import Poller
from opsconsole.demo.stack import _UnixTransport, free_port
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

TOKEN = "s3cr3t-T0KEN"

WRITER = """\
import os, sys, time
data = sys.stdin.buffer.read()
out = os.path.join(sys.argv[1], f"event-{time.time_ns()}.json")
with open(out + ".tmp", "wb") as fh:
    fh.write(data)
os.rename(out + ".tmp", out)
"""


class Supervisord:
    """A small real supervisord with one program that fails to start while a file exists."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.broken = root / "broken"
        self.sock = root / "supervisor.sock"
        (root / "logs").mkdir()
        conf = root / "supervisord.conf"
        conf.write_text(
            textwrap.dedent(
                f"""
                [unix_http_server]
                file={self.sock}
                chmod=0700

                [supervisord]
                logfile={root}/logs/supervisord.log
                pidfile={root}/supervisord.pid
                nodaemon=true

                [rpcinterface:supervisor]
                supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

                [program:app]
                command=/bin/sh -c 'if [ -e {self.broken} ]; then echo "app: cannot open \
database: connection refused" >&2; echo "app: giving up" >&2; exit 3; fi; exec sleep 3600'
                startsecs=1
                startretries=0
                autorestart=false
                stdout_logfile={root}/logs/app.out.log
                stderr_logfile={root}/logs/app.err.log
                """
            )
        )
        binary = Path(sys.executable).parent / "supervisord"
        self.proc = subprocess.Popen(
            [str(binary), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(lambda: self.state() == "RUNNING", timeout=30)

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    def rpc(self) -> Any:
        return xmlrpc.client.ServerProxy(
            "http://localhost", transport=_UnixTransport(str(self.sock))
        )

    def state(self) -> str | None:
        try:
            return str(self.rpc().supervisor.getProcessInfo("app")["statename"])
        except (OSError, xmlrpc.client.Error):
            return None

    def make_fatal(self) -> None:
        self.broken.touch()
        self.rpc().supervisor.stopProcess("app", True)
        try:
            self.rpc().supervisor.startProcess("app", False)
        except xmlrpc.client.Fault as fault:  # SPAWN_ERROR when it fails at once: expected
            assert "SPAWN_ERROR" in fault.faultString
        wait_for(lambda: self.state() == "FATAL", timeout=30)

    def fix(self) -> None:
        self.broken.unlink()
        self.rpc().supervisor.startProcess("app", False)
        wait_for(lambda: self.state() == "RUNNING", timeout=30)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Receiver:
    """A webhook receiver on loopback: keeps every POST body (JSON)."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{TOKEN}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def supervisord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervisord]:
    sup = Supervisord(tmp_path_factory.mktemp("alerts-sup"))
    try:
        yield sup
    finally:
        sup.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def events_in(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("event-*.json"))]


def rules_for(receiver: Receiver, outdir: Path, writer: Path) -> list[dict[str, Any]]:
    return [
        {"name": "script", "on": ["FATAL"], "command": [sys.executable, str(writer), str(outdir)]},
        {"name": "hook", "on": ["fatal"], "webhook": receiver.url, "log_lines": 5},
    ]


def test_fatal_program_gives_one_alert_with_its_log_and_one_recovery(
    supervisord: Supervisord, receiver: Receiver, tmp_path: Path
) -> None:
    writer = tmp_path / "writer.py"
    writer.write_text(WRITER)
    outdir = tmp_path / "out"
    outdir.mkdir()
    reported: list[tuple[str, str, str]] = []
    manager = AlertManager(
        parse_rules(rules_for(receiver, outdir, writer)),
        lambda *line: reported.append(line),
    )
    config = AppConfig(supervisors=[SupervisorTarget("alerts", supervisord.url)], read_only=True)

    async def rounds(until: Any, most: int = 200) -> None:
        for _ in range(most):
            await poller.refresh_programs()
            manager.evaluate(poller)
            await manager.drain()
            if until():
                return
            await asyncio.sleep(0.1)
        raise AssertionError("condition not met")

    async def run() -> None:
        nonlocal poller
        async with LocalHost(config, name="alerts-host") as host:
            poller = Poller(host)
            await rounds(lambda: True)  # the program runs: nothing to say
            assert not manager.sent
            await asyncio.to_thread(supervisord.make_fatal)
            await rounds(lambda: len(manager.sent) >= 2)
            for _ in range(5):  # still FATAL: no second alert
                await rounds(lambda: True)
            await asyncio.to_thread(supervisord.fix)
            await rounds(lambda: len(manager.sent) >= 4)
            for _ in range(5):  # running: nothing more
                await rounds(lambda: True)

    poller: Poller
    asyncio.run(run())

    by_dest = {"script": events_in(outdir), "hook": receiver.received}
    for name, events in by_dest.items():
        assert [(e["kind"], e["state"]) for e in events] == [
            ("fatal", "open"),
            ("fatal", "recovered"),
        ], name
        opened = events[0]
        assert opened["subject"] == "app" and opened["host"] == "alerts-host"
        assert "FATAL" in opened["summary"]
        assert opened["log"]["lines"][-2:] == [
            "app: cannot open database: connection refused",
            "app: giving up",
        ], name
    assert len(receiver.received[0]["log"]["lines"]) <= 5  # the rule's log_lines
    sent = [r for r in reported if "sent to" in r[2]]
    assert len(sent) == 4, reported
    assert all(TOKEN not in text for _, _, text in reported)
    assert any("webhook http://127.0.0.1:" in text for _, _, text in reported)


def test_watch_headless_alerts_and_ends_on_sigterm(
    supervisord: Supervisord, tmp_path: Path
) -> None:
    writer = tmp_path / "writer.py"
    writer.write_text(WRITER)
    outdir = tmp_path / "out"
    outdir.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [[supervisor]]
            name = "alerts"
            url = "{supervisord.url}"

            [[alert]]
            name = "script"
            on = ["fatal"]
            command = [{json.dumps(sys.executable)}, {json.dumps(str(writer))},
                       {json.dumps(str(outdir))}]
            """
        )
    )
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsconsole", "--config", str(config), "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert supervisord.state() == "RUNNING"
        supervisord.make_fatal()
        wait_for(lambda: len(events_in(outdir)) >= 1, timeout=60)
        supervisord.fix()
        wait_for(lambda: len(events_in(outdir)) >= 2, timeout=60)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert [(e["kind"], e["state"]) for e in events_in(outdir)] == [
        ("fatal", "open"),
        ("fatal", "recovered"),
    ]
    alert_lines = [line for line in err.splitlines() if "alert script" in line]
    assert len(alert_lines) == 2, err
    assert "stopped" in err.splitlines()[-1]


class HeadlessUI:
    """What a Session needs of its app, without a screen: workers are asyncio tasks."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    def notify(self, *args: Any, **kwargs: Any) -> None:
        pass

    def confirm(self, *args: Any) -> None:
        raise AssertionError("nothing here asks a question")

    def pick_signal(self, *args: Any) -> None:
        raise AssertionError("nothing here picks a signal")

    def post_message(self, message: Any) -> bool:
        return True

    def run_worker(self, work: Any, name: str | None = "", group: str = "default") -> Any:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.append(task)
        return task


def test_the_console_session_sends_alerts_and_puts_them_on_its_timeline(
    supervisord: Supervisord, receiver: Receiver
) -> None:
    from opsconsole.tui.session import Session

    config = AppConfig(
        supervisors=[SupervisorTarget("alerts", supervisord.url)],
        alerts=[{"name": "hook", "on": ["fatal"], "webhook": receiver.url}],
    )
    ui = HeadlessUI()

    async def run() -> list[tuple[str, str, str]]:
        session = Session(config, ui, audit=False)
        session.start()
        try:

            async def until(predicate: Any) -> None:
                for _ in range(600):
                    if predicate():
                        return
                    await asyncio.sleep(0.05)
                raise AssertionError("condition not met")

            def alerts() -> list[tuple[str, str, str]]:
                return [
                    (e.level, e.source, e.text)
                    for e in session.timeline.events
                    if e.kind == "alert"
                ]

            await until(lambda: session.servers["alerts"].reachable)
            await asyncio.to_thread(supervisord.make_fatal)
            await until(lambda: len(alerts()) >= 1)
            await asyncio.to_thread(supervisord.fix)
            await until(lambda: len(alerts()) >= 2)
            return alerts()
        finally:
            for task in ui.tasks:
                task.cancel()
            await asyncio.gather(*ui.tasks, return_exceptions=True)
            await session.aclose()

    lines = asyncio.run(run())
    assert [(e["kind"], e["state"]) for e in receiver.received] == [
        ("fatal", "open"),
        ("fatal", "recovered"),
    ]
    assert lines[0][1] == "app" and "sent to webhook http://127.0.0.1:" in lines[0][2]
    assert "recovered" in lines[1][2]
    assert all(TOKEN not in text for _, _, text in lines)


def test_failing_destinations_are_reported_in_words_and_never_raise(
    supervisord: Supervisord,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hooks/{TOKEN}"
    rules = parse_rules(
        [
            {"name": "deadhook", "on": ["fatal"], "webhook": closed, "timeout": 5},
            {
                "name": "failing",
                "on": ["fatal"],
                "command": [
                    sys.executable,
                    "-c",
                    "import sys; print('pager down', file=sys.stderr); sys.exit(3)",
                ],
            },
            {"name": "slow", "on": ["fatal"], "command": ["/bin/sleep", "30"], "timeout": 1},
            {"name": "missing", "on": ["fatal"], "command": ["/nonexistent/notify"]},
        ]
    )
    reported: list[tuple[str, str, str]] = []
    manager = AlertManager(rules, lambda *line: reported.append(line))
    config = AppConfig(supervisors=[SupervisorTarget("alerts", supervisord.url)], read_only=True)

    async def run() -> None:
        async with LocalHost(config, name="alerts-host") as host:
            poller = Poller(host)
            await asyncio.to_thread(supervisord.make_fatal)
            try:
                for _ in range(100):
                    await poller.refresh_programs()
                    manager.evaluate(poller)
                    if manager.incidents:
                        break
                    await asyncio.sleep(0.1)
                await manager.drain(timeout=30)
            finally:
                await asyncio.to_thread(supervisord.fix)

    asyncio.run(run())
    words = {text.split(" ", 2)[1]: text for level, _, text in reported if level == "error"}
    assert set(words) == {"deadhook", "failing", "slow", "missing"}, reported
    assert "failed: connect error" in words["deadhook"]
    assert "webhook http://127.0.0.1:" in words["deadhook"] and TOKEN not in words["deadhook"]
    assert "exited with status 3: pager down" in words["failing"]
    assert "killed after 1 s" in words["slow"]
    assert "cannot run it: No such file or directory" in words["missing"]
