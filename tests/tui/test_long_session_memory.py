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
        before = live_footer_keys()  # other apps of this test session may hold some too
        for _ in range(10):
            await pilot.press("5", "4")
        await pilot.press("1")
        await until(pilot, lambda: app.query_one("ContentSwitcher").current == "programs")
        await pilot.pause(0.3)
        shown = len(footer.query(FooterKey))
        # The footer recomposed about 20 times, with several keys each time; only the keys on
        # screen may remain (plus a recompose in flight), not one set per switch.
        assert shown > 0
        assert live_footer_keys() - before <= shown
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

        def census() -> tuple[int, int]:
            gc.collect()
            objects = gc.get_objects()
            widgets = sum(isinstance(o, Widget) for o in objects)
            return widgets, sum(isinstance(o, StylesCache) for o in objects)

        widgets0, caches0 = census()
        for i in range(30):
            note = Static(f"short-lived {i}", classes="probe")
            await app.screen.mount(note)
            await pilot.pause(0.02)
            await note.remove()
        await pilot.pause(0.3)
        widgets, caches = census()
        grew = caches - caches0
        assert grew <= widgets - widgets0 + 5, f"{grew} more render caches, widgets {widgets}"


async def test_events_view_keeps_a_bounded_timeline_and_draws_only_what_is_visible() -> None:
    """Hours of flapping programs: the events view holds at most MAX_EVENTS, keeps following
    the newest, wraps long ones at 80 columns, and keeps rendered lines only for a screenful
    or so (a rendered line costs several KB; the event a few hundred bytes)."""
    import time

    from opsconsole.core.events import Event
    from opsconsole.tui.widgets.events import CACHED_LINES, MAX_EVENTS, EventsView
    from tests.tui.helpers import flat, screen_text, shows

    cfg = fake_config()
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="h")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        view = app.query_one(EventsView)
        # The app adds events of its own (a first refresh, a probe) whenever it gets to run,
        # and on a loaded machine that is during this loop: record every event the view is
        # given, in order, to know which MAX_EVENTS are the newest.
        added: list[Event] = []
        add = view.add

        def recording(event: Event) -> None:
            added.append(event)
            add(event)

        view.add = recording  # type: ignore[method-assign]
        for i in range(MAX_EVENTS + 300):
            view.add(Event(time.time(), "state", "warning", "queue:queue_01", f"flap {i}"))
            if i % 1000 == 0:
                await pilot.pause(0.01)
        long = "supervisord says: " + " ".join(f"word{i}" for i in range(25))
        view.add(Event(time.time(), "server", "error", "demo", long))
        # the view scrolls to the newest once the layout has taken the burst in (a loaded
        # machine takes a while): wait for its last wrapped row, then check the rest
        await shows(pilot, "word24", timeout=10)
        # a view that loses rows (the probe line appearing above it) keeps the newest in view
        await pilot.resize_terminal(80, 20)
        await shows(pilot, "word24", timeout=10)
        await pilot.resize_terminal(80, 24)
        await shows(pilot, "word24", timeout=10)
        assert len(view.events) == MAX_EVENTS
        assert list(view.events) == added[-MAX_EVENTS:], "not the newest MAX_EVENTS, in order"
        assert "flap 300" not in {e.text for e in view.events}  # the oldest went first
        text = flat(screen_text(pilot))
        assert f"flap {MAX_EVENTS + 299}" in text  # following the newest
        assert "word0" in text and "word24" in text  # the long one wraps, nothing cut
        assert len(view._cache) <= CACHED_LINES < MAX_EVENTS  # rendered: only recent screens
