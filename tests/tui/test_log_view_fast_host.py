"""The console's Logs view, reading through its host as ``opsconsole`` opens a log file (what
``l`` on a gunicorn or nginx log does), keeps up with a log that grows by several ring-fulls
at once: the newest line is on screen at 80x24, and the ring and the widget end with exactly
the file's last ring-full, the line count moved on by every line written. The host passed
over the older lines (``Host.log(after=cursor, keep=ring)``), it did not send them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opsconsole.core.config import AppConfig
from opsconsole.core.logs import HostLogSource
from opsconsole.core.logs.file import LogFile
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.logs import LogsView
from tests.tui.helpers import screen_text, until, use_fixed_backends


def lines(start: int, count: int) -> bytes:
    return b"".join(
        f"2026-11-25 12:00:00,000 INFO request {i} done\n".encode()
        for i in range(start, start + count)
    )


async def test_a_burst_through_the_host_ends_on_screen_with_every_line_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fixed_backends(monkeypatch)
    path = tmp_path / "burst.log"
    path.write_bytes(b"first line\n")
    sent: list[tuple[int, int]] = []  # (passed, lines sent) of every read with keep
    read = HostLogSource.follow

    async def follow(self: HostLogSource, keep: int, first: int | None = None) -> Any:
        got = await read(self, keep, first)
        sent.append((got[0], len(got[1])))
        return got

    monkeypatch.setattr(HostLogSource, "follow", follow)
    app = OpsConsoleApp(AppConfig(log_ring_size=500), audit=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_log_files([str(path)])
        view = app.query_one(LogsView).log_view
        body = view.lines_widget
        await until(pilot, lambda: "first line" in screen_text(pilot))
        assert view.stream is not None and isinstance(view.stream.sources[0], HostLogSource)
        with path.open("ab") as fh:
            fh.write(lines(0, 4000))  # eight ring-fulls at once
        await until(pilot, lambda: "request 3999 done" in screen_text(pilot))
        stream = view.stream
        await until(pilot, lambda: not stream.short and len(body.store) == 500)
        with LogFile(path) as log:
            expected = [line.text for line in log.open_tail(500)]
        assert [x.text for x in stream.ring] == expected
        assert [x.text for x in body.store] == expected
        assert body.base + len(body.store) == 4001 == stream.ring.appended
        assert sum(p for p, _ in sent) >= 3500  # counted on the host, not sent
        # the screen shows the newest lines, in order, at the bottom
        shown = [r for r in body.get_plain().splitlines() if "request" in r]
        assert shown and shown[-1].endswith("request 3999 done")
        on_screen = [r.rstrip() for r in screen_text(pilot).splitlines() if "request" in r]
        assert on_screen[-2:] == [
            "INFO 2026-11-25 12:00:00,000 INFO request 3998 done",
            "INFO 2026-11-25 12:00:00,000 INFO request 3999 done",
        ]
