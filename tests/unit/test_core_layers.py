"""The core's layers stay apart: the TUI reads the machine only through the core, gunicorn's
options are read in one place, and a backend module stays small or says why it is not."""

from __future__ import annotations

import ast
from pathlib import Path

import opsconsole

ROOT = Path(opsconsole.__file__).parent
BACKENDS = ("supervisor", "gunicorn", "nginx", "logs")
#: gunicorn's options as spelled on a command line (demo/stack.py writes them, it reads none)
GUNICORN_OPTIONS = ("--error-logfile", "--access-logfile", "--log-file", "--worker-class")


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module.split(".")[0])
    return out


def test_the_tui_reads_processes_only_through_the_core() -> None:
    """No view or screen calls psutil, spawns or signals: the core does, behind its checks."""
    found = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / "tui").rglob("*.py"))
        for name in _imports(path) & {"psutil", "subprocess", "signal"}
    }
    assert found == set()


def test_the_core_never_imports_textual() -> None:
    found = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "core").rglob("*.py"))
        if "textual" in _imports(path)
    ]
    assert found == []


def test_one_reader_of_gunicorn_command_lines() -> None:
    """Only core/gunicorn/parse.py reads gunicorn's options (with gunicorn's own parser):
    no second, hand-made scanner of ``--error-logfile`` and friends anywhere in the core."""
    allowed = ROOT / "core" / "gunicorn" / "parse.py"
    found = []
    for path in sorted((ROOT / "core").rglob("*.py")) + sorted((ROOT / "tui").rglob("*.py")):
        if path == allowed:
            continue
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and any(option in node.value for option in GUNICORN_OPTIONS)
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert found == []


def test_backend_modules_stay_small_or_say_why() -> None:
    """A module of a backend package over ~600 lines says at its top why it is not cut."""
    found = []
    for backend in BACKENDS:
        for path in sorted((ROOT / "core" / backend).glob("*.py")):
            text = path.read_text()
            doc = ast.get_docstring(ast.parse(text)) or ""
            if text.count("\n") > 620 and "Over 600 lines" not in doc:
                found.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert found == []
