"""Figures 11 and 12: the console over ten hosts against the console over one, same run.

Eleven real supervisords, each with 300 programs (``/bin/sleep``), are the "hosts": h0 for the
one-host console (the baseline), h1..h10 for the ten-host console. All are reached through ONE
private local sshd (opsconsole.demo.sshd) with an alias per host, each running ``opsconsole
agent -c`` its supervisord's config, exactly as ``opsconsole --host`` / ``[[host]]`` does.

* Idle CPU (figure 11): both consoles run at once, each the TUI in a real terminal (a private
  tmux server, programs view), over the same window: the one-host console on h0, the ten-host
  console on h1..h10. The window opens once every program is more than a minute old: idle is
  when nothing shown moves (before, the short uptime of all 3000 programs changed every second,
  which is work, not idle). A console's CPU is its own plus every descendant's (the ssh clients it
  spawned are its cost), summed from every thread's run time in nanoseconds when no thread
  began or ended in the window (the kernel's 10 ms ticks, per process, would put up to 0.1 s
  of noise on the ten-host console's 11 processes; then they are the fallback). The agents
  and their sshd sessions on the "servers" are measured separately (per console). Target:
  ten hosts at most 2x one host.
* Key press (figure 12): two headless consoles (Textual's Pilot, ``run_test``), one per
  config, run at once; once every host's programs are listed, ``down``/``up`` are pressed
  alternately and each press is timed until Textual has processed it (Pilot.press: the key
  handled and the screen refreshed). Median of the presses. Target: at most 1.5x one host.

Per-host cost is the slope between the two: (ten - one) / 9 per extra host. The projection
for 100 hosts is LINEAR from that slope (one + 99 x slope): an extrapolation, not measured.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import (
    BIN,
    ROOT,
    TERM_SIZE,
    BenchContext,
    Row,
    cpu_between,
    not_measured,
    process_cpu,
    standalone,
    tmux_server,
    tree_cpu,
    wait_until,
)
from opsconsole.demo.bare import BareSupervisord
from opsconsole.demo.fleet import agent_command
from opsconsole.demo.sshd import LocalSshd, find_sshd

FIGURE_CPU = "idle CPU of the console, 10 hosts x 300 programs (vs 1 host x 300)"
FIGURE_KEY = "key press answered, 10 hosts x 300 programs (vs 1 host x 300)"
TARGET_CPU = 2.0
TARGET_KEY = 1.5
HOSTS = 10
PROGRAMS = 300
PRESSES = 40


def _start_hosts(workdir: Path, count: int) -> list[BareSupervisord]:
    """Supervisords h0..h{count-1}, started in parallel; all stopped if one fails."""
    sups = [BareSupervisord.sleepers(PROGRAMS, workdir / f"h{i}") for i in range(count)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(s.start, 600.0) for s in sups]
        errors = [f.exception() for f in futures]
    if any(errors):
        for s in sups:
            s.stop()
        raise RuntimeError(f"a host's supervisord did not start: {next(e for e in errors if e)}")
    return sups


def _write_config(path: Path, sshd: LocalSshd, hosts: list[tuple[str, BareSupervisord]]) -> Path:
    lines = [f"ssh_config = {json.dumps(str(sshd.ssh_config))}"]
    for name, sup in hosts:
        lines += [
            "",
            "[[host]]",
            f'name = "{name}"',
            f'ssh = "{name}"',
            f"agent = {json.dumps(agent_command())}",
            f"supervisor_config = {json.dumps(str(sup.conf_path))}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _servers(sshd: LocalSshd, confs: list[Path]) -> list[psutil.Process]:
    """The sshd session processes whose agent serves one of ``confs`` (each session's CPU
    includes its agent's: process_cpu counts live descendants)."""
    wanted = {str(c) for c in confs}
    found = []
    for proc in sshd.sessions():
        try:
            cmdline = proc.cmdline()
            if "agent" in cmdline and wanted.intersection(cmdline):
                found.append(proc.parent() or proc)
        except psutil.Error:
            continue
    return found


def _ssh_clients(pid: int) -> set[int]:
    """The ssh clients among a console's descendants."""
    try:
        return {c.pid for c in psutil.Process(pid).children(recursive=True) if c.name() == "ssh"}
    except psutil.Error:
        return set()


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            total += process_cpu(proc.pid)
        except psutil.Error:
            continue
    return total


#: seconds after the programs started when the idle window may open (their short uptimes,
#: "42s", change every second during their first minute)
SETTLED = 65.0


def _idle(
    ctx: BenchContext,
    sshd: LocalSshd,
    one: Path,
    ten: Path,
    confs: dict[str, list[Path]],
    programs_started: float,
) -> dict[str, Any]:
    """Both consoles in tmux over the same window: their CPU and their servers' CPU."""
    with tmux_server(ctx.workdir) as tmux:
        if not tmux.available:
            raise RuntimeError("tmux is not installed (apt-get install tmux)")
        env = ctx.isolated_env()
        child_env = {k: env[k] for k in ("XDG_CONFIG_HOME", "XDG_STATE_HOME")}
        pids = {
            "one": tmux.spawn(
                "one", [str(BIN / "opsconsole"), "--config", str(one)], env=child_env
            ),
            "ten": tmux.spawn(
                "ten", [str(BIN / "opsconsole"), "--config", str(ten)], env=child_env
            ),
        }
        try:
            for name in pids:
                wait_until(lambda n=name: "p000" in tmux.screen(n), 180, f"{name} showing programs")  # type: ignore[misc]
            for name, wanted in (("one", 1), ("ten", HOSTS)):
                wait_until(
                    lambda n=name, w=wanted: len(_servers(sshd, confs[n])) >= w,  # type: ignore[misc]
                    180,
                    f"{name}'s agents up",
                )
            # past start-up (the first reads of every host, the first CPU samples) and past
            # the programs' first minute
            time.sleep(max(10.0, programs_started + SETTLED - time.monotonic()))
            servers = {n: _servers(sshd, confs[n]) for n in pids}
            c0 = {n: tree_cpu(p) for n, p in pids.items()}
            s0 = {n: _cpu(servers[n]) for n in pids}
            t0 = time.monotonic()
            seen: dict[str, set[int]] = {n: set() for n in pids}  # ssh clients, agents
            while time.monotonic() - t0 < ctx.idle_seconds:
                for n, p in pids.items():
                    seen[n] |= _ssh_clients(p) | {a.pid for a in _servers(sshd, confs[n])}
                time.sleep(min(2.0, max(0.0, ctx.idle_seconds - (time.monotonic() - t0))))
            c1 = {n: tree_cpu(p) for n, p in pids.items()}
            s1 = {n: _cpu(servers[n]) for n in pids}
            window = time.monotonic() - t0
            children = {n: len(psutil.Process(p).children(recursive=True)) for n, p in pids.items()}
            shown = {n: "p000" in tmux.screen(n) for n in pids}
            for name in pids:
                tmux.keys(name, "q")
            for pid in pids.values():
                try:
                    psutil.Process(pid).wait(timeout=20)
                except psutil.TimeoutExpired:
                    psutil.Process(pid).kill()
                except psutil.NoSuchProcess:
                    pass
        finally:
            for name in pids:
                tmux.kill(name)
    spent = {n: cpu_between(c0[n], c1[n]) for n in pids}
    return {
        "window": window,
        "console": {n: spent[n][0] for n in pids},
        "exact": all(exact for _, exact in spent.values()),
        "servers": {n: s1[n] - s0[n] for n in pids},
        "children": children,
        "sessions": {n: len(seen[n]) for n in pids},
        "shown": shown,
    }


async def _keys_child(config: str, expected: int, presses: int) -> dict[str, Any]:
    """In a fresh process: the console (headless) on ``config`` until ``expected`` programs
    are listed, then ``presses`` key presses timed (down and up alternately)."""
    from opsconsole.core.config import build_config
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.widgets.programs import ProgramsView

    app = OpsConsoleApp(build_config(config_file=config), audit=False)
    async with app.run_test(size=TERM_SIZE) as pilot:
        programs = app.query_one(ProgramsView)
        deadline = time.monotonic() + 300
        while sum(1 for r in programs.rows if r.proc is not None) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{config}: not every program listed within 300 s")
            await pilot.pause(0.1)
        await pilot.pause(3.0)  # settle: a few refreshes of every host
        programs.focus()
        times: list[float] = []
        for i in range(presses):
            await pilot.pause(0.25 + 0.1 * (i % 3))  # presses land anywhere in the refresh cycle
            started = time.perf_counter()
            await pilot.press("down" if i % 2 == 0 else "up")
            times.append(time.perf_counter() - started)
        rows = sum(1 for r in programs.rows if r.proc is not None)
        fleet = app.session.fleet
        states = list(fleet.states.values()) if fleet is not None else []
        connects = sum(getattr(getattr(st.host, "link", None), "connects", 0) for st in states)
        stale = sum(1 for st in states if st.stale(fleet.refresh)) if fleet is not None else 0
    return {
        "median": statistics.median(times),
        "times": times,
        "rows": rows,
        "connects": connects,
        "stale": stale,
        "hosts": len(states),
    }


def _keys(ctx: BenchContext, one: Path, ten: Path) -> dict[str, dict[str, Any]]:
    """Both headless consoles at once (same machine load for both)."""
    presses = PRESSES // 2 if ctx.quick else PRESSES
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_fleet",
                "--keys-child",
                str(path),
                str(expected),
                str(presses),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ctx.isolated_env(),
            cwd=ROOT,
        )
        for name, path, expected in (("one", one, PROGRAMS), ("ten", ten, PROGRAMS * HOSTS))
    }
    results: dict[str, dict[str, Any]] = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        if proc.returncode != 0:
            for other in procs.values():
                if other.poll() is None:
                    other.kill()
            raise RuntimeError(f"the {name}-host key child failed: {err.strip()[-800:]}")
        results[name] = json.loads(out.strip().splitlines()[-1])
    return results


