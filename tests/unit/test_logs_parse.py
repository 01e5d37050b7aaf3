"""Pure log functions: sanitising, levels, timestamps, merging, splitting, specs."""

from __future__ import annotations

import calendar
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.text import Text

from opsconsole.cli.logs import parse_source_arg
from opsconsole.core.logs import LogError, SourceSpec
from opsconsole.core.logs.file import LineSplitter, scan_back
from opsconsole.core.logs.parse import (
    Annotator,
    LogLine,
    compile_filter,
    decode_line,
    line_matches,
    merge_streams,
    parse_level,
    parse_since,
    parse_timestamp,
    sanitize,
)

UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# --------------------------------------------------------------------------- sanitising


@given(st.binary(max_size=400))
def test_decoded_bytes_are_inert(raw: bytes) -> None:
    text = decode_line(raw)
    assert "\x1b" not in text
    assert not UNSAFE.search(text)
    # Rich shows it literally: the plain text of a Text is the text itself
    assert Text(text).plain == text


@given(st.text(max_size=300))
def test_sanitize_leaves_no_control_characters(s: str) -> None:
    out = sanitize(s)
    assert not UNSAFE.search(out)
    assert sanitize(out) == out  # idempotent


def test_hostile_line_is_shown_literally() -> None:
    raw = b"\x1b[31m[bold red]alert\x1b[0m [link=http://x]y[/link] \x00 nul \xff\xfe \x07bell"
    text = decode_line(raw)
    assert "[bold red]alert" in text
    assert "[link=http://x]y[/link]" in text
    assert "\u2400" in text  # NUL shown as ␀
    assert "\u2407bell" in text  # BEL shown as ␇
    assert "\ufffd" in text  # invalid UTF-8
    assert "\x1b" not in text and "[31m" not in text and "[0m" not in text


def test_osc_title_and_c1_csi_are_removed() -> None:
    text = decode_line("a\x1b]0;owned\x07b \x9b31mc".encode())
    assert text.startswith("ab ")
    assert "owned" not in text and "\x9b" not in text


def test_long_line_is_cut_with_marker() -> None:
    text = decode_line(b"x" * 5000, max_line=1000)
    assert text == "x" * 1000 + " … [line cut: 4000 more bytes]"
    assert decode_line(b"abc\r") == "abc"


def test_tab_is_kept() -> None:
    assert decode_line(b"a\tb") == "a\tb"


# --------------------------------------------------------------------------- levels


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("[2026-11-25 12:00:00 +0000] [123] [ERROR] Worker (pid:5) was sent SIGKILL", "ERROR"),
        ("[2026-11-25 12:00:00 +0000] [123] [INFO] Booting worker with pid: 5", "INFO"),
        ("[2026-11-25 12:00:00 +0000] [123] [CRITICAL] WORKER TIMEOUT (pid:5)", "CRITICAL"),
        ("[2026-11-25 12:00:00 +0000] [123] [WARNING] Worker graceful timeout", "WARNING"),
        ("[2026-11-25 12:00:00 +0000] [123] [DEBUG] GET /", "DEBUG"),
        ("2026/11/25 12:00:00 [error] 12#12: *1 connect() failed (111)", "ERROR"),
        ("2026/11/25 12:00:00 [crit] 12#12: open() failed", "CRITICAL"),
        ("2026/11/25 12:00:00 [warn] 12#12: conflicting server name", "WARNING"),
        ("2026/11/25 12:00:00 [notice] 12#12: signal process started", "INFO"),
        (
            '127.0.0.1 - - [25/Nov/2026:12:00:00 +0000] "GET /error HTTP/1.1" 500 0 "-" "curl"',
            "ERROR",
        ),
        (
            '127.0.0.1 - - [25/Nov/2026:12:00:00 +0000] "GET /x HTTP/1.1" 404 10 "-" "curl"',
            "WARNING",
        ),
        ('127.0.0.1 - - [25/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "curl"', "INFO"),
        ("2026-11-25 12:00:00,123 CRIT Supervisor is running as root", "CRITICAL"),
        ("2026-11-25 12:00:00,123 WARN exited: flaky (exit status 3; not expected)", "WARNING"),
        ("2026-11-25 12:00:00,123 INFO spawned: 'web' with pid 5", "INFO"),
        ("2026-11-25 12:00:00,123 [77] [ERROR] demo.app: boom", "ERROR"),
        ("2026-11-25 12:00:00,123 - app - WARNING - disk", "WARNING"),
        ("ERROR:root:something failed", "ERROR"),
        ("queue_00: WARNING queue latency high (3 s)", "WARNING"),
        ("queue_00: processed job 1", None),
        ("an errorless line about information", None),
    ],
)
def test_levels(line: str, level: str | None) -> None:
    assert parse_level(line) == level


