"""What the console costs supervisord: one getAllProcessInfo a refresh whatever else reads
the programs (probes, the gunicorn and nginx views), and a refresh interval that stretches,
visibly, when supervisord answers slowly."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest

from opsconsole.core.config import AppConfig
from opsconsole.core.supervisor.client import SupervisorClient
from opsconsole.core.supervisor.monitor import ServerSnapshot
from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.session import refresh_interval
from tests.tui.fakes import StaticMonitor, fake_config
from tests.tui.helpers import screen_text, stack_config, until


def test_the_interval_stretches_only_for_slow_answers() -> None:
    assert refresh_interval(1.0, 0.05) == 1.0  # a twentieth of the interval: as configured
    assert refresh_interval(1.0, 0.1) == 1.0
    assert refresh_interval(1.0, 0.35) == 3.5  # ten times the answer
    assert refresh_interval(1.0, 0.31) == 3.5  # rounded up to half a second
    assert refresh_interval(1.0, 60.0) == 30.0  # at most 30 s
    assert refresh_interval(60.0, 0.5) == 60.0  # never shorter than configured


class SlowMonitor(StaticMonitor):
    """A supervisord that takes 350 ms to answer each poll (the latency a poll reports: a
    real one this slow cannot be had on demand)."""

    async def poll(self, server: str) -> ServerSnapshot:
        snap = dataclasses.replace(await super().poll(server), latency=0.35)
        self.snapshots[server] = snap
        return snap


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_a_slow_supervisord_stretches_the_refresh_and_the_status_bar_says_so(
    size: tuple[int, int],
) -> None:
    cfg: AppConfig = fake_config()
    cfg.refresh = 0.2
    app = OpsConsoleApp(cfg, monitor=SlowMonitor(cfg), audit=False, host="h")
    polls: Counter[str] = Counter()
    async with app.run_test(size=size) as pilot:
        machine = app.session.machine
        supervisord = machine.supervisord

        async def counted(name: str) -> Any:
            polls[name] += 1
            return await supervisord(name)

        machine.supervisord = counted  # type: ignore[method-assign]
        await until(pilot, lambda: app.session.intervals["demo"] == 3.5)
        top = (await _top_line(pilot, "refresh 3.5s")).strip()
        if size[0] >= 120:
            assert "refresh 3.5s (supervisord slow: 350 ms/answer)" in top
        else:  # the short form still says it
            assert "refresh 3.5s (slow: 350 ms)" in top
        assert "RUNNING" in top  # the counts are still there
        seen = polls["demo"]
        await pilot.pause(1.5)  # at 0.2 s this would be 7 more polls; every 3.5 s: one at most
        assert polls["demo"] - seen <= 1


async def _top_line(pilot: Any, phrase: str) -> str:
    await until(pilot, lambda: phrase in screen_text(pilot).splitlines()[0])
    return screen_text(pilot).splitlines()[0]


@pytest.mark.integration
async def test_one_get_all_process_info_a_refresh_whoever_reads_the_programs(
    demo_stack: DemoStack,
) -> None:
    """Probes, the gunicorn view (its scan matches masters to programs) and the nginx view all
    read the programs; they use the session's poll: supervisord is asked getAllProcessInfo
    at most once for each refresh of the session (before, each of them polled on its own
    whenever the session's poll was older than one refresh), and not at all for a refresh
    that finds it quiet (core/supervisor/quiet.py)."""
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    calls: Counter[str] = Counter()
    polls = 0
    client = app.session.monitor.client("demo")
    assert isinstance(client, SupervisorClient)
    call_raw = client.call_raw
    machine = app.session.machine
    supervisord = machine.supervisord

    async def counted_call(method: str, *args: Any, **kwargs: Any) -> bytes:
        calls[method] += 1
        return await call_raw(method, *args, **kwargs)

    async def counted_poll(name: str) -> Any:
        nonlocal polls
        polls += 1
        return await supervisord(name)

    client.call_raw = counted_call  # type: ignore[method-assign]
    machine.supervisord = counted_poll  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:  # counted from the start
        for view in ("2", "3", "1"):  # each view reads the programs while shown
            await pilot.press(view)
            await pilot.pause(1.5)
        await until(pilot, lambda: app.session.probes.states, 10)
        done = polls
        assert done >= 3
        # never more than one a refresh; the demo's supervisord is idle: most are not asked
        assert 1 <= calls["supervisor.getAllProcessInfo"] <= done, (calls, done)
        assert calls["supervisor.getAllProcessInfo"] < done, "an idle supervisord was asked"


@pytest.mark.integration
async def test_a_program_stopped_and_started_shows_its_new_state_on_screen(
    demo_stack: DemoStack,
) -> None:
    """The program list renders again only the cells that changed: those must show their new
    values on screen (a render cache kept by row number once left every row as first drawn)."""
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    rpc = demo_stack.rpc().supervisor

    def row(pilot: Any) -> str:
        return next((ln for ln in screen_text(pilot).splitlines() if "queue_01" in ln), "")

    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "RUNNING" in row(pilot), 30)
        rpc.stopProcess("queue:queue_01")
        try:
            await until(pilot, lambda: "STOPPED" in row(pilot), 30)
            assert "RUNNING" not in row(pilot)
        finally:
            rpc.startProcess("queue:queue_01")
        await until(pilot, lambda: "RUNNING" in row(pilot), 30)
        first = row(pilot)
        await until(pilot, lambda: row(pilot) != first, 30)  # its uptime counts: 1s, 2s …
        assert "RUNNING" in row(pilot)
