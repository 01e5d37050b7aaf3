"""Figure 5: following a log written at 1 M lines/s for 10 s, in the viewer.

A writer process appends access-log lines at a steady 1,000,000 lines/s (paced in slices of
10,000 lines; if this machine cannot write that fast it writes as fast as it can, and the row
states the rate it reached) for 10 s, then one last line with a unique token. The viewer is
the real console: ``OpsConsoleApp`` headless with a ``LocalHost``, its Logs view opening the
file as ``opsconsole`` does (``open_log_files``, what the gunicorn and nginx views' ``l`` and
the view's ``a`` do): ``HostLogSource`` → ``Host.log(after=cursor, keep=ring, first=...)``
→ the file follower, following from a file holding one line. For comparison the notes give
the viewer widget alone (``LogView`` over a ``FileSource``, no host) on the same writer. Two
criteria, both measured and both needed for "meets":

* every line in the ring: the stream counted every line written (``ring.appended``), and
  what its ring and the widget hold are exactly the file's last ring-full of lines, in order
  (read back from the file and compared). Lines older than the ring bound are counted and
  pushed out, as the ring bound says: when more than a ring-full arrives at once, those the
  newer ring-full would push out are counted without being made into lines.
* the newest line on screen at most 1 s after the writer stopped: the time from the
  writer's last write to the token being in the widget's rendered rows.

Baseline in the same run: ``tail -F FILE > /dev/null`` on the same writer; its read
position (``/proc/PID/fdinfo``) tells when it has read everything after the writer stopped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    TERM_SIZE,
    BenchContext,
    Row,
    log_lines,
    not_measured,
    standalone,
)

FIGURE = "log follow: a writer at 1 M lines/s for 10 s, in the viewer"
RATE = 1_000_000
SLICE = 10_000
LAG_TARGET = 1.0
#: the line the file holds before the writer starts (the view shows it once it is open)
START = "bench-follow: the log is open"


def _viewer_api() -> tuple[Any, Any] | None:
    """(LogView, FileSource) when the logs backend and viewer exist."""
    try:
        from opsconsole.core.logs import FileSource
        from opsconsole.tui.widgets.logview import LogView
    except ImportError:
        return None
    return LogView, FileSource


# --------------------------------------------------------------------------- the writer


class PacedWriter:
    """A child process that appends lines at ``rate`` lines/s for ``seconds``, then one last
    line with ``token``; it reports what it wrote and when it stopped."""

    def __init__(self, path: Path, rate: int, seconds: float) -> None:
        self.token = f"END-OF-BENCH-{secrets.token_hex(6)}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_follow",
                "write",
                str(path),
                str(rate),
                str(seconds),
                self.token,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the log writer did not start")
        self.lines = 0
        self.size = 0
        self.seconds = 0.0
        self.stopped = 0.0

    def go(self) -> float:
        assert self.proc.stdin is not None
        started = time.monotonic()
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()
        return started

    def done(self) -> bool:
        return self.proc.poll() is not None

    def wait(self) -> None:
        out, _ = self.proc.communicate(timeout=600)
        lines, size, seconds, stopped = out.decode().split()[-4:]
        self.lines, self.size = int(lines), int(size)
        self.seconds, self.stopped = float(seconds), float(stopped)

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


def _write_main(path: str, rate: int, seconds: float, token: str) -> None:
    slices = [log_lines(SLICE, start=k * SLICE) for k in range(10)]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    print("ready", flush=True)
    sys.stdin.readline()
    total = int(rate * seconds)
    written = size = 0
    started = time.monotonic()
    k = 0
    while written < total:
        due = started + written / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        data = slices[k % len(slices)]
        k += 1
        size += os.write(fd, data)
        written += SLICE
    last = f"{token}\n".encode()
    size += os.write(fd, last)
    stopped = time.monotonic()
    os.close(fd)
    print(f"{written + 1} {size} {stopped - started:.6f} {stopped:.6f}", flush=True)


# --------------------------------------------------------------------------- the viewer


async def _viewer_run(
    path: Path, rate: int, seconds: float, *, console: bool, beside: Path | None = None
) -> dict[str, Any]:
    """Follow ``path`` (holding one line, :data:`START`) while the writer writes: through the
    console's Logs view and its LocalHost (``console``), else the LogView widget over a
    FileSource. With ``beside`` (a log of one line) both are opened merged, as ``l`` on a
    program opens its stdout, stderr and gunicorn logs. The figures of both criteria."""
    from textual.app import App, ComposeResult

    from opsconsole.core.logs.file import LogFile

    api = _viewer_api()
    assert api is not None
    log_view_cls, file_source_cls = api
    app: App[None]
    if console:
        from opsconsole.core.config import AppConfig
        from opsconsole.tui.app import OpsConsoleApp
        from opsconsole.tui.widgets.logs import LogsView

        app = OpsConsoleApp(AppConfig(), audit=False)
    else:

        class ViewerApp(App[None]):
            def compose(self) -> ComposeResult:
                yield log_view_cls([file_source_cls(path)], id="viewer")

        app = ViewerApp()
    async with app.run_test(size=TERM_SIZE) as pilot:
        if console:
            assert isinstance(app, OpsConsoleApp)
            # what l on an nginx or gunicorn log does (on a program: its logs merged)
            app.open_log_files([str(path)] + ([str(beside)] if beside else []))
            await pilot.pause(0.05)
            view = app.query_one(LogsView).log_view
            assert type(view.stream.sources[0]).__name__ == "HostLogSource"
        else:
            view = app.query_one("#viewer")
        body = view.lines_widget
        deadline = time.monotonic() + 60
        while START not in body.get_plain():
            if time.monotonic() > deadline:
                raise TimeoutError("the log was not open within 60 s")
            await pilot.pause(0.01)
        await pilot.pause(0.05)
        writer = PacedWriter(path, rate, seconds)
        writer.go()
        while not writer.done():
            await pilot.pause(0.05)
        writer.wait()
        deadline = time.monotonic() + 120
        while writer.token not in body.get_plain():
            if time.monotonic() > deadline:
                raise TimeoutError("the newest line was not on screen within 120 s")
            await pilot.pause(0.01)
        lag = time.monotonic() - writer.stopped
        stream = view.stream
        ring = stream.ring
        # the newest lines come first at the end of a burst; the ring is then filled back
        while stream.short or len(ring) < ring.size:
            if time.monotonic() > deadline:
                break  # reported: the ring check below fails
            await pilot.pause(0.01)
        full = time.monotonic() - writer.stopped
        held = [line.text for line in ring]
        shown = [line.text for line in body.store]
        total = writer.lines + 1 + (1 if beside is not None else 0)  # with the lines held before
        label = stream.sources[0].label
        ours = [line.text for line in ring if line.source == label]
        with LogFile(path) as log:
            last = [line.text for line in log.open_tail(len(ours))]
        return {
            "writer": writer,
            "lag": lag,
            "full": full,
            "total": total,
            "appended": ring.appended,
            # the log's lines in the ring are its last ones, in order, and the ring is full
            # (merged, the other log's line may be among them: alone, every line is the log's)
            "ring_ok": (
                ours == last and len(held) == ring.size and (beside is not None or held == ours)
            ),
            "widget_ok": shown == held and body.base + len(body.store) == total,
            "ring_size": ring.size,
        }


def _every_line(got: dict[str, Any]) -> bool:
    return bool(got["appended"] == got["total"] and got["ring_ok"] and got["widget_ok"])


def _core_capacity(path: Path, lines: int) -> float:
    """Lines/s of the core follower alone passing over the whole file from its start."""
    from opsconsole.core.logs.file import LogFile

    with LogFile(path) as log:  # not opened yet: it reads from the file's start
        started = time.monotonic()
        got = 0
        while True:
            passed, made = log.follow(20_000, max_seconds=60)
            got += passed + len(made)
            if not passed and not made:
                break
        seconds = time.monotonic() - started
    if got != lines:
        raise RuntimeError(f"the core follower counted {got} lines, the file holds {lines}")
    return lines / seconds


# --------------------------------------------------------------------------- tail -F


def _fd_pos(pid: int, path: Path) -> int | None:
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(fd_dir / fd) == str(path):
                for line in (Path(f"/proc/{pid}/fdinfo") / fd).read_text().splitlines():
                    if line.startswith("pos:"):
                        return int(line.split()[1])
        except OSError:
            continue
    return None


def _tail_run(path: Path, rate: int, seconds: float) -> tuple[float, PacedWriter]:
    """(seconds from the writer's stop until tail -F had read everything, the writer)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    pid = os.posix_spawnp("tail", ["tail", "-F", str(path)], dict(os.environ), file_actions=actions)
    try:
        deadline = time.monotonic() + 10
        while _fd_pos(pid, path) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("tail -F did not open the file")
            time.sleep(0.005)
        writer = PacedWriter(path, rate, seconds)
        writer.go()
        writer.wait()
        while (_fd_pos(pid, path) or 0) < writer.size:
            if time.monotonic() > writer.stopped + 120:
                raise TimeoutError("tail -F did not catch up within 120 s")
            time.sleep(0.002)
        return max(0.0, time.monotonic() - writer.stopped), writer
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)


