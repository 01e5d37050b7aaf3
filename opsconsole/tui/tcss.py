"""Widget styles live in ``.tcss`` files beside the widgets (shipped in the wheel with them)."""

from __future__ import annotations

from pathlib import Path


def load_tcss(module_file: str, name: str) -> str:
    """The text of the stylesheet ``name`` in the directory of ``module_file``.

    For a widget's ``DEFAULT_CSS`` (Textual's ``CSS_PATH`` is for apps and screens only): the
    rules keep the low priority and the scoping to the widget that ``DEFAULT_CSS`` gives.
    Raises OSError when the file is missing (a broken install, caught at import).
    """
    return Path(module_file).with_name(name).read_text(encoding="utf-8")
