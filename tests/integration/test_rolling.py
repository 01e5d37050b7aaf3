"""Rolling restarts and the ``update`` preview against a real supervisord of their own.

The module starts one small supervisord in a temporary directory: group ``grp`` (three
programs; ``p2`` is an HTTP server probed by name; each refuses to start while a
``fail-<name>`` file exists), group ``upd`` (two programs, for the update preview) and a
lone program ``keep``. A second XML-RPC client watches supervisord while a roll runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import xmlrpc.client
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from opsconsole.cli import main
from opsconsole.core.actions import ActionGate
from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.errors import ReadOnlyError
from opsconsole.core.host import OperationRequest
from opsconsole.core.local import LocalHost
from opsconsole.core.rolling import RollEvent, RollRunner, make_plan, run_gated
from opsconsole.core.update_preview import preview_update
from opsconsole.demo.stack import MARKER_ENV, DemoStack, _bin, _UnixTransport, free_port, teardown
from tests.conftest import wait_for

pytestmark = pytest.mark.integration  # starts supervisord and its programs

GROUP = ["grp:p1", "grp:p2", "grp:p3"]


@dataclass
class Sup:
    dir: Path
    port: int
    pid: int = 0
    conf: Path = field(init=False)

    def __post_init__(self) -> None:
        self.conf = self.dir / "supervisord.conf"

    @property
    def socket(self) -> Path:
        return self.dir / "s.sock"

    def rpc(self) -> Any:
        return xmlrpc.client.ServerProxy(
            "http://localhost/RPC2", transport=_UnixTransport(str(self.socket))
        )

    def infos(self) -> dict[str, dict[str, Any]]:
        return {
            f"{p['group']}:{p['name']}" if p["group"] != p["name"] else p["name"]: p
            for p in self.rpc().supervisor.getAllProcessInfo()
        }

    def pids(self) -> dict[str, int]:
        return {name: int(p["pid"]) for name, p in self.infos().items()}

    def config(self, **overrides: Any) -> AppConfig:
        cfg = AppConfig(
            supervisors=[SupervisorTarget("roll", f"unix://{self.socket}")],
            probes=[{"name": "grp:p2", "url": f"http://127.0.0.1:{self.port}/"}],
            refresh=0.3,
            timeout=5.0,
        )
        for key, value in overrides.items():
            setattr(cfg, key, value)
        return cfg


def _program(name: str, command: str) -> str:
    return textwrap.dedent(
        f"""
        [program:{name}]
        command=/bin/sh -c 'test -e fail-{name} && exit 1; exec {command}'
        startsecs=1
        startretries=0
        autorestart=false
        stopwaitsecs=3
        """
    )


def _upd_conf(sup: Sup, sleep: int) -> None:
    (sup.dir / "conf.d" / "upd.conf").write_text(
        "[group:upd]\nprograms=u1,u2\n"
        + _program("u1", f"sleep {sleep}")
        + _program("u2", "sleep 600")
    )


@pytest.fixture(scope="module")
def sup() -> Iterator[Sup]:
    d = Path(tempfile.mkdtemp(prefix="oc-roll-", dir="/tmp"))  # short: a unix socket lives here
    s = Sup(d, free_port())
    (d / "conf.d").mkdir()
    s.conf.write_text(
        textwrap.dedent(
            f"""
            [unix_http_server]
            file={s.socket}
            [supervisord]
            logfile={d}/supervisord.log
            pidfile={d}/supervisord.pid
            childlogdir={d}
            directory={d}
            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
            [supervisorctl]
            serverurl=unix://{s.socket}
            [include]
            files={d}/conf.d/*.conf
            [group:grp]
            programs=p1,p2,p3
            """
        )
        + _program("p1", "sleep 600")
        + _program("p2", f"{sys.executable} -m http.server {s.port} --bind 127.0.0.1")
        + _program("p3", "sleep 600")
        + _program("keep", "sleep 600")
    )
    _upd_conf(s, 600)
    proc = subprocess.Popen(
        [_bin("supervisord"), "-n", "-c", str(s.conf)],
        cwd=d,
        env={**os.environ, MARKER_ENV: str(d)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    s.pid = proc.pid
    try:
        want = {*GROUP, "upd:u1", "upd:u2", "keep"}

        def ready() -> bool:
            try:
                infos = s.infos()
            except (OSError, xmlrpc.client.Error):
                return False
            return all(infos.get(n, {}).get("statename") == "RUNNING" for n in want)

        wait_for(ready, 30)
        yield s
    finally:
        teardown(d, proc.pid)
        proc.wait(timeout=10)


@pytest.fixture
async def host(sup: Sup) -> AsyncIterator[LocalHost]:
    async with LocalHost(sup.config(), gate=ActionGate(), name="rollhost") as h:
        yield h


class Watcher:
    """A second client: polls getAllProcessInfo while a roll runs; records, per poll, which
    programs of the group were not RUNNING, and when each new pid was first seen."""

    def __init__(self, sup: Sup, names: list[str]) -> None:
        self.sup, self.names = sup, names
        self.before = {n: sup.pids()[n] for n in names}
        self.down: list[set[str]] = []
        self.first_new: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                infos = self.sup.infos()
            except (OSError, xmlrpc.client.Error):
                continue
            now = time.monotonic()
            self.down.append({n for n in self.names if infos[n]["statename"] != "RUNNING"})
            for n in self.names:
                if infos[n]["pid"] and infos[n]["pid"] != self.before[n]:
                    self.first_new.setdefault(n, now)
            time.sleep(0.03)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _recover(sup: Sup, name: str) -> None:
    (sup.dir / f"fail-{name.split(':')[-1]}").unlink(missing_ok=True)
    if sup.infos()[name]["statename"] != "RUNNING":
        sup.rpc().supervisor.startProcess(name, True)


async def test_a_roll_restarts_one_at_a_time_each_healthy_before_the_next(
    sup: Sup, host: LocalHost
) -> None:
    plan = await make_plan(host, "roll", ["grp:*"], "grp:*")
    assert plan.programs == tuple(GROUP)
    assert [s.settle for s in plan.steps] == [2.0, 2.0, 2.0]  # startsecs=1, at least 2 s
    assert [s.probes for s in plan.steps] == [(), ("grp:p2",), ()]
    assert "grp:p2 (RUNNING 2 s and probe grp:p2 green)" in plan.summary
    events: list[RollEvent] = []
    with Watcher(sup, GROUP) as watch:
        outcome = await run_gated(host.gate, RollRunner(host, plan), events.append, confirmed=True)
    assert outcome.ok, outcome.message
    after = sup.pids()
    assert all(after[n] != watch.before[n] for n in GROUP)
    # strictly one after another: new pids appear in order, never two down at once
    firsts = [watch.first_new[n] for n in GROUP]
    assert firsts == sorted(firsts) and len(set(firsts)) == 3
    assert max(len(d) for d in watch.down) == 1
    # supervisord's own start times (whole seconds): the next one was spawned only after
    # this one was RUNNING (startsecs 1) and then stayed up 2 s: >= 3 s apart, 2 after rounding
    starts = [sup.infos()[n]["start"] for n in GROUP]
    assert starts[1] - starts[0] >= 2 and starts[2] - starts[1] >= 2, starts
    kinds = [e.kind for e in events]
    assert kinds[0] == "roll" and kinds[-1] == "done"
    assert kinds.count("healthy") == 3 and "probes" in kinds and "settling" in kinds
    # one record for each step's restart, then the roll's own
    records = [(r.action, r.target, r.result) for r in host.gate.history]
    assert records == [
        *[("supervisor.restart", n, "ok") for n in GROUP],
        ("supervisor.rolling_restart", "grp:*", "ok"),
    ]


async def test_a_failing_member_stops_the_roll_and_the_rest_keep_running(
    sup: Sup, host: LocalHost
) -> None:
    (sup.dir / "fail-p2").touch()
    try:
        plan = await make_plan(host, "roll", ["grp:*"])
        before = sup.pids()
        with Watcher(sup, GROUP):
            outcome = await run_gated(
                host.gate, RollRunner(host, plan), lambda e: None, confirmed=True
            )
        after = sup.infos()
        assert outcome.status == "failed" and outcome.failed == "grp:p2"
        assert outcome.done == ("grp:p1",) and outcome.left == ("grp:p3",)
        assert "stopped at grp:p2" in outcome.message and "not restarted: grp:p3" in outcome.message
        assert after["grp:p1"]["pid"] != before["grp:p1"]  # restarted before the failure
        assert after["grp:p2"]["statename"] != "RUNNING"
        assert after["grp:p3"]["pid"] == before["grp:p3"]  # untouched
        assert after["grp:p3"]["statename"] == "RUNNING"
        roll = host.gate.history[-1]
        assert (roll.action, roll.result) == ("supervisor.rolling_restart", "error")
        assert "grp:p2" in roll.detail and "not restarted: grp:p3" in roll.detail
    finally:
        _recover(sup, "grp:p2")


async def test_read_only_refuses_the_roll_and_restarts_nothing(sup: Sup) -> None:
    async def refused() -> None:
        gate = ActionGate(read_only=True)
        async with LocalHost(sup.config(read_only=True), gate=gate) as h:
            plan = await make_plan(h, "roll", ["grp:*"])
            before = sup.pids()
            with pytest.raises(ReadOnlyError, match="read-only"):
                await run_gated(gate, RollRunner(h, plan), lambda e: None, confirmed=True)
            assert sup.pids() == before
            assert [(r.action, r.result) for r in gate.history] == [
                ("supervisor.rolling_restart", "refused")
            ]

    await asyncio.create_task(refused())  # the read-only gate governs that task only


async def test_update_preview_lists_every_process_supervisord_restarts(
    sup: Sup, host: LocalHost
) -> None:
    _upd_conf(sup, 601)  # one program of group upd changed
    try:
        reread = await host.perform(
            OperationRequest("supervisor.reread", "roll", {"server": "roll"})
        )
        assert reread.ok and reread.data["changed"] == ["upd"]
        diff = {k: list(reread.data[k]) for k in ("added", "changed", "removed")}
        preview = preview_update(diff, await host.supervisord("roll"))
        assert preview.restarts == ("upd:u1", "upd:u2")  # the whole group, not only u1
        (group,) = preview.groups
        assert group.question == "Update group upd: stop and start upd:u1, upd:u2?"
        assert "not only the changed program" in group.words
        before = sup.pids()
        applied = await host.perform(
            OperationRequest(
                "supervisor.update", "roll", {"server": "roll", **group.parameters}, confirmed=True
            )
        )
        assert applied.ok, applied.message

        def settled() -> dict[str, int] | None:
            infos = sup.infos()
            ok = all(infos.get(n, {}).get("statename") == "RUNNING" for n in before)
            return {n: int(p["pid"]) for n, p in infos.items()} if ok else None

        after = wait_for(settled, 15)
        changed = {n for n in before if after[n] != before[n]}
        assert changed == set(preview.restarts)
    finally:
        _upd_conf(sup, 600)
        sup.rpc().supervisor.reloadConfig()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """``opsconsole -c CONF ARGS…`` in this process (what ``python -m opsconsole`` runs,
    without an interpreter start per call): its exit code and output."""

    def run(sup: Sup, *args: str) -> Ran:
        capsys.readouterr()
        code = main(["-c", str(sup.conf), *args])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


def test_cli_rolling_restart_asks_refuses_and_stops_at_a_failure(sup: Sup, cli: Any) -> None:
    before = sup.pids()
    asked = cli(sup, "restart", "grp:*", "--rolling")
    assert asked.returncode == 2 and "add --yes" in asked.stderr
    assert "grp:p1 (RUNNING" in asked.stdout  # the plan, before anything runs
    ro = cli(sup, "restart", "grp:*", "--rolling", "--yes", "--read-only")
    assert ro.returncode == 2 and "read-only" in ro.stderr
    assert sup.pids() == before
    (sup.dir / "fail-p1").touch()
    try:
        out = cli(sup, "restart", "grp:*", "--rolling", "--yes", "--json")
        assert out.returncode == 1, out.stdout + out.stderr
        events = [json.loads(line) for line in out.stdout.splitlines()]
        last = events[-1]
        assert last["kind"] == "failed" and last["program"] == "grp:p1"
        assert last["left"] == ["grp:p2", "grp:p3"]
        after = sup.pids()
        assert after["grp:p2"] == before["grp:p2"] and after["grp:p3"] == before["grp:p3"]
    finally:
        _recover(sup, "grp:p1")
    text = cli(sup, "restart", "grp:p3", "--rolling", "--yes")
    assert text.returncode == 0, text.stdout + text.stderr
    assert "grp:p3: healthy (RUNNING 2 s)" in text.stdout
    assert sup.pids()["grp:p3"] != before["grp:p3"]


async def test_the_demo_topology_gates_web_on_its_probes(demo_stack: DemoStack) -> None:
    """On the demo stack, web's probes are its own bind and nginx's listen port (nginx
    proxies to web): found from the topology, not named by hand."""
    from tests.tui.helpers import stack_config

    async with LocalHost(stack_config(demo_stack), gate=ActionGate()) as h:
        plan = await make_plan(h, "demo", ["web", "queue:*"])
    web, *queue = plan.steps
    assert web.program == "web" and "web" in web.probes
    ports = {name.rsplit(":", 1)[-1] for name in web.probes}
    assert str(demo_stack.ports["nginx"]) in ports or "nginx" in web.probes
    assert [s.probes for s in queue] == [(), (), ()]


def test_cli_update_previews_restarts_and_applies_one_group(sup: Sup, cli: Any) -> None:
    _upd_conf(sup, 602)
    try:
        dry = cli(sup, "update", "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        (group,) = json.loads(dry.stdout)["preview"]
        assert (group["group"], group["restarts"]) == ("upd", ["upd:u1", "upd:u2"])
        assert cli(sup, "update", "--group", "grp", "--yes").returncode == 2  # grp: no change
        before = sup.pids()
        asked = cli(sup, "update", "--group", "upd")
        assert asked.returncode == 2 and "restarts (new pids): upd:u1, upd:u2" in asked.stdout
        assert sup.pids() == before
        applied = cli(sup, "update", "--group", "upd", "--yes")
        assert applied.returncode == 0 and "upd: updated" in applied.stdout

        def restarted() -> set[str] | None:
            infos = sup.infos()
            if not all(infos[n]["statename"] == "RUNNING" for n in before):
                return None
            return {n for n in before if infos[n]["pid"] != before[n]}

        assert wait_for(restarted, 15) == {"upd:u1", "upd:u2"}
    finally:
        _upd_conf(sup, 600)
        sup.rpc().supervisor.reloadConfig()
