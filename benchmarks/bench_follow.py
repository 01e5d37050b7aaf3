"""Figure 5: lines per second followed from a growing file and shown in the viewer.

A writer process appends N access-log lines as fast as it can. opsconsole: the log viewer
widget (``LogView`` over a ``FileSource``, as the logs view uses it) in a headless app; the
time runs from the writer's start until the viewer holds all N lines. Baseline: ``tail -F
FILE > /dev/null``; its read position (``/proc/PID/fdinfo``) tells when it has read all.
Both are capacities: the writer is faster than either follower.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    TERM_SIZE,
    BenchContext,
    Row,
    Writer,
    median,
    not_measured,
    standalone,
)

FIGURE = "lines/s followed from a growing file, shown in the viewer"
TARGET = 0.5


def _viewer_api() -> tuple[Any, Any] | None:
    """(LogView, FileSource) when the logs backend and viewer exist."""
    try:
        from opsconsole.core.logs import FileSource
        from opsconsole.tui.widgets.logview import LogView
    except ImportError:
        return None
    return LogView, FileSource


async def _viewer_run(path: Path, count: int) -> tuple[float, float]:
    """(seconds for the viewer to hold ``count`` new lines, its poll interval)."""
    from textual.app import App, ComposeResult

    api = _viewer_api()
    assert api is not None
    log_view_cls, file_source_cls = api

    class ViewerApp(App[None]):
        def compose(self) -> ComposeResult:
            yield log_view_cls([file_source_cls(path)], id="viewer")

    app = ViewerApp()
    async with app.run_test(size=TERM_SIZE) as pilot:
        view = app.query_one("#viewer")
        body = view.lines_widget

        def opened() -> bool:
            stream = view.stream
            return bool(stream is not None and stream.sources[0].file.state.exists)

        while not opened():
            await pilot.pause(0.01)
        await pilot.pause(0.05)
        writer = Writer(path, count)
        started = writer.go()
        deadline = started + 300
        while body.base + len(body.store) < count:
            if time.monotonic() > deadline:
                raise TimeoutError("the viewer did not catch up within 300 s")
            await pilot.pause(0.01)
        seconds = time.monotonic() - started
        writer.wait()
        return seconds, float(view.interval)


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


def _tail_run(path: Path, count: int) -> tuple[float, float]:
    """(seconds for tail -F to read ``count`` new lines, seconds the writer took)."""
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
        writer = Writer(path, count)
        started = writer.go()
        while (_fd_pos(pid, path) or 0) < writer.size:
            if time.monotonic() > started + 120:
                raise TimeoutError("tail -F did not catch up within 120 s")
            time.sleep(0.002)
        seconds = time.monotonic() - started
        return seconds, writer.wait()
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)


def _core_run(path: Path, count: int) -> float:
    """The core follower alone (LogFile.poll in a tight loop): what the viewer could reach."""
    from opsconsole.core.logs.file import LogFile

    with LogFile(path) as log:
        log.open_tail(0)
        writer = Writer(path, count)
        started = writer.go()
        got = 0
        while got < count:
            lines = log.poll()
            got += len(lines)
            if not lines:
                time.sleep(0.001)
        seconds = time.monotonic() - started
        writer.wait()
    return seconds


def _fresh(ctx: BenchContext, name: str) -> Path:
    path = ctx.workdir / name
    path.unlink(missing_ok=True)
    path.touch()
    return path


def run(ctx: BenchContext) -> list[Row]:
    target = f"≥ {TARGET}×"
    if _viewer_api() is None:
        return [not_measured(5, FIGURE, target, "not measured: logs backend missing")]
    count = 50_000 if ctx.quick else 100_000
    reps = 2 if ctx.quick else 3
    ours: list[float] = []
    base: list[float] = []
    wrote: list[float] = []
    core: list[float] = []
    interval = 0.0
    for i in range(reps):
        tail_seconds, writer_seconds = _tail_run(_fresh(ctx, f"follow-tail-{i}.log"), count)
        base.append(tail_seconds)
        wrote.append(writer_seconds)
        seconds, interval = asyncio.run(_viewer_run(_fresh(ctx, f"follow-view-{i}.log"), count))
        ours.append(seconds)
        core.append(_core_run(_fresh(ctx, f"follow-core-{i}.log"), count))
    for path in ctx.workdir.glob("follow-*.log"):
        path.unlink()
    ours_rate = count / median(ours)
    base_rate = count / median(base)
    core_rate = count / median(core)
    ratio = ours_rate / base_rate
    return [
        Row(
            5,
            FIGURE,
            measured=f"{ours_rate:,.0f} lines/s (LogView + FileSource, headless)",
            baseline=f"{base_rate:,.0f} lines/s tail -F > /dev/null",
            ratio=ratio,
            target=target,
            meets=ratio >= TARGET,
            notes=[
                f"{count:,} lines of ~150 B written as fast as possible, median of {reps}",
                f"viewer polls every {interval:g} s (its default)",
                f"tail -F finished {median(base) * 1000:.0f} ms after the writer started; the "
                f"writer itself took {median(wrote) * 1000:.0f} ms (tail keeps up with it)",
                f"core follower alone (LogFile.poll, no sleep): {core_rate:,.0f} lines/s "
                f"({core_rate / base_rate:.2f}× tail)",
            ],
        )
    ]


if __name__ == "__main__":
    raise SystemExit(standalone(run, needs_stack=False))