def run(ctx: BenchContext) -> list[Row]:
    cpu_target, key_target = f"≤ {TARGET_CPU:g}×", f"≤ {TARGET_KEY:g}×"
    if find_sshd() is None:
        why = "not measured: sshd is not installed (apt-get install openssh-server)"
        return [
            not_measured(11, FIGURE_CPU, cpu_target, why),
            not_measured(12, FIGURE_KEY, key_target, why),
        ]
    base = ctx.workdir / "fleet"
    base.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    sups = _start_hosts(base, HOSTS + 1)
    sshd: LocalSshd | None = None
    try:
        up = time.monotonic() - started
        names = [f"h{i}" for i in range(HOSTS + 1)]
        xdg = base / "xdg"
        session_env = {"XDG_CONFIG_HOME": str(xdg / "config"), "XDG_STATE_HOME": str(xdg / "state")}
        sshd = LocalSshd(aliases=names, session_env=session_env, base_dir=base).start()
        one = _write_config(base / "one.toml", sshd, [(names[0], sups[0])])
        ten = _write_config(base / "ten.toml", sshd, list(zip(names[1:], sups[1:], strict=True)))
        confs = {"one": [sups[0].conf_path], "ten": [s.conf_path for s in sups[1:]]}
        idle = _idle(ctx, sshd, one, ten, confs, started + up)
        keys = _keys(ctx, one, ten)
    finally:
        if sshd is not None:
            sshd.stop()
        for sup in sups:
            sup.stop()
    return [_cpu_row(idle, up, ctx.stack is not None), _key_row(keys)]


