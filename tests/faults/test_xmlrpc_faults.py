"""Huge, endless and malformed XML-RPC answers through the real SupervisorClient.call path
(a loopback HTTP server plays the broken supervisord): every one ends in a bounded, clear
ProtocolError, and the console shows it, keeps answering keys and recovers."""

from __future__ import annotations

import asyncio
import time
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsconsole.core import supervisor
from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.supervisor import ProtocolError, SupervisorClient, SupervisorError
from opsconsole.tui.app import OpsConsoleApp
from tests.faults.common import keys_still_work
from tests.faults.fakerpc import FakeSupervisor
from tests.tui.helpers import flat, screen_text, until

LIMIT = 1024 * 1024  # MAX_RESPONSE_BYTES for these tests: 1 MB instead of 64 MB keeps them fast


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSupervisor]:
    monkeypatch.setattr(supervisor.client, "MAX_RESPONSE_BYTES", LIMIT)
    server = FakeSupervisor().start()
    try:
        yield server
    finally:
        server.stop()


def client_for(fake: FakeSupervisor, timeout: float = 5.0) -> SupervisorClient:
    return SupervisorClient(SupervisorTarget("fake", fake.url), timeout=timeout)


@pytest.mark.parametrize("mode", ["huge", "endless"])
async def test_oversized_answer_is_refused_after_the_limit(fake: FakeSupervisor, mode: str) -> None:
    fake.mode = mode
    fake.size = 70 * 1024 * 1024  # "huge": announced and sent in full if anyone reads it
    client = client_for(fake)
    started = time.monotonic()
    try:
        with pytest.raises(ProtocolError) as info:
            await client.call("supervisor.getAllProcessInfo")
    finally:
        await client.aclose()
    assert "supervisor.getAllProcessInfo" in info.value.message
    assert "is larger than 1 MB; not read" in info.value.message
    assert time.monotonic() - started < 5
    # the client hung up soon after the limit: the server could not push the rest
    deadline = time.monotonic() + 5
    while fake.sent > 0 and time.monotonic() < deadline and fake.sent < 64 * LIMIT:
        before = fake.sent
        await asyncio.sleep(0.2)
        if fake.sent == before:
            break
    assert fake.sent < 32 * LIMIT, f"{fake.sent} bytes were pushed"


@pytest.mark.parametrize(
    ("mode", "method", "words"),
    [
        ("garbage", "get_all_process_info", "is not valid XML-RPC"),
        ("truncated", "get_all_process_info", "is not valid XML-RPC"),
        ("truncated", "get_server_info", "is not valid XML-RPC"),
        ("http500", "get_all_process_info", "answered HTTP 500"),
        ("wrong-shape", "get_all_process_info", "is not a list"),
        ("wrong-shape", "get_server_info", "is not the 4 results asked for"),
        ("bad-entry", "get_all_process_info", "has a malformed entry"),
    ],
)
async def test_malformed_answers_are_clear_protocol_errors(
    fake: FakeSupervisor, mode: str, method: str, words: str
) -> None:
    fake.mode = mode
    client = client_for(fake)
    try:
        with pytest.raises(ProtocolError) as info:
            await getattr(client, method)()
    finally:
        await client.aclose()
    assert words in info.value.message
    assert fake.url in info.value.message  # which server said it
    assert "Traceback" not in str(info.value)


def _xmlrpc_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**31), max_value=2**31 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.dictionaries(st.sampled_from(list(supervisor_fields())), inner, max_size=6)
        ),
        max_leaves=25,
    )


def supervisor_fields() -> list[str]:
    return ["name", "group", "state", "statename", "pid", "start", "now", "exitstatus", "x"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=_xmlrpc_values(), method=st.sampled_from(["processes", "info"]))
def test_any_well_formed_answer_gives_a_value_or_a_supervisor_error(
    answer: Any, method: str
) -> None:
    body = xmlrpc.client.dumps((answer,), methodresponse=True, allow_none=True).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))

    async def run() -> None:
        target = SupervisorTarget("fuzz", "http://127.0.0.1:9")
        async with SupervisorClient(target, transport=transport) as client:
            try:
                if method == "processes":
                    await client.get_all_process_info()
                else:
                    await client.get_server_info()
            except SupervisorError:
                pass

    asyncio.run(run())


async def test_console_shows_bad_answers_and_recovers(fake: FakeSupervisor) -> None:
    fake.mode = "endless"
    cfg = AppConfig(supervisors=[SupervisorTarget("fake", fake.url)], refresh=0.3, timeout=2.0)
    app = OpsConsoleApp(cfg, audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "larger than 1 MB; not read" in flat(screen_text(pilot)), 8)
        assert "fake" in screen_text(pilot).splitlines()[0]
        await keys_still_work(pilot)
        for mode, words in [
            ("wrong-shape", "is not the 4 results asked for"),
            ("garbage", "is not valid XML-RPC"),
            ("bad-entry", "has a malformed entry"),
        ]:
            fake.mode = mode
            await until(pilot, lambda w=words: w in flat(screen_text(pilot)), 8)  # type: ignore[misc]
        fake.mode = "ok"
        await until(pilot, lambda: app.monitor.snapshots["fake"].ok, 8)
        await until(pilot, lambda: "fakeprog" in screen_text(pilot), 5)
        text = screen_text(pilot)
        assert "RUNNING" in text and "not valid XML-RPC" not in flat(text)
        events = "\n".join(e.text for e in app.timeline.events)
        assert "larger than 1 MB" in events and "reachable again" in events
        assert app.is_running
