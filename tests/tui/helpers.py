"""Helpers for driving the app with Pilot against the real stack."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.demo.stack import DemoStack


def stack_config(stack: DemoStack, **overrides: Any) -> AppConfig:
    cfg = AppConfig(
        supervisors=[
            SupervisorTarget(
                "demo",
                stack.socket_url,
                stack.username,
                stack.password,
                f"[supervisorctl] in {stack.conf_path}",
            )
        ],
        refresh=0.3,
        timeout=1.0,
    )
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


async def until(pilot: Pilot[Any], predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Let the app run until ``predicate()`` is truthy; fail with a clear message otherwise.

    It returns as soon as the predicate holds: a generous default costs nothing when the app
    works, and two xdist workers on a loaded 2-core machine make the first scans slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"not within {timeout} s: {_what(predicate)}")


def _what(predicate: Callable[[], Any]) -> str:
    """What a predicate waits for, in words: its docstring, else the line that defines it."""
    import linecache

    doc = getattr(predicate, "__doc__", "")
    if doc:
        return str(doc)
    code = getattr(predicate, "__code__", None)
    line = linecache.getline(code.co_filename, code.co_firstlineno).strip() if code else ""
    return f"{line} (line {code.co_firstlineno})" if code and line else repr(predicate)


def screen_text(pilot: Pilot[Any]) -> str:
    """Everything on screen as plain text: what an operator reads."""
    import io

    from rich.console import Console

    app = pilot.app
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        record=True,
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


def flat(text: str) -> str:
    """Screen text with line wraps, borders and runs of spaces folded: for phrase checks."""
    import re

    return re.sub(r"[\s▌▐█│]+", " ", text)


async def shows(pilot: Pilot[Any], *phrases: str, timeout: float = 10.0) -> str:
    """Wait until every phrase is on screen (compared with ``flat``); return the screen text.

    Fixed sleeps before a screen check are flaky on a loaded machine; this waits as long as
    needed, up to ``timeout``, and fails naming the phrases that never appeared.
    """
    deadline = time.monotonic() + timeout
    text = ""
    while True:
        text = screen_text(pilot)
        shown = flat(text)
        missing = [p for p in phrases if flat(p) not in shown]
        if not missing:
            return text
        if time.monotonic() >= deadline:
            raise AssertionError(f"not on screen within {timeout} s: {missing}\n{text}")
        await pilot.pause(0.05)


class Terminal:
    """What a real terminal shows: the updates the app sends, applied one after another.

    ``screen_text`` renders the compositor's current map in full, so it cannot see a stale
    region the app never repainted; this replays the partial updates (Textual's
    ``LayoutUpdate`` and ``ChopsUpdate``) onto a grid of cells, as the terminal would.
    """

    def __init__(self, app: Any, size: tuple[int, int]) -> None:
        from textual._compositor import ChopsUpdate, LayoutUpdate

        self._layout, self._chops = LayoutUpdate, ChopsUpdate
        width, height = size
        self.cells = [[" "] * width for _ in range(height)]
        display = app._display

        def recording(screen: Any, renderable: Any) -> None:
            self.apply(renderable)
            display(screen, renderable)

        app._display = recording

    def _put(self, x: int, y: int, strip: Any) -> None:
        from rich.cells import cell_len

        if not 0 <= y < len(self.cells):
            return
        row = self.cells[y]
        for segment in strip:
            if segment.control:
                continue
            for char in segment.text:
                width = cell_len(char)
                if 0 <= x < len(row):
                    row[x] = char
                for extra in range(1, width):
                    if 0 <= x + extra < len(row):
                        row[x + extra] = ""
                x += width

    def apply(self, update: Any) -> None:
        if isinstance(update, self._layout):
            for y, line in enumerate(update.strips, update.region.y):
                x = update.region.x
                for strip in line:
                    self._put(x, y, strip)
                    x += strip.cell_length
        elif isinstance(update, self._chops):
            for y, x1, x2 in update.spans:
                for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items()):
                    if strip is None or x > x2 or end <= x1:
                        continue
                    self._put(x, y, strip.crop(0, min(end, x2) - x))

    def text(self) -> str:
        return "\n".join("".join(row).rstrip() for row in self.cells)


async def burst(pilot: Pilot[Any], *keys: str) -> None:
    """Send ``keys`` as one burst, the way a terminal delivers a paste, a fast typist or a
    laggy SSH link: every key is queued before the app handles the first one.

    ``pilot.press`` waits for the app to go idle after each key, so it never shows what
    happens to keys that arrive while an earlier key is still being handled.
    """
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    app = pilot.app
    driver = app._driver
    assert driver is not None
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            char: str | None = unicodedata.lookup(
                _get_unicode_name_from_key(REPLACED_KEYS.get(key, key))
            )
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        driver.send_message(event)
    await pilot.pause()


def use_fixed_backends(monkeypatch: Any) -> None:
    """Fixed gunicorn masters and nginx (tests/tui/fakes.py) instead of what this machine
    runs, as the snapshot tests use: the views and the key paths stay the real ones."""
    from opsconsole.core import gunicorn as gunicorn_core
    from opsconsole.core import nginx as nginx_core
    from tests.tui.fakes import (
        FixedNginxMonitor,
        FixedScanner,
        demo_inspection,
        failed_config_test,
    )

    monkeypatch.setattr(gunicorn_core, "GunicornScanner", FixedScanner)
    monkeypatch.setattr(nginx_core, "NginxMonitor", FixedNginxMonitor)
    monkeypatch.setattr(nginx_core, "inspect", demo_inspection)
    monkeypatch.setattr(nginx_core, "run_config_test", failed_config_test)
    no_probes_of_this_machine(monkeypatch)


def no_probes_of_this_machine(monkeypatch: Any) -> None:
    """Probe discovery finds nothing: with fixed programs, a probe line would otherwise show
    whatever listens on this machine (any running nginx master, a pid that happens to match)."""
    from opsconsole.core import probes

    def nothing(programs: Any) -> list[Any]:
        return []

    monkeypatch.setattr(probes, "default_probes", nothing)  # the host discovers through it
