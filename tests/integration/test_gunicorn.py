"""Gunicorn backend on real masters: the shared demo stack (`web` with a control socket,
`api` without) and, for destructive cases, a gunicorn of our own with a short timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
import pytest

from opsconsole import cli
from opsconsole.core import actions, gunicorn, procs
from opsconsole.core.errors import ProcessChanged, ReadOnlyError
from opsconsole.core.gunicorn.control import ControlClient, NotTheMaster
from opsconsole.core.procs import ProcIdentity
from opsconsole.core.supervisor import ProcessInfo
from opsconsole.demo.stack import DemoStack
from tests.conftest import wait_for
from tests.gunicorn_own import start_own

pytestmark = pytest.mark.integration  # starts the demo stack and a gunicorn master of its own


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Every signal the code under test sends (still delivered for real)."""
    calls: list[tuple[int, str]] = []
    real = procs.send_signal

    def spy(identity: ProcIdentity, sig: signal.Signals) -> None:
        real(identity, sig)
        calls.append((identity.pid, sig.name.removeprefix("SIG")))

    monkeypatch.setattr(procs, "send_signal", spy)
    return calls


def programs(stack: DemoStack) -> list[ProcessInfo]:
    return [ProcessInfo.from_rpc(d, "demo") for d in stack.rpc().supervisor.getAllProcessInfo()]


def master_of(stack: DemoStack, name: str, scanner: gunicorn.GunicornScanner) -> gunicorn.Master:
    procs_ = programs(stack)
    pid = next(p.pid for p in procs_ if p.name == name)
    masters = [m for m in scanner.scan(procs_) if m.program == name and m.server == "demo"]
    assert [m.pid for m in masters] == [pid], f"{name}: {masters}"
    return masters[0]


def live(stack: DemoStack, name: str, scanner: gunicorn.GunicornScanner) -> int:
    return master_of(stack, name, scanner).live


def restore(stack: DemoStack, name: str) -> None:
    """Put the program back to its configured 2 workers, however the test ended."""
    scanner = gunicorn.GunicornScanner()
    master = master_of(stack, name, scanner)
    if master.live != 2 or master.scale_base != 2:
        try:
            gunicorn.scale(master, "2", scanner=scanner, wait=True, timeout=20)
        except gunicorn.ScaleRefused:
            pass
    wait_for(lambda: live(stack, name, scanner) == 2, timeout=20)


# --------------------------------------------------------------------------- discovery


def test_discovers_both_masters_under_supervisor(demo_stack: DemoStack) -> None:
    scanner = gunicorn.GunicornScanner()
    web = master_of(demo_stack, "web", scanner)
    api = master_of(demo_stack, "api", scanner)
    d = demo_stack.dir

    assert web.found_by == "supervisor"
    assert f"127.0.0.1:{demo_stack.ports['web']}" in web.binds
    assert (web.worker_class, web.configured, web.timeout) == ("sync", 2, 30)
    assert web.control_socket == f"{d}/web.ctl"
    assert web.error_log == f"{d}/logs/web-error.log"
    assert web.pidfile == f"{d}/web.pid"
    # the control socket answers: stats come from the master itself
    assert web.stats is not None and web.stats.pid == web.pid
    assert (web.target, web.target_source) == (2, "control socket")

    assert f"127.0.0.1:{demo_stack.ports['api']}" in api.binds
    assert (api.worker_class, api.configured, api.control_socket) == ("gthread", 2, None)
    assert api.stats is None and api.target_source == "configured"
    # --error-logfile - : tracebacks land in the stderr log supervisord captures
    assert api.error_log == f"{d}/logs/api.err.log"

    for master in (web, api):
        assert master.live == 2 and not master.flags
        for w in master.workers:
            assert w.identity.pid == w.pid and w.rss and w.threads
            assert w.heartbeat_age is not None and w.heartbeat_age < 16  # timeout/2 + slack
            assert "stuck" not in w.flags


