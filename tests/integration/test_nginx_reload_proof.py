"""A reload through the host names the nginx master the operator was shown (its pid and
create time, as the nginx view sends them); a master that is no longer that process is
refused through the gate, audited, and no signal is sent (the real demo stack's nginx)."""

from __future__ import annotations

import asyncio

import pytest

from opsconsole.core import actions, nginx
from opsconsole.core.config import AppConfig, NginxSettings, SupervisorTarget
from opsconsole.core.host import REFUSED, OperationRequest, OperationResult
from opsconsole.core.local import LocalHost
from opsconsole.demo.stack import DemoStack

pytestmark = pytest.mark.integration


def _workers(settings: NginxSettings) -> set[int]:
    inst = nginx.discover(settings)
    assert inst.master_pid is not None
    return nginx.worker_pids(inst.master_pid)


def test_reload_of_a_master_that_is_no_longer_the_one_shown_is_refused(
    demo_stack: DemoStack, stack_target: SupervisorTarget
) -> None:
    settings = NginxSettings(config=str(demo_stack.nginx_conf))
    config = AppConfig(supervisors=[stack_target], nginx=settings)
    gate = actions.make_gate(False, audit=False)
    before = _workers(settings)

    async def run() -> tuple[int, list[OperationResult]]:
        async with LocalHost(config, gate=gate, name="demo-host") as host:
            shown = (await host.nginx()).instance
            assert shown.master_pid is not None and shown.master_create_time is not None
            pid, created = shown.master_pid, shown.master_create_time
            asked = [
                # the pid was reused: same number, another process (another start time)
                {"master_pid": pid, "create_time": created - 60.0},
                # the master was replaced: the pid shown is not the serving master's
                {"master_pid": next(iter(before)), "create_time": created},
            ]
            results = [
                await host.perform(OperationRequest("nginx.reload", "nginx", proof, confirmed=True))
                for proof in asked
            ]
            return pid, results

    pid, results = asyncio.run(run())
    for result in results:
        assert result.outcome == REFUSED, result
        assert result.error is not None and result.error.kind == "ProcessChanged"
        assert "is no longer the serving master" in result.message
        assert "nothing was sent" in result.error.hint
    assert f"the serving master is {pid} now" in results[1].message
    assert _workers(settings) == before  # no HUP reached nginx: the same workers serve
    audited = [r for r in gate.history if r.action == "nginx.reload"]
    assert [r.result for r in audited] == ["error", "error"]
