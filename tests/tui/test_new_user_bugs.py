"""The four bugs found when the console was tried as a new user would (issue 15).

Each test drives the real app with Pilot at 80x24 and checks what an operator sees.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.probes import ProbeStrip
from tests.tui.fakes import StaticMonitor, fake_config
from tests.tui.helpers import Terminal, burst, screen_text, shows, until, use_fixed_backends


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


async def test_help_writes_keys_as_typed_plus_minus_equals(monkeypatch: pytest.MonkeyPatch) -> None:
    """`?` shows the gunicorn view's scale keys as `+ - =`, not Textual's key names."""
    use_fixed_backends(monkeypatch)
    app = fake_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2", "question_mark")
        text = await shows(pilot, "Keys", "+1 worker", "-1 worker", "Count")
        assert "plus" not in text and "minus" not in text and "equals_sign" not in text, text
        # a help row: the key, a wide gap, what it does (the footer has single spaces)
        rows = dict(
            (what, key)
            for key, what in re.findall(r"(\S+) {5,}(\+1 worker|-1 worker|Count)\b", text)
        )
        assert rows == {"+1 worker": "+", "-1 worker": "-", "Count": "="}, text


def resource_view_keys() -> dict[str, dict[str, str]]:
    """{view: {key: what the key is called there}} for the views that act on a selected
    thing (a program, a gunicorn master or worker, nginx)."""
    from textual.binding import Binding

    from opsconsole.tui.widgets.gunicorn import GunicornView
    from opsconsole.tui.widgets.nginx import NginxView
    from opsconsole.tui.widgets.programs import ProgramsView

    views = {"programs": ProgramsView, "gunicorn": GunicornView, "nginx": NginxView}
    return {
        name: {
            b.key: b.description
            for b in view.BINDINGS
            if isinstance(b, Binding) and b.key != "escape"  # esc: back/clear everywhere
        }
        for name, view in views.items()
    }


def test_one_verb_one_key_in_every_view() -> None:
    """k9s: a key means the same thing in every view where it is bound (no `T` = TERM here
    and topology there), and sending a signal is the same key for a program and a worker."""
    keys = resource_view_keys()
    meanings: dict[str, set[str]] = {}
    for bound in keys.values():
        for key, what in bound.items():
            meanings.setdefault(key, set()).add(what)
    assert {k: m for k, m in meanings.items() if len(m) > 1} == {}
    signal = {
        view: [k for k, what in bound.items() if what == "Signal"] for view, bound in keys.items()
    }
    assert signal["programs"] and signal["programs"] == signal["gunicorn"], signal


async def test_signal_key_opens_the_picker_for_a_gunicorn_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`K` on a worker row asks which signal (TERM, KILL, ABRT), as `K` does for a program."""
    from opsconsole.tui.screens.pick import PickScreen
    from opsconsole.tui.widgets.gunicorn import GunicornView

    use_fixed_backends(monkeypatch)
    app = fake_app(read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.query_one(GunicornView)
        await until(pilot, lambda: view.scans > 0 and view.rows, 10)
        await pilot.press("2")
        worker = next(r for r in view.rows if r.worker is not None)
        assert view.select(worker.key)
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, PickScreen), 5)
        await shows(pilot, "TERM", "KILL", "ABRT", f"worker {worker.worker.pid}")  # type: ignore[union-attr]
        await pilot.press("escape")
        await pilot.press("1", "K")
        await until(pilot, lambda: isinstance(app.screen, PickScreen), 5)
        await shows(pilot, "HUP", "USR1", "TERM")