def _cpu_row(idle: dict[str, Any], up: float, shared: bool) -> Row:
    window = idle["window"]
    one, ten = idle["console"]["one"], idle["console"]["ten"]
    ratio = ten / one if one > 0 else float("inf")
    per_host = (ten - one) / (HOSTS - 1)
    hundred = one + 99 * per_host
    s_one, s_ten = idle["servers"]["one"], idle["servers"]["ten"]

    def pct(cpu: float) -> str:
        return f"{cpu / window * 100:.1f}% of a core"

    return Row(
        11,
        FIGURE_CPU,
        measured=f"{ten:.2f} s CPU in {window:.0f} s ({pct(ten)})",
        baseline=f"{one:.2f} s CPU ({pct(one)}): the same console over 1 host",
        ratio=ratio,
        target=f"≤ {TARGET_CPU:g}×",
        meets=ratio <= TARGET_CPU,
        notes=[
            f"both consoles at once, TUI in tmux {TERM_SIZE[0]}x{TERM_SIZE[1]}, programs view, "
            f"{window:.0f} s window; CPU "
            + (
                "from every thread's run time (ns)"
                if idle.get("exact")
                else "in 10 ms ticks (a thread began or ended in the window)"
            )
            + " and includes the ssh clients each console spawned "
            f"({idle['children']['one']} and {idle['children']['ten']} descendants at the end; "
            f"ssh clients and agents seen in the window: {idle['sessions']['one']} and "
            f"{idle['sessions']['ten']}, 2 a host when none was restarted)",
            _projection(
                f"{per_host / window * 100:+.2f}% of a core", per_host, hundred / window * 100
            ),
            f"servers (agents + their sshd sessions): {pct(s_one)} for 1 host, {pct(s_ten)} "
            f"for {HOSTS} ({s_ten / HOSTS / window * 100:.2f}% a host)",
            f"{HOSTS + 1} real supervisords x {PROGRAMS} /bin/sleep programs behind one local "
            f"sshd (up in {up:.0f} s)",
        ]
        + [
            "the scaled stack of the other figures was up: every agent (all on this machine) "
            "saw, probed and pushed its gunicorn (32 workers), nginx and HTTP probes, so the "
            f"{HOSTS}-host console took {HOSTS} copies of them (their ages and latencies move "
            "at every read); alone (python -m benchmarks.bench_fleet) only the supervisords"
        ]
        * shared
        + [
            f"the {n}-host console's screen did not show p000 at the end of the window"
            for n, shown in idle["shown"].items()
            if not shown
        ],
    )


