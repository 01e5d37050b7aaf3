"""The session behind the views: its refreshes reach the screen coalesced (``can_replace``)."""

from __future__ import annotations

from typing import Any

import pytest

from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.session import SessionRefreshed
from opsconsole.tui.widgets.programs import ProgramsView
from tests.tui.fakes import StaticMonitor, fake_config
from tests.tui.helpers import until


async def test_a_burst_of_refreshes_is_drawn_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten supervisords answering at once (or a slow frame) queue many refreshes; the
    program list is redrawn once for them, with the latest snapshots."""
    cfg = fake_config()
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="h")
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(ProgramsView)
        await until(pilot, lambda: view.rows)
        await pilot.pause(0.3)
        drawn: list[int] = []
        show = view.show

        def counting(*args: Any) -> None:
            drawn.append(1)
            show(*args)

        monkeypatch.setattr(view, "show", counting)
        for _ in range(50):
            app.post_message(SessionRefreshed())
        await pilot.pause(0.3)
        assert 1 <= len(drawn) <= 2, f"{len(drawn)} redraws for one burst"
