"""Gunicorn failing under the console: a master killed while a scale waits, a worker stuck
(SIGSTOP) until the master's timeout kills it, a master's pid reused before an action,
several masters bound to one control-socket path.

Each test breaks a gunicorn of its own (not under supervisor, found by the scan); the shared
stack's masters are only looked at, to show the console loses nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from opsconsole import cli
from opsconsole.core import gunicorn, procs
from opsconsole.core.gunicorn.control import peer_pid
from opsconsole.core.procs import ProcIdentity
from opsconsole.demo.stack import DemoStack
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.gunicorn import GunicornView
from tests.conftest import wait_for
from tests.faults.common import keys_still_work, words
from tests.gunicorn_own import Own, start_own
from tests.tui.helpers import flat, screen_text, shows, stack_config, until

pytestmark = pytest.mark.integration  # starts gunicorn masters of the tests' own


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Own]:
    started = start_own(tmp_path / "own")
    try:
        yield started
    finally:
        started.kill()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Every signal the console sends (still delivered for real)."""
    calls: list[tuple[int, str]] = []
    real = procs.send_signal

    def spy(identity: ProcIdentity, sig: signal.Signals) -> None:
        calls.append((identity.pid, sig.name.removeprefix("SIG")))
        real(identity, sig)

    monkeypatch.setattr(procs, "send_signal", spy)
    return calls


def shown(app: OpsConsoleApp, pid: int) -> gunicorn.Master | None:
    view = app.query_one(GunicornView)
    return next((m for m in view.masters if m.pid == pid), None)


def timeline(app: OpsConsoleApp) -> str:
    return "\n".join(f"{e.level} {e.source} {e.text}" for e in app.timeline.events)


async def gunicorn_view(pilot, own: Own) -> GunicornView:  # type: ignore[no-untyped-def]
    app = pilot.app
    await pilot.press("2")
    view = app.query_one(GunicornView)

    def ready() -> bool:
        m = shown(app, own.pid)
        return m is not None and m.live == 2 and not m.flags

    await until(pilot, ready, 40)
    assert view.select(f"m:{own.pid}")
    return view


async def test_master_killed_while_a_scale_waits(
    demo_stack: DemoStack, own: Own, tmp_path: Path, sent: list[tuple[int, str]]
) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        view = await gunicorn_view(pilot, own)
        rpc = demo_stack.rpc().supervisor
        others = {rpc.getProcessInfo(name)["pid"] for name in ("web", "api")}
        await until(pilot, lambda: others <= {m.pid for m in view.masters if m.program})
        assert view.select(f"m:{own.pid}")
        await pilot.press("plus")
        await until(pilot, lambda: "2 -> 3 workers?" in flat(screen_text(pilot)))
        # a stopped master leaves the TTIN pending: the scale is still waiting when it dies
        os.kill(own.pid, signal.SIGSTOP)
        await pilot.press("y")
        await until(pilot, lambda: "⟳ scaling own: 2 live → target 3" in screen_text(pilot), 15)
        # the line shows when the scale starts; the signal goes out from a worker after it
        await until(pilot, lambda: sent, 20)
        assert sent == [(own.pid, "TTIN")]
        own.kill()

        await until(pilot, lambda: f"process {own.pid} no longer exists" in timeline(app), 25)
        assert "scale workers: error" in timeline(app)
        await until(pilot, lambda: "Scale workers failed" in screen_text(pilot), 10)
        # the progress line and the dead master's row go away; the other masters stay
        await until(pilot, lambda: shown(app, own.pid) is None, 15)
        assert "⟳ scaling" not in screen_text(pilot)
        assert others <= {m.pid for m in view.masters}
        await keys_still_work(pilot)
        assert sent == [(own.pid, "TTIN")]  # nothing was sent after the master died

        # the fault clears: the master is started again and shows up by itself
        again = start_own(tmp_path / "again")
        try:
            await pilot.press("2")
            await until(pilot, lambda: (m := shown(app, again.pid)) and m.live == 2, 10)  # type: ignore[union-attr]
            assert view.select(f"m:{again.pid}")
            await shows(pilot, f"own (not under supervisor) master {again.pid}")
        finally:
            again.kill()