@pytest.mark.parametrize("name", ["web", "api"])
def test_scale_2_to_4_to_1_converges_and_refuses_below_1(
    demo_stack: DemoStack, name: str, sent: list[tuple[int, str]]
) -> None:
    scanner = gunicorn.GunicornScanner()
    master = master_of(demo_stack, name, scanner)
    uses_ctl = name == "web"
    try:
        up = gunicorn.scale(master, "4", scanner=scanner, wait=True)
        assert up.converged and (up.before, up.target, up.live) == (2, 4, 4), up.message
        assert up.method == ("control socket" if uses_ctl else "signal")
        assert "restarting the program returns to 2" in up.message
        assert up.undo.endswith(f"scale {name} 2")
        tree = master_of(demo_stack, name, scanner)
        assert (tree.live, tree.target) == (4, 4)
        assert tree.drift_note is not None and "returns to 2" in tree.drift_note

        down = gunicorn.scale(tree, "-3", scanner=scanner, wait=True)
        assert down.converged and down.live == 1, down.message
        tree = master_of(demo_stack, name, scanner)
        assert (tree.live, tree.target) == (1, 1)

        signals_before = list(sent)
        with pytest.raises(gunicorn.ScaleRefused, match="at least 1") as info:
            gunicorn.scale(tree, "-1", scanner=scanner, wait=True)
        assert "nothing was sent" in info.value.message
        assert sent == signals_before  # no TTOU went out
        assert master_of(demo_stack, name, scanner).live == 1
        if uses_ctl:
            assert not sent  # scaling used the control socket, not signals
        else:
            assert sent == [(master.pid, "TTIN")] * 2 + [(master.pid, "TTOU")] * 3
    finally:
        restore(demo_stack, name)


def test_hup_replaces_every_worker(demo_stack: DemoStack, sent: list[tuple[int, str]]) -> None:
    scanner = gunicorn.GunicornScanner()
    api = master_of(demo_stack, "api", scanner)
    old = {w.pid for w in api.workers}
    result = gunicorn.reload(api, scanner=scanner)
    assert result.ok, result.message
    assert sent == [(api.pid, "HUP")]
    assert set(result.old_pids) == old
    after = master_of(demo_stack, "api", scanner)
    assert after.pid == api.pid  # same master
    assert after.live == 2 and not ({w.pid for w in after.workers} & old)


def test_control_socket_reports_stats(demo_stack: DemoStack) -> None:
    web_pid = next(p.pid for p in programs(demo_stack) if p.name == "web")
    client = ControlClient(str(demo_stack.dir / "web.ctl"), expect=ProcIdentity.of(web_pid))
    snap = client.snapshot()
    assert snap.stats.pid == web_pid
    assert snap.stats.workers_current == 2 and snap.stats.workers_target == 2
    assert sorted(w.pid for w in snap.workers) == sorted(
        c.pid for c in psutil.Process(web_pid).children()
    )
    assert client.sent == ["show stats", "show workers", "show config"]


def test_read_only_refuses_everything_before_sending(
    demo_stack: DemoStack, sent: list[tuple[int, str]]
) -> None:
    scanner = gunicorn.GunicornScanner()
    web = master_of(demo_stack, "web", scanner)
    api = master_of(demo_stack, "api", scanner)
    actions.set_read_only(True)
    for master in (web, api):
        with pytest.raises(ReadOnlyError, match="read-only"):
            gunicorn.scale(master, "+1", scanner=scanner)
        with pytest.raises(ReadOnlyError):
            gunicorn.reload(master)
        with pytest.raises(ReadOnlyError):
            gunicorn.reopen_logs(master)
        with pytest.raises(ReadOnlyError):
            gunicorn.signal_worker(master, master.workers[0], "KILL")
    client = ControlClient(web.control_socket or "", expect=web.identity)
    with pytest.raises(ReadOnlyError):
        client.command("worker", ["add", "1"])
    assert client.sent == [] and sent == []
    actions._reset_for_tests()
    assert master_of(demo_stack, "web", scanner).stats.workers_target == 2  # type: ignore[union-attr]
    assert [w.pid for w in master_of(demo_stack, "api", scanner).workers] == [
        w.pid for w in api.workers
    ]


