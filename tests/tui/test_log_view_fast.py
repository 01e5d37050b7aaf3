"""The log view keeps up with a log that grows by more than a ring-full at once: the newest
line is on screen, the ring and the widget hold exactly the file's last lines, the line count
moves on by every line written, and pausing still counts what came in."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from opsconsole.core.logs import FileSource
from opsconsole.tui.widgets.logview import LogView
from tests.tui.helpers import screen_text, until


class ViewApp(App[None]):
    def __init__(self, view: LogView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield self.view


def lines(start: int, count: int) -> bytes:
    return b"".join(
        f"2026-11-25 12:00:00,000 INFO request {i} done\n".encode()
        for i in range(start, start + count)
    )


async def test_a_burst_of_several_ring_fulls_ends_on_screen_with_every_line_counted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "burst.log"
    path.write_bytes(b"first line\n")
    view = LogView([FileSource(path)], ring_size=500, interval=0.05)
    async with ViewApp(view).run_test(size=(80, 24)) as pilot:
        body = view.lines_widget
        await until(pilot, lambda: "first line" in screen_text(pilot))
        with path.open("ab") as fh:
            fh.write(lines(0, 4000))
        await until(pilot, lambda: "request 3999 done" in screen_text(pilot))
        # the newest lines come first; the ring is then filled back from the file
        assert view.stream is not None
        stream = view.stream
        await until(pilot, lambda: not stream.short and len(body.store) == 500)
        expected = ["first line", *lines(0, 4000).decode().splitlines()][-500:]
        assert view.stream is not None
        assert [x.text for x in view.stream.ring] == expected
        assert [x.text for x in body.store] == expected
        assert body.base + len(body.store) == 4001 == view.stream.ring.appended
        # the screen shows the newest lines, in order, at the bottom
        shown = [r for r in body.get_plain().splitlines() if "request" in r]
        assert shown and shown[-1].endswith("request 3999 done")
        # paused: a second burst is counted, the view stays where it was
        await pilot.press("space")
        with path.open("ab") as fh:
            fh.write(lines(4000, 2000))
        await until(pilot, lambda: view.new_while_paused == 2000)
        assert "PAUSED (+2000 new)" in screen_text(pilot)
        await pilot.press("G")
        await until(pilot, lambda: "request 5999 done" in screen_text(pilot))
