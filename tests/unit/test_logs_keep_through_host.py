"""Following a log through the host with ``keep`` (what the console's Logs view does): a
burst of several ring-fulls is read to its end on the host, only the ring-full the view keeps
is sent, the chunk's ``passed`` counts the lines before it, and the view's stream ends with
exactly the file's last ring-full, every line counted. A LocalHost with no supervisord: no
process is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsconsole.core.config import AppConfig
from opsconsole.core.host import LogRef
from opsconsole.core.local import LocalHost
from opsconsole.core.logs import HostLogSource, LogError, LogStream
from opsconsole.core.logs.file import LogFile


def numbered(start: int, count: int) -> bytes:
    return b"".join(
        f"2026-11-25 12:00:00,000 INFO request {i} done\n".encode()
        for i in range(start, start + count)
    )


def last_lines(path: Path, n: int) -> list[str]:
    with LogFile(path) as log:
        return [line.text for line in log.open_tail(n)]


async def test_a_burst_read_with_keep_sends_the_last_ring_full_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "burst.log"
    path.write_bytes(b"first line\n")
    ring = 1000
    async with LocalHost(AppConfig(), name="h") as host:
        ref = LogRef("file", path=str(path))
        opened = await host.log(ref, lines=10)
        assert [e.text for e in opened.lines] == ["first line"] and opened.cursor is not None
        with path.open("ab") as fh:
            fh.write(numbered(0, 5 * ring))  # five ring-fulls at once
        chunk = await host.log(ref, after=opened.cursor, keep=ring)
        kept = [e.text for e in chunk.lines]
        assert chunk.passed + len(kept) == 5 * ring  # every line counted
        assert kept == last_lines(path, ring)  # the file's last ring-full, in order
        assert chunk.passed == 4 * ring
        # a second burst while the first goes on: only the newest `first` lines are sent
        with path.open("ab") as fh:
            fh.write(numbered(5 * ring, 3 * ring))
        chunk = await host.log(ref, after=opened.cursor, keep=ring, first=100)
        assert chunk.passed + len(chunk.lines) == 3 * ring
        assert [e.text for e in chunk.lines] == last_lines(path, 100)
        # caught up: nothing more, nothing passed
        chunk = await host.log(ref, after=opened.cursor, keep=ring)
        assert (chunk.passed, chunk.lines) == (0, ())
        # without keep a read sends a batch, as before
        with path.open("ab") as fh:
            fh.write(numbered(8 * ring, 7000))
        chunk = await host.log(ref, after=opened.cursor)
        assert chunk.passed == 0 and len(chunk.lines) == 5000
        with pytest.raises(LogError, match="keep and first must be 1 or more"):
            await host.log(ref, after=opened.cursor, keep=0)


async def test_the_views_stream_through_the_host_ends_with_the_files_last_ring_full(
    tmp_path: Path,
) -> None:
    """LogStream(pass_over) over HostLogSource, as the Logs view uses it: after a burst of
    six ring-fulls its ring holds exactly the file's last ring-full (the newest lines come
    first, the rest is read back with ``before``), and ``appended`` is every line written."""
    path = tmp_path / "view.log"
    path.write_bytes(b"first line\n")
    ring = 1000  # more than the newest lines a burst makes first (500)
    async with LocalHost(AppConfig(), name="h") as host:
        source = HostLogSource(host, LogRef("file", path=str(path)), key="k", label="view.log")
        stream = LogStream([source], ring, pass_over=True)
        try:
            await stream.open(10)
            written = 1
            passed = 0
            for burst in range(3):  # bursts of two ring-fulls, polled in between
                with path.open("ab") as fh:
                    fh.write(numbered(burst * 2 * ring, 2 * ring))
                written += 2 * ring
                await stream.poll()
                passed += stream.passed
            assert passed >= 3 * ring  # passed over on the host, not sent
            for _ in range(50):
                if stream.ring.appended == written:
                    break
                await stream.poll()
            assert stream.short  # the newest lines first
            while stream.short:
                assert await stream.fill()
            assert stream.ring.appended == written
            assert [line.text for line in stream.ring] == last_lines(path, ring)
            assert len(stream.ring) == ring
            seqs = stream.ring.seqs()
            assert seqs == list(range(written - ring + 1, written + 1))  # numbered in order
        finally:
            await stream.aclose()


async def test_a_merged_view_through_the_host_fills_back_the_log_that_burst(
    tmp_path: Path,
) -> None:
    """Two logs merged (what ``l`` on a program opens): one grows by eight ring-fulls in two
    reads, the other by a line. The newest lines come first, then the ring is filled back
    from the log that burst: it ends full, that log's lines its last ones in order, the
    other's line kept, every line counted."""
    busy, quiet = tmp_path / "busy.log", tmp_path / "quiet.log"
    busy.write_bytes(b"2026-11-25 11:00:00,000 INFO busy opened\n")
    quiet.write_bytes(b"2026-11-25 11:00:00,000 INFO quiet opened\n")
    ring = 1000  # more than the newest lines a burst makes first (500)
    async with LocalHost(AppConfig(), name="h") as host:
        sources = [
            HostLogSource(host, LogRef("file", path=str(p)), key=p.name, label=p.name)
            for p in (busy, quiet)
        ]
        stream = LogStream(list(sources), ring, pass_over=True)
        try:
            await stream.open(10)
            with busy.open("ab") as fh:
                fh.write(numbered(0, 4 * ring))
            await stream.poll()
            with busy.open("ab") as fh:  # the burst goes on
                fh.write(numbered(4 * ring, 4 * ring))
            with quiet.open("ab") as fh:
                fh.write(b"2026-11-25 12:00:00,000 WARNING quiet said one thing\n")
            written = 2 + 8 * ring + 1
            for _ in range(50):
                if stream.ring.appended == written:
                    break
                await stream.poll()
            assert stream.short and len(stream.ring) < ring  # the newest lines first
            while stream.short:
                await stream.fill(200)
            assert stream.ring.appended == written and len(stream.ring) == ring
            texts = [line.text for line in stream.ring]
            from_busy = [t for t in texts if "request" in t]
            assert from_busy == last_lines(busy, len(from_busy))
            assert len(from_busy) == ring - 1
            assert "2026-11-25 12:00:00,000 WARNING quiet said one thing" in texts
            seqs = stream.ring.seqs()
            assert seqs == sorted(seqs) and seqs[-1] == written
        finally:
            await stream.aclose()
