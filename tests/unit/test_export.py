from __future__ import annotations

from opsconsole.core.actions import AuditRecord
from opsconsole.core.events import Event
from opsconsole.core.export import incident_markdown


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
