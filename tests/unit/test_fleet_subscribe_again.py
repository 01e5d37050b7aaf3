"""A subscription the agent refused or did not answer is asked for again, and the failed
one is not kept (it would be subscribed again, unheard, on the next connection)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from opsconsole.core.errors import OpsError
from opsconsole.core.host import HostNotResponding
from opsconsole.core.remote import RemoteHost
from opsconsole.tui import fleet_push


async def test_a_subscribe_not_answered_keeps_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    host = RemoteHost("web2", ["true"])  # never started
    monkeypatch.setattr(host, "start", lambda: None)
    host._open = True

    async def not_answered(sub: Any) -> None:
        raise HostNotResponding("web2 did not answer subscribe within 2s")

    monkeypatch.setattr(host, "_start_sub", not_answered)
    with pytest.raises(OpsError, match="did not answer"):
        await host.subscribe("probes", interval=2.0)
    assert host._subscriptions == []


async def test_the_fleet_subscribes_again_until_the_agent_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(fleet_push.asyncio, "sleep", no_sleep)
    asked: list[tuple[str, float, float]] = []
    made = object()

    async def subscribe(topic: str, *, interval: float, heartbeat: float, summary: bool) -> Any:
        asked.append((topic, interval, heartbeat))
        if len(asked) < 4:
            raise HostNotResponding("web2 did not answer subscribe within 2s")
        return made

    state: Any = SimpleNamespace(host=SimpleNamespace(subscribe=subscribe))
    sub = await fleet_push.subscribed(state, "nginx", 5.0, 30.0)
    assert sub is made and asked == [("nginx", 5.0, 30.0)] * 4
    assert waits == [1.0, 2.0, 4.0]  # a backoff, bounded by RESTART_AFTER


async def test_a_hosts_loop_wakes_when_told_or_after_its_timeout() -> None:
    """The programs loop of each host waits for a push or for its staleness deadline: told
    (before or while it waits) it wakes at once, else after the timeout; a wait cancelled
    (the console closing) leaves nothing behind."""
    loop = asyncio.get_running_loop()
    wake = fleet_push.Wakeup()
    started = loop.time()
    assert await wake.wait(0.05) is False and loop.time() - started >= 0.04
    wake.set()
    assert await wake.wait(5.0) is True  # set before: at once
    wake.clear()
    loop.call_later(0.02, wake.set)
    started = loop.time()
    assert await wake.wait(5.0) is True and loop.time() - started < 1.0
    wake.clear()
    waiting = asyncio.ensure_future(wake.wait(5.0))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert wake._waiter is None
    wake.set()  # nobody waits: nothing to wake, no error
    assert wake.is_set()