def _fresh(ctx: BenchContext, name: str, first: str = "") -> Path:
    path = ctx.workdir / name
    path.unlink(missing_ok=True)
    path.write_text(f"{first}\n" if first else "")
    return path


def run(ctx: BenchContext) -> list[Row]:
    target = f"every line in the ring; newest on screen ≤ {LAG_TARGET:g} s after the writer stops"
    if _viewer_api() is None:
        return [not_measured(5, FIGURE, target, "not measured: logs backend missing")]
    seconds = 3.0 if ctx.quick else 10.0
    try:
        tail_lag, tail_writer = _tail_run(_fresh(ctx, "follow-tail.log"), RATE, seconds)
        (ctx.workdir / "follow-tail.log").unlink()
        path = _fresh(ctx, "follow-direct.log", START)
        direct = asyncio.run(_viewer_run(path, RATE, seconds, console=False))
        path.unlink()
        path = _fresh(ctx, "follow-console.log", START)
        got = asyncio.run(_viewer_run(path, RATE, seconds, console=True))
        writer: PacedWriter = got["writer"]
        capacity = _core_capacity(path, got["total"])
        path.unlink()
        path = _fresh(ctx, "follow-merged.log", START)
        other = _fresh(ctx, "follow-other.log", "the other log's line")
        merged = asyncio.run(_viewer_run(path, RATE, seconds, console=True, beside=other))
    finally:
        for leftover in ctx.workdir.glob("follow-*.log"):
            leftover.unlink()
    every_line = _every_line(got)
    lag = float(got["lag"])
    direct_writer: PacedWriter = direct["writer"]
    return [
        Row(
            5,
            FIGURE,
            measured=(
                f"{got['appended']:,} of {got['total']:,} lines through the ring "
                f"({'all' if every_line else 'NOT all'}); newest on screen {lag:.2f} s after "
                "the writer stopped (the console's Logs view through LocalHost, headless)"
            ),
            baseline=f"tail -F > /dev/null read everything {tail_lag * 1000:.0f} ms after it",
            ratio=None,
            target=target,
            meets=every_line and lag <= LAG_TARGET,
            notes=[
                f"writer asked for {RATE:,} lines/s for {seconds:g} s; it reached "
                f"{writer.rate:,.0f} lines/s ({writer.lines:,} lines, "
                f"{writer.size / 1e6:,.0f} MB; for tail -F {tail_writer.rate:,.0f} lines/s, "
                f"for the widget alone {direct_writer.rate:,.0f} lines/s)",
                f"ring of {got['ring_size']:,} lines: ring and widget hold exactly the file's "
                f"last {got['ring_size']:,} lines "
                f"({'yes' if got['ring_ok'] and got['widget_ok'] else 'NO'}), "
                f"{got['full']:.2f} s after the writer stopped (at the end of a burst the "
                "host sends the newest lines first and the view reads the rest back with "
                "Host.log(before=...)); older lines counted and pushed out by the bound, "
                "those a newer ring-full would push out counted on the host, not sent "
                "(Host.log(after=cursor, keep=ring size): the chunk's passed)",
                f"for comparison, the viewer widget alone (LogView + FileSource, no host): "
                f"{direct['appended']:,} of {direct['total']:,} lines through the ring "
                f"({'all' if _every_line(direct) else 'NOT all'}), newest on screen "
                f"{direct['lag']:.2f} s after the writer stopped, ring full after "
                f"{direct['full']:.2f} s",
                f"the Logs view with the log merged with another (as l on a program opens "
                f"its logs): {merged['appended']:,} of {merged['total']:,} lines through the "
                f"ring ({'all' if _every_line(merged) else 'NOT all'}), newest on screen "
                f"{merged['lag']:.2f} s after the writer stopped "
                f"({merged['writer'].rate:,.0f} lines/s), ring full after {merged['full']:.2f} s",
                f"core follower alone (LogFile.follow over the whole file): "
                f"{capacity:,.0f} lines/s",
            ],
        )
    ]


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "write":
        _write_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        raise SystemExit(standalone(run, needs_stack=False))
