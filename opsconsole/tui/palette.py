"""The command palette (Ctrl+P): every key of every view and every ``:`` command, made from
the registry of operations (core.operations, through tui.keys) like the keys and ``:`` are."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from opsconsole.tui.keys import key_label, palette_entries

if TYPE_CHECKING:
    from opsconsole.tui.app import OpsConsoleApp

__all__ = ["OpsCommands", "key_label"]


class OpsCommands(Provider):
    """Hits for every key (run in its view) and every ``:`` command (opens the bar)."""

    def _entries(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app: OpsConsoleApp = self.app  # type: ignore[assignment]
        entries: list[tuple[str, str, Callable[[], Any]]] = []
        for entry in palette_entries():
            if entry.command:
                callback: Callable[[], Any] = partial(app.open_command, entry.command)
            else:
                callback = partial(app.run_bound, entry.view, entry.widget, entry.action)
            entries.append((entry.label, entry.help, callback))
        return entries

    async def discover(self) -> Hits:
        for label, help_text, callback in self._entries():
            yield DiscoveryHit(label, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, callback in self._entries():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), callback, help=help_text)
