"""``:audit``: every action of this session (done, failed, refused) and where the trail is kept."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from opsconsole.core.actions import AuditRecord

RESULT_TAG = {"ok": "ok", "error": "FAILED", "refused": "REFUSED"}


class AuditScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, records: list[AuditRecord], path: Path | None) -> None:
        super().__init__()
        self.records = records
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(id="audit-box"):
            where = f"appended to {self.path}" if self.path else "not written to disk"
            yield Static(Text(f"Audit trail of this session ({where}) — esc closes", style="bold"))
            table: DataTable[Text | str] = DataTable(cursor_type="row", id="audit-table")
            table.add_columns("time", "result", "action", "target", "detail")
            for r in reversed(self.records):
                table.add_row(
                    time.strftime("%H:%M:%S", time.localtime(r.time)),
                    Text(RESULT_TAG.get(r.result, r.result)),
                    r.action,
                    Text(r.target),
                    Text(r.detail),
                )
            if not self.records:
                table.add_row("", "", "no actions yet", "", "")
            yield table
