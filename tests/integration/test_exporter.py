"""The Prometheus exporter on the real demo stack: what it serves parses with
prometheus_client's own parser and passes ``promtool check metrics``; its values follow the
stack (a stopped program's state series flips within one scrape, a scaled master's live count
moves); and it is read-only by construction (a mutating request in it is refused)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opsconsole.cli.exporter import build_exporter, parse_listen
from opsconsole.core import actions
from opsconsole.core.config import AppConfig, NginxSettings, SupervisorTarget
from opsconsole.core.errors import ConfigError, ReadOnlyError
from opsconsole.core.host import OperationRequest, OperationResult
from opsconsole.core.local import LocalHost
from opsconsole.core.metrics import metric_names
from opsconsole.core.metrics.exporter import Exporter
from opsconsole.demo.stack import DemoStack, free_port
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:  # a missing promtool is a failure, never a skip
        raise pytest.UsageError(
            "promtool is not installed: run `make test` as root (it installs Debian's "
            "prometheus) or `sudo apt-get install prometheus`"
        )
    return found


def target_of(stack: DemoStack) -> SupervisorTarget:
    return SupervisorTarget(
        name="demo", url=stack.socket_url, username=stack.username, password=stack.password
    )


@pytest.fixture(scope="module")
def served(demo_stack: DemoStack) -> Iterator[tuple[Exporter, str]]:
    exporter = build_exporter(
        # other stacks' nginx may run on this machine: name ours, as an operator would
        AppConfig(
            supervisors=[target_of(demo_stack)],
            nginx=NginxSettings(config=str(demo_stack.nginx_conf)),
        ),
        scrape_timeout=20,
        interval=1.0,
        poller_options={"config_interval": 1.0, "topology_interval": 1.0},
    )
    exporter.start()
    try:
        addr, port = exporter.listen("127.0.0.1", 0)
        yield exporter, f"http://{addr}:{port}/metrics"
    finally:
        exporter.stop()


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return str(response.read().decode())


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: Samples, name: str, **labels: str) -> float | None:
    want = set(labels.items())
    hits = [v for (n, lbl), v in found.items() if n == name and want <= lbl]
    assert len(hits) <= 1, f"{name} {labels}: {len(hits)} series"
    return hits[0] if hits else None


def test_scrape_parses_passes_promtool_and_has_every_series(
    served: tuple[Exporter, str], demo_stack: DemoStack
) -> None:
    _, url = served
    # CPU% is known from the second gunicorn sample on (the exporter's loop takes it)
    cpu = "opsconsole_gunicorn_worker_cpu_percent{"

    def with_cpu() -> str | None:
        text = scrape(url)
        return text if cpu in text else None

    text = str(wait_for(with_cpu, timeout=30))
    checked = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for family in families.values():
        assert family.documentation, f"{family.name} has no HELP text"
    found = samples(text)
    names = {name for name, _ in found}
    wanted = set(metric_names())
    # every series the collector declares, on a stack with all of it (no stale scrape here)
    assert wanted <= names, sorted(wanted - names)
    assert value(found, "opsconsole_supervisor_up", server="demo") == 1
    assert value(found, "opsconsole_program_state", program="web", state="RUNNING") == 1
    assert value(found, "opsconsole_program_state", program="flaky", state="FATAL") == 1
    assert value(found, "opsconsole_program_unexpected", program="flaky") == 1
    assert value(found, "opsconsole_gunicorn_workers_live", master="web") == demo_stack.workers
    assert value(found, "opsconsole_nginx_up") == 1
    assert value(found, "opsconsole_nginx_config_test_ok") == 1
    assert value(found, "opsconsole_scrape_stale") == 0
    # bounded labels: workers by slot, no pid label unless asked
    assert not any("pid" in dict(lbl) for _, lbl in found)


def test_stopped_program_flips_within_one_scrape(
    served: tuple[Exporter, str], demo_stack: DemoStack
) -> None:
    _, url = served
    rpc = demo_stack.rpc()
    name = "queue:queue_01"
    assert value(samples(scrape(url)), "opsconsole_program_state", program=name, state="RUNNING")
    rpc.supervisor.stopProcess(name, True)
    try:
        found = samples(scrape(url))  # the very next scrape
        assert value(found, "opsconsole_program_state", program=name, state="STOPPED") == 1
        assert value(found, "opsconsole_program_state", program=name, state="RUNNING") == 0
        assert value(found, "opsconsole_program_uptime_seconds", program=name) == 0
    finally:
        rpc.supervisor.startProcess(name, True)
    found = samples(scrape(url))
    assert value(found, "opsconsole_program_state", program=name, state="RUNNING") == 1
    assert value(found, "opsconsole_program_starts_seen_total", program=name) == 1


def _scale(stack: DemoStack, count: str) -> OperationResult:
    async def run() -> OperationResult:
        async with LocalHost(AppConfig(supervisors=[target_of(stack)])) as host:
            request = OperationRequest(
                "gunicorn.scale", "api", {"count": count, "wait": True, "server": "demo"}, True
            )
            return await host.perform(request)

    return asyncio.run(run())


def test_scaled_master_live_count_moves(
    served: tuple[Exporter, str], demo_stack: DemoStack
) -> None:
    _, url = served
    before = value(samples(scrape(url)), "opsconsole_gunicorn_workers_live", master="api")
    assert before == 2
    result = _scale(demo_stack, "3")
    try:
        assert result.ok, result.message
        wait_for(
            lambda: (
                value(samples(scrape(url)), "opsconsole_gunicorn_workers_live", master="api") == 3
            ),
            timeout=30,
        )
        found = samples(scrape(url))
        assert value(found, "opsconsole_gunicorn_worker_rss_bytes", master="api", worker="2")
    finally:
        back = _scale(demo_stack, "2")
    assert back.ok, back.message
    wait_for(
        lambda: value(samples(scrape(url)), "opsconsole_gunicorn_workers_live", master="api") == 2,
        timeout=30,
    )


def test_the_exporter_is_read_only(served: tuple[Exporter, str], demo_stack: DemoStack) -> None:
    exporter, _ = served
    host = exporter.hosts[0]
    pid = demo_stack.rpc().supervisor.getProcessInfo("web")["pid"]
    request = OperationRequest("supervisor.stop", "web", {"server": "demo"}, confirmed=True)
    result = exporter.call(lambda: host.perform(request), timeout=30)
    assert result.outcome == "refused" and result.error is not None
    assert result.error.kind == "ReadOnlyError"

    async def lower_layer() -> None:  # the second line of defence sees the gate too
        actions.assert_writable("stop web")

    with pytest.raises(ReadOnlyError):
        exporter.call(lower_layer, timeout=30)
    info = demo_stack.rpc().supervisor.getProcessInfo("web")
    assert info["statename"] == "RUNNING" and info["pid"] == pid


def test_nginx_config_test_applied_and_dead_upstreams_follow_the_files(
    served: tuple[Exporter, str], demo_stack: DemoStack
) -> None:
    _, url = served
    extra = demo_stack.nginx_dir / "conf.d" / "zz-exporter-test.conf"
    dead = free_port()

    def now() -> tuple[float | None, float | None, float | None]:
        found = samples(scrape(url))
        return (
            value(found, "opsconsole_nginx_config_test_ok"),
            value(found, "opsconsole_nginx_config_applied"),
            value(found, "opsconsole_nginx_upstream_targets_without_listener"),
        )

    assert wait_for(lambda: now() == (1, 1, 0), timeout=30)
    try:
        # a valid server whose upstream has nothing listening, not reloaded
        extra.write_text(
            f"server {{ listen 127.0.0.1:{free_port()}; "
            f"location / {{ proxy_pass http://127.0.0.1:{dead}; }} }}\n"
        )
        wait_for(lambda: now() == (1, 0, 1), timeout=30)
        found = samples(scrape(url))
        target = f"proxy_pass http://127.0.0.1:{dead}"
        assert value(found, "opsconsole_nginx_upstream_target_listening", target=target) == 0
        # a broken config: nginx -t fails (a reload would be rejected)
        extra.write_text("this is not an nginx directive;\n")
        wait_for(lambda: now()[:2] == (0, 0), timeout=30)
    finally:
        extra.unlink()
    wait_for(lambda: now() == (1, 1, 0), timeout=30)  # the serving config is on disk again


def test_listen_is_checked() -> None:
    assert parse_listen("127.0.0.1:9818") == ("127.0.0.1", 9818)
    assert parse_listen("[::1]:9818") == ("::1", 9818)
    for bad in ("9818", "localhost:http", "127.0.0.1:70000"):
        with pytest.raises(ConfigError):
            parse_listen(bad)
