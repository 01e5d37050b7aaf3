"""One registry of operations (core.operations): every key as shown in the footer, in `?` help
and in the command palette is the key that runs it.

The walk presses every registered key in its view of a read-only app (fixed gunicorn and nginx
models, tests/tui/fakes.py, so nothing on this machine is touched), records the action each
key press dispatched and the operation ids that reached the gate, and compares them with the
registry.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from opsconsole.core.operations import KEYS, OPERATIONS, Key, keys_for
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.keys import SCOPES, help_sections, key_label, palette_entries
from opsconsole.tui.screens.help import HelpScreen
from opsconsole.tui.widgets.gunicorn import GunicornView
from opsconsole.tui.widgets.logview import LogView
from opsconsole.tui.widgets.nginx import NginxView
from tests.tui.fakes import StaticMonitor, fake_config
from tests.tui.helpers import until, use_fixed_backends

#: keys not pressed in the walk: they end the app
NOT_PRESSED = {"q", "ctrl+c"}
WIDGET_OF = {s.scope: s.widget for s in SCOPES}


def test_every_key_is_in_help_and_the_palette_as_registered() -> None:
    sections = dict(help_sections())
    entries = {(e.label, e.help) for e in palette_entries()}
    for scope in SCOPES:
        rows = sections[scope.help_title]
        for k in keys_for(scope.scope):
            assert (key_label(k.key), k.text) in rows, (scope.help_title, k)
            label, help_line = f"{scope.palette_title}: {k.text}", OPERATIONS[k.op].help
            assert (label, f"key {key_label(k.key)} — {help_line}") in entries, k


def test_key_labels_are_what_is_typed() -> None:
    assert key_label("plus") == "+"
    assert key_label("minus") == "-"
    assert key_label("equals_sign") == "="
    assert key_label("escape,q,question_mark") == "esc, q, ?"
    assert key_label("ctrl+a") == "ctrl+a"
    assert key_label("left_square_bracket") == "["


def test_the_registry_is_consistent() -> None:
    """Every key names a registered operation; no key is bound twice in one scope; every
    mutating operation that asks for a confirmation says what it will ask."""
    seen: set[tuple[str, str]] = set()
    for k in KEYS:
        assert k.op in OPERATIONS
        assert (k.scope, k.key) not in seen, k
        seen.add((k.scope, k.key))
    for op in OPERATIONS.values():
        if op.mutating and op.confirm:
            assert op.question.endswith("?"), op


class Recorder:
    def __init__(self) -> None:
        self.actions: list[tuple[Any, str]] = []
        self.gated: list[str] = []


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Every action dispatched (on which node) and every operation id the gate checked."""
    use_fixed_backends(monkeypatch)
    rec = Recorder()
    dispatch = App._dispatch_action

    async def recording(self: App[Any], namespace: Any, action_name: str, params: Any) -> bool:
        rec.actions.append((namespace, action_name))
        return await dispatch(self, namespace, action_name, params)

    monkeypatch.setattr(App, "_dispatch_action", recording)
    return rec


async def go_to(pilot: Any, scope: str) -> None:
    """Give the keyboard to ``scope``'s widget, with something selected to act on."""
    app: OpsConsoleApp = pilot.app
    for _ in range(4):  # close what an earlier key opened: a screen, a prompt, a filter
        if len(app.screen_stack) == 1 and not isinstance(app.focused, Input):
            break
        await pilot.press("escape")
    if scope in ("programs", "app"):
        await pilot.press("1")
        await pilot.press("G")  # a program row (the last), not a group
    elif scope == "gunicorn":
        await pilot.press("2")
        view = app.query_one(GunicornView)
        if view.collapsed or view.filter_text:  # an earlier enter folded, / filtered
            view.collapsed.clear()
            view.action_clear()
            view.refresh_now()
        workers = await until(pilot, lambda: [r for r in view.rows if r.worker is not None])
        worker = workers[0]
        view.select(worker.key)  # a worker: K has a target; + - = R act on its master
    elif scope == "nginx":
        await pilot.press("3")
        app.query_one(NginxView).action_back()
    elif scope == "logs":
        await pilot.press("4")
        if not app.query_one("#log-sources").has_focus:
            await pilot.press("tab")
    elif scope == "log":
        await pilot.press("4")
        if not app.query_one("#log-sources-pane").display:
            await pilot.press("tab")
        await pilot.press("enter")  # open the highlighted source
        await until(pilot, lambda: app.query_one(LogView).query_one("LogLines").has_focus)
    await pilot.pause(0.05)


def ran(rec: Recorder, app: OpsConsoleApp, key: Key) -> bool:
    """Whether ``key``'s action ran on its scope's widget (or the app)."""
    name = key.action.split("(")[0]
    widget = WIDGET_OF[key.scope]
    for namespace, action in rec.actions:
        if action != name:
            continue
        if not widget and namespace is app:
            return True
        if widget and getattr(namespace, "id", None) == widget:
            return True
    return False


async def test_each_key_runs_its_operation(recorded: Recorder) -> None:
    cfg = fake_config(read_only=True)
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="web-01")
    app.gate.check = _spy(app.gate.check, recorded)  # type: ignore[method-assign]
    footers: dict[str, dict[str, str]] = {}
    async with app.run_test(size=(160, 48)) as pilot:
        gv, nv = app.query_one(GunicornView), app.query_one(NginxView)
        await until(pilot, lambda: gv.scans > 0 and gv.rows, 10)
        await until(pilot, lambda: nv.instance is not None and nv.inspection is not None, 10)
        wrong: list[str] = []
        for scope in SCOPES:
            await go_to(pilot, scope.scope)
            footers[scope.scope] = {
                fk.description: fk.key_display for fk in app.screen.query(FooterKey)
            }
            for key in keys_for(scope.scope):
                if key.key in NOT_PRESSED:
                    continue
                await go_to(pilot, scope.scope)
                recorded.actions.clear()
                recorded.gated.clear()
                await pilot.press(key.key.split(",")[0])
                await pilot.pause(0.05)
                for _ in range(3):  # a picker or a count comes before the gate
                    name = type(app.screen).__name__
                    if name == "PickScreen":
                        await pilot.press("enter")
                    elif name == "CountScreen":
                        await pilot.press("3", "enter")
                    await pilot.pause(0.05)
                if not ran(recorded, app, key):
                    wrong.append(f"{scope.scope} {key.key}: {key.action} did not run")
                op = OPERATIONS[key.op]
                if op.mutating and key.op not in recorded.gated:
                    wrong.append(f"{scope.scope} {key.key}: {key.op} never reached the gate")
                if isinstance(app.screen, HelpScreen):
                    await pilot.press("escape")
        assert wrong == [], "\n".join(wrong)
    # The footer writes each key it shows as help and the palette do (a view's footer also
    # shows the keys of the widgets around the focused one, and the app's).
    shown = {(k.text, key_label(k.key)) for k in KEYS if k.show}
    for scope in ("programs", "gunicorn", "nginx", "logs", "log"):
        assert footers[scope], scope
        for text, display in footers[scope].items():
            assert (text, display) in shown, (scope, text, display)
    assert footers["gunicorn"]["+1 worker"] == "+"


def _spy(check: Any, rec: Recorder) -> Any:
    def spying(op_id: str, target: str, params: Any = None) -> None:
        rec.gated.append(op_id)
        check(op_id, target, params)

    return spying
