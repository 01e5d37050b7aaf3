"""Health probes against the real stack: healthy, failing (500) and dead targets."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import psutil
import pytest

from opsconsole.core.probes import (
    Probe,
    ProbeRunner,
    default_probes,
    judge,
    probes_from_config,
)
from opsconsole.demo.stack import DemoStack, free_port
from tests.conftest import wait_for
from tests.integration.test_nginx import standalone_nginx


async def test_probe_outcomes(demo_stack: DemoStack) -> None:
    runner = ProbeRunner(
        [
            Probe("nginx", demo_stack.url("nginx", "/health")),
            Probe("web-error", demo_stack.url("web", "/error")),
            Probe("dead", f"http://127.0.0.1:{free_port()}/", timeout=1),
        ]
    )
    try:
        results = {r.probe: r for r, _ in await runner.run_once()}
    finally:
        await runner.aclose()
    assert results["nginx"].ok and results["nginx"].status == 200
    assert not results["web-error"].ok and results["web-error"].status == 500
    assert not results["dead"].ok and results["dead"].status is None
    assert "no answer" in results["dead"].summary
    assert len(runner.states["nginx"].history) == 1


def test_judge_and_config() -> None:
    assert judge(Probe("a", "http://x", expect=0), 404)
    assert not judge(Probe("a", "http://x", expect=0), 502)
    probes = probes_from_config(
        [{"name": "home", "url": "http://127.0.0.1:1/"}, {"url": "ftp://x"}]
    )
    assert [p.name for p in probes] == ["home"]


@pytest.mark.integration  # starts an nginx of its own
async def test_an_nginx_outside_supervisor_is_probed(tmp_path: Path) -> None:
    """Issue 14: default probes only covered supervisor programs, so an nginx started by
    systemd (here: by hand, daemonized) had none. Its listening server is probed, and the
    probe tells up from down."""
    with standalone_nginx(tmp_path) as (conf, pid):
        port = int(re.findall(r"listen 127\.0\.0\.1:(\d+);", conf.read_text())[0])
        probes = await asyncio.to_thread(default_probes, [])
        mine = [p for p in probes if p.url == f"http://127.0.0.1:{port}/"]
        assert [p.name.split(":")[0] for p in mine] == ["nginx"], probes
        runner = ProbeRunner(mine)
        try:
            [(up, _)] = await runner.run_once()
            assert up.ok and up.status == 200
            master = psutil.Process(pid)
            assert str(conf) in master.cmdline()  # the nginx this test started
            master.terminate()  # nginx's fast shutdown
            master.wait(timeout=10)
            wait_for(lambda: not psutil.pid_exists(pid), 10)
            [(down, previous)] = await runner.run_once()
        finally:
            await runner.aclose()
        assert previous is up and not down.ok and down.status is None


async def test_a_supervised_nginx_keeps_one_probe_named_after_its_program(
    demo_stack: DemoStack,
) -> None:
    info = demo_stack.rpc().supervisor.getProcessInfo("nginx")
    probes = await asyncio.to_thread(default_probes, [("nginx", int(info["pid"]))])
    url = demo_stack.url("nginx", "/")
    assert [p.name for p in probes if p.url == url] == ["nginx"]
