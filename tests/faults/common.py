"""Small helpers shared by the fault tests."""

from __future__ import annotations

import re
from typing import Any

from tests.faults.test_supervisord_faults import keys_still_work

__all__ = ["events", "keys_still_work", "words"]


def words(text: str) -> str:
    """Screen text with wraps, borders and toast edges folded to single spaces, so a phrase
    can be found however the terminal broke it."""
    return re.sub(r"[\s▌▐█│▊▎▔▁]+", " ", text)


def events(app: Any) -> str:
    """The console's timeline (events view) as ``level text`` lines."""
    return "\n".join(f"{e.level} {e.source} {e.text}" for e in app.timeline.events)
