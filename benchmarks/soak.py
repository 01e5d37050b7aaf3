"""Soak: the console on the demo stack for a long time (30 minutes by default) while programs
flap every few seconds and a log grows fast; its RSS and open file descriptors must stay flat.

    .venv/bin/python -m benchmarks.soak [--minutes 30] [--interval 10] [--flap 3]

What runs:

* a real demo stack (supervisord, gunicorn ``web``/``api``, nginx when installed);
* a flapper thread that every ``--flap`` seconds stops/starts ``idle``, restarts a queue
  worker and, every fourth time, restarts ``api`` (a gunicorn master with new pids) through
  the stack's XML-RPC;
* a writer thread appending ``--rate`` lines per second to a log file, rotated (renamed, a
  new file created) every 20 MB so the disk use stays bounded;
* the console itself (:class:`OpsConsoleApp`, headless, 120x40) in a child process: it follows
  the log merged with a program's captured stdout in the Logs view and walks through every
  view each ``--walk`` seconds.

Every ``--interval`` seconds the RSS and the number of open fds of the console process are
sampled. After the warm-up (the first 20 % of the run, at least one minute when the run is
long enough) the median of the last quarter must be within 10 % (and 8 MB) of the median of
the first quarter for RSS, and within 4 for fds. The samples and the verdict are printed;
the exit code is 1 when not flat or when the console died, 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

import psutil

MB = 1024 * 1024
ROTATE_AT = 20 * MB
RSS_TOLERANCE = 0.10
RSS_SLACK = 8 * MB
FD_SLACK = 4


# --------------------------------------------------------------------------- load


class Writer(threading.Thread):
    """Appends timestamped lines at ``rate`` per second; rotates like logrotate ``create``."""

    def __init__(self, path: Path, rate: int) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.rate = rate
        self.stop_event = threading.Event()
        self.lines = 0
        self.rotations = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            fh = self.path.open("ab", buffering=0)
            tick = 0.05
            per_tick = max(1, int(self.rate * tick))
            next_at = time.monotonic()
            while not self.stop_event.is_set():
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                level = ("INFO", "WARNING", "ERROR")[self.lines % 3]
                batch = b"".join(
                    f"{stamp},000 {level} soak line {self.lines + i} "
                    f"GET /api/items/{(self.lines + i) % 997} 200 {i % 50} ms\n".encode()
                    for i in range(per_tick)
                )
                fh.write(batch)
                self.lines += per_tick
                if fh.tell() > ROTATE_AT:
                    fh.close()
                    os.replace(self.path, self.path.with_suffix(".log.1"))
                    fh = self.path.open("ab", buffering=0)
                    self.rotations += 1
                next_at += tick
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stop_event.wait(delay)
                else:
                    next_at = time.monotonic()
            fh.close()
        except BaseException as exc:  # reported by the verdict
            self.error = exc


class Flapper(threading.Thread):
    """Stops, starts and restarts programs of the stack every ``every`` seconds."""

    def __init__(self, stack: object, every: float) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.every = every
        self.stop_event = threading.Event()
        self.actions = 0
        self.failures: list[str] = []

    def _do(self, rpc: object, step: int) -> None:
        sup = rpc.supervisor  # type: ignore[attr-defined]
        if step % 2 == 0:
            sup.startProcess("idle")
        else:
            sup.stopProcess("idle")
        sup.stopProcess("queue:queue_01")
        sup.startProcess("queue:queue_01")
        if step % 4 == 3:
            sup.stopProcess("api")
            sup.startProcess("api")

    def run(self) -> None:
        step = 0
        while not self.stop_event.wait(self.every):
            try:
                self._do(self.stack.rpc(), step)  # type: ignore[attr-defined]
                self.actions += 1
            except (OSError, xmlrpc.client.Error) as exc:
                self.failures.append(f"step {step}: {exc}")
            step += 1


# --------------------------------------------------------------------------- the console


def child(args: argparse.Namespace) -> int:
    """The console under test: runs headless until ``--stop-file`` exists."""
    import asyncio

    from opsconsole.core.config import AppConfig, NginxSettings, SupervisorTarget
    from opsconsole.core.logs import SourceSpec
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.widgets.logs import LogsView

    target = SupervisorTarget(
        "demo",
        args.url,
        args.user,
        os.environ.get("OPSCONSOLE_SUPERVISOR_PASSWORD", ""),
        "soak",
    )
    cfg = AppConfig(supervisors=[target], refresh=1.0, timeout=5.0)
    if args.nginx_conf:
        cfg.nginx = NginxSettings(config=args.nginx_conf)
    stop = Path(args.stop_file)

    async def run() -> None:
        app = OpsConsoleApp(cfg, audit=False)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await pilot.pause(2.0)
            await pilot.press("4")
            app.query_one(LogsView).open_sources(
                [args.log, SourceSpec("program", "demo", "queue:queue_00", "stdout")]
            )
            print("console ready", flush=True)
            last_walk = time.monotonic()
            while not stop.exists():
                await pilot.pause(1.0)
                if time.monotonic() - last_walk >= args.walk:
                    last_walk = time.monotonic()
                    for key in ("1", "j", "j", "k", "2", "j", "3", "5", "G", "4"):
                        await pilot.press(key)
                        await pilot.pause(0.2)
            # stop following before the app exits: a poll finishing during teardown can
            # touch widgets already removed
            app.query_one(LogsView).log_view.set_sources([])
            await pilot.pause(0.2)

    asyncio.run(run())
    return 0


# --------------------------------------------------------------------------- sampling


@dataclass
class Sample:
    at: float
    rss: int
    fds: int
    threads: int


def sample(proc: psutil.Process, started: float) -> Sample:
    with proc.oneshot():
        return Sample(
            time.monotonic() - started, proc.memory_info().rss, proc.num_fds(), proc.num_threads()
        )


def verdict(samples: list[Sample], warmup: float) -> tuple[bool, list[str]]:
    """Flat when the last quarter's medians are within tolerance of the first quarter's
    (samples taken during the warm-up are left out). Returns (flat, explanation lines)."""
    steady = [s for s in samples if s.at >= warmup]
    if len(steady) < 8:
        return False, [f"only {len(steady)} samples after the warm-up: run longer"]
    quarter = max(2, len(steady) // 4)
    first, last = steady[:quarter], steady[-quarter:]
    rss0 = statistics.median(s.rss for s in first)
    rss1 = statistics.median(s.rss for s in last)
    fd0 = statistics.median(s.fds for s in first)
    fd1 = statistics.median(s.fds for s in last)
    rss_ok = rss1 <= rss0 * (1 + RSS_TOLERANCE) or rss1 - rss0 <= RSS_SLACK
    fd_ok = fd1 - fd0 <= FD_SLACK
    lines = [
        f"RSS  first quarter {rss0 / MB:7.1f} MB  last quarter {rss1 / MB:7.1f} MB  "
        f"({(rss1 - rss0) / MB:+.1f} MB, {100 * (rss1 / rss0 - 1):+.1f} %)  "
        f"{'flat' if rss_ok else 'GROWING'}",
        f"fds  first quarter {fd0:7.0f}     last quarter {fd1:7.0f}     ({fd1 - fd0:+.0f})"
        f"{'':22}{'flat' if fd_ok else 'GROWING'}",
    ]
    return rss_ok and fd_ok, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    parser.add_argument("--interval", type=float, default=None, help="seconds between samples")
    parser.add_argument("--flap", type=float, default=3.0, help="seconds between flaps")
    parser.add_argument("--rate", type=int, default=1000, help="log lines per second")
    parser.add_argument("--walk", type=float, default=30.0, help="seconds between view walks")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--nginx-conf", help=argparse.SUPPRESS)
    parser.add_argument("--stop-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    from benchmarks.common import exit_on_signals

    exit_on_signals()

    from opsconsole.demo.stack import DemoStack

    duration = args.minutes * 60.0
    interval = args.interval or max(2.0, min(10.0, duration / 60))
    warmup = max(0.2 * duration, min(60.0, 0.3 * duration))
    print(f"starting the demo stack … (soak of {args.minutes:g} min, sample every {interval:g} s)")
    stack = DemoStack().start()
    console: subprocess.Popen[bytes] | None = None
    writer: Writer | None = None
    flapper: Flapper | None = None
    samples: list[Sample] = []
    died = ""
    try:
        soak_dir = stack.dir / "soak"
        soak_dir.mkdir()
        log = soak_dir / "fast.log"
        log.touch()
        stop_file = soak_dir / "stop"
        env = dict(os.environ, OPSCONSOLE_SUPERVISOR_PASSWORD=stack.password)
        command = [
            sys.executable,
            "-m",
            "benchmarks.soak",
            "--child",
            "--url",
            stack.socket_url,
            "--user",
            stack.username,
            "--log",
            str(log),
            "--stop-file",
            str(stop_file),
            "--walk",
            str(args.walk),
        ]
        if stack.nginx_bin:
            command += ["--nginx-conf", str(stack.nginx_conf)]
        err_path = soak_dir / "console.stderr"
        console = subprocess.Popen(
            command,
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err_path.open("wb"),
        )
        assert console.stdout is not None
        ready = console.stdout.readline().decode().strip()
        if ready != "console ready":
            raise SystemExit(f"the console did not start: {err_path.read_text()[-2000:]}")
        writer = Writer(log, args.rate)
        flapper = Flapper(stack, args.flap)
        writer.start()
        flapper.start()
        proc = psutil.Process(console.pid)
        started = time.monotonic()
        print(f"{'t':>7}  {'RSS':>9}  {'fds':>4}  {'threads':>7}")
        while time.monotonic() - started < duration:
            if console.poll() is not None:
                died = f"the console exited with code {console.returncode}"
                break
            try:
                s = sample(proc, started)
            except psutil.Error as exc:
                died = f"the console went away: {exc}"
                break
            samples.append(s)
            mark = "  (warm-up)" if s.at < warmup else ""
            print(
                f"{s.at:6.0f}s  {s.rss / MB:6.1f} MB  {s.fds:4d}  {s.threads:7d}{mark}", flush=True
            )
            time.sleep(max(0.0, started + len(samples) * interval - time.monotonic()))
        stop_file.touch()
        try:
            code = console.wait(timeout=30)
            if code != 0 and not died:
                tail = err_path.read_text(errors="replace")[-1500:]
                print(f"warning: the console exited with code {code} when asked to stop:\n{tail}")
        except subprocess.TimeoutExpired:
            console.kill()
        if died:
            tail = err_path.read_text(errors="replace")[-3000:]
            died += f"\n{tail}"
    finally:
        for thread in (writer, flapper):
            if thread is not None:
                thread.stop_event.set()
                thread.join(timeout=10)
        if console is not None and console.poll() is None:
            console.kill()
            console.wait()
        stack.stop()

    print()
    assert writer is not None and flapper is not None
    print(
        f"load: {writer.lines} log lines ({writer.rotations} rotations), "
        f"{flapper.actions} flaps ({len(flapper.failures)} failed)"
    )
    for failure in flapper.failures[:5]:
        print(f"  flap failed: {failure}")
    if writer.error is not None:
        print(f"  the writer failed: {writer.error}")
    if died:
        print(f"NOT FLAT: {died}")
        return 1
    flat, lines = verdict(samples, warmup)
    for line in lines:
        print(line)
    print("verdict: FLAT" if flat else "verdict: NOT FLAT")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
