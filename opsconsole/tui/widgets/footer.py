"""The key footer, without the leak of Textual's own.

Textual's ``Footer`` recomposes whenever the active bindings change (every focus move and view
switch). Each ``FooterKey`` it yields is ``data_bind``-ed to ``Footer.compact``, which adds a
watcher ``(key, setter)`` to the footer. Textual prunes a watcher list only when the watched
reactive changes, and ``compact`` never changes, so every removed key stayed reachable with its
styles and caches: about 0.5 MB per view switch, the RSS growth seen in ``make soak``
(Textual 8.2.8; reported upstream as Textualize/textual#6666). After each recompose this
footer drops the watchers of keys that are gone.

Textual's footer also recomposes once per bindings change, and start-up alone makes about
ten of them (the screen, the tabs, the first view and the command bar take and give focus):
each a new set of keys, mounted and styled. This footer recomposes once for every change
that arrived before the next refresh, from the bindings active then (what the last of those
recomposes would have shown).
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    #: a recompose is asked for and has not started yet
    _recompose_due = False

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._recompose_due:
            self._recompose_due = True
            self.call_after_refresh(self._recompose_now)

    async def _recompose_now(self) -> None:
        self._recompose_due = False  # a change from now on asks for another one
        await self.recompose()

    async def recompose(self) -> None:
        await super().recompose()
        self.prune_watchers()

    def prune_watchers(self) -> int:
        """Forget watchers registered by widgets that have been removed; return how many."""
        watchers: dict[str, list[tuple[object, object]]] = getattr(self, "__watchers", {})
        dropped = 0
        for entries in watchers.values():
            alive = [
                (node, callback)
                for node, callback in entries
                if not (getattr(node, "_closing", False) or getattr(node, "_closed", False))
            ]
            dropped += len(entries) - len(alive)
            entries[:] = alive
        return dropped
