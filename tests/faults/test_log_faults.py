"""Logs failing under the console: a file it may not read, a file on a full filesystem.

(A file deleted while followed is shown in tests/integration/test_logs.py::
test_delete_and_recreate: the follower keeps reading the open file and switches to the new
one when the path reappears, losing and repeating nothing.)
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.core.config import AppConfig
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.logs import LogsView
from tests.faults import as_operator
from tests.faults.common import keys_still_work, words
from tests.tui.helpers import screen_text, until


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
