"""The fast paths of log following agree with the plain ones: the line splitter, timestamp
parsing, and ``LogFile.follow`` (every line counted, the last ring-full made, offsets right,
rotation followed), and a stream that passes over lines holds what taking each would hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsconsole.core.logs import FileSource, LogStream
from opsconsole.core.logs import file as file_module
from opsconsole.core.logs.file import LineSplitter, LogFile, RawLine
from opsconsole.core.logs.parse import _parse_timestamp_each, parse_timestamp


def reference_split(data: bytes, max_line: int) -> tuple[list[RawLine], bytes, int]:
    """Byte by byte, the plain way: (finished lines, partial line kept, bytes dropped)."""
    out: list[RawLine] = []
    buf = bytearray()
    dropped = 0
    start = 0
    for i, byte in enumerate(data):
        if byte == 0x0A:
            out.append((start, bytes(buf), dropped))
            buf, dropped, start = bytearray(), 0, i + 1
        elif len(buf) < max_line:
            buf.append(byte)
        else:
            dropped += 1
    return out, bytes(buf), dropped


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=400).map(lambda b: b.replace(b"\x00", b"\n")),
    st.lists(st.integers(min_value=1, max_value=60), max_size=20),
    st.integers(min_value=1, max_value=40),
)
def test_splitter_matches_the_byte_by_byte_reference(
    data: bytes, cuts: list[int], max_line: int
) -> None:
    splitter = LineSplitter(0, max_line)
    got: list[RawLine] = []
    at = 0
    for size in [*cuts, len(data)]:
        got += splitter.feed(data[at : at + size])
        at += size
        if at >= len(data):
            break
    lines, partial, dropped = reference_split(data, max_line)
    assert got == lines
    assert bytes(splitter.buf) == partial and splitter.dropped == dropped


_pieces = st.sampled_from(
    [
        "2026-11-25 12:00:00",
        "2026-11-25T12:00:00.25",
        "Z",
        "+0100",
        "-05:30",
        " ",
        "2026/11/25 12:00:00",
        "[25/Nov/2026:12:00:00 +0000]",
        "[31/Feb/2026:25:00:00 -0500]",
        "[25/Foo/2026:12:00:00]",
        "2026-02-31 23:59:60",
        "9999-99-99 99:99:99",
        "x",
        ",123",
        "[",
        "/",
        ":",
        "7",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_pieces, max_size=10).map("".join))
def test_timestamp_fast_path_gives_the_same_answer(line: str) -> None:
    assert parse_timestamp(line) == _parse_timestamp_each(line[:120])


def numbered(start: int, count: int) -> bytes:
    return b"".join(
        f'10.0.0.1 - - [25/Nov/2026:12:00:{i % 60:02d} +0000] "GET /{i}" 200 5\n'.encode()
        for i in range(start, start + count)
    )


def test_follow_counts_every_line_and_makes_the_last_ring_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_module, "FOLLOW_CHUNK", 4096)  # many blocks: most passed over
    path = tmp_path / "busy.log"
    path.write_bytes(b"old line\n")
    with LogFile(path) as log:
        log.open_tail(5)
        data = numbered(0, 5000)
        with path.open("ab") as fh:
            fh.write(data)
        passed, lines = log.follow(300, max_bytes=len(data) + 10)
        assert passed + len(lines) == 5000
        assert len(lines) == 300
        assert [x.text for x in lines] == data.decode().splitlines()[-300:]
        raw = path.read_bytes()
        for line in lines:  # offsets point at each line's first byte
            assert raw[line.offset : line.offset + len(line.text)].decode() == line.text
        assert lines[-1].ts is not None and lines[-1].level == "INFO"
        # a partial line waits for its newline; then following goes on one by one
        with path.open("ab") as fh:
            fh.write(b"half")
        assert log.follow(300) == (0, [])
        with path.open("ab") as fh:
            fh.write(b" done\nnext\n")
        passed, lines = log.follow(300)
        assert passed == 0 and [x.text for x in lines] == ["half done", "next"]


def test_follow_takes_a_rotation_without_losing_a_line(tmp_path: Path) -> None:
    path = tmp_path / "rot.log"
    path.write_bytes(b"")
    with LogFile(path) as log:
        log.open_tail(0)
        with path.open("ab") as fh:
            fh.write(numbered(0, 1000))
        os.rename(path, tmp_path / "rot.log.1")
        path.write_bytes(numbered(1000, 10))
        seen = 0
        texts: list[str] = []
        for _ in range(10):
            passed, lines = log.follow(100)
            seen += passed + len(lines)
            texts += [x.text for x in lines]
        assert seen == 1010
        assert texts[-10:] == numbered(1000, 10).decode().splitlines()
        assert log.rotations == 1


async def test_stream_passing_over_holds_what_taking_every_line_holds(tmp_path: Path) -> None:
    path = tmp_path / "fast.log"
    path.write_bytes(b"")
    data = numbered(0, 3500)
    fast = LogStream([FileSource(path)], ring_size=1000, pass_over=True)
    plain = LogStream([FileSource(path)], ring_size=1000)
    try:
        await fast.open(0)
        await plain.open(0)
        with path.open("ab") as fh:
            fh.write(data)
        lines = await fast.poll()
        assert fast.passed == 2500 and len(lines) == 1000
        for _ in range(20):  # the plain stream takes one batch per poll
            await plain.poll()
        assert fast.ring.appended == plain.ring.appended == 3500
        assert [x.text for x in fast.ring] == [x.text for x in plain.ring]
        assert fast.ring.seqs() == plain.ring.seqs()
        assert fast.ring.dropped == plain.ring.dropped == 2500
    finally:
        await fast.aclose()
        await plain.aclose()


async def test_after_a_burst_the_newest_lines_come_first_then_the_ring_fills_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_module, "FOLLOW_CHUNK", 4096)  # read in many blocks
    path = tmp_path / "burst.log"
    path.write_bytes(b"")
    data = numbered(0, 5000)
    stream = LogStream([FileSource(path)], ring_size=1000, pass_over=True)
    try:
        await stream.open(0)
        with path.open("ab") as fh:
            fh.write(data)
        lines = await stream.poll()
        # the burst is over (nothing more comes): the newest lines at once, the rest later
        assert len(lines) == 500 and stream.passed == 4500 and stream.short
        assert lines[-1].text == data.decode().splitlines()[-1]
        while stream.short:
            assert await stream.fill(300)
        assert [x.text for x in stream.ring] == data.decode().splitlines()[-1000:]
        assert stream.ring.seqs() == list(range(4001, 5001))
        assert stream.ring.appended == 5000 and stream.ring.dropped == 4000
        assert await stream.fill() == []  # full: nothing more to read back
    finally:
        await stream.aclose()