async def test_stuck_worker_is_flagged_then_replaced_after_the_timeout(
    demo_stack: DemoStack, tmp_path: Path
) -> None:
    timeout = 4
    own = start_own(tmp_path / "own", timeout=timeout)
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    try:
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            view = await gunicorn_view(pilot, own)
            master = shown(app, own.pid)
            assert master is not None
            victim = master.workers[0].pid
            os.kill(victim, signal.SIGSTOP)
            stopped = time.monotonic()

            def flagged() -> bool:
                m = shown(app, own.pid)
                return m is not None and any(
                    w.pid == victim and "stuck" in w.flags for w in m.workers
                )

            await until(pilot, flagged, timeout + 4)
            assert time.monotonic() - stopped < timeout / 2 + gunicorn.STUCK_GRACE + 2
            assert view.select(f"w:{victim}")  # many masters may be listed: bring it into view
            text = await shows(pilot, f" {victim} ")
            row = next(ln for ln in text.splitlines() if f" {victim} " in ln)
            assert "◆ stuck" in row, row
            await pilot.press("j", "k")  # the table still moves

            # the master's timeout kills it (SIGABRT stays pending, then SIGKILL); a new
            # worker takes its place and the flags clear by themselves
            def replaced() -> bool:
                m = shown(app, own.pid)
                pids = {w.pid for w in m.workers} if m else set()
                return m is not None and victim not in pids and m.live == 2 and not m.flags

            await until(pilot, replaced, 3 * timeout + 6)
            assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == "zombie"
            # l on the master shows why, from its error log
            assert view.select(f"m:{own.pid}")
            await pilot.press("l")
            logs = app.query_one("LogsView")

            def timeout_logged() -> bool:
                store = logs.log_view.lines_widget.store  # type: ignore[attr-defined]
                return any(f"WORKER TIMEOUT (pid:{victim})" in line.text for line in store)

            await until(pilot, timeout_logged, 15)
    finally:
        own.kill()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to pick the next pid (ns_last_pid)")
async def test_master_pid_reused_before_the_action_is_refused(
    demo_stack: DemoStack, own: Own, sent: list[tuple[int, str]]
) -> None:
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    squatter: subprocess.Popen[bytes] | None = None
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await gunicorn_view(pilot, own)
        pid = own.pid
        await pilot.press("plus")
        await until(pilot, lambda: f"gunicorn master {pid} (own): 2 -> 3" in screen_text(pilot))
        # while the question is on screen the master dies and its pid goes to another program
        own.kill()
        try:
            squatter = take_pid(pid)
            await pilot.press("y")
            await until(pilot, lambda: f"pid {pid} now belongs to another process" in timeline(app))
            await until(pilot, lambda: "Scale workers failed" in screen_text(pilot), 10)
            assert "nothing was sent" in words(screen_text(pilot))
            assert sent == []
            assert psutil.Process(pid).status() != psutil.STATUS_STOPPED  # no TTIN reached it
            # the stale row goes away by itself: the sleeping program is no gunicorn
            await until(pilot, lambda: shown(app, pid) is None, 15)
            await keys_still_work(pilot)
        finally:
            if squatter is not None:
                squatter.kill()
                squatter.wait()


def take_pid(pid: int, attempts: int = 50) -> subprocess.Popen[bytes]:
    """Start ``sleep`` with exactly ``pid`` (Linux ns_last_pid; needs root)."""
    wait_for(lambda: not psutil.pid_exists(pid), timeout=5)
    for _ in range(attempts):
        with open("/proc/sys/kernel/ns_last_pid", "w") as fh:
            fh.write(str(pid - 1))
        proc = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL)
        if proc.pid == pid:
            return proc
        proc.kill()
        proc.wait()
        if psutil.pid_exists(pid):
            pytest.skip(f"another process took pid {pid} first")
        time.sleep(0.05)  # the pid may still name a process group of dying processes
    pytest.skip(f"could not start a process with pid {pid}")


# --------------------------------------------------------------------------- shared control socket

#: three masters of one user on one control-socket path, each with its own worker count
SHARED = (("shared-a", 1), ("shared-b", 2), ("shared-c", 3))


def listener(path: Path) -> int | None:
    """The pid of the master the path leads to now (the one that bound it last)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return None
        return peer_pid(sock)


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[Path, list[Own]]]:
    """Three real masters, one user, the same ``--control-socket``; the last one started
    holds the path (each binds it again, taking it over, after it forks a worker)."""
    path = tmp_path / "gunicorn.ctl"
    started: list[Own] = []
    try:
        for name, workers in SHARED:
            own = start_own(tmp_path / name, name=name, workers=workers, control_socket=path)
            started.append(own)
            wait_for(lambda: listener(path) == own.pid, timeout=10)  # noqa: B023
        yield path, started
    finally:
        for own in started:
            own.kill()


def counts(owns: list[Own]) -> dict[int, int]:
    """Each master's live worker count, from the processes themselves."""
    return {o.pid: len(gunicorn.worker_pids(ProcIdentity.of(o.pid))) for o in owns}


