from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from opsconsole.core.actions import AuditRecord
from opsconsole.core.events import Event
from opsconsole.core.export import incident_markdown, write_note


def test_incident_note_has_timeline_and_actions() -> None:
    events = [
        Event(1000.0, "probe", "error", "nginx", "HTTP 500 in 12 ms"),
        Event(1010.0, "action", "info", "web", "restart: ok"),
        Event(1020.0, "probe", "info", "nginx", "recovered: HTTP 200"),
    ]
    acts = [
        AuditRecord(1009.0, "ops", "10.1.2.3", "h", "supervisor.restart", "web", {}, "ok", "a|b")
    ]
    md = incident_markdown(events, acts, host="web-01", now=2000.0)
    assert md.startswith("# Incident note — web-01")
    assert "| error | probe | nginx | HTTP 500 in 12 ms |" in md
    assert "supervisor.restart" in md and "ops from 10.1.2.3" in md
    assert "a\\|b" in md  # table cells are escaped
    assert "3 events, 1 errors, 1 actions" in md


def test_empty_session() -> None:
    md = incident_markdown([], [], host="h", now=0.0)
    assert "None." in md


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_note_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    note = tmp_path / "note.md"
    old = os.umask(umask)
    try:
        write_note(note, "first")
        write_note(note, "second")  # replaces, still private
    finally:
        os.umask(old)
    assert note.read_text() == "second" and stat.S_IMODE(note.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["note.md"]


def test_note_in_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_note(tmp_path / "nope" / "note.md", "x")
    assert not (tmp_path / "nope").exists()
