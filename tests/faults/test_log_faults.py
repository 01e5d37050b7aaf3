"""Logs failing under the console: a file it may not read, a file on a full filesystem, a
program whose output supervisord cannot send (not UTF-8 on every line).

(A file deleted while followed is shown in tests/integration/test_logs.py::
test_delete_and_recreate: the follower keeps reading the open file and switches to the new
one when the path reappears, losing and repeating nothing.)
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.logs import RPC_BUDGET, LogStream, ProgramLogSource
from opsconsole.core.supervisor import SupervisorClient
from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.logs import LogsView
from tests.faults import as_operator
from tests.faults.common import keys_still_work, words
from tests.tui.helpers import screen_text, stack_config, until

pytestmark = pytest.mark.integration  # starts a stack of its own, mount, opsconsole as another user


def numbered(start: int, count: int, pad: int = 0) -> list[str]:
    return [f"{i:06d} log line" + " ." * pad for i in range(start, start + count)]


def blob(lines: list[str]) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory the operator account can enter (pytest's tmp_path is root-only)."""
    directory = Path(tempfile.mkdtemp(prefix="opsconsole-fault-logs-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_unreadable_log_then_readable(open_dir: Path) -> None:
    path = open_dir / "app.log"
    before, during = numbered(0, 100), numbered(100, 50)
    path.write_bytes(blob(before))
    path.chmod(0o200)  # write-only: the writer goes on, the operator cannot read it

    def fix() -> None:
        with path.open("ab") as fh:  # written while the console could not read the file
            fh.write(blob(during))
        path.chmod(0o644)

    seen = as_operator.run("log-unreadable", str(path), "150", steps={"fix": fix})
    assert "✖ no permission to read" in words(seen["fault_screen"])  # the path is cut at 80
    assert seen["fault_errors"] == [
        f"no permission to read {path} | run as a user who can read it (e.g. in the adm group), "
        "or read it through supervisord if it is a program's captured output"
    ]
    assert "Traceback" not in seen["fault_screen"]
    # nothing lost, nothing repeated: every line once, in order, and the error is gone
    assert seen["lines"] == before + during
    assert "no permission" not in words(seen["fixed_screen"])
    assert "000149 log line" in seen["fixed_screen"]


def write_until_full(fd: int, lines: list[str]) -> tuple[int, bytes]:
    """Append ``lines`` until the disk is full. Returns (complete lines written, the unwritten
    rest of the line that hit ENOSPC)."""
    for i, line in enumerate(lines):
        data = f"{line}\n".encode()
        while data:
            try:
                data = data[os.write(fd, data) :]
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return i, data
    raise AssertionError("the filesystem never filled up")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a 1 MB tmpfs")
async def test_log_on_a_full_filesystem(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    fd = -1
    try:
        rotated = mnt / "app.log.1"
        rotated.write_bytes(b"an old rotated log\n" * 16000)  # ~300 KB to free later
        log = mnt / "app.log"
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        lines = numbered(0, 20000, pad=40)
        app = OpsConsoleApp(AppConfig(refresh=0.3), audit=False)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await pilot.press("4")
            logs = app.query_one(LogsView)
            logs.open_sources([str(log)])
            view = logs.log_view
            store = view.lines_widget.store
            await pilot.pause(0.3)

            full, rest = write_until_full(fd, lines)
            assert 1000 < full < 20000
            await until(pilot, lambda: len(store) >= full, 15)
            await pilot.pause(0.5)
            assert [line.text for line in store] == lines[:full]  # the cut line waits
            assert view.stream is not None and not view.stream.errors
            assert "✖" not in screen_text(pilot)
            await keys_still_work(pilot)

            # the console's own writes on the full disk fail in words, not a crash
            note = mnt / "note.md"
            app.export_note(str(note))
            await until(pilot, lambda: "No space left on device" in words(screen_text(pilot)), 3)
            assert "cannot write /tmp/" in words(screen_text(pilot))

            # space comes back (the old log is removed): the writer finishes the cut line and
            # goes on; every line shows up once
            rotated.unlink()
            os.write(fd, rest)
            os.write(fd, blob(lines[full + 1 : full + 101]))
            await until(pilot, lambda: len(store) >= full + 101, 10)
            await pilot.pause(0.5)
            assert [line.text for line in store] == lines[: full + 101]
            assert not view.stream.errors
            view.set_sources([])  # stop following before the app exits (see the report)
            await pilot.pause(0.1)
    finally:
        if fd >= 0:
            os.close(fd)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# --------------------------------------------------------------------------- not UTF-8

#: A minute of output at 100 lines a second, written at once, then 100 lines a second more:
#: every line starts with two bytes that are not UTF-8 (a binary protocol, a broken encoder).
BINARY = (
    "i=0; while [ $i -lt 6000 ]; do printf '\\377\\376 line %%d\\n' $i; i=$((i+1)); done; "
    "while :; do printf '\\377\\376 line %%d\\n' $i; i=$((i+1)); sleep 0.01; done"
)
BAD_LINE = re.compile(r"^\ufffd\ufffd line (\d+)$")
SKIPPED = re.compile(r"^\[… \d+ bytes not shown: supervisord cannot send them \(not UTF-8\)\]$")


def log_path(stack: DemoStack) -> Path:
    return stack.logs_dir / "binary.out.log"


@pytest.fixture(scope="module")
def binary_stack() -> Iterator[DemoStack]:
    """A stack of its own with a program ``binary`` whose every line is invalid UTF-8 (the
    tests only read it)."""
    stack = DemoStack(with_nginx=False).start()
    try:
        log = log_path(stack)
        (stack.dir / "conf.d" / "binary.conf").write_text(
            textwrap.dedent(
                f"""
                [program:binary]
                command=/bin/sh -c "{BINARY}"
                startsecs=0
                stdout_logfile={log}
                stderr_logfile={stack.logs_dir}/binary.err.log
                """
            )
        )
        rpc = stack.rpc()
        rpc.supervisor.reloadConfig()
        rpc.supervisor.addProcessGroup("binary")
        deadline = time.monotonic() + 20
        while not (log.exists() and b" line 6100\n" in log.read_bytes()[-4000:]):
            assert time.monotonic() < deadline, "the binary program did not write its minute"
            time.sleep(0.2)
        yield stack
    finally:
        stack.stop()


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def test_tail_of_a_log_that_is_not_utf8_ends_with_its_last_lines(binary_stack: DemoStack) -> None:
    env = dict(os.environ, OPSCONSOLE_SUPERVISOR_PASSWORD=binary_stack.password)
    command = [sys.executable, "-m", "opsconsole", "-c", str(binary_stack.conf_path)]
    started = time.monotonic()
    try:
        run = subprocess.run(
            [*command, "tail", "binary", "-n", "3"], capture_output=True, timeout=30, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail("opsconsole tail did not end within 30 s")
    assert time.monotonic() - started < 10
    assert run.returncode == 0, run.stderr
    lines = run.stdout.decode().splitlines()
    numbers = [int(m.group(1)) for m in map(BAD_LINE.match, lines) if m]
    assert len(numbers) == 3, lines  # the bad bytes marked, the rest of each line shown
    assert numbers == list(range(numbers[0], numbers[0] + 3)) and numbers[0] >= 6000


async def test_log_view_of_a_log_that_is_not_utf8(binary_stack: DemoStack) -> None:
    """l on the program shows its last lines; supervisord works no harder than without it."""
    assert binary_stack.supervisord is not None
    pid = binary_stack.supervisord.pid
    app = OpsConsoleApp(stack_config(binary_stack), audit=False)
    async with app.run_test(size=(100, 30)) as pilot:
        programs = app.query_one("ProgramsView")
        await until(pilot, lambda: "binary" in screen_text(pilot), 10)
        # normal refreshes, no log open: what supervisord spends on them
        await pilot.pause(1.0)
        before = _cpu(pid)
        await pilot.pause(4.0)
        baseline = _cpu(pid) - before
        for _ in range(40):
            if "binary" in (programs.current_key() or ""):  # type: ignore[attr-defined]
                break
            await pilot.press("j")
        await pilot.press("l")
        logs = app.query_one(LogsView)
        store = logs.log_view.lines_widget.store

        def last_lines() -> bool:
            return sum(1 for line in store if BAD_LINE.match(line.text)) >= 3

        await until(pilot, last_lines, 10)
        assert "\ufffd\ufffd line 6" in screen_text(pilot)
        # the view stays open, following: supervisord's work stays that of normal refreshes
        await pilot.pause(1.0)
        before = _cpu(pid)
        await pilot.pause(4.0)
        viewing = _cpu(pid) - before
        assert viewing <= 2 * baseline + 0.1, (viewing, baseline)
        shown = [int(m.group(1)) for m in map(BAD_LINE.match, (ln.text for ln in store)) if m]
        assert shown == list(range(shown[0], shown[0] + len(shown)))  # none lost, none twice
        assert shown[-1] > 6100  # it keeps up with the program
        assert "✖" not in screen_text(pilot)
        logs.log_view.set_sources([])
        await pilot.pause(0.1)


def test_log_not_utf8_over_xmlrpc_is_read_within_a_budget(binary_stack: DemoStack) -> None:
    """When the console cannot read the file: a fixed number of calls per read, the last
    lines shown, bad bytes marked, and in words why part of the log is skipped."""
    target = SupervisorTarget(
        "demo", binary_stack.socket_url, binary_stack.username, binary_stack.password, "test"
    )
    pid = binary_stack.supervisord.pid if binary_stack.supervisord else 0

    async def run() -> None:
        async with SupervisorClient(target, read_only=True) as client:
            src = ProgramLogSource(client, "binary", prefer_file=False)
            started = time.monotonic()
            lines = await asyncio.wait_for(src.open_tail(3), 10)
            assert time.monotonic() - started < 5
            assert [bool(BAD_LINE.match(line.text)) for line in lines] == [True] * 3
            assert src.rpc_calls <= RPC_BUDGET + 1
            before = _cpu(pid)
            for _ in range(8):
                await asyncio.sleep(0.5)
                calls = src.rpc_calls
                got = [line.text for line in await asyncio.wait_for(src.poll(), 10)]
                assert src.rpc_calls - calls <= RPC_BUDGET + 1
                # every line shown is the program's (bad bytes marked) or says what was skipped
                assert got and all(BAD_LINE.match(t) or SKIPPED.match(t) for t in got), got
            assert _cpu(pid) - before < 1.0  # 8 refreshes; it used 30-50 % of a core
            # it keeps up with the end of the log instead of crawling through it
            last = BAD_LINE.match(got[-1])
            assert last is not None
            shown = int(last.group(1))
            tail = log_path(binary_stack).read_bytes()[-100:].splitlines()[-2]
            assert int(tail.rsplit(b" ", 1)[1]) - shown < 200
            notice = src.notice
            assert notice is not None
            assert notice.message.startswith(
                "supervisord cannot send parts of this log (bytes that are not UTF-8): "
            )
            assert " shown as \ufffd" in notice.message
            # in a log view that is the status line's error, for as long as it holds
            stream = LogStream([ProgramLogSource(client, "binary", prefer_file=False)])
            await asyncio.wait_for(stream.open(3), 10)
            said = stream.errors["program:demo/binary:stdout"].message
            assert said.startswith("supervisord cannot send parts of this log")
            await stream.aclose()

    asyncio.run(run())
