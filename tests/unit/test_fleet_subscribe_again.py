"""A subscription the agent refused or did not answer is asked for again, and the failed
one is not kept (it would be subscribed again, unheard, on the next connection)."""

from __future__ import annotations

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
