"""Figures 2 and 4: idle CPU of the running console, and its RSS with 3 logs followed.

The console (``opsconsole --config bench.toml``, the TUI in a real terminal: a private tmux
server) and the baseline ``watch -n1 supervisorctl -c CONF status`` (also in tmux) run side by
side against the scaled stack (300 extra programs) for the same window. CPU is read with
psutil: each process's own time plus what its children used (``watch`` runs ``sh -c
supervisorctl`` every second and reaps it, so its children times hold their CPU).

The window opens once every program is more than a minute old (:func:`_settle`).

RSS: a fresh console process (headless, :mod:`benchmarks.rss_child`) with every program shown
follows three log files through its logs view; once they are open this process grows them past
the ring; when its ring buffer is full and three more refreshes have passed, its RSS is read.
Changed in the second start-up round: that process imports only what ``opsconsole tui`` does
(it used to be this module run with ``--rss-child``, so the harness's imports, benchmarks.common
with the demo stack, argparse, statistics, ~1 MB, were counted as the console's), and the lines
that grow the logs are written by this process (they were made inside the measured one).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

from benchmarks.common import (
    BIN,
    MB,
    ROOT,
    TERM_SIZE,
    BenchContext,
    Row,
    log_lines,
    mib,
    not_measured,
    process_cpu,
    standalone,
    supervisorctl,
    tmux_server,
    wait_until,
)
from opsconsole.demo.stack import DemoStack

FIGURE_CPU = "idle CPU of the running console, 300 programs"
FIGURE_RSS = "RSS of the console, 300 programs + 3 logs followed"
TARGET_CPU = 0.2
TARGET_RSS_MB = 80


def _thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid`` (the main thread's id is the pid)."""
    try:
        return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}
    except psutil.Error:
        return {}


