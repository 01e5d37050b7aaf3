"""The README's 'What happens when…' table is rendered from tests/faults/catalog.py, and
every test the catalog names exists. Regenerate with
``.venv/bin/python -m tests.faults.catalog --write``."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.faults import catalog

ROOT = Path(__file__).resolve().parents[2]


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
    }


def test_every_named_test_exists() -> None:
    missing = []
    for fault in catalog.CATALOG:
        assert fault.tests, f"{fault.fault}: no test shows it"
        for ref in fault.tests:
            if ref in catalog.NOT_TESTS:
                continue
            file, _, name = ref.partition("::")
            path = ROOT / file
            if not path.is_file() or name.split("[")[0] not in _test_names(path):
                missing.append(ref)
    assert not missing, f"the catalog names tests that do not exist: {missing}"


def test_every_fault_test_is_in_the_catalog() -> None:
    named = {ref for fault in catalog.CATALOG for ref in fault.tests}
    here = Path(__file__).parent
    unlisted = [
        f"tests/faults/{path.name}::{name}"
        for path in sorted(here.glob("test_*_faults.py"))
        for name in sorted(_test_names(path))
        if f"tests/faults/{path.name}::{name}" not in named
    ]
    assert not unlisted, f"fault tests missing from tests/faults/catalog.py: {unlisted}"


def test_readme_table_is_current() -> None:
    current = catalog.section((ROOT / "README.md").read_text(encoding="utf-8"))
    assert current is not None, (
        f"README.md has no {catalog.BEGIN} … {catalog.END} section: "
        "run `.venv/bin/python -m tests.faults.catalog --write`"
    )
    assert current == catalog.render(), (
        "README.md's fault table is out of date: "
        "run `.venv/bin/python -m tests.faults.catalog --write`"
    )


def test_render_lists_every_fault_once() -> None:
    table = catalog.render()
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and "---" not in ln]
    assert len(rows) == len(catalog.CATALOG) + 1  # header row
    for fault in catalog.CATALOG:
        assert sum(fault.fault.replace("|", "\\|") in row for row in rows) == 1
