"""Switching views must not leave old footer keys reachable (memory grows in a long session)."""

from __future__ import annotations

import gc

from textual.widgets._footer import FooterKey

from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.footer import Footer
from tests.tui.fakes import StaticMonitor, fake_config
from tests.tui.helpers import until


def live_footer_keys() -> int:
    gc.collect()
    return sum(isinstance(o, FooterKey) for o in gc.get_objects())


async def test_view_switches_do_not_accumulate_footer_keys() -> None:
    cfg = fake_config()
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="h")
    async with app.run_test(size=(120, 40)) as pilot:
        footer = app.query_one(Footer)
        await until(pilot, lambda: footer.query(FooterKey))
        for _ in range(10):
            await pilot.press("5", "4")
        await pilot.press("1")
        await until(pilot, lambda: app.query_one("ContentSwitcher").current == "programs")
        await pilot.pause(0.3)
        shown = len(footer.query(FooterKey))
        # The footer recomposed about 20 times, with several keys each time; only the keys on
        # screen may remain (plus a recompose in flight), not one set per switch.
        assert shown > 0
        assert live_footer_keys() <= 2 * shown
        assert len(getattr(footer, "__watchers", {}).get("compact", [])) <= 2 * shown
