"""The four bugs found when the console was tried as a new user would (issue 15).

Each test drives the real app with Pilot at 80x24 and checks what an operator sees.
"""

from __future__ import annotations

import socket
from typing import Any

from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.probes import ProbeStrip
from tests.tui.fakes import StaticMonitor, fake_config
from tests.tui.helpers import Terminal, burst, screen_text, until


def silent_listener() -> socket.socket:
    """A loopback socket that accepts connections and never answers: a probe of it times out,
    so the probe line appears only after the first screen is drawn and settled."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def fake_app(**config: Any) -> OpsConsoleApp:
    cfg = fake_config()
    for key, value in config.items():
        setattr(cfg, key, value)
    return OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="web-01")


async def test_probe_line_appearing_keeps_tabs_and_one_table_header() -> None:
    """Once the probe line appears above the tabs (80x24), the tab row stays on screen and the
    program table's header is drawn once: the bar that grew from 0 to 1 line got a layout."""
    listener = silent_listener()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    app = fake_app(probes=[{"name": "web", "url": url, "timeout": 1.5}])
    terminal = Terminal(app, (80, 24))
    with listener:
        async with app.run_test(size=(80, 24)) as pilot:
            strip = app.query_one(ProbeStrip)
            await until(pilot, lambda: strip.display and "✖ web" in screen_text(pilot), 10)
            await until(pilot, lambda: "✖ web" in terminal.text(), 5)
            await pilot.pause(0.3)
            lines = terminal.text().splitlines()
            tab_rows = [i for i, line in enumerate(lines) if "1 Programs" in line]
            headers = [i for i, line in enumerate(lines) if line.split()[:2] == ["Name", "State"]]
            probe_rows = [i for i, line in enumerate(lines) if "✖ web" in line]
            assert len(tab_rows) == 1, "\n".join(lines)
            assert len(headers) == 1, "\n".join(lines)
            assert probe_rows and probe_rows[0] < tab_rows[0] < headers[0], "\n".join(lines)


async def test_keys_typed_right_after_colon_all_reach_the_command_bar(demo_stack: Any) -> None:
    """`:logs web` + Enter arriving in one burst (a fast typist, a paste, a laggy SSH link)
    opens web's logs: no key typed after `:` runs a binding of the view below (`a` = audit,
    `l` = logs, `s` = start ...)."""
    from opsconsole.tui.screens.audit import AuditScreen
    from opsconsole.tui.widgets.logs import LogsView
    from tests.tui.helpers import stack_config

    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.monitor.snapshots["demo"].ok, 10)
        await burst(pilot, ":", "l", "o", "g", "s", " ", "w", "e", "b", "enter")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, AuditScreen)
        logs = app.query_one(LogsView)
        await until(pilot, lambda: "web" in " ".join(logs.open_keys), 5)
        assert app.query_one("#views").current == "logs"  # type: ignore[attr-defined]
