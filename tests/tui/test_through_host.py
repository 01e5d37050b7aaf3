"""The views act through the host: a key sends an OperationRequest to ``host.perform``, only
after the operator's yes, with ``confirmed`` set and, for gunicorn, the proof of the master
shown (its create time). The views show what the host answered (here: a refusal in words).

Fixed backends (no real process): what is checked is the seam a remote host will sit behind,
so the host's ``perform`` is the spy; the gate and the confirmation screen are the real ones.
"""

from __future__ import annotations

import pytest

from opsconsole.core.host import REFUSED, HostError, OperationRequest, OperationResult
from opsconsole.core.local import LocalHost
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.screens.confirm import ConfirmScreen
from opsconsole.tui.widgets.gunicorn import GunicornView
from opsconsole.tui.widgets.nginx import NginxView
from opsconsole.tui.widgets.programs import ProgramsView
from tests.tui.fakes import StaticMonitor, fake_config
from tests.tui.helpers import screen_text, until, use_fixed_backends


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[OperationRequest]:
    """Every request that reached the host; each is refused (nothing is done)."""
    use_fixed_backends(monkeypatch)
    requests: list[OperationRequest] = []

    async def perform(self: LocalHost, request: OperationRequest) -> OperationResult:
        requests.append(request)
        return OperationResult(
            host=self.name,
            operation=request.operation,
            target=request.target,
            outcome=REFUSED,
            message="the test host does nothing",
            at=0.0,
            error=HostError("OpsError", "the test host does nothing", "it is a spy"),
        )

    monkeypatch.setattr(LocalHost, "perform", perform)
    return requests


async def test_program_and_gunicorn_keys_send_requests_to_the_host(
    sent: list[OperationRequest],
) -> None:
    cfg = fake_config()
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="web-01")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        programs = app.query_one(ProgramsView)
        await until(pilot, lambda: len(programs.rows) > 3)
        await pilot.press("1", "G")
        row = programs.current_row()
        assert row is not None and row.proc is not None
        name = row.proc.fullname
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert sent == []  # nothing reaches the host before the yes
        await pilot.press("y")
        await until(pilot, lambda: sent)
        assert sent[0] == OperationRequest(
            "supervisor.restart", name, {"server": "demo", "names": [name]}, confirmed=True
        )
        await until(pilot, lambda: "the test host does nothing" in screen_text(pilot))

        await pilot.press("2")
        view = app.query_one(GunicornView)
        await until(pilot, lambda: view.masters)
        master = view.masters[0]
        assert view.select(f"m:{master.pid}")
        await pilot.press("plus")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert len(sent) == 1
        await pilot.press("y")
        await until(pilot, lambda: len(sent) == 2)
        scale = sent[1]
        assert (scale.operation, scale.target, scale.confirmed) == (
            "gunicorn.scale",
            str(master.pid),
            True,
        )
        assert scale.parameters["count"] == "+1"
        assert scale.parameters["create_time"] == master.create_time  # proof of the master


async def test_nginx_keys_send_requests_to_the_host(sent: list[OperationRequest]) -> None:
    """``t`` tests and ``R`` reloads the nginx shown through ``host.perform``: the test at
    once (it changes nothing), the reload only after the yes; the answer is shown in words."""
    cfg = fake_config()
    app = OpsConsoleApp(cfg, monitor=StaticMonitor(cfg), audit=False, host="web-01")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.press("3")
        view = app.query_one(NginxView)
        inst = await until(pilot, lambda: view.instance)
        await pilot.press("t")
        await until(pilot, lambda: sent)
        assert sent == [OperationRequest("nginx.test", inst.label, confirmed=True)]
        await until(pilot, lambda: "the test host does nothing" in screen_text(pilot))

        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert f"master {inst.master_pid}" in screen_text(pilot)
        assert len(sent) == 1  # nothing reaches the host before the yes
        await pilot.press("y")
        await until(pilot, lambda: len(sent) == 2)
        proof = {"master_pid": inst.master_pid, "create_time": inst.master_create_time}
        assert sent[1] == OperationRequest("nginx.reload", inst.label, proof, confirmed=True)
        assert view.last_reload is None  # a refusal is not shown as a reload outcome
