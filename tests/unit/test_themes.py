from __future__ import annotations

import pytest

from opsconsole.tui.themes import (
    DEFAULT_THEME,
    MONO_THEME,
    load_themes,
    resolve_theme_name,
    theme_from_data,
)


def test_the_four_themes_ship() -> None:
    names = set(load_themes())
    assert {"opsconsole-dark", "opsconsole-light", "opsconsole-contrast", MONO_THEME} <= names


@pytest.mark.parametrize(
    ("requested", "env", "expected"),
    [
        (None, {}, DEFAULT_THEME),
        (None, {"NO_COLOR": "1"}, MONO_THEME),
        (None, {"TERM": "linux"}, MONO_THEME),
        ("light", {"NO_COLOR": "1"}, "opsconsole-light"),  # an explicit choice wins
        ("opsconsole-contrast", {}, "opsconsole-contrast"),
        ("nope", {}, DEFAULT_THEME),
    ],
)
def test_theme_choice(requested: str | None, env: dict[str, str], expected: str) -> None:
    available = set(load_themes())
    assert resolve_theme_name(requested, available, env) == expected


def test_a_theme_needs_a_name_and_primary() -> None:
    with pytest.raises(ValueError, match="needs at least name and primary"):
        theme_from_data({"name": "x"}, "x.toml")
