"""The command palette (Ctrl+P): every action of every view with its key, and every ``:``
command. Generated from the same bindings and command table the keys and ``:`` use."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from opsconsole.core.commands import COMMANDS

if TYPE_CHECKING:
    from opsconsole.tui.app import OpsConsoleApp

KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "space": "space",
    "escape": "esc",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "colon": ":",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}


def key_label(key: str) -> str:
    return ", ".join(KEY_NAMES.get(k, k) for k in key.split(","))


class OpsCommands(Provider):
    """Hits for every binding (run in its view) and every ``:`` command (opens the bar)."""

    def _entries(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app: OpsConsoleApp = self.app  # type: ignore[assignment]
        entries: list[tuple[str, str, Callable[[], Any]]] = []
        for view_id, title, widget_id, bindings in app.palette_sources():
            for b in bindings:
                if b.action in ("quit",) and view_id:
                    continue
                label = f"{title}: {b.description or b.action}"
                entries.append(
                    (
                        label,
                        f"key {key_label(b.key)}",
                        partial(app.run_bound, view_id, widget_id, b.action),
                    )
                )
        for c in COMMANDS.values():
            if c.name == "quit":
                continue
            entries.append(
                (f":{c.name} {c.usage}".rstrip(), c.help, partial(app.open_command, f":{c.name} "))
            )
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
