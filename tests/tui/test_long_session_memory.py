"""A console left open for hours: what comes and goes on screen must not stay in memory."""

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


async def test_removed_widgets_release_their_rendered_lines() -> None:
    """Toasts and other short-lived widgets come and go all session; what they rendered must
    go with them (Textual's StylesCache lru_cache kept up to 1024 of them)."""
    from textual._styles_cache import StylesCache
    from textual.widget import Widget
    from textual.widgets import Static

    cfg = fake_config()
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="h")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        for i in range(30):
            note = Static(f"short-lived {i}", classes="probe")
            await app.screen.mount(note)
            await pilot.pause(0.02)
            await note.remove()
        await pilot.pause(0.3)
        gc.collect()
        widgets = sum(isinstance(o, Widget) for o in gc.get_objects())
        caches = sum(isinstance(o, StylesCache) for o in gc.get_objects())
        assert caches <= widgets + 5, f"{caches} render caches for {widgets} widgets"