# --------------------------------------------------------------------------- timestamps

UTC_NOON = calendar.timegm((2026, 11, 25, 12, 0, 0, 0, 0, 0))
LOCAL_NOON = time.mktime((2026, 11, 25, 12, 0, 0, 0, 0, -1))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("[2026-11-25 12:00:00 +0000] [1] [INFO] x", UTC_NOON),
        ("[2026-11-25 13:00:00 +0100] [1] [INFO] x", UTC_NOON),
        ("2026-11-25 12:00:00,250 INFO x", LOCAL_NOON + 0.25),
        ("2026-11-25T12:00:00Z ok", UTC_NOON),
        ("2026-11-25T12:00:00.5+00:00 ok", UTC_NOON + 0.5),
        ("2026/11/25 12:00:00 [error] 1#1: x", LOCAL_NOON),
        ('10.0.0.1 - - [25/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 1', UTC_NOON),
        ('10.0.0.1 - - [25/Nov/2026:07:00:00 -0500] "GET / HTTP/1.1" 200 1', UTC_NOON),
        ("no time here", None),
        ("2026-13-45 99:99:99 nonsense", None),
    ],
)
def test_timestamps(line: str, expected: float | None) -> None:
    assert parse_timestamp(line) == expected


@given(st.text(max_size=200))
def test_parsers_never_raise(s: str) -> None:
    parse_level(s)
    parse_timestamp(s)


def test_traceback_lines_inherit_time_and_level() -> None:
    ann = Annotator("web")
    lines = [
        ann.annotate(t)
        for t in [
            "[2026-11-25 12:00:00 +0000] [7] [ERROR] Error handling request /error",
            "Traceback (most recent call last):",
            '  File "app.py", line 3, in app',
            "RuntimeError: web: deliberate failure",
            "[2026-11-25 12:00:01 +0000] [7] [INFO] next",
            "plain continuation without level",
        ]
    ]
    assert [line.ts for line in lines[:4]] == [UTC_NOON] * 4
    assert [line.level for line in lines[:4]] == ["ERROR"] * 4
    assert lines[0].ts_own and not lines[1].ts_own
    assert lines[5].ts == UTC_NOON + 1 and lines[5].level is None


def test_merge_orders_by_time_and_keeps_each_source_order() -> None:
    def mk(src: str, ts: float, text: str) -> LogLine:
        return LogLine(text, src, order_ts=ts)

    a = [mk("a", 1, "a1"), mk("a", 3, "a3"), mk("a", 3, "a3-traceback"), mk("a", 5, "a5")]
    b = [mk("b", 2, "b2"), mk("b", 3, "b3"), mk("b", 6, "b6")]
    merged = [line.text for line in merge_streams([a, b])]
    assert merged == ["a1", "b2", "a3", "a3-traceback", "b3", "a5", "b6"]


@given(
    st.lists(st.lists(st.floats(0, 1e6), max_size=20), min_size=1, max_size=4),
)
def test_merge_is_sorted_and_complete(times: list[list[float]]) -> None:
    batches = [
        [LogLine(f"{i}-{j}", str(i), order_ts=t) for j, t in enumerate(sorted(ts))]
        for i, ts in enumerate(times)
    ]
    merged = merge_streams(batches)
    assert sorted(line.text for line in merged) == sorted(line.text for b in batches for line in b)
    assert [line.order_ts for line in merged] == sorted(line.order_ts for line in merged)


