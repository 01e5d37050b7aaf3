"""LogView and LogsView in a headless app: hostile lines stay literal, follow, pause, filter,
search, wrap, scroll back; the Logs view opens a real supervisor program's output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult

from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.logs import FileSource, SourceSpec
from opsconsole.core.supervisor.monitor import SupervisorMonitor
from opsconsole.demo.stack import DemoStack
from opsconsole.tui.session import Session
from opsconsole.tui.widgets.logs import LogsView
from opsconsole.tui.widgets.logview import LogView
from tests.tui.helpers import screen_text, until

HOSTILE = b"2026-11-25 12:00:00,000 ERROR \x1b[31m[bold red]boom[/bold red] \x00 \xff\xfe\n"


class ViewApp(App[None]):
    def __init__(self, view: LogView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield self.view


def _write(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


async def test_hostile_line_is_literal_and_follow_pause_filter_search(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"".join(f"info line {i}\n".encode() for i in range(50)) + HOSTILE)
    view = LogView([FileSource(path)], interval=0.05)
    app = ViewApp(view)
    async with app.run_test(size=(80, 24)) as pilot:
        body = view.lines_widget
        await until(pilot, lambda: "[bold red]boom[/bold red]" in screen_text(pilot))
        text = screen_text(pilot)
        assert "\x1b" not in body.get_plain()
        # the level tag keeps it readable without colour; markup, NUL, bad bytes are literal
        assert "ERR  2026-11-25 12:00:00,000 ERROR [bold red]boom[/bold red] \u2400 \ufffd" in text
        # follows: a new line shows up at the bottom
        _write(path, b"fresh line 1\n")
        await until(pilot, lambda: "fresh line 1" in screen_text(pilot))
        # space pauses: new lines do not scroll the view
        await pilot.press("space")
        top_before = body.scroll_y
        _write(path, b"".join(f"while paused {i}\n".encode() for i in range(40)))
        await until(pilot, lambda: view.new_while_paused >= 40)
        assert body.scroll_y == top_before
        assert "PAUSED (+40 new)" in screen_text(pilot)
        await pilot.press("G")
        await until(pilot, lambda: "while paused 39" in screen_text(pilot))
        # filter, then inverted filter
        await pilot.press("f", *"boom", "enter")
        await pilot.pause()
        assert len(body.rows) == 1 and "boom" in body.get_plain()
        await pilot.press("F")
        await pilot.pause()
        assert len(body.rows) == len(body.store) - 1 and "boom" not in body.get_plain()
        await pilot.press("f", "ctrl+u", "enter")  # empty clears
        await pilot.pause()
        assert len(body.rows) == len(body.store)
        # search jumps and highlights
        await pilot.press("slash", *"info line 3", "enter")
        await pilot.pause()
        assert body.get_plain().splitlines()[0].endswith("info line 3")
        await pilot.press("n")
        await pilot.pause()
        assert body.get_plain().splitlines()[0].endswith("info line 30")
        await pilot.press("N")
        await pilot.pause()
        assert body.get_plain().splitlines()[0].endswith("info line 3")
        strip = body.render_line(0)
        assert any(seg.style and seg.style.reverse for seg in strip if "info line 3" in seg.text)


async def test_wrap_and_scroll_back(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"".join(f"old {i:04d}\n".encode() for i in range(3000)) + b"W" * 300 + b"\n")
    view = LogView([FileSource(path)], interval=0.05, initial=100)
    app = ViewApp(view)
    async with app.run_test(size=(80, 24)) as pilot:
        body = view.lines_widget
        await until(pilot, lambda: len(body.store) == 100)
        assert body.store[0].text == "old 2901"
        await pilot.press("w")
        await pilot.pause()
        assert len(body.rows) > len(body.store)  # the long line takes several rows
        assert "W" * 60 in body.get_plain()
        await pilot.press("w")
        # g goes to the top and loads older lines lazily
        await pilot.press("g")
        await until(pilot, lambda: len(body.store) == 600)
        assert body.store[0].text == "old 2401"
        assert "old 2901" in body.get_plain()  # the view stayed on the lines it showed


async def test_logs_view_opens_program_output(
    demo_stack: DemoStack, stack_target: SupervisorTarget, tmp_path: Path
) -> None:
    extra = tmp_path / "extra.log"
    extra.write_text("an extra file line\n")

    class LogsApp(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.monitor = SupervisorMonitor([stack_target], timeout=2.0)
            self.session = Session(AppConfig(), self, monitor=self.monitor, audit=False)  # type: ignore[arg-type]

        def compose(self) -> ComposeResult:
            yield LogsView(
                [str(extra)], ring_size=500, interval=0.1, session=self.session, id="logs"
            )

        async def on_mount(self) -> None:
            await self.monitor.poll("demo")

        async def on_unmount(self) -> None:
            await self.monitor.aclose()

    app = LogsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        logs = app.query_one(LogsView)
        await until(pilot, lambda: any(s.name == "web" for s in logs.specs))
        keys = [s.key for s in logs.specs]
        assert "program:demo/queue:queue_00:stdout" in keys
        assert "supervisord:demo" in keys and f"file:{extra}" in keys
        logs.open_sources(
            [
                SourceSpec("program", "demo", "queue:queue_00"),
                SourceSpec("program", "demo", "queue:queue_01"),
            ]
        )
        view = logs.log_view

        def both() -> Any:
            sources = {line.source for line in view.lines_widget.store}
            return {"queue:queue_00", "queue:queue_01"} <= sources

        await until(pilot, both, timeout=8)
        text = screen_text(pilot)
        assert "queue:queue_00" in text and "processed job" in text  # source column
        logs.open_sources([str(extra)])
        await until(pilot, lambda: "an extra file line" in screen_text(pilot))


@pytest.mark.integration  # starts a stack of its own
async def test_log_status_after_supervisord_killed_and_back() -> None:
    """`l` on a program, supervisord SIGKILLed, then started again: while it is down the
    status says so once (stdout and stderr fail with the same message), and once it answers
    again the status is back to normal with no stale error."""

    from opsconsole.tui.app import OpsConsoleApp
    from tests.tui.helpers import stack_config

    stack = DemoStack(with_nginx=False).start()
    try:
        cfg = stack_config(stack)
        cfg.supervisors[0].url = stack.http_url  # "cannot connect to supervisord at http://…"
        app = OpsConsoleApp(cfg, audit=False)
        async with app.run_test(size=(150, 30)) as pilot:
            logs = app.query_one(LogsView)

            def status() -> str:
                return str(logs.log_view.query_one("#log-status").render())

            await until(pilot, lambda: app.monitor.snapshots["demo"].ok, 10)
            app.open_logs(["web"], "demo")
            await until(pilot, lambda: "● follow web, web:err" in status(), 10)
            assert stack.supervisord is not None
            stack.supervisord.kill()
            stack.supervisord.wait()
            await until(pilot, lambda: "cannot connect to supervisord" in status(), 10)
            line = next(ln for ln in screen_text(pilot).splitlines() if "● follow" in ln)
            assert line.count("✖") == 1, line
            assert status().count("cannot connect to supervisord") == 1, status()
            stack.launch_supervisord()
            await until(pilot, lambda: app.monitor.snapshots["demo"].ok, 15)
            # the log's own retry clears the mark (a refresh or two; generous on a loaded machine)
            await until(pilot, lambda: "✖" not in status(), 10)
            assert "● follow web, web:err" in status()
            lines = [ln for ln in screen_text(pilot).splitlines() if "● follow" in ln]
            assert len(lines) == 1 and "✖" not in lines[0], lines
            # the header follows at the session's next refresh (the log may recover first)
            await until(pilot, lambda: "supervisor 4" in screen_text(pilot).splitlines()[0], 10)
    finally:
        stack.stop()


async def test_logs_view_reads_and_scrolls_back_through_the_host(tmp_path: Path) -> None:
    """The console's logs view reads a log through the session's host: the tail to open,
    ``after`` a cursor to follow, ``before`` the oldest line shown to scroll back. g three
    times goes up to the top of the file in chunks: every line once, in order."""
    path = tmp_path / "app.log"
    written = [f"line {i:04d}" for i in range(1300)]
    path.write_text("".join(f"{t}\n" for t in written[:1290]))
    calls: list[str] = []

    class LogsApp(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.session = Session(AppConfig(), self, audit=False)  # type: ignore[arg-type]
            host, read = self.session.machine, self.session.machine.log

            async def log(source: Any, **kw: Any) -> Any:
                calls.append(next((k for k in ("after", "before") if kw.get(k)), "tail"))
                return await read(source, **kw)

            host.log = log  # type: ignore[method-assign]

        def compose(self) -> ComposeResult:
            yield LogsView(ring_size=5000, interval=0.05, session=self.session, id="logs")

        async def on_unmount(self) -> None:
            await self.session.aclose()

    app = LogsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        logs = app.query_one(LogsView)
        logs.open_sources([str(path)])
        view = logs.log_view
        body = view.lines_widget
        await until(pilot, lambda: len(body.store) == 200)
        _write(path, "".join(f"{t}\n" for t in written[1290:]).encode())
        await until(pilot, lambda: len(body.store) == 210)  # followed
        for size in (710, 1210, 1300):
            await pilot.press("g")
            await until(pilot, lambda: len(body.store) == size)  # noqa: B023
        assert [line.text for line in body.store] == written
        assert calls[0] == "tail" and "after" in calls and calls.count("before") >= 3
        view.set_sources([])
        await pilot.pause(0.1)


async def test_logs_view_merges_more_logs_than_a_host_keeps_open_by_default(
    tmp_path: Path,
) -> None:
    """40 logs merged (a group's stdout and stderr): every one is followed through the host,
    none closed under the view (the host's default keeps 32 open for callers that forget)."""
    paths = [tmp_path / f"p{i:02d}.log" for i in range(40)]
    for i, path in enumerate(paths):
        path.write_text(f"p{i:02d} first\n")

    class LogsApp(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.session = Session(AppConfig(), self, audit=False)  # type: ignore[arg-type]

        def compose(self) -> ComposeResult:
            yield LogsView(interval=0.05, session=self.session, id="logs")

        async def on_unmount(self) -> None:
            await self.session.aclose()

    app = LogsApp()
    async with app.run_test(size=(120, 24)) as pilot:
        logs = app.query_one(LogsView)
        logs.open_sources([str(p) for p in paths])
        view = logs.log_view
        body = view.lines_widget
        await until(pilot, lambda: len(body.store) == 40)
        for i, path in enumerate(paths):
            _write(path, f"p{i:02d} second\n".encode())
        await until(pilot, lambda: len(body.store) == 80)
        assert view.stream is not None and not view.stream.errors
        assert sorted(line.text for line in list(body.store)[40:]) == [
            f"p{i:02d} second" for i in range(40)
        ]
        view.set_sources([])
        await pilot.pause(0.1)
