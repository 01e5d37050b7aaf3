"""One refresh against the real supervisord: one getAllProcessInfo, decoded the fast way the
same as the generic way, and an answer identical to the last one not decoded again."""

from __future__ import annotations

import time

import pytest

from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.local import LocalHost
from opsconsole.core.supervisor import SupervisorClient, decode_response
from opsconsole.core.supervisor.fastdecode import decode_process_list
from opsconsole.core.supervisor.monitor import SupervisorMonitor

pytestmark = pytest.mark.integration


async def test_real_answer_takes_the_fast_path_and_agrees(stack_target: SupervisorTarget) -> None:
    async with SupervisorClient(stack_target, timeout=10) as client:
        body = await client.call_raw("supervisor.getAllProcessInfo")
    fast = decode_process_list(body)
    assert fast is not None, "supervisord's own answer must take the fast path"
    assert fast == decode_response(body, "supervisor.getAllProcessInfo")
    assert {"web", "api"} <= {p["name"] for p in fast}


async def test_identical_answer_is_not_decoded_and_one_call_per_refresh(
    stack_target: SupervisorTarget,
) -> None:
    sent: list[str] = []
    monitor = SupervisorMonitor([stack_target], timeout=10)
    monitor.clients["demo"].on_send = sent.append
    # every poll asks (the quiet check would answer most from the last one, before sending)
    monitor.quiet["demo"].full_every = 0
    try:
        first = await monitor.poll("demo")
        polls = 1
        assert first.ok and not first.unchanged
        # supervisord's answer moves once a second (now, uptimes): poll until two polls fall
        # in the same second and get the same bytes (bounded)
        deadline = time.monotonic() + 20
        prev = first
        while True:
            snap = await monitor.poll("demo")
            polls += 1
            if snap.unchanged:
                break
            assert snap.processes is not prev.processes, "a changed answer is a new list"
            assert time.monotonic() < deadline, "no two polls got identical answers in 20 s"
            prev = snap
        assert snap.processes is prev.processes, "identical answer: the very same list"
        assert snap.ok and snap is not prev
        assert monitor.clients["demo"].unchanged_answers >= 1
        # exactly one getAllProcessInfo per refresh (plus the identity call on connect)
        assert sent.count("supervisor.getAllProcessInfo") == polls
        assert set(sent) == {"supervisor.getAllProcessInfo", "system.multicall"}
    finally:
        await monitor.aclose()


async def test_host_hands_back_the_same_programs_for_an_identical_answer(
    stack_target: SupervisorTarget,
) -> None:
    """Through the host too: a view can tell 'nothing changed' by identity."""
    async with LocalHost(AppConfig(supervisors=[stack_target])) as host:
        first = await host.supervisord("demo")
        deadline = time.monotonic() + 20
        prev = first
        while True:
            snap = await host.supervisord("demo")
            if snap.programs is prev.programs:
                break  # supervisord's answer was byte-identical: the same tuple
            assert time.monotonic() < deadline, "no two polls got identical answers in 20 s"
            assert snap.programs != () and snap.reachable
            prev = snap
        assert {p.name for p in snap.programs} >= {"web", "api"}
