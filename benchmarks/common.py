"""Shared pieces of the benchmarks: the result row, the scaled stack, timing helpers, a tmux
terminal for running TUIs, the machine description and the results table.

Every figure is a ratio against a baseline measured in the same run: the machine is shared
and noisy, so absolute numbers say little, but two things measured side by side under the
same noise can be compared.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from opsconsole.core.config import SupervisorTarget
from opsconsole.demo.stack import DemoStack, find_nginx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

#: The scaled stack every stack benchmark shares.
SCALED_PROGRAMS = 300
SCALED_WORKERS = 32

#: Terminal size for the TUI runs: a common full-screen size, bigger than the 80x24 minimum.
TERM_SIZE = (120, 40)

MB = 1024 * 1024


# --------------------------------------------------------------------------- results


@dataclass
class Row:
    """One line of the results table."""

    number: int
    figure: str
    measured: str = ""
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    meets: bool | None = None  # None: not measured
    notes: list[str] = field(default_factory=list)

    @property
    def meets_text(self) -> str:
        if self.meets is None:
            return "not measured"
        return "yes" if self.meets else "NO"

    @property
    def ratio_text(self) -> str:
        if self.ratio is None:
            return ""
        return f"{self.ratio:.2f}×" if self.ratio >= 0.05 else f"{self.ratio:.2g}×"


def not_measured(number: int, figure: str, target: str, why: str) -> Row:
    return Row(number, figure, measured="not measured", target=target, notes=[why])


def render_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (what ``make bench`` prints and writes)."""
    head = [
        "| # | figure | opsconsole | baseline (same run) | ratio | target | meets target | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines = []
    for r in sorted(rows, key=lambda r: r.number):
        cells = [
            str(r.number),
            r.figure,
            r.measured,
            r.baseline,
            r.ratio_text,
            r.target,
            r.meets_text,
            "; ".join(r.notes),
        ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(head + lines)


# --------------------------------------------------------------------------- numbers


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> str:
    """``median (min–max, n=…)`` in milliseconds, for notes."""
    return (
        f"{median(values) * 1000:.1f} ms (min {min(values) * 1000:.1f}, "
        f"max {max(values) * 1000:.1f}, n={len(values)})"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def secs(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def mib(n: float) -> str:
    return f"{n / MB:.0f} MB"


@dataclass
class ChildRun:
    """A finished child process: wall time from spawn to exit, its own resource usage."""

    seconds: float
    status: int
    cpu: float  # user + system seconds of the child and everything it waited for
    maxrss: int  # bytes


def run_child(argv: Sequence[str], env: dict[str, str] | None = None) -> ChildRun:
    """Run ``argv`` with stdout/stderr to /dev/null; measure it exactly with ``wait4``."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    started = time.perf_counter()
    pid = os.posix_spawnp(argv[0], list(argv), env or dict(os.environ), file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    return ChildRun(
        seconds,
        os.waitstatus_to_exitcode(status),
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss * 1024,
    )


def process_cpu(pid: int) -> float:
    """CPU seconds of ``pid``: its own, the children it reaped, and its live descendants.

    Counting live descendants too makes the figure consistent at both ends of a window: a
    child running at the first sample is counted there and, once reaped, in the parent's
    children times.
    """
    proc = psutil.Process(pid)
    t = proc.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in proc.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.Error:
            continue
    return float(total)


@dataclass(frozen=True)
class TreeCpu:
    """One sample of a process tree's CPU: ``ticks`` as :func:`process_cpu` counts it (the
    kernel's 10 ms ticks, per process), ``exact`` from every thread's run time in
    nanoseconds (``/proc/PID/task/TID/schedstat``; None where that file is missing), and
    the threads it summed."""

    ticks: float
    exact: float | None
    threads: frozenset[tuple[int, int]]


def tree_cpu(pid: int) -> TreeCpu:
    """A :class:`TreeCpu` sample of ``pid`` and its live descendants."""
    ticks = process_cpu(pid)
    exact: float | None = 0.0
    threads: set[tuple[int, int]] = set()
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        procs = []
    for proc in procs:
        task_dir = Path(f"/proc/{proc.pid}/task")
        try:
            tids = [int(t.name) for t in task_dir.iterdir()]
        except OSError:
            continue  # gone since
        for tid in tids:
            try:
                ns = int((task_dir / str(tid) / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                if (task_dir / str(tid)).exists():
                    exact = None  # a thread without schedstat: ticks only
                continue  # else it ended since it was listed
            threads.add((proc.pid, tid))
            if exact is not None:
                exact += ns / 1e9
    return TreeCpu(ticks, exact, frozenset(threads))


def cpu_between(before: TreeCpu, after: TreeCpu) -> tuple[float, bool]:
    """CPU seconds spent between two samples of one tree, and whether it is exact: the
    threads' run times when the same threads ran at both ends (none began or ended: a thread
    gone would take its time with it), else the ticks (within ±10 ms a process)."""
    if before.exact is not None and after.exact is not None and before.threads == after.threads:
        return after.exact - before.exact, True
    return after.ticks - before.ticks, False


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, step: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


# --------------------------------------------------------------------------- the stack


def supervisorctl() -> str:
    local = BIN / "supervisorctl"
    return str(local) if local.exists() else (shutil.which("supervisorctl") or "supervisorctl")


def stack_target(stack: DemoStack) -> SupervisorTarget:
    return SupervisorTarget(
        name="bench",
        url=stack.socket_url,
        username=stack.username,
        password=stack.password,
        source=f"[supervisorctl] in {stack.conf_path}",
    )


def web_master(stack: DemoStack) -> psutil.Process:
    info = stack.rpc().supervisor.getProcessInfo("web")
    return psutil.Process(int(info["pid"]))


def wait_for_workers(stack: DemoStack, count: int, timeout: float = 120.0) -> None:
    """Wait until the web master has exactly ``count`` worker children."""
    master = web_master(stack)
    wait_until(lambda: len(master.children()) == count, timeout, f"web master with {count} workers")


def exit_on_signals() -> None:
    """SIGTERM and SIGHUP end a benchmark the way Ctrl+C does, so its ``finally`` blocks stop
    the demo stack (the default action would leave supervisord and nginx running)."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def start_scaled_stack() -> DemoStack:
    """The demo stack with 300 extra programs and 32 web workers, every worker up."""
    stack = DemoStack(extra_programs=SCALED_PROGRAMS, workers=SCALED_WORKERS)
    stack.start(timeout=180.0)
    try:
        wait_for_workers(stack, SCALED_WORKERS)
    except BaseException:
        stack.stop()
        raise
    return stack


@dataclass
class BenchContext:
    """What every benchmark receives: the shared stack (or None) and how long to take."""

    stack: DemoStack | None
    quick: bool = False
    idle_seconds: float = 60.0
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="opsbench-")))

    def need_stack(self) -> DemoStack:
        if self.stack is None:
            raise RuntimeError("this benchmark needs the scaled stack")
        return self.stack

    @property
    def target(self) -> SupervisorTarget:
        return stack_target(self.need_stack())

    def program_count(self) -> int:
        return len(self.need_stack().rpc().supervisor.getAllProcessInfo())

    def isolated_env(self) -> dict[str, str]:
        """The environment for opsconsole children: no developer config, no real audit log."""
        env = dict(os.environ)
        home = self.workdir / "xdg"
        env["XDG_CONFIG_HOME"] = str(home / "config")
        env["XDG_STATE_HOME"] = str(home / "state")
        env.pop("OPSCONSOLE_SUPERVISOR_PASSWORD", None)
        env.pop("NO_COLOR", None)
        env["PYTHONPATH"] = str(ROOT) + (
            os.pathsep + env["PYTHONPATH"] if "PYTHONPATH" in env else ""
        )
        return env


