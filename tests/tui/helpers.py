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


async def until(pilot: Pilot[Any], predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Let the app run until ``predicate()`` is truthy; fail with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(
        f"not within {timeout} s: {getattr(predicate, '__doc__', '') or predicate}"
    )


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
