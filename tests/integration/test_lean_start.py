"""What ``opsconsole tui`` imports before its first frame: the console and the program list,
not the gunicorn and nginx backends (crossplane, the gunicorn library), the metrics, the
syntax highlighter, httpx or psutil. Each is imported where first used (a scan, a
sample, an operation, a screen), after the program list is drawn; importing them at start
cost about a third of the launch → first frame time (benchmark figure 3).

A fresh interpreter (a subprocess) imports what the ``tui`` command imports and lists
``sys.modules``; no server is started.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration  # starts a Python process

#: what the first frame must not have imported (module name prefixes)
NOT_AT_START = (
    "opsconsole.core.gunicorn",
    "opsconsole.core.nginx",
    "opsconsole.core.metrics",
    "opsconsole.core.rolling",
    "opsconsole.tui.screens.audit",
    "opsconsole.tui.screens.help",
    "opsconsole.tui.screens.rolling",
    "crossplane",
    "gunicorn",
    "prometheus_client",
    "pygments",
    "rich.syntax",
    "anyio",
    "httpcore",
    "httpx",  # the supervisor client's own transport reads supervisord (httpx: https only)
    "psutil",  # the first usage sample reads /proc itself; psutil comes with the scans
)

#: what the first frame does import (the same list would pass if nothing were imported)
AT_START = (
    "opsconsole.tui.app",
    "opsconsole.tui.widgets.programs",
    "opsconsole.core.local",
    "opsconsole.core.supervisor.client",
    "textual.app",
)

SCRIPT = """
import json, sys
import opsconsole.cli, opsconsole.cli.tui
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.programs import ProgramsView
print(json.dumps(sorted(sys.modules)))
"""


def modules_at_start() -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(out.stdout))


def test_the_first_frame_does_not_import_the_backends_it_does_not_show() -> None:
    loaded = modules_at_start()
    assert set(AT_START) <= loaded, f"the TUI's own modules are missing: {set(AT_START) - loaded}"
    early = sorted(m for m in loaded if m.startswith(NOT_AT_START))
    assert not early, (
        f"imported before the first frame, though not needed for it: {early}; import them "
        "where they are first used (inside the function, or under TYPE_CHECKING for types)"
    )