def standalone(run: Callable[[BenchContext], list[Row]], *, needs_stack: bool) -> int:
    """``python -m benchmarks.bench_x``: run one benchmark (with its own stack if it needs
    one) and print its row(s)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, 30 s idle")
    args = parser.parse_args()
    exit_on_signals()
    stack = start_scaled_stack() if needs_stack else None
    ctx = BenchContext(stack, quick=args.quick, idle_seconds=30.0 if args.quick else 60.0)
    try:
        rows = run(ctx)
    finally:
        if stack is not None:
            stack.stop()
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    print(render_table(rows))
    return 0


# --------------------------------------------------------------------------- tmux


class Tmux:
    """A private tmux server (its own socket, no user config) to run TUIs in a real terminal.

    The benchmarks need the process id of what runs in a pane: commands are started with
    ``exec`` so the pane's pid is the program itself.
    """

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("tmux")
        self.socket = workdir / "tmux.sock"

    @property
    def available(self) -> bool:
        return self.binary is not None

    def _tmux(self, *args: str) -> str:
        assert self.binary is not None
        out = subprocess.run(
            [self.binary, "-S", str(self.socket), "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if out.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args[:2])} failed: {out.stderr.strip()}")
        return out.stdout

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        size: tuple[int, int] = TERM_SIZE,
    ) -> int:
        """Start ``argv`` in a new detached session; return its pid."""
        assigns = [f"{k}={v}" for k, v in (env or {}).items()]
        command = "exec env " + " ".join(shlex.quote(a) for a in [*assigns, *argv])
        width, height = size
        self._tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), command)
        return int(self._tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())

    def screen(self, name: str) -> str:
        return self._tmux("capture-pane", "-p", "-t", name)

    def keys(self, name: str, *keys: str) -> None:
        self._tmux("send-keys", "-t", name, *keys)

    def kill(self, name: str) -> None:
        try:
            self._tmux("kill-session", "-t", name)
        except RuntimeError:
            pass

    def close(self) -> None:
        if self.binary is not None and self.socket.exists():
            subprocess.run(
                [self.binary, "-S", str(self.socket), "kill-server"],
                capture_output=True,
                timeout=20,
            )


@contextmanager
def tmux_server(workdir: Path) -> Iterator[Tmux]:
    tmux = Tmux(workdir)
    try:
        yield tmux
    finally:
        tmux.close()


# --------------------------------------------------------------------------- machine


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _nginx_version() -> str:
    binary = find_nginx()
    if binary is None:
        return "not installed"
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    found = re.search(r"nginx/(\S+)", out.stderr + out.stdout)
    return found.group(1) if found else "unknown"


def machine_description() -> list[tuple[str, str]]:
    """(label, value) pairs describing where the figures were measured."""
    mem = psutil.virtual_memory()
    load = os.getloadavg()
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", _cpu_model()),
        (
            "cores",
            f"{psutil.cpu_count(logical=True)} logical "
            f"({psutil.cpu_count(logical=False)} physical)",
        ),
        ("RAM", f"{mem.total / 1024**3:.1f} GiB"),
        ("load average at start", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("supervisor", _version("supervisor")),
        ("gunicorn", _version("gunicorn")),
        ("nginx", _nginx_version()),
        ("textual", _version("textual")),
        ("psutil", _version("psutil")),
        ("opsconsole", _version("opsconsole")),
    ]


# --------------------------------------------------------------------------- log lines

_PATHS = ("/", "/api/items", "/static/app.js", "/login", "/api/orders?page=2", "/health")


def log_lines(count: int, start: int = 0) -> bytes:
    """``count`` nginx-style access log lines (numbered from ``start``), about 150 bytes each."""
    out = []
    for i in range(start, start + count):
        path = _PATHS[i % len(_PATHS)]
        status = 200 if i % 17 else 502
        out.append(
            f"127.0.0.{i % 250 + 1} - - [25/Nov/2026:12:{i // 60 % 60:02d}:{i % 60:02d} +0000] "
            f'"GET {path} HTTP/1.1" {status} {i % 9000 + 120} "-" "bench/1.0" seq={i}\n'
        )
    return "".join(out).encode()
