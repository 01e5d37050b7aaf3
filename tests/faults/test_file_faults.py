"""The files that say who did what: the audit trail and ``:export`` notes are readable by their
owner only, whatever the umask (issue 14: they were created 0644, readable by every user of
the server, and notes quote log lines that may carry secrets)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.core.actions import default_audit_path
from opsconsole.core.config import AppConfig
from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from tests.conftest import wait_for
from tests.tui.helpers import stack_config, until
from tests.tui.test_command_mode import type_command


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default umask, under which a plain open() makes files world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def audit_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_console_session_writes_private_audit_and_note(
    demo_stack: DemoStack, tmp_path: Path, umask_022: None
) -> None:
    """A real action through the console's gate, then a real ``:export``."""
    audit = default_audit_path()  # under this test's own XDG_STATE_HOME
    assert not audit.parent.exists()
    rpc = demo_stack.rpc()
    app = OpsConsoleApp(stack_config(demo_stack))
    note = tmp_path / "note.md"
    tmp_path.chmod(0o755)  # a directory of the user's choice
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.monitor.snapshots["demo"].ok)
            await type_command(pilot, "start idle")
            await until(pilot, lambda: audit.exists() and "supervisor.start" in audit.read_text())
            await type_command(pilot, f"export {note}")
            await until(pilot, note.exists)
    finally:
        rpc.supervisor.stopProcess("idle")
    assert [r["target"] for r in audit_lines(audit)] == ["idle"]
    assert mode(audit.parent) == 0o700 and mode(audit) == 0o600
    assert "supervisor.start" in note.read_text() and mode(note) == 0o600
    assert mode(tmp_path) == 0o755  # the directory the note went to is the user's: unchanged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["note.md"]  # nothing left aside


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsconsole", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_action_makes_an_older_world_readable_audit_trail_private(
    demo_stack: DemoStack, umask_022: None
) -> None:
    """An audit trail left 0644 in a 0755 directory (by an older version) is made private by
    the next action."""
    audit = default_audit_path()
    audit.parent.mkdir(parents=True)
    audit.write_text("")
    audit.parent.chmod(0o755)
    audit.chmod(0o644)
    conf = str(demo_stack.conf_path)
    try:
        assert cli("start", "idle", "-c", conf).returncode == 0
    finally:
        assert cli("stop", "idle", "--yes", "-c", conf).returncode == 0
    assert [r["action"] for r in audit_lines(audit)] == ["supervisor.start", "supervisor.stop"]
    assert mode(audit.parent) == 0o700 and mode(audit) == 0o600


async def test_export_over_a_world_readable_note_leaves_it_private(
    tmp_path: Path, umask_022: None
) -> None:
    note = tmp_path / "note.md"
    note.write_text("old")
    note.chmod(0o644)
    app = OpsConsoleApp(AppConfig(), audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.export_note(str(note))
        await until(pilot, lambda: note.read_text() != "old")
    assert note.read_text().startswith("# Incident note") and mode(note) == 0o600
    wait_for(lambda: sorted(p.name for p in tmp_path.iterdir()) == ["note.md"])
