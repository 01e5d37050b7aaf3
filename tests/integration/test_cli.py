"""The command line: status as a monitoring check, verbs, update, and `demo` teardown."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import psutil
import pytest

from opsconsole.demo.stack import DemoStack, teardown
from tests.conftest import wait_for

pytestmark = pytest.mark.integration  # real supervisord, gunicorn, nginx


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsconsole", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_version() -> None:
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("opsconsole ")


def test_status_is_a_monitoring_check(demo_stack: DemoStack) -> None:
    out = cli("-c", str(demo_stack.conf_path), "status", "--json")
    data = json.loads(out.stdout)
    programs = {p["name"]: p for p in data["servers"][0]["programs"]}
    assert programs["flaky"]["state"] == "FATAL" and programs["flaky"]["trouble"]
    assert not programs["web"]["trouble"] and not programs["idle"]["trouble"]
    assert out.returncode == 1  # flaky is FATAL
    text = cli("-c", str(demo_stack.conf_path), "status")
    assert text.returncode == 1
    assert any(line.startswith("!flaky") for line in text.stdout.splitlines())


def test_status_unreachable_exits_2(tmp_path: Path) -> None:
    out = cli("--supervisor-url", f"unix://{tmp_path}/none.sock", "status")
    assert out.returncode == 2
    assert "does not exist" in out.stdout and "Traceback" not in out.stderr


def test_verbs_need_yes_and_respect_read_only(demo_stack: DemoStack) -> None:
    conf = str(demo_stack.conf_path)
    assert cli("-c", conf, "start", "idle").returncode == 0
    try:
        refused = cli("-c", conf, "stop", "idle")
        assert refused.returncode == 2 and "--yes" in refused.stderr
        ro = cli("-c", conf, "--read-only", "stop", "idle", "--yes")
        assert ro.returncode == 2 and "read-only" in ro.stderr, ro.stderr
        assert demo_stack.rpc().supervisor.getProcessInfo("idle")["statename"] == "RUNNING"
    finally:
        out = cli("-c", conf, "stop", "idle", "--yes", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)[0]["ok"]


def test_signal_needs_yes_respects_read_only_and_reports_per_program(
    demo_stack: DemoStack,
) -> None:
    """`opsconsole signal SIG NAME` (supervisorctl signal), through the same gate as stop."""
    conf = str(demo_stack.conf_path)
    pid = demo_stack.rpc().supervisor.getProcessInfo("web")["pid"]
    refused = cli("-c", conf, "signal", "USR1", "web")
    assert refused.returncode == 2 and "signal web needs confirmation: add --yes" in refused.stderr
    ro = cli("-c", conf, "signal", "USR1", "web", "--yes", "--read-only")
    assert ro.returncode == 2 and "read-only" in ro.stderr, ro.stderr
    sent = cli("-c", conf, "signal", "SIGUSR1", "web", "--yes", "--json")  # USR1: reopen logs
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout) == [{"name": "web", "ok": True, "message": "web: sent USR1"}]
    bad = cli("-c", conf, "signal", "NOSUCH", "web", "--yes")
    assert bad.returncode == 1 and bad.stdout.startswith("FAIL  bad signal"), bad.stdout
    assert demo_stack.rpc().supervisor.getProcessInfo("web")["pid"] == pid  # still the same


def test_update_dry_run_lists_changes(demo_stack: DemoStack) -> None:
    conf = str(demo_stack.conf_path)
    extra = demo_stack.dir / "conf.d" / "cli_extra.conf"
    extra.write_text("[program:cli_extra]\ncommand=/bin/sleep 99\nautostart=false\n")
    try:
        out = cli("-c", conf, "update", "--dry-run", "--json")
        assert json.loads(out.stdout)["added"] == ["cli_extra"]
        assert "cli_extra" not in {
            p["name"] for p in demo_stack.rpc().supervisor.getAllProcessInfo()
        }
        applied = cli("-c", conf, "update", "--yes")
        assert applied.returncode == 0 and "cli_extra: added" in applied.stdout
    finally:
        extra.unlink()
        cli("-c", conf, "update", "--yes")


def _run_demo_in_pty(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    # A short directory: unix socket paths (supervisor.sock, web.ctl) must stay < 108 bytes.
    tmp_path = Path(tempfile.mkdtemp(prefix="oc-", dir="/tmp"))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = dict(os.environ, TMPDIR=str(tmp_path), TERM="xterm-256color")
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsconsole", "demo", "--no-nginx"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    stack_dir = wait_for(lambda: next(tmp_path.glob("opsconsole-demo-*"), None), 30)
    wait_for(lambda: (stack_dir / "web.pid").exists(), 30)
    return proc, master, stack_dir


def _drain(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    """What the terminal got within ``seconds``; as soon as ``until`` shows, if given."""
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end and (until is None or until not in out):
        try:
            os.set_blocking(fd, False)
            out += os.read(fd, 65536)
        except (BlockingIOError, OSError):
            time.sleep(0.05)
    return out


def _nothing_left(stack_dir: Path) -> bool:
    for p in psutil.process_iter(["cmdline"]):
        try:
            if str(stack_dir) in " ".join(p.info["cmdline"] or []) and p.status() != "zombie":
                return False
        except psutil.Error:
            continue
    return not stack_dir.exists()


@pytest.mark.parametrize("how", ["q", "SIGTERM", "SIGHUP", "SIGKILL", "terminal gone"])
def test_demo_tears_down_on_quit_and_signals(tmp_path: Path, how: str) -> None:
    proc, master, stack_dir = _run_demo_in_pty(tmp_path)
    try:
        screen = _drain(master, 30, until=b"RUNNING")
        assert b"RUNNING" in screen, f"the console never showed the stack: {screen[-2000:]!r}"
        if how == "q":
            os.write(master, b"q")
        elif how == "SIGKILL":
            proc.kill()  # no cleanup possible in the console: the watchdog tears down
        elif how == "terminal gone":  # the SSH session dropped: the terminal disappears
            os.close(master)
            master = os.open("/dev/null", os.O_RDWR)
            proc.send_signal(signal.SIGHUP)
        else:
            proc.send_signal(getattr(signal, how))
        _drain(master, 0.5)
        proc.wait(timeout=30)
        if how != "SIGKILL":  # the console itself tore down and exited cleanly
            assert proc.returncode == 0
        wait_for(lambda: _nothing_left(stack_dir), 30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        teardown(stack_dir)  # whatever happened above, leave nothing running
        shutil.rmtree(stack_dir.parent, ignore_errors=True)


# --------------------------------------------------------------------------- global options


def test_global_options_work_after_the_subcommand(
    demo_stack: DemoStack, stack_env: dict[str, str]
) -> None:
    """Issue 14: `opsconsole scale web +1 --supervisor-url URL` was refused (argparse only
    knew the connection options before the subcommand)."""
    from tests.integration.test_gunicorn import restore

    conf, url = str(demo_stack.conf_path), demo_stack.socket_url
    status = cli("status", "--json", "-c", conf)
    assert status.returncode == 1, status.stderr  # flaky is FATAL: the stack was read
    assert "web" in {p["name"] for p in json.loads(status.stdout)["servers"][0]["programs"]}

    # a backend subcommand, the password from the environment as always
    creds = ["--supervisor-url", url, "--user", demo_stack.username]
    try:
        scaled = cli("scale", "web", "+1", *creds, "--yes", "--wait", "--json", env=stack_env)
        assert scaled.returncode == 0, scaled.stderr
        assert json.loads(scaled.stdout)["live"] == 3, scaled.stdout
    finally:
        restore(demo_stack, "web")

    # a nested subcommand: the nginx it reports is the one under this stack's supervisord
    ngx = cli("nginx", "status", "--json", "-c", conf)
    assert ngx.returncode == 0, ngx.stderr
    assert json.loads(ngx.stdout)["instance"]["program"] == "nginx", ngx.stdout

    # before the subcommand still works; a repeated --supervisor-url adds a server
    dead = f"unix://{demo_stack.dir}/none.sock"
    both = cli(
        *["--supervisor-url", dead, *creds[2:], "status", "--supervisor-url", url, "--json"],
        env=stack_env,
    )
    servers = json.loads(both.stdout)["servers"]
    assert [s["url"] for s in servers] == [dead, url] and both.returncode == 2, both.stdout
    assert servers[1]["reachable"] and not servers[0]["reachable"], both.stdout
    # ... a value given after the subcommand wins over the one before it
    later = cli("-c", str(demo_stack.dir / "missing.conf"), "status", "-c", conf, "--json")
    assert later.returncode == 1 and json.loads(later.stdout)["servers"][0]["reachable"]
    # ... and --read-only after the subcommand is honoured: nothing is stopped
    ro = cli("--timeout", "5", "stop", "idle", "-c", conf, "--yes", "--read-only")
    assert ro.returncode == 2 and "read-only" in ro.stderr, ro.stderr


def test_subcommand_help_lists_the_global_options() -> None:
    for argv in (["scale", "--help"], ["nginx", "test", "--help"], ["status", "--help"]):
        out = cli(*argv)
        assert out.returncode == 0
        assert "--supervisor-url URL" in out.stdout and "--read-only" in out.stdout
