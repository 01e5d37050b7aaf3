"""Figure 7: scale ``+`` → the new worker in the tree, minus the worker's own boot time.

The gunicorn view refreshes its tree every second in a thread; here a thread does the same
(``GunicornScanner.scan`` every refresh interval, free-running, like the view). The main
thread presses ``+`` at a random moment of that cycle (``gunicorn.scale(master, "+1")``, the
call the view makes) and notes when a finished scan first shows the new worker. The figure is
that moment minus the worker's creation time (what gunicorn itself needs is not ours); the
total from the press is in the notes. After each sample the master is scaled back to 32.

Without the gunicorn backend: plain TTIN through ``procs.send_signal`` and a psutil children
poll at the same interval, marked as such.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import (
    SCALED_WORKERS,
    BenchContext,
    Row,
    median,
    standalone,
    wait_for_workers,
    web_master,
)
from opsconsole.core.supervisor import ProcessInfo

FIGURE = "scale + → new worker in the tree, minus the worker's boot"
REFRESH = 1.0  # the gunicorn view's refresh interval


def boottime() -> float:
    """Seconds since boot: the clock /proc gives process start times in."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def started_at(pid: int) -> float:
    """When ``pid`` was created, in :func:`boottime` seconds (10 ms ticks).

    Not psutil's ``create_time()``: that adds the boot time in whole seconds, so against
    ``time.time()`` it can be off by up to a second.
    """
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


@dataclass
class TreeLoop:
    """Calls ``scan`` every ``interval`` (free-running); keeps (finished at, worker pids)."""

    scan: Callable[[], set[int]]
    interval: float = REFRESH
    seen: list[tuple[float, set[int]]] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            started = boottime()
            pids = self.scan()
            done = boottime()
            with self.lock:
                self.seen.append((done, pids))
                self.durations.append(done - started)
            next_at += self.interval
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def first_with(self, pid: int, after: float) -> float | None:
        with self.lock:
            for at, pids in self.seen:
                if at >= after and pid in pids:
                    return at
        return None


def _backend(ctx: BenchContext) -> tuple[Callable[[], set[int]], Callable[[str], None], str]:
    """(tree scan → web worker pids, scale(spec), how) from the gunicorn backend or psutil."""
    stack = ctx.need_stack()
    master_pid = web_master(stack).pid
    try:
        from opsconsole.core import gunicorn
    except ImportError:
        gunicorn = None
    if gunicorn is not None and hasattr(gunicorn, "GunicornScanner"):
        scanner = gunicorn.GunicornScanner()
        programs = [
            ProcessInfo.from_rpc(p, "bench") for p in stack.rpc().supervisor.getAllProcessInfo()
        ]

        latest: list[Any] = []

        def scan() -> set[int]:
            masters = list(scanner.scan(programs))
            for m in masters:
                if m.pid == master_pid:
                    latest[:] = [m]
                    return {w.pid for w in m.workers}
            return set()

        def scale(spec: str) -> None:
            # As the view does: act on the master object of the latest refresh.
            gunicorn.scale(latest[0], spec, scanner=scanner)

        return scan, scale, "gunicorn backend (GunicornScanner.scan, gunicorn.scale)"

    import signal

    from opsconsole.core.procs import ProcIdentity, send_signal

    def children() -> set[int]:
        return {c.pid for c in psutil.Process(master_pid).children()}

    def ttin(spec: str) -> None:
        sig = signal.SIGTTIN if spec.startswith("+") else signal.SIGTTOU
        send_signal(ProcIdentity.of(master_pid), sig)

    return children, ttin, "no gunicorn backend: TTIN via procs.send_signal + psutil children"


def run(ctx: BenchContext) -> list[Row]:
    stack = ctx.need_stack()
    reps = 3 if ctx.quick else 6
    scan, scale, how = _backend(ctx)
    loop = TreeLoop(scan)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    shown: list[float] = []
    total: list[float] = []
    boot: list[float] = []
    rng = random.Random(7)
    try:
        time.sleep(REFRESH * 1.5)
        for _ in range(reps):
            before = set(psutil.Process(web_master(stack).pid).children())
            before_pids = {p.pid for p in before}
            time.sleep(rng.uniform(0, REFRESH))  # a random point of the refresh cycle
            pressed = boottime()
            scale("+1")
            new_pid = None
            deadline = pressed + 30
            while boottime() < deadline:
                now = {c.pid for c in psutil.Process(web_master(stack).pid).children()}
                extra = now - before_pids
                if extra:
                    new_pid = extra.pop()
                    break
                time.sleep(0.005)
            if new_pid is None:
                raise RuntimeError("no new worker within 30 s of the scale")
            created = started_at(new_pid)
            seen_at = None
            while boottime() < deadline and seen_at is None:
                seen_at = loop.first_with(new_pid, pressed)
                time.sleep(0.01)
            if seen_at is None:
                raise RuntimeError("the tree did not show the new worker within 30 s")
            fork_delay = max(0.0, created - pressed)
            boot.append(fork_delay)
            total.append(seen_at - pressed)
            shown.append(max(0.0, seen_at - pressed - fork_delay))
            scale("-1")
            wait_for_workers(stack, SCALED_WORKERS, timeout=60)
    finally:
        loop.stop.set()
        thread.join(timeout=30)
        try:
            wait_for_workers(stack, SCALED_WORKERS, timeout=30)
        except TimeoutError:
            pass
    figure = median(shown)
    return [
        Row(
            7,
            FIGURE,
            measured=f"{figure:.2f} s median (max {max(shown):.2f} s)",
            baseline="—",
            target=f"≤ 1 refresh interval ({REFRESH:g} s)",
            meets=figure <= REFRESH,
            notes=[
                how,
                f"{reps} scale-ups at random points of the {REFRESH:g} s refresh cycle",
                f"press → in tree {median(total):.2f} s median; gunicorn's own delay from the "
                f"press to the worker's creation {median(boot) * 1000:.0f} ms (subtracted; "
                "10 ms resolution)",
                f"one tree scan takes {median(loop.durations) * 1000:.0f} ms",
            ],
        )
    ]


if __name__ == "__main__":
    raise SystemExit(standalone(run, needs_stack=True))
