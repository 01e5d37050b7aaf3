"""State symbols and theme-aware styles: state is always a symbol and a word, colour only helps."""

from __future__ import annotations

from textual.app import App
from textual.theme import Theme

#: state → (symbol, role). The symbol keeps state readable without colour.
STATES: dict[str, tuple[str, str]] = {
    "RUNNING": ("●", "success"),
    "STARTING": ("◐", "accent"),
    "STOPPING": ("◑", "accent"),
    "STOPPED": ("○", "dim"),
    "EXITED": ("◌", "warning"),
    "BACKOFF": ("↻", "bold warning"),
    "FATAL": ("✖", "bold error"),
    "UNKNOWN": ("?", "bold error"),
}

_FALLBACK = {"success": "green", "warning": "yellow", "error": "red", "accent": "cyan"}


def role_style(theme: Theme | None, role: str) -> str:
    """A Rich style for a role ("success", "bold error", "dim", …) in the current theme."""
    parts = role.split()
    out = []
    for part in parts:
        if part in _FALLBACK:
            colour = getattr(theme, part, None) if theme is not None else None
            out.append(str(colour) if colour else _FALLBACK[part])
        else:
            out.append(part)
    return " ".join(out)


def state_role(statename: str) -> tuple[str, str]:
    return STATES.get(statename, ("?", "bold error"))


def app_theme(app: App[object]) -> Theme | None:
    try:
        return app.current_theme
    except Exception:  # before the app is running
        return None
