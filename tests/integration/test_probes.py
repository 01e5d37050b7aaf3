"""Health probes against the real stack: healthy, failing (500) and dead targets."""

from __future__ import annotations

from opsconsole.core.probes import Probe, ProbeRunner, judge, probes_from_config
from opsconsole.demo.stack import DemoStack, free_port


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
