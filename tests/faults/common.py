"""Small helpers shared by the fault tests. No pytest here: as_operator.py imports them in a
child that runs as ``nobody``, which may not be able to read pytest's interpreter files."""

from __future__ import annotations

import re
from typing import Any

from tests.tui.helpers import until

__all__ = ["events", "keys_still_work", "words"]


async def keys_still_work(pilot: Any) -> None:
    """The view keys still switch views: ``5`` (events), then ``1`` (programs)."""
    app = pilot.app
    await pilot.press("5")
    await until(pilot, lambda: app.query_one("ContentSwitcher").current == "events", 2)
    await pilot.press("1")
    await until(pilot, lambda: app.query_one("ContentSwitcher").current == "programs", 2)


def words(text: str) -> str:
    """Screen text with wraps, borders and toast edges folded to single spaces, so a phrase
    can be found however the terminal broke it."""
    return re.sub(r"[\s▌▐█│▊▎▔▁]+", " ", text)


def events(app: Any) -> str:
    """The console's timeline (events view) as ``level text`` lines."""
    return "\n".join(f"{e.level} {e.source} {e.text}" for e in app.timeline.events)