def test_control_socket_of_another_master_is_refused_before_sending(
    demo_stack: DemoStack,
) -> None:
    """A client made for api never talks to web's socket, reading or changing: the kernel
    names the listening process (SO_PEERCRED) and it is not api."""
    scanner = gunicorn.GunicornScanner()
    web = master_of(demo_stack, "web", scanner)
    api = master_of(demo_stack, "api", scanner)
    client = ControlClient(str(demo_stack.dir / "web.ctl"), expect=api.identity)
    for command, args in (("show", ["stats"]), ("worker", ["add", "1"])):
        with pytest.raises(NotTheMaster, match=f"answered by pid {web.pid} .*nothing was sent"):
            client.command(command, args)
    assert client.sent == []
    after = master_of(demo_stack, "web", scanner)
    assert after.live == 2 and after.stats is not None and after.stats.workers_target == 2


# --------------------------------------------------------------------------- CLI


def test_cli_tree_and_scale(
    demo_stack: DemoStack, capsys: pytest.CaptureFixture[str], sent: list[tuple[int, str]]
) -> None:
    conf = str(demo_stack.conf_path)
    assert cli.main(["-c", conf, "tree", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    mine = {m["program"]: m for m in data["masters"] if m["server"] is not None}
    assert set(mine) == {"web", "api"}
    assert mine["web"]["control_socket"] and mine["web"]["live"] == 2
    assert len(mine["api"]["workers"]) == 2

    assert cli.main(["-c", conf, "tree"]) == 0
    text = capsys.readouterr().out
    assert "web [" in text and "control socket" in text and "└─ worker" in text

    # confirmation is required; nothing is sent without it
    assert cli.main(["-c", conf, "scale", "api", "+1"]) == 2
    assert "send TTIN to gunicorn master" in capsys.readouterr().err and not sent
    try:
        assert cli.main(["-c", conf, "scale", "api", "+1", "--wait", "--yes"]) == 0
        out = capsys.readouterr().out
        assert "now runs 3 workers" in out and "undo: opsconsole scale api 2" in out
        assert cli.main(["-c", conf, "scale", "api", "0", "--yes"]) == 1
        assert "at least 1" in capsys.readouterr().err
        assert cli.main(["-c", conf, "--read-only", "scale", "api", "-1", "--yes"]) == 1
        assert "read-only" in capsys.readouterr().err
        actions._reset_for_tests()
        assert sent == [(mine["api"]["pid"], "TTIN")]
        assert cli.main(["-c", conf, "scale", "nosuch", "+1", "--yes"]) == 2
    finally:
        actions._reset_for_tests()
        restore(demo_stack, "api")


# --------------------------------------------------------------------------- own gunicorn


@dataclass
class OwnGunicorn:
    proc: subprocess.Popen[bytes]
    dir: Path
    timeout: int

    @property
    def error_log(self) -> Path:
        return self.dir / "error.log"

    def master(self, scanner: gunicorn.GunicornScanner) -> gunicorn.Master:
        masters = [m for m in scanner.scan() if m.pid == self.proc.pid]
        assert len(masters) == 1
        return masters[0]


@pytest.fixture(scope="module")
def own_gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnGunicorn]:
    """A gunicorn not under supervisor with a short --timeout, ours to break."""
    d = tmp_path_factory.mktemp("own-gunicorn")
    timeout = 6
    started = start_own(d, timeout=timeout)
    try:
        yield OwnGunicorn(started.proc, d, timeout)
    finally:
        started.kill()


def only_ours(scanner: gunicorn.GunicornScanner, *pids: int) -> None:
    """Let the scanner's refreshes follow only these masters. Other masters on this machine
    (other tests', another xdist worker's, other users') come and go, and a gone master rightly
    makes the next scan a full discovery: counting discoveries is about ours alone."""
    scanner._known = {k: v for k, v in scanner._known.items() if v.template.pid in pids}
    assert {v.template.pid for v in scanner._known.values()} == set(pids)


def _two_workers(own: OwnGunicorn, scanner: gunicorn.GunicornScanner) -> gunicorn.Master:
    return wait_for(
        lambda: (m := own.master(scanner)).live == 2 and not m.flags and m, timeout=own.timeout * 3
    )


def test_unsupervised_master_found_by_scan(own_gunicorn: OwnGunicorn) -> None:
    master = own_gunicorn.master(gunicorn.GunicornScanner())
    assert (master.program, master.found_by, master.name) == (None, "scan", "own")
    assert master.timeout == own_gunicorn.timeout
    assert master.error_log == str(own_gunicorn.dir / "error.log")  # relative to its cwd


def test_stopped_worker_is_marked_stuck_within_half_the_timeout(
    own_gunicorn: OwnGunicorn,
) -> None:
    scanner = gunicorn.GunicornScanner()
    master = _two_workers(own_gunicorn, scanner)
    victim = master.workers[0]
    os.kill(victim.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:

        def flagged() -> gunicorn.Worker | None:
            for w in own_gunicorn.master(scanner).workers:
                if w.pid == victim.pid and "stuck" in w.flags:
                    return w
            return None

        worker = wait_for(flagged, timeout=own_gunicorn.timeout)
        assert time.monotonic() - stopped <= own_gunicorn.timeout / 2 + gunicorn.STUCK_GRACE + 0.5
        assert "stopped" in worker.flags
        other = next(w for w in own_gunicorn.master(scanner).workers if w.pid != victim.pid)
        assert "stuck" not in other.flags
    finally:
        try:
            os.kill(victim.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_pid_that_changed_identity_is_refused(
    own_gunicorn: OwnGunicorn, sent: list[tuple[int, str]]
) -> None:
    scanner = gunicorn.GunicornScanner()
    master = _two_workers(own_gunicorn, scanner)
    worker = master.workers[0]
    # what was displayed belonged to a process that started at another time
    stale_worker = replace(
        worker, identity=replace(worker.identity, create_time=worker.identity.create_time - 50)
    )
    with pytest.raises(ProcessChanged, match="nothing was sent"):
        gunicorn.signal_worker(master, stale_worker, "KILL")
    stale_master = replace(
        master, identity=replace(master.identity, cmdline=("/usr/bin/python3", "other.py"))
    )
    with pytest.raises(ProcessChanged):
        gunicorn.scale(stale_master, "+1", scanner=scanner)
    with pytest.raises(ProcessChanged):
        gunicorn.reload(stale_master)
    assert sent == []
    assert psutil.pid_exists(worker.pid)
    assert own_gunicorn.master(scanner).live == 2


def test_worker_abort_shows_new_error_log_lines(
    own_gunicorn: OwnGunicorn, sent: list[tuple[int, str]]
) -> None:
    scanner = gunicorn.GunicornScanner()
    master = _two_workers(own_gunicorn, scanner)
    worker = master.workers[-1]
    result = gunicorn.signal_worker(master, worker, "ABRT")
    assert sent == [(worker.pid, "ABRT")]
    assert result.exited and result.log_path == str(own_gunicorn.error_log)
    assert any(str(worker.pid) in line for line in result.log_lines), result.log_lines
    assert "new lines in" in result.message
    # the master replaces it
    after = _two_workers(own_gunicorn, scanner)
    assert worker.pid not in {w.pid for w in after.workers}


def test_term_worker_is_replaced(own_gunicorn: OwnGunicorn) -> None:
    scanner = gunicorn.GunicornScanner()
    master = _two_workers(own_gunicorn, scanner)
    worker = master.workers[0]
    result = gunicorn.signal_worker(master, worker, "TERM")
    assert result.exited and "replacement" in result.message
    after = _two_workers(own_gunicorn, scanner)
    assert worker.pid not in {w.pid for w in after.workers}


# --------------------------------------------------------------------------- refresh


def test_refreshes_between_discoveries_follow_workers_and_connections(
    own_gunicorn: OwnGunicorn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheap refresh (no walk over every process) still sees workers come and go and the
    request a worker is serving; a full discovery is not needed for any of it."""
    monkeypatch.setattr(gunicorn.discovery, "DISCOVERY_SECONDS", 3600.0)
    scanner = gunicorn.GunicornScanner()
    master = _two_workers(own_gunicorn, scanner)
    only_ours(scanner, master.pid)
    discoveries = scanner.discoveries
    assert all(w.connections == 0 for w in master.workers)
    host, port = master.binds[0].rsplit(":", 1)

    import http.client
    import threading

    def slow_request() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=20)
        conn.request("GET", "/slow?s=3")
        conn.getresponse().read()
        conn.close()

    t = threading.Thread(target=slow_request)
    t.start()
    try:
        busy = wait_for(
            lambda: [w for w in own_gunicorn.master(scanner).workers if w.connections == 1],
            timeout=5,
        )
        assert len(busy) == 1
    finally:
        t.join(timeout=20)
    wait_for(lambda: all(w.connections == 0 for w in own_gunicorn.master(scanner).workers), 5)

    os.kill(own_gunicorn.proc.pid, signal.SIGTTIN)
    three = wait_for(lambda: (m := own_gunicorn.master(scanner)).live == 3 and m, timeout=20)
    new = {w.pid for w in three.workers} - {w.pid for w in master.workers}
    assert len(new) == 1 and all(psutil.Process(p).ppid() == master.pid for p in new)
    os.kill(own_gunicorn.proc.pid, signal.SIGTTOU)
    wait_for(lambda: own_gunicorn.master(scanner).live == 2, timeout=20)
    assert scanner.discoveries == discoveries


def test_a_gone_master_triggers_a_discovery(
    demo_stack: DemoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between discoveries, a master whose pid no longer is that process is not shown stale:
    the next scan discovers again and finds the restarted program's new master."""
    monkeypatch.setattr(gunicorn.discovery, "DISCOVERY_SECONDS", 3600.0)
    scanner = gunicorn.GunicornScanner()
    seen = programs(demo_stack)
    first = scanner.scan(seen)
    old = next(m for m in first if m.program == "api")
    only_ours(scanner, *(m.pid for m in first if m.program in ("web", "api")))
    assert scanner.scan(seen) and scanner.discoveries == 1  # the second scan: a refresh
    rpc = demo_stack.rpc()
    rpc.supervisor.stopProcess("api")
    try:
        # the same (now stale) supervisor view: the dead master alone forces a discovery
        masters = scanner.scan(seen)
        assert old.pid not in {m.pid for m in masters}
        assert scanner.discoveries == 2
    finally:
        rpc.supervisor.startProcess("api")
    wait_for(lambda: master_of(demo_stack, "api", scanner).live == 2, timeout=20)


def test_scans_far_apart_are_not_each_a_discovery(
    demo_stack: DemoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hidden view scans every 30 s: each scan is then past DISCOVERY_SECONDS, yet a walk
    of every process on the machine comes only every DISCOVERY_SCANS scans (the scans in
    between still show the masters); a program started or stopped is discovered at once."""
    monkeypatch.setattr(gunicorn.discovery, "DISCOVERY_SECONDS", 0.0)  # every scan "late"
    scanner = gunicorn.GunicornScanner()
    seen = programs(demo_stack)
    first = scanner.scan(seen)
    assert scanner.discoveries == 1
    for _ in range(gunicorn.discovery.DISCOVERY_SCANS):
        again = scanner.scan(seen)
        assert {m.pid for m in again} == {m.pid for m in first}
    assert scanner.discoveries == 1
    scanner.scan(seen)
    assert scanner.discoveries == 2
    others = [p for p in seen if p.name != "api"]  # what supervisor shows changed
    scanner.scan(others)
    assert scanner.discoveries == 3
