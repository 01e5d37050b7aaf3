"""Figure 14: the load the console puts on supervisord (single-threaded: it serves every
client, so what one client costs it, every other client waits for).

supervisord's own CPU time (psutil, its process only) is read over windows in which exactly
one client watches it: the console (``opsconsole -c CONF`` in a private tmux, programs view,
refresh 1 s) or the baseline ``watch -n1 supervisorctl -c CONF status``, alternating A B A B
so that both see the same machine, plus one window with no client at all (supervisord's own
floor: its children, its timers). The figure is supervisord's CPU per second with the
console minus the floor, against the same with ``watch``.
"""

from __future__ import annotations

import time

import psutil

from benchmarks.common import (
    BIN,
    TERM_SIZE,
    BenchContext,
    Row,
    not_measured,
    standalone,
    supervisorctl,
    tmux_server,
    wait_until,
)

FIGURE = "supervisord's CPU serving the console, 300 programs"
TARGET = 1.0


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _window(proc: psutil.Process, seconds: float) -> float:
    """supervisord's CPU seconds per second over the next ``seconds``."""
    c0, t0 = _cpu(proc), time.monotonic()
    time.sleep(seconds)
    return (_cpu(proc) - c0) / (time.monotonic() - t0)


def run(ctx: BenchContext) -> list[Row]:
    stack = ctx.need_stack()
    target = f"≤ {TARGET:g}× (no more than watch -n1)"
    assert stack.supervisord is not None
    supervisord = psutil.Process(stack.supervisord.pid)
    seconds = 10.0 if ctx.quick else 20.0
    conf = str(stack.conf_path)
    env = ctx.isolated_env()
    child_env = {k: env[k] for k in ("XDG_CONFIG_HOME", "XDG_STATE_HOME")}
    ours: list[float] = []
    base: list[float] = []
    shown = ""
    with tmux_server(ctx.workdir) as tmux:
        if not tmux.available:
            return [not_measured(14, FIGURE, target, "tmux is not installed")]
        floor = _window(supervisord, seconds / 2)
        for _ in range(2):
            tmux.spawn("console", [str(BIN / "opsconsole"), "-c", conf], env=child_env)
            wait_until(lambda: "extra0" in tmux.screen("console"), 60, "console showing programs")
            time.sleep(3)  # past start-up (the first reads of config info, probes)
            ours.append(_window(supervisord, seconds))
            shown = tmux.screen("console").splitlines()[0]
            tmux.keys("console", "q")
            time.sleep(1)
            tmux.kill("console")
            tmux.spawn("watch", ["watch", "-n1", supervisorctl(), "-c", conf, "status"])
            wait_until(lambda: "extra0" in tmux.screen("watch"), 60, "watch showing programs")
            time.sleep(2)
            base.append(_window(supervisord, seconds))
            tmux.kill("watch")
            time.sleep(1)
    mine = sum(ours) / len(ours) - floor
    theirs = sum(base) / len(base) - floor
    ratio = mine / theirs if theirs > 0 else float("inf")
    return [
        Row(
            14,
            FIGURE,
            measured=f"{mine * 1000:.1f} ms CPU/s of supervisord's time (console open)",
            baseline=f"{theirs * 1000:.1f} ms CPU/s: watch -n1 supervisorctl status",
            ratio=ratio,
            target=target,
            meets=ratio <= TARGET,
            notes=[
                f"windows of {seconds:.0f} s, console and watch alternating twice; "
                f"supervisord alone {floor * 1000:.1f} ms CPU/s, subtracted from both",
                "console: "
                + ", ".join(f"{x * 1000:.1f}" for x in ours)
                + " ms/s; watch: "
                + ", ".join(f"{x * 1000:.1f}" for x in base)
                + " ms/s (before subtracting)",
                f"the console in tmux {TERM_SIZE[0]}x{TERM_SIZE[1]}, programs view; its top "
                f"line: {shown.strip()[:100]!r}",
                "one getAllProcessInfo a refresh (tests/tui/test_refresh_load.py counts them)",
            ],
        )
    ]


if __name__ == "__main__":
    raise SystemExit(standalone(run, needs_stack=True))
