"""Keys made from the registry of operations (core.operations): each view's bindings, the one
way a key is written on screen (footer, ``?`` help, command palette), and the help sections.

Nothing here decides what a key does: that is the registry's job; this only turns it into
Textual's ``Binding`` objects and text.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType
from textual.keys import format_key

from opsconsole.core.commands import COMMANDS
from opsconsole.core.operations import OPERATIONS, Key, keys_for

#: Names written out where Textual's own display would be a symbol an operator might not read.
_NAMES = {"enter": "enter"}


def key_label(key: str) -> str:
    """How a binding's key is written for people: ``plus`` -> ``+``, ``question_mark`` -> ``?``,
    ``escape,q`` -> ``esc, q``. The footer, ``?`` help and the palette all use this."""
    return ", ".join(_one_label(k.strip()) for k in key.split(","))


def _one_label(key: str) -> str:
    *modifiers, base = key.split("+") if key != "plus" else ["plus"]
    name = _NAMES.get(base) or format_key(base)
    return "+".join([*modifiers, name])


@dataclass(frozen=True)
class Scope:
    """Where a registry key applies, as the TUI shows it."""

    scope: str
    help_title: str  # its section in ``?`` help
    palette_title: str  # the prefix of its command-palette entries
    view: str  # the view to show before running it from the palette ("" = the app)
    widget: str  # the id of the widget whose action runs ("" = the app)


SCOPES = [
    Scope("programs", "Programs (1)", "Programs", "programs", "programs"),
    Scope("gunicorn", "Gunicorn (2)", "Gunicorn", "gunicorn", "gunicorn"),
    Scope("nginx", "Nginx (3)", "Nginx", "nginx", "nginx"),
    Scope("logs", "Logs (4): the source list", "Logs", "logs", "logs"),
    Scope("log", "Logs (4): a log", "Log", "logs", "log-view"),
    Scope("app", "Everywhere", "Console", "", ""),
]


def binding(key: Key) -> Binding:
    return Binding(
        key.key,
        key.action,
        key.text,
        show=key.show,
        priority=key.priority,
        id=f"{key.op}@{key.scope}:{key.key}",
    )


def bindings(scope: str) -> list[BindingType]:
    """The Textual bindings of one scope (a view's widget, or ``app``), from the registry."""
    return [binding(k) for k in keys_for(scope)]


def key_hint(scope: str, *leave_out: str) -> str:
    """A one-line reminder of a view's footer keys (``t test  R reload …``), from the registry;
    ``leave_out`` names operations not to mention."""
    return "  ".join(
        f"{key_label(k.key)} {k.text.lower()}"
        for k in keys_for(scope)
        if k.show and k.op not in leave_out
    )


def help_sections() -> list[tuple[str, list[tuple[str, str]]]]:
    """``?`` help: every key of every view, then every ``:`` command, then list moves."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for scope in SCOPES:
        rows: list[tuple[str, str]] = []
        seen: set[str] = set()
        for k in keys_for(scope.scope):
            if k.key not in seen:
                seen.add(k.key)
                rows.append((key_label(k.key), k.text))
        sections.append((scope.help_title, rows))
    sections.append(
        (
            "Commands (:)",
            [
                (f":{c.name} {c.usage}".rstrip(), c.help)
                for c in COMMANDS.values()
                if c.name != "quit"
            ],
        )
    )
    sections.append(
        ("Lists", [("j / k, ↑ / ↓", "move"), ("g / G", "top / bottom"), ("esc", "back, clear")])
    )
    return sections


@dataclass(frozen=True)
class PaletteEntry:
    """One command-palette hit: a key in its view, or a ``:`` command."""

    label: str
    help: str
    view: str = ""  # for a key: the view to show ("" = the app) ...
    widget: str = ""  # ... and the widget whose action runs ("" = the app)
    action: str = ""  # for a key: the action it runs
    command: str = ""  # for a ``:`` command: the text typed into the command bar


def palette_entries() -> list[PaletteEntry]:
    """Every key of every view (run in its view) and every ``:`` command (opens the bar)."""
    entries: list[PaletteEntry] = []
    for scope in SCOPES:
        for k in keys_for(scope.scope):
            entries.append(
                PaletteEntry(
                    f"{scope.palette_title}: {k.text}",
                    f"key {key_label(k.key)} — {OPERATIONS[k.op].help}",
                    scope.view,
                    scope.widget,
                    k.action,
                )
            )
    for c in COMMANDS.values():
        if c.name != "quit":
            entries.append(
                PaletteEntry(f":{c.name} {c.usage}".rstrip(), c.help, command=f":{c.name} ")
            )
    return entries