def _projection(slope: str, per_host: float, hundred: float, ms: bool = False) -> str:
    """The per-host slope and what it projects for 100 hosts (linear; within noise when the
    slope is not above zero)."""
    if per_host <= 0:
        return f"per extra host {slope}: no cost above the noise, nothing to project"
    value = f"{hundred * 1000:.0f} ms" if ms else f"{hundred:.1f}% of a core"
    return f"per extra host {slope}; 100 hosts projected LINEARLY from it: {value} (not measured)"


def _key_row(keys: dict[str, dict[str, Any]]) -> Row:
    one, ten = keys["one"]["median"], keys["ten"]["median"]
    ratio = ten / one if one > 0 else float("inf")
    per_host = (ten - one) / (HOSTS - 1)
    return Row(
        12,
        FIGURE_KEY,
        measured=f"{ten * 1000:.1f} ms median ({len(keys['ten']['times'])} presses, "
        f"{keys['ten']['rows']} programs listed)",
        baseline=f"{one * 1000:.1f} ms median, 1 host ({keys['one']['rows']} programs)",
        ratio=ratio,
        target=f"≤ {TARGET_KEY:g}×",
        meets=ratio <= TARGET_KEY,
        notes=[
            "headless consoles (Pilot) side by side; down/up in the programs view, each timed "
            "until Textual processed it (the key handled and the screen refreshed), not a "
            "terminal's frame",
            f"slowest press {max(keys['ten']['times']) * 1000:.0f} ms vs "
            f"{max(keys['one']['times']) * 1000:.0f} ms",
            f"after the presses: {keys['ten']['stale']} of {keys['ten']['hosts']} hosts stale "
            f"({keys['ten']['connects']} agent connections) vs {keys['one']['stale']} of "
            f"{keys['one']['hosts']}",
            _projection(f"{per_host * 1000:+.2f} ms", per_host, one + 99 * per_host, ms=True),
        ],
    )


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--keys-child":
        result = asyncio.run(_keys_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
        print(json.dumps(result), flush=True)
        raise SystemExit(0)
    raise SystemExit(standalone(run, needs_stack=False))
