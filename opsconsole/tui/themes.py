"""Themes are data: TOML files in ``themes/`` (shipped in the wheel) or the user's theme dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from textual.theme import Theme

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_THEME = "opsconsole-dark"
MONO_THEME = "opsconsole-mono"
_FIELDS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
)


def theme_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent.parent  # opsconsole/
    dirs = [here / "themes", here.parent / "themes"]  # wheel, then source checkout
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    dirs.append(Path(base) / "opsconsole" / "themes")
    return [d for d in dirs if d.is_dir()]


def theme_from_data(data: dict[str, Any], source: str) -> Theme:
    if "name" not in data or "primary" not in data:
        raise ValueError(f"{source}: a theme needs at least name and primary")
    kwargs: dict[str, Any] = {k: str(data[k]) for k in _FIELDS if k in data}
    return Theme(name=str(data["name"]), dark=bool(data.get("dark", True)), **kwargs)


def load_themes() -> dict[str, Theme]:
    themes: dict[str, Theme] = {}
    for directory in theme_dirs():
        for path in sorted(directory.glob("*.toml")):
            try:
                with path.open("rb") as fh:
                    theme = theme_from_data(tomllib.load(fh), str(path))
            except (OSError, ValueError, tomllib.TOMLDecodeError):
                continue
            themes[theme.name] = theme
    return themes


def resolve_theme_name(requested: str | None, available: set[str], env: dict[str, str]) -> str:
    """``--theme`` wins; otherwise mono when NO_COLOR is set or the terminal has few colours."""
    if requested:
        for candidate in (requested, f"opsconsole-{requested}"):
            if candidate in available:
                return candidate
    if "NO_COLOR" in env or env.get("TERM", "") in ("dumb", "linux", "vt100", "vt220", "ansi"):
        return MONO_THEME
    return DEFAULT_THEME