def test_cli_scales_only_its_own_master_on_a_shared_control_socket(
    demo_stack: DemoStack,
    shared: tuple[Path, list[Own]],
    capsys: pytest.CaptureFixture[str],
    sent: list[tuple[int, str]],
) -> None:
    path, owns = shared
    a, b, c = owns
    conf = str(demo_stack.conf_path)
    expected = {o.pid: workers for o, (_, workers) in zip(owns, SHARED, strict=True)}
    assert counts(owns) == expected
    # c holds the path first: its own socket is used; then a and b, whose path leads to
    # another master (the one scaled before them took it over when it forked a worker)
    for own in (c, a, b):
        holder = listener(path)
        signals_before = len(sent)
        assert cli.main(["-c", conf, "scale", str(own.pid), "+1", "--wait", "--yes", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        expected[own.pid] += 1
        assert result["converged"] and result["live"] == expected[own.pid], result
        assert result["before"] == expected[own.pid] - 1, result  # its own count, no other's
        if holder == own.pid:
            assert result["method"] == "control socket"
            assert sent[signals_before:] == []
        else:
            assert result["method"] == "signal"
            assert sent[signals_before:] == [(own.pid, "TTIN")]
        time.sleep(1.0)  # a command that reached another master shows within this
        assert counts(owns) == expected  # only its own worker count moved

        # the tree shows each master's own counts, and why a shared path is not used
        assert cli.main(["-c", conf, "tree", "--json"]) == 0
        tree = {m["pid"]: m for m in json.loads(capsys.readouterr().out)["masters"]}
        holder = listener(path)
        for o, (_, configured) in zip(owns, SHARED, strict=True):
            m = tree[o.pid]
            assert m["live"] == expected[o.pid] and m["configured"] == configured, m
            if o.pid == holder:
                assert (m["target"], m["target_source"]) == (expected[o.pid], "control socket")
                assert "ctl-shared" not in m["flags"]
            else:
                assert m["target_source"] == "configured" and m["target"] == configured, m
                assert "ctl-shared" in m["flags"]
                assert any(f"answered by pid {holder} " in n for n in m["notes"]), m["notes"]
        assert cli.main(["-c", conf, "tree"]) == 0
        lines = capsys.readouterr().out.splitlines()
        for o in owns:
            head = next(i for i, ln in enumerate(lines) if f" master {o.pid} " in ln)
            shared_line = f"ctl: shared path, not used ({path}; signals)"
            assert (shared_line in lines[head + 1]) == (o.pid != holder), lines[head : head + 2]
    assert counts(owns) == {a.pid: 2, b.pid: 3, c.pid: 4}


async def test_tui_scales_only_its_own_master_on_a_shared_control_socket(
    demo_stack: DemoStack, shared: tuple[Path, list[Own]], sent: list[tuple[int, str]]
) -> None:
    path, owns = shared
    a, b, c = owns
    expected = {o.pid: workers for o, (_, workers) in zip(owns, SHARED, strict=True)}
    names = {o.pid: name for o, (name, _) in zip(owns, SHARED, strict=True)}
    app = OpsConsoleApp(stack_config(demo_stack), audit=False)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("2")
        view = app.query_one(GunicornView)

        def own_counts() -> bool:
            """every shared master shows its own live count and target"""
            for o in owns:
                m = shown(app, o.pid)
                if m is None or (m.live, m.target) != (expected[o.pid], expected[o.pid]):
                    return False
            return True

        await until(pilot, own_counts, 40)
        for own in (c, a, b):
            holder = listener(path)
            assert view.select(f"m:{own.pid}")
            n = expected[own.pid]
            if holder != own.pid:
                await shows(pilot, "ctl: shared path, not used")
            await pilot.press("plus")
            action = "'worker add 1'" if holder == own.pid else "TTIN"
            # its own count, planned with its own socket or with signals (the line may be cut)
            await shows(
                pilot, f"Send {action} to gunicorn master {own.pid} ({names[own.pid]}): {n} -> "
            )
            signals_before = len(sent)
            await pilot.press("y")
            expected[own.pid] += 1
            await until(pilot, lambda: counts(owns) == expected, 40)
            await until(pilot, own_counts, 20)
            await pilot.pause(1.0)  # a command that reached another master shows within this
            assert counts(owns) == expected
            assert sent[signals_before:] == ([] if holder == own.pid else [(own.pid, "TTIN")])
            # the selected master's summary line: its own live count and target
            assert view.select(f"m:{own.pid}")
            m = expected[own.pid]
            await shows(pilot, f"workers {m} live / {m} target")
        await keys_still_work(pilot)
    assert counts(owns) == {a.pid: 2, b.pid: 3, c.pid: 4}


def test_scale_checks_the_socket_again_right_before_sending(
    shared: tuple[Path, list[Own]], sent: list[tuple[int, str]]
) -> None:
    path, owns = shared
    a, b, c = owns
    scanner = gunicorn.GunicornScanner()
    masters = {m.pid: m for m in scanner.scan()}
    planned = masters[c.pid]
    assert planned.ctl_usable  # c held the path when the tree was read
    assert gunicorn.plan_scale(planned, "+1").method == "control socket"
    # before the operator confirms, a's worker dies: a forks a new one and takes the path
    os.kill(masters[a.pid].workers[0].pid, signal.SIGKILL)
    wait_for(lambda: listener(path) == a.pid and counts(owns)[a.pid] == 1, timeout=10)
    result = gunicorn.scale(planned, "+1", scanner=scanner, wait=True, timeout=15)
    assert result.converged and result.method == "signal", result
    assert "now answers for another master" in result.message
    assert sent == [(c.pid, "TTIN")]
    time.sleep(1.0)  # a command that reached a would show within this
    assert counts(owns) == {a.pid: 1, b.pid: 2, c.pid: 4}
