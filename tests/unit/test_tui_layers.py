"""The TUI's layers stay apart: views read the session they are given, never the app object;
the session holds no widget; the app reads no view's state back.

Textual's own API on ``self.app`` (notify, push_screen, size, console, ...) is fine; an
attribute the opsconsole app carries (monitor, timeline, request, config, ...) is not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import opsconsole.tui

TUI = Path(opsconsole.tui.__file__).parent
#: what widgets may use of ``self.app``: Textual's App API, no opsconsole state
TEXTUAL_APP_API = {
    "notify",
    "push_screen",
    "pop_screen",
    "bell",
    "call_from_thread",
    "size",
    "console",
    "theme",
    "current_theme",
    "get_theme",
    "screen",
    "exit",
    "copy_to_clipboard",
}


def _app_uses(path: Path) -> list[str]:
    """Every ``self.app.X`` and ``getattr(self.app, "X")`` in ``path``, as ``line: X``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        attr = None
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "app"
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "self"
        ):
            attr = node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and node.args
            and isinstance(node.args[0], ast.Attribute)
            and node.args[0].attr == "app"
            and isinstance(node.args[0].value, ast.Name)
            and node.args[0].value.id == "self"
        ):
            arg = node.args[1] if len(node.args) > 1 else None
            attr = arg.value if isinstance(arg, ast.Constant) else "?"
        if attr is not None and attr not in TEXTUAL_APP_API:
            found.append(f"{path.name}:{node.lineno}: self.app.{attr}")
    return found


def test_views_read_no_state_from_the_app() -> None:
    files = sorted((TUI / "widgets").glob("*.py")) + sorted((TUI / "screens").glob("*.py"))
    assert files
    assert [use for f in files for use in _app_uses(f)] == []


def test_the_session_holds_no_widget() -> None:
    tree = ast.parse((TUI / "session.py").read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    # its messages and the UI protocol it is lent are no widget: the one module of the TUI it uses
    imported = [m for m in imported if m != "opsconsole.tui.session_messages"]
    assert not [m for m in imported if m.startswith(("opsconsole.tui.", "textual.widget"))]


def test_the_app_reads_no_view_state() -> None:
    """The app pushes data into views and routes their messages; it never reads a view's
    attributes back (``view.masters``, ``view.instance``, ``.current``, ``.display`` ...)."""
    tree = ast.parse((TUI / "app.py").read_text())

    def is_query(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("query_one", "query")
        )

    # names bound to a queried widget (``view = self.main.query_one(NginxView)``)
    widgets = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and is_query(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call) and n.func is not None}
    reads = [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and id(node) not in called
        and (
            is_query(node.value) or (isinstance(node.value, ast.Name) and node.value.id in widgets)
        )
    ]
    assert reads == []