# --------------------------------------------------------------------------- splitting


@settings(max_examples=200)
@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=30), st.integers(1, 50))
def test_splitter_gives_each_line_once_whatever_the_chunks(
    data: bytes, cuts: list[int], max_line: int
) -> None:
    splitter = LineSplitter(100, max_line)
    out = []
    pos = 0
    for size in [*cuts, len(data)]:
        out.extend(splitter.feed(data[pos : pos + size]))
        pos += size
    expected = data.split(b"\n")[:-1]  # the partial last piece stays held back
    assert [raw for _, raw, _ in out] == [line[:max_line] for line in expected]
    assert [d for _, _, d in out] == [max(0, len(line) - max_line) for line in expected]
    offsets = [100]
    for line in expected[:-1]:
        offsets.append(offsets[-1] + len(line) + 1)
    assert [o for o, _, _ in out] == offsets[: len(out)]
    held = data.split(b"\n")[-1]
    flushed = splitter.flush()
    assert [raw for _, raw, _ in flushed] == ([held[:max_line]] if held else [])


@given(st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")), max_size=30))
def test_scan_back_matches_a_forward_split(lines: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    # Read backwards in 7-byte chunks, as the file reader does.
    for n in (1, 3, 50):
        pos, buf = len(data), b""
        while True:
            start = max(0, pos - 7)
            buf = data[start:pos] + buf
            pos = start
            got, more = scan_back(buf, pos, n, 1000)
            if not more:
                break
        assert [raw for _, raw, _ in got] == lines[-n:]
        for offset, raw, _ in got:
            assert data[offset : offset + len(raw)] == raw


def test_scan_back_stops_at_a_huge_line() -> None:
    buf = b"y" * 5000 + b"\nlast\n"
    got, more = scan_back(buf, 1000, 5, max_line=100)
    assert not more
    assert got[-1][1] == b"last"
    assert got[0][1].endswith(b"y" * 100) and b"not read" in got[0][1]


# --------------------------------------------------------------------------- filters, specs


def test_filter_invert_and_smart_case() -> None:
    line = LogLine("GET /Health 200", "web")
    pattern, invert = compile_filter("health")
    assert line_matches(line, pattern, invert)
    pattern, invert = compile_filter("!health")
    assert invert and not line_matches(line, pattern, invert)
    pattern, invert = compile_filter("Health")
    assert pattern is not None and pattern.flags & re.IGNORECASE == 0
    pattern, _ = compile_filter("[unclosed")  # invalid regex: matched as text
    assert line_matches(LogLine("a [unclosed b"), pattern)
    assert compile_filter("") == (None, False)


def test_parse_since() -> None:
    now = 1_800_000_000.0
    assert parse_since("10m", now) == now - 600
    assert parse_since("2h", now) == now - 7200
    assert parse_since("1d", now) == now - 86400
    assert parse_since("2026-11-25T12:00:00+00:00", now) == UTC_NOON
    assert parse_since("2026-11-25 12:00", now) == LOCAL_NOON
    with pytest.raises(ValueError, match="10m"):
        parse_since("yesterday-ish", now)


def test_source_argument() -> None:
    assert parse_source_arg("web") == SourceSpec("program", "", "web", "stdout")
    assert parse_source_arg("queue:queue_00", stderr=True, server="s") == SourceSpec(
        "program", "s", "queue:queue_00", "stderr"
    )
    assert parse_source_arg("supervisord", server="s") == SourceSpec("supervisord", "s")
    assert parse_source_arg("./web").kind == "file"
    assert parse_source_arg("/var/log/nginx/error.log").path == "/var/log/nginx/error.log"
    with pytest.raises(LogError):
        parse_source_arg("/var/log/x.log", stderr=True)
