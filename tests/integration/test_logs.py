"""Logs against real files and the real demo supervisord.

Following guarantees tested here (what ``LogFile`` promises):

* rename rotation and delete/recreate: every line written, to the old file or the new one,
  is returned exactly once and in order, even while the writer keeps writing;
* copytruncate: lines are returned exactly once provided the follower had read the file
  before it was truncated. copytruncate itself has two race windows no reader can close:
  lines written between logrotate's copy and its truncate are lost (from both files), and
  lines written after the reader's last poll but before the truncate exist only in the
  rotated copy. The test holds the writer during copy+truncate and waits for the follower to
  catch up first, which is exactly the guarantee claimed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from opsconsole.core import gunicorn
from opsconsole.core.config import SupervisorTarget
from opsconsole.core.logs import (
    RPC_BUDGET,
    FileSource,
    LogStream,
    MainLogSource,
    ProgramLogSource,
)
from opsconsole.core.logs.file import LogFile
from opsconsole.core.logs.parse import LogLine, parse_level, parse_timestamp
from opsconsole.core.supervisor import SupervisorClient
from opsconsole.demo.stack import DemoStack

LINE = re.compile(r"^line (\d+) ")


class Writer(threading.Thread):
    """Writes numbered lines, one write() per line, flushed; ``rotate`` runs between lines
    with the writer held (like a logger that reopens on a signal)."""

    def __init__(self, path: Path, total: int, delay: float = 0.0005) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.total = total
        self.delay = delay
        self.lock = threading.Lock()
        self.written = 0
        self.fh = path.open("ab", buffering=0)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for i in range(self.total):
                with self.lock:
                    self.fh.write(f"line {i} {'x' * (i % 50)}\n".encode())
                    self.written = i + 1
                time.sleep(self.delay)
        except BaseException as exc:  # pragma: no cover - reported by the test
            self.error = exc
        finally:
            self.fh.close()

    def reopen(self) -> None:
        """Called with the lock held: start writing to a new file at the path."""
        self.fh.close()
        self.fh = self.path.open("ab", buffering=0)


def numbers(lines: list[LogLine]) -> list[int]:
    out = []
    for line in lines:
        m = LINE.match(line.text)
        assert m, f"unexpected line {line.text!r}"
        out.append(int(m.group(1)))
    return out


def follow_until(lf: LogFile, total: int, during: Callable[[], None] | None = None) -> list[int]:
    got: list[LogLine] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got.extend(lf.poll())
        if during is not None:
            during()
        if len(got) >= total:
            break
        time.sleep(0.01)
    return numbers(got)


def test_rename_rotation_loses_and_repeats_nothing(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    lf = LogFile(path)
    assert lf.open_tail(10) == []
    writer = Writer(path, 3000)
    rotations = [0]

    def rotate() -> None:
        # logrotate "create": rename, then the writer reopens a little later
        if writer.written > (rotations[0] + 1) * 700 and rotations[0] < 3:
            rotations[0] += 1
            os.rename(path, f"{path}.{rotations[0]}")
            time.sleep(0.01)  # the writer still writes to the renamed file meanwhile
            with writer.lock:
                writer.reopen()

    writer.start()
    got = follow_until(lf, 3000, rotate)
    writer.join()
    got += numbers(lf.poll())
    assert writer.error is None
    assert rotations[0] == 3
    assert got == list(range(3000))
    assert lf.rotations == 3


def test_delete_and_recreate(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    writer = Writer(path, 2000)
    lf = LogFile(path)
    lf.open_tail(0)
    done = [False]

    def delete() -> None:
        if writer.written > 800 and not done[0]:
            done[0] = True
            with writer.lock:
                os.unlink(path)
                time.sleep(0.05)  # the path is missing for a few polls' worth
                writer.reopen()

    writer.start()
    got = follow_until(lf, 2000, delete)
    writer.join()
    assert done[0]
    assert got == list(range(2000))


def test_copytruncate_after_the_follower_caught_up(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    writer = Writer(path, 3000)
    lf = LogFile(path)
    lf.open_tail(0)
    got: list[int] = []
    rotations = 0
    writer.start()
    deadline = time.monotonic() + 30
    while len(got) < 3000 and time.monotonic() < deadline:
        got += numbers(lf.poll())
        if writer.written > (rotations + 1) * 800 and rotations < 2:
            with writer.lock:  # writer held: nothing falls into copytruncate's own gap
                got += numbers(lf.poll())  # caught up with everything written so far
                assert len(got) == writer.written
                rotations += 1
                shutil.copyfile(path, f"{path}.{rotations}")
                os.truncate(path, 0)
        time.sleep(0.01)
    writer.join()
    got += numbers(lf.poll())
    assert got == list(range(3000))
    assert lf.truncations == 2
    # the rotated copies hold what was read before each truncation, once
    copies = Path(f"{path}.1").read_text().splitlines() + Path(f"{path}.2").read_text().splitlines()
    assert [int(c.split()[1]) for c in copies] == list(range(len(copies)))


def test_truncated_and_regrown_between_polls_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("".join(f"old {i}\n" for i in range(100)))
    lf = LogFile(path)
    assert len(lf.open_tail(5)) == 5
    # copytruncate, then the writer writes more than we had read, all before our next poll
    path.write_text("".join(f"new {i:04d}\n" for i in range(200)))
    texts = [line.text for line in lf.poll()]
    assert texts == [f"new {i:04d}" for i in range(200)]


def test_file_not_there_yet_and_partial_lines(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    lf = LogFile(path)
    assert lf.open_tail(10) == []
    assert lf.poll() == []
    with path.open("wb") as fh:
        fh.write(b"first\nsecond half")
        fh.flush()
        assert [line.text for line in lf.poll()] == ["first"]
        assert lf.poll() == []  # the partial line waits for its newline
        fh.write(b"-done\n")
        fh.flush()
        assert [line.text for line in lf.poll()] == ["second half-done"]


def test_one_gigabyte_file_opens_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.log"
    with path.open("wb") as fh:
        fh.truncate(1024**3)  # sparse: 1 GB of NULs, no newline
        fh.seek(0, os.SEEK_END)
        fh.write(b"\n" + b"".join(f"real line {i}\n".encode() for i in range(100)))
    lf = LogFile(path)
    started = time.monotonic()
    lines = lf.open_tail(30)
    assert [line.text for line in lines] == [f"real line {i}" for i in range(70, 100)]
    assert lf.bytes_read < 1024 * 1024
    assert time.monotonic() - started < 2
    # scrolling back is lazy too: the next page, then the NUL region costs one max_line
    older = lf.before(lines[0].offset, 100)
    assert [line.text for line in older][-70:] == [f"real line {i}" for i in range(70)]
    assert lf.bytes_read < 3 * 1024 * 1024
    assert "line cut" in older[0].text or "not read" in older[0].text
    assert "\x00" not in older[0].text


def test_hostile_bytes_in_a_file_are_inert(tmp_path: Path) -> None:
    path = tmp_path / "evil.log"
    raw = b"\x1b[31m[bold red]x[/] \x00 \xff\xfe \x1b]0;title\x07" + b"y" * 3000
    path.write_bytes(raw + b"\n")
    lf = LogFile(path, max_line=1000)
    (line,) = lf.open_tail(5)
    assert "\x1b" not in line.text and "\x00" not in line.text
    assert line.text.startswith("[bold red]x[/] \u2400 \ufffd\ufffd ")
    assert line.text.endswith(f" … [line cut: {len(raw) - 1000} more bytes]")


def test_ring_stays_bounded_on_a_fast_log(tmp_path: Path) -> None:
    path = tmp_path / "fast.log"
    path.write_bytes(b"")
    stream = LogStream([FileSource(path, batch_lines=2000)], ring_size=1000)
    asyncio.run(stream.open(10))
    with path.open("ab") as fh:
        fh.write(b"".join(f"line {i} fast\n".encode() for i in range(50_000)))
    batches = []

    async def drain() -> None:
        while True:
            batch = await stream.poll()
            if not batch:
                return
            batches.append(len(batch))

    asyncio.run(drain())
    assert max(batches) <= 2000  # the follower batches
    assert sum(batches) == 50_000  # and loses nothing while doing so
    assert len(stream.ring) == 1000
    assert numbers(stream.ring.lines()) == list(range(49_000, 50_000))
    asyncio.run(stream.aclose())


def test_merged_stream_orders_sources_by_time(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text(
        "2026-11-25 12:00:01,000 INFO a1\nTraceback (most recent call last):\n"
        "2026-11-25 12:00:03,000 INFO a3\n"
    )
    b.write_text(
        '127.0.0.1 - - [25/Nov/2026:12:00:02 +0000] "GET / HTTP/1.1" 500 1\n'
        "2026/11/25 12:00:04 [error] 1#1: b4\n"
    )
    # a's times are local; b's first is UTC: make both local for the test
    b_text = b.read_text().replace("+0000", time.strftime("%z", time.localtime(1795000000)))
    b.write_text(b_text)
    stream = LogStream([FileSource(a), FileSource(b)])
    lines = asyncio.run(stream.open(10))
    assert [(line.source, line.text[-2:]) for line in lines] == [
        ("a.log", "a1"),
        ("a.log", "):"),
        ("b.log", " 1"),
        ("a.log", "a3"),
        ("b.log", "b4"),
    ]
    # the traceback belongs to a1 (its time and level), the 500 is an error
    assert lines[1].level == "INFO" and lines[1].ts == lines[0].ts and lines[2].level == "ERROR"


# --------------------------------------------------------------------------- supervisord


async def _poll_until(
    source: ProgramLogSource | MainLogSource, want: Callable[[list[str]], bool]
) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got += [line.text for line in await source.poll()]
        if want(got):
            return got
        await asyncio.sleep(0.1)
    pytest.fail(f"not seen in time; got {got[-10:]!r}")


def _restarts_and_offset(src: ProgramLogSource) -> tuple[int, int]:
    """How often the source started over (log cleared or rotated) and where it reads."""
    if src.file is not None:
        return src.file.gen, src.file.state.offset
    return src.truncations, src.offset


@pytest.mark.parametrize("prefer_file", [True, False], ids=["file", "xmlrpc"])
def test_program_output_is_followed_and_survives_clear(
    demo_stack: DemoStack, stack_target: SupervisorTarget, prefer_file: bool
) -> None:
    name = "queue:queue_01"

    async def run() -> None:
        async with SupervisorClient(stack_target, read_only=True) as c:
            src = ProgramLogSource(c, name, prefer_file=prefer_file)
            first = await src.open_tail(5)
            assert (src.file is not None) == prefer_file  # root may read the file
            assert first and all("queue_01: processed job" in line.text for line in first)
            last = int(first[-1].text.rsplit(" ", 1)[1])
            got = await _poll_until(src, lambda g: len(g) >= 1)
            assert got[0] == f"queue_01: processed job {last + 1}"
            _, offset_before = _restarts_and_offset(src)
            demo_stack.rpc().supervisor.clearProcessLogs(name)
            after = await _poll_until(src, lambda g: len(g) >= 1)
            restarts, offset = _restarts_and_offset(src)
            assert restarts == 1 and offset < offset_before + 200
            jobs = [int(t.rsplit(" ", 1)[1]) for t in got + after]
            assert jobs == list(range(last + 1, last + 1 + len(jobs)))  # none lost, none twice

    asyncio.run(run())


def test_web_app_log_lines_arrive_on_stderr(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    async def run() -> None:
        async with SupervisorClient(stack_target, read_only=True) as c:
            src = ProgramLogSource(c, "web", "stderr")
            await src.open_tail(0)
            tag = f"{time.time_ns()}"
            with urllib.request.urlopen(demo_stack.url("web", f"/log?n=5&t={tag}"), timeout=5):
                pass
            got = await _poll_until(src, lambda g: any("demo log line 5 of 5" in t for t in g))
            line = next(t for t in got if "demo log line 5 of 5" in t)
            assert "[INFO]" in line

    asyncio.run(run())


@pytest.mark.parametrize("prefer_file", [False, True], ids=["xmlrpc", "file"])
def test_hostile_program_output_over_xmlrpc(
    demo_stack: DemoStack, stack_target: SupervisorTarget, prefer_file: bool
) -> None:
    """supervisord answers HTTP 500 to invalid UTF-8 and sends invalid XML for ESC/NUL:
    the source still shows every line, inert (and the same when it reads the file)."""
    log = Path(demo_stack.logs_dir / "idle.out.log")  # idle is STOPPED: nobody else writes
    saved = log.read_bytes() if log.exists() else b""
    try:
        log.write_bytes(b"")

        async def run() -> None:
            async with SupervisorClient(stack_target, read_only=True) as c:
                src = ProgramLogSource(c, "idle", chunk=16, prefer_file=prefer_file)
                await src.open_tail(5)
                with log.open("ab") as fh:
                    fh.write(
                        "caf\u00e9 \u20ac euro spans a chunk edge\n".encode()
                        + b"\x1b[31m[bold red]x\x00 bad \xff\xfe end\r\n"
                        + b"last\n"
                    )
                got = await _poll_until(src, lambda g: "last" in g)
                assert got == [
                    "caf\u00e9 \u20ac euro spans a chunk edge",
                    "[bold red]x\u2400 bad \ufffd\ufffd end",
                    "last",
                ]

        asyncio.run(run())
    finally:
        log.write_bytes(saved)


def test_one_bad_byte_in_a_big_log_over_xmlrpc(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    """One byte that is not UTF-8 in 600 KB (with multibyte characters): over XML-RPC every
    line arrives, the bad byte as U+FFFD, nothing skipped, each poll within its budget."""
    log = Path(demo_stack.logs_dir / "idle.out.log")  # idle is STOPPED: nobody else writes
    saved = log.read_bytes() if log.exists() else b""
    lines = [f"line {i} caf\u00e9 \u20ac {'x' * (i % 40)}" for i in range(12000)]
    data = "".join(f"{t}\n" for t in lines).encode()
    bad = data.index(b"line 6000 ") + 5
    data = data[:bad] + b"\xff" + data[bad + 1 :]
    lines[6000] = lines[6000][:5] + "\ufffd" + lines[6000][6:]
    try:
        log.write_bytes(b"")

        async def run() -> None:
            async with SupervisorClient(stack_target, read_only=True) as c:
                src = ProgramLogSource(c, "idle", prefer_file=False)
                await src.open_tail(5)
                log.write_bytes(data)
                got: list[str] = []
                for _ in range(100):
                    calls = src.rpc_calls
                    got += [line.text for line in await src.poll()]
                    assert src.rpc_calls - calls <= RPC_BUDGET + 1
                    if len(got) >= len(lines):
                        break
                assert got == lines
                assert src.unsendable == 1 and src.skipped == 0
                assert src.notice is not None and "1 shown as \ufffd" in src.notice.message
                # scrolling back over it reads the same, byte for byte
                ring = await src.open_tail(5990)  # ends where the log ends; starts at 6010
                assert [line.text for line in ring] == lines[6010:]
                older = await src.before(ring[0].offset, 30, ring[0].gen)
                assert [line.text for line in older] == lines[5980:6010]
                assert src.skipped == 0

        asyncio.run(run())
    finally:
        log.write_bytes(saved)


def test_supervisord_main_log(demo_stack: DemoStack, stack_target: SupervisorTarget) -> None:
    async def run() -> None:
        async with SupervisorClient(stack_target, read_only=True) as c:
            src = MainLogSource(c)
            lines = await src.open_tail(10)
            assert len(lines) == 10
            rpc = demo_stack.rpc()
            rpc.supervisor.startProcess("idle")
            try:
                got = await _poll_until(src, lambda g: any("spawned: 'idle'" in t for t in g))
            finally:
                rpc.supervisor.stopProcess("idle")
            spawned = next(t for t in got if "spawned: 'idle'" in t)
            assert parse_level(spawned) == "INFO" and parse_timestamp(spawned) is not None
            assert src.bytes_read < 200_000

    asyncio.run(run())


# --------------------------------------------------------------------------- CLI


@pytest.mark.integration  # runs opsconsole tail as a process
def test_cli_tail_file_is_sanitised(tmp_path: Path) -> None:
    path = tmp_path / "evil.log"
    path.write_bytes(
        b"2026-11-25 12:00:00,000 INFO old\n"
        + b"".join(
            f"2030-01-01 00:00:{i:02d},000 ERROR \x1b[2J[bold]e{i}\x00\n".encode() for i in range(5)
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "opsconsole", "tail", str(path), "-n", "3", "--grep", "e[34]"],
        capture_output=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    assert b"\x1b" not in run.stdout and b"\x00" not in run.stdout
    assert run.stdout.decode().splitlines() == [
        "2030-01-01 00:00:03,000 ERROR [bold]e3\u2400",
        "2030-01-01 00:00:04,000 ERROR [bold]e4\u2400",
    ]
    since = subprocess.run(
        [sys.executable, "-m", "opsconsole", "tail", str(path), "--since", "2029-01-01T00:00"],
        capture_output=True,
        timeout=30,
    )
    assert len(since.stdout.decode().splitlines()) == 5


def test_cli_tail_program_stderr(demo_stack: DemoStack, stack_env: dict[str, str]) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "opsconsole",
            "-c",
            str(demo_stack.conf_path),
            "tail",
            "flaky",
            "--stderr",
            "-n",
            "1",
        ],
        capture_output=True,
        timeout=30,
        env=stack_env,
    )
    assert run.returncode == 0, run.stderr
    assert "cannot connect to database" in run.stdout.decode()
    bad = subprocess.run(
        [sys.executable, "-m", "opsconsole", "-c", str(demo_stack.conf_path), "tail", "nope"],
        capture_output=True,
        timeout=30,
        env=stack_env,
    )
    assert bad.returncode == 2 and b"no such program" in bad.stderr


def test_gunicorn_access_and_error_logs_from_its_cmdline(demo_stack: DemoStack) -> None:
    info = demo_stack.rpc().supervisor.getProcessInfo("web")
    cmdline = psutil.Process(info["pid"]).cmdline()
    paths = gunicorn.log_paths(cmdline)
    assert paths == {
        "access": str(demo_stack.logs_dir / "web-access.log"),
        "error": str(demo_stack.logs_dir / "web-error.log"),
    }

    async def run() -> None:
        stream = LogStream([FileSource(paths["access"]), FileSource(paths["error"])])
        await stream.open(0)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(demo_stack.url("web", "/error"), timeout=5)
        got: list[LogLine] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got += await stream.poll()
            if any('"GET /error' in line.text for line in got) and any(
                "deliberate failure" in line.text for line in got
            ):
                break
            await asyncio.sleep(0.1)
        await stream.aclose()
        access = next(line for line in got if '"GET /error' in line.text)
        assert access.level == "ERROR" and access.source == "web-access.log"
        trace = [line for line in got if line.source == "web-error.log"]
        failure = next(line for line in trace if "deliberate failure" in line.text)
        assert failure.level == "ERROR" and failure.ts is not None  # inherited from its entry

    asyncio.run(run())
