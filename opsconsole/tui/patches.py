"""Workarounds for two Textual memory leaks that a console left open for hours would hit.

Both are reported upstream and still open for Textual 8.2.8; each patch checks that the code
it replaces is still the leaking shape and does nothing otherwise, so a fixed Textual is used
as it is.

* Textualize/textual#6665: ``StylesCache.get_inner_outer`` is an instance method under
  ``functools.lru_cache(1024)``, so the cache keys hold up to 1024 ``StylesCache`` objects
  of widgets long removed (toasts, footer keys), each with its rendered lines. Here the cache
  is keyed on the two colours only, which is all the method uses.
* Textualize/textual#6666 (the footer's ``data_bind`` watchers): see ``widgets/footer.py``.
"""

from __future__ import annotations

import functools
from typing import Any

from textual._styles_cache import StylesCache

_applied = False


def apply() -> None:
    """Install the workarounds once (idempotent)."""
    global _applied
    if _applied:
        return
    _applied = True
    current: Any = StylesCache.__dict__.get("get_inner_outer")
    original = getattr(current, "__wrapped__", None)
    if original is None or not hasattr(current, "cache_clear"):
        return  # not an lru_cache on the method any more: fixed upstream

    @functools.lru_cache(maxsize=1024)
    def by_colours(base_background: Any, background: Any) -> Any:
        return original(None, base_background, background)

    def get_inner_outer(self: StylesCache, base_background: Any, background: Any) -> Any:
        return by_colours(base_background, background)

    get_inner_outer.__doc__ = original.__doc__
    StylesCache.get_inner_outer = get_inner_outer  # type: ignore[method-assign,assignment]
    current.cache_clear()
