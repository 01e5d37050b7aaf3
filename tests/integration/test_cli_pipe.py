"""`opsconsole ... | head`: a reader that goes away ends any command quietly (no traceback),
with the status of a process ended by SIGPIPE, as it ends ps or grep."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # runs opsconsole as a real process

SIGPIPE_STATUS = 141  # 128 + SIGPIPE, what the shell reports for `ps | head`
OPSCONSOLE = [sys.executable, "-m", "opsconsole"]


def into_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """Run opsconsole with stdout a real pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [*OPSCONSOLE, *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=Path(__file__).parents[2],
        )
    finally:
        os.close(write_end)


def test_status_json_into_closed_pipe(tmp_path: Path) -> None:
    out = into_closed_pipe("--supervisor-url", f"unix://{tmp_path}/none.sock", "status", "--json")
    assert out.stderr == ""
    assert out.returncode == SIGPIPE_STATUS


def test_tail_piped_to_head(tmp_path: Path) -> None:
    """A real `opsconsole tail FILE -n 100000 | head -n 1`: head leaves after one line."""
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i}\n" for i in range(200_000)))
    command = " ".join([*OPSCONSOLE, "tail", str(log), "-n", "100000"])
    out = subprocess.run(
        ["bash", "-c", f'{command} | head -n 1; echo "status=${{PIPESTATUS[0]}}" >&2'],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert out.stdout == "line 100000\n"
    assert out.stderr == f"status={SIGPIPE_STATUS}\n"