def _log_paths(ctx: BenchContext) -> list[Path]:
    """Three log files in the work directory, each with some history."""
    paths = [ctx.workdir / f"followed-{i}.log" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_bytes(log_lines(5_000, start=i * 1_000_000))
    return paths


def _rss_row(ctx: BenchContext, tmux_rss: int | None) -> Row:
    target = f"≤ {TARGET_RSS_MB} MB"
    notes = [] if tmux_rss is None else [f"the TUI in tmux (programs view) had {mib(tmux_rss)}"]
    try:
        from opsconsole.core.logs import FileSource
        from opsconsole.tui.widgets.logview import LogView
    except ImportError:
        if tmux_rss is None:
            return not_measured(4, FIGURE_RSS, target, "logs backend missing, no tmux")
        return Row(
            4,
            FIGURE_RSS,
            measured=f"{mib(tmux_rss)} RSS",
            baseline="—",
            target=target,
            meets=tmux_rss <= TARGET_RSS_MB * MB,
            notes=["logs not followed yet: logs backend missing", *notes],
        )
    del FileSource, LogView  # only checked: the child process imports them
    stack = ctx.need_stack()
    files = [str(p) for p in _log_paths(ctx)]
    argv = [
        sys.executable,
        "-m",
        "benchmarks.rss_child",
        str(stack.conf_path),
        str(ctx.program_count()),
        *files,
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ctx.isolated_env(),
        cwd=ROOT,
    )
    assert proc.stdout is not None
    opened = proc.stdout.readline()
    if opened.startswith("OPEN"):
        ring = int(opened.split()[1])
        for i, path in enumerate(files):  # grow each log past what the ring holds
            with open(path, "ab") as fh:
                fh.write(log_lines(ring // 2, start=i * 1_000_000 + 5_000))
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    if proc.returncode != 0 or not stdout.strip():
        raise RuntimeError(f"the RSS child failed: {stderr.strip()[-800:]}")
    out = stdout
    got = json.loads(out.strip().splitlines()[-1])
    rss = int(got["rss"])
    return Row(
        4,
        FIGURE_RSS,
        measured=f"{mib(rss)} RSS (peak {mib(got['peak'])})",
        baseline="—",
        target=target,
        meets=max(rss, int(got["peak"])) <= TARGET_RSS_MB * MB,
        notes=[
            f"headless console, all programs shown, 3 files followed through {got['how']}",
            f"ring buffer full: {got['held']:,} of {got['ring']:,} lines held",
            *notes,
        ],
    )


#: every running program at least this old (s) before the idle window opens
SETTLED = 65


def _settle(stack: DemoStack) -> None:
    """Idle is when nothing shown moves: wait until every running program is more than a
    minute old (in its first minute a program's short uptime, ``42s``, changes every second,
    and the list really is redrawn each second; a fresh stack measured that, not idle)."""
    infos = stack.rpc().supervisor.getAllProcessInfo()
    ages = [i["now"] - i["start"] for i in infos if i["statename"] == "RUNNING"]
    wait = SETTLED - min(ages, default=SETTLED)
    if wait > 0:
        time.sleep(wait)


def run(ctx: BenchContext) -> list[Row]:
    stack = ctx.need_stack()
    target_cpu = f"≤ {TARGET_CPU}×"
    with tmux_server(ctx.workdir) as tmux:
        if not tmux.available:
            why = "not measured: tmux is not installed (apt-get install tmux)"
            return [not_measured(2, FIGURE_CPU, target_cpu, why), _rss_row(ctx, None)]
        env = ctx.isolated_env()
        child_env = {k: env[k] for k in ("XDG_CONFIG_HOME", "XDG_STATE_HOME")}
        console = tmux.spawn(
            "console", [str(BIN / "opsconsole"), "-c", str(stack.conf_path)], env=child_env
        )
        watch = tmux.spawn(
            "watch", ["watch", "-n1", supervisorctl(), "-c", str(stack.conf_path), "status"]
        )
        wait_until(lambda: "extra0" in tmux.screen("console"), 60, "console showing programs")
        wait_until(lambda: "extra0" in tmux.screen("watch"), 60, "watch showing programs")
        time.sleep(5)  # past start-up: the first CPU samples, the first refreshes
        _settle(stack)
        th0 = _thread_cpu(console)
        c0, w0, t0 = process_cpu(console), process_cpu(watch), time.monotonic()
        time.sleep(ctx.idle_seconds)
        c1, w1, t1 = process_cpu(console), process_cpu(watch), time.monotonic()
        th1 = _thread_cpu(console)
        main_cpu = th1.get(console, 0.0) - th0.get(console, 0.0)
        other_cpu = sum(v - th0.get(k, 0.0) for k, v in th1.items() if k != console)
        still = "extra0" in tmux.screen("console")
        top = tmux.screen("console").splitlines()[0].strip()  # says so if it slowed down
        window = t1 - t0
        ours, base = c1 - c0, w1 - w0
        ratio = ours / base if base > 0 else float("inf")
        cpu_row = Row(
            2,
            FIGURE_CPU,
            measured=f"{ours:.2f} s CPU in {window:.0f} s ({ours / window * 100:.1f}% of a core)",
            baseline=f"{base:.2f} s CPU ({base / window * 100:.1f}%): "
            "watch -n1 supervisorctl status",
            ratio=ratio,
            target=target_cpu,
            meets=ratio <= TARGET_CPU,
            notes=[
                f"{window:.0f} s window"
                + (" (30 s instead of 60 s to save time)" if window < 55 else ""),
                f"TUI in tmux {TERM_SIZE[0]}x{TERM_SIZE[1]}, refresh 1 s, programs view",
                f"the console's top line at the end: {top[:110]!r}",
                "watch's CPU includes the sh and supervisorctl it runs",
                f"console's main (UI) thread {main_cpu:.2f} s, its other threads "
                f"(workers) {other_cpu:.2f} s",
            ]
            + ([] if still else ["the console screen lost its program list during the window"]),
        )

        tmux_rss = psutil.Process(console).memory_info().rss
        tmux.keys("console", "q")
        try:
            psutil.Process(console).wait(timeout=10)
        except psutil.TimeoutExpired:
            psutil.Process(console).kill()
        except psutil.NoSuchProcess:
            pass
    return [cpu_row, _rss_row(ctx, tmux_rss)]


if __name__ == "__main__":
    raise SystemExit(standalone(run, needs_stack=True))
