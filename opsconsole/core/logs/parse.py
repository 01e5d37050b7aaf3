"""Pure log-line functions: sanitising, levels, timestamps, merging, time specs.

Nothing here does I/O, so hypothesis can drive every function. A log line is untrusted: it
may hold invalid UTF-8, NUL and other control bytes, ANSI escape sequences and text that looks
like Rich markup. :func:`decode_line` turns raw bytes into a string that is inert on a
terminal (no ESC, no C0/C1 control character survives); render it only as
``rich.text.Text``, which shows ``[bold red]`` literally.
"""

from __future__ import annotations

import calendar
import heapq
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

#: Longest line kept, in bytes; the rest is dropped and counted in a visible marker.
DEFAULT_MAX_LINE = 1024 * 1024

LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
#: Short tags, readable without colour.
LEVEL_TAG = {
    "CRITICAL": "CRIT",
    "ERROR": "ERR ",
    "WARNING": "WARN",
    "INFO": "INFO",
    "DEBUG": "DBG ",
    None: "    ",
}

# --------------------------------------------------------------------------- sanitising

# ESC sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/SOS/PM/APC strings
# (ESC P/X/^/_ ... ST), and two/three-byte escapes (ESC ( B, ESC =, ...).
_ANSI_RE = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]?             # CSI
  | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?   # OSC, ended by BEL or ST (or cut off)
  | \x1b[PX^_][^\x1b]*(?:\x1b\\)?        # DCS, SOS, PM, APC
  | \x1b[ -/]*[0-~]?                     # other escapes (nF, Fp, Fe, Fs)
  | \x9b[0-?]*[ -/]*[@-~]?               # 8-bit CSI
    """,
    re.VERBOSE,
)

#: Every remaining control character becomes a visible symbol: C0 -> U+2400 block, DEL -> ␡,
#: C1 and bidi overrides (which reorder what the terminal shows) -> U+FFFD.
_CONTROL_MAP: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c != 0x09}
_CONTROL_MAP[0x7F] = "\u2421"
_CONTROL_MAP.update({c: "\ufffd" for c in range(0x80, 0xA0)})
_CONTROL_MAP.update({c: "\ufffd" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_NEEDS_WORK = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def sanitize(text: str) -> str:
    """Return ``text`` with ANSI escape sequences removed and every control character
    (C0 but tab, DEL, C1, bidi overrides) replaced by a visible symbol.

    The result contains no ESC (``\\x1b``), no NUL, no newline and no C1 control.
    """
    if not _NEEDS_WORK.search(text):
        return text
    return _ANSI_RE.sub("", text).translate(_CONTROL_MAP)


def cut_marker(dropped: int) -> str:
    return f" … [line cut: {dropped} more bytes]"


def decode_line(raw: bytes, max_line: int = DEFAULT_MAX_LINE, dropped: int = 0) -> str:
    """Decode one line (without its newline) for display.

    Invalid UTF-8 becomes U+FFFD; a trailing ``\\r`` is dropped; the text is sanitised; a line
    longer than ``max_line`` bytes is cut there, with a marker saying how many bytes were not
    shown (``dropped`` counts bytes already dropped before this function saw the line).
    """
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if len(raw) > max_line:
        dropped += len(raw) - max_line
        raw = raw[:max_line]
    text = sanitize(raw.decode("utf-8", errors="replace"))
    if dropped:
        text += cut_marker(dropped)
    return text


# --------------------------------------------------------------------------- levels

_BRACKET_LEVEL = re.compile(
    r"\[(CRITICAL|FATAL|ERROR|WARNING|WARN|INFO|DEBUG|crit|alert|emerg|error|warn|notice|"
    r"info|debug)\]"
)
_SUPERVISOR_LEVEL = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (CRIT|ERRO|WARN|INFO|DEBG|TRAC|BLAT) "
)
_PY_LEVEL = re.compile(
    r"(?:^|[\s\-|:])(CRITICAL|FATAL|ERROR|WARNING|WARN|INFO|DEBUG)(?=[\s:\-|]|$)"
)
_ACCESS_STATUS = re.compile(r'"[A-Z]+ [^"]*" (\d{3}) ')
_ACCESS_STATUS_ANY = re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] "[^"]*" (\d{3})\b')

_NORMALISE = {
    "CRITICAL": "CRITICAL",
    "FATAL": "CRITICAL",
    "CRIT": "CRITICAL",
    "crit": "CRITICAL",
    "alert": "CRITICAL",
    "emerg": "CRITICAL",
    "ERROR": "ERROR",
    "ERRO": "ERROR",
    "error": "ERROR",
    "WARNING": "WARNING",
    "WARN": "WARNING",
    "warn": "WARNING",
    "INFO": "INFO",
    "info": "INFO",
    "notice": "INFO",
    "DEBUG": "DEBUG",
    "DEBG": "DEBUG",
    "TRAC": "DEBUG",
    "BLAT": "DEBUG",
    "debug": "DEBUG",
}


def parse_level(line: str) -> str | None:
    """The severity a line states (one of :data:`LEVELS`), or None.

    Understands gunicorn/python ``[ERROR]``, nginx ``[error]``/``[crit]``/``[warn]``,
    supervisord ``CRIT``/``WARN``/``INFO``, python logging ``... ERROR ...``/``ERROR:name:``,
    and access logs by HTTP status (5xx error, 4xx warning, others info).
    """
    head = line[:300]
    m = _SUPERVISOR_LEVEL.match(head)
    if m:
        return _NORMALISE[m.group(1)]
    m = _BRACKET_LEVEL.search(head)
    if m:
        return _NORMALISE[m.group(1)]
    m = _ACCESS_STATUS_ANY.match(head) or _ACCESS_STATUS.search(head)
    if m:
        status = int(m.group(1))
        if status >= 500:
            return "ERROR"
        if status >= 400:
            return "WARNING"
        return "INFO"
    m = _PY_LEVEL.search(head[:160])
    if m:
        return _NORMALISE[m.group(1)]
    return None


_CONTINUATION = re.compile(
    r"^(?:\s|Traceback \(most recent call last\)|During handling of|The above exception|"
    r"[\w.]+(?:Error|Exception|Exit|Interrupt|Warning)\b)"
)


def is_continuation(line: str) -> bool:
    """True for lines that belong to the entry above (traceback frames, exception lines)."""
    return bool(_CONTINUATION.match(line))


# --------------------------------------------------------------------------- timestamps

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    )
}
# ISO / python logging / gunicorn: 2026-11-25 12:00:00[,.]123 [+0000|Z|+00:00]
_TS_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?"
    r"(?:\s?(Z|[+-]\d\d:?\d\d))?"
)
# nginx error log: 2026/11/25 12:00:00
_TS_NGINX = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)")
# access log: [25/Nov/2026:12:00:00 +0000]
_TS_CLF = re.compile(r"\[(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d)(?: ([+-]\d{4}))?\]")


def _tz_seconds(tz: str | None) -> int | None:
    if tz is None:
        return None
    if tz == "Z":
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def _epoch(
    year: int, month: int, day: int, hh: int, mm: int, ss: int, frac: float, tz: int | None
) -> float | None:
    if not (1 <= month <= 12 and 1 <= day <= 31 and hh < 24 and mm < 60 and ss <= 60):
        return None
    try:
        if tz is None:  # a local time, as the process wrote it
            return time.mktime((year, month, day, hh, mm, min(ss, 59), 0, 0, -1)) + frac
        return calendar.timegm((year, month, day, hh, mm, min(ss, 59), 0, 0, 0)) - tz + frac
    except (OverflowError, ValueError):
        return None


#: where a time of any of the three formats could start (every match of each begins so)
_TS_START = re.compile(r"\d{4}[-/]\d\d[-/]\d\d|\[\d\d/[A-Z]")
_UTC_CACHE: dict[tuple[int, ...], float] = {}


def _utc_epoch(fields: tuple[int, int, int, int, int, int], tz: int) -> float | None:
    """:func:`_epoch` of a time with a zone and no fraction, remembered (lines of one second
    share it; pure, so the cache is safe)."""
    key = (*fields, tz)
    value = _UTC_CACHE.get(key)
    if value is None:
        got = _epoch(*fields, 0.0, tz)
        if got is None:
            return None
        if len(_UTC_CACHE) > 4096:
            _UTC_CACHE.clear()
        value = _UTC_CACHE[key] = got
    return value


def parse_timestamp(line: str) -> float | None:
    """The epoch time a line starts with (searched in its first 120 characters), or None.

    Formats: gunicorn ``[2026-11-25 12:00:00 +0000]``, python logging
    ``2026-11-25 12:00:00,123``, ISO 8601 ``2026-11-25T12:00:00.5Z``, nginx error log
    ``2026/11/25 12:00:00``, access logs ``[25/Nov/2026:12:00:00 +0000]``. A time without
    a zone is local time.

    One quick search finds where the first time could start and that format is read there;
    when that is not a time after all, the formats are searched one by one
    (:func:`_parse_timestamp_each`): the same answer, found slower.
    """
    head = line[:120]
    first = _TS_START.search(head)
    if first is None:
        return None  # no format can match anywhere
    at = first.start()
    value: float | None = None
    if head[at] == "[":
        m = _TS_CLF.match(head, at)
        if m is not None and m.group(2) in _MONTHS:
            g = m.groups()
            fields = (int(g[2]), _MONTHS[g[1]], int(g[0]), int(g[3]), int(g[4]), int(g[5]))
            tz = _tz_seconds(g[6])
            value = _utc_epoch(fields, tz) if tz is not None else _epoch(*fields, 0.0, None)
    elif (m := _TS_ISO.match(head, at)) is not None:
        g = m.groups()
        frac = float("0." + g[6]) if g[6] else 0.0
        tz = _tz_seconds(g[7])
        fields = (int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]))
        fast = tz is not None and not frac
        value = _utc_epoch(fields, tz) if fast and tz is not None else _epoch(*fields, frac, tz)
    elif (m := _TS_NGINX.match(head, at)) is not None:
        y, mo, d, hh, mi, ss = (int(x) for x in m.groups())
        value = _epoch(y, mo, d, hh, mi, ss, 0.0, None)
    if value is not None:
        return value
    return _parse_timestamp_each(head)


def _parse_timestamp_each(head: str) -> float | None:
    """:func:`parse_timestamp`, each format searched on its own."""
    candidates: list[tuple[int, float]] = []
    m = _TS_ISO.search(head)
    if m:
        frac = float("0." + m.group(7)) if m.group(7) else 0.0
        value = _epoch(
            int(m.group(1)),
            int(m.group(2)),
            int(m.group(3)),
            int(m.group(4)),
            int(m.group(5)),
            int(m.group(6)),
            frac,
            _tz_seconds(m.group(8)),
        )
        if value is not None:
            candidates.append((m.start(), value))
    m = _TS_NGINX.search(head)
    if m:
        y, mo, d, hh, mi, ss = (int(g) for g in m.groups())
        value = _epoch(y, mo, d, hh, mi, ss, 0.0, None)
        if value is not None:
            candidates.append((m.start(), value))
    m = _TS_CLF.search(head)
    if m and m.group(2) in _MONTHS:
        value = _epoch(
            int(m.group(3)),
            _MONTHS[m.group(2)],
            int(m.group(1)),
            int(m.group(4)),
            int(m.group(5)),
            int(m.group(6)),
            0.0,
            _tz_seconds(m.group(7)),
        )
        if value is not None:
            candidates.append((m.start(), value))
    if not candidates:
        return None
    return min(candidates)[1]


# --------------------------------------------------------------------------- lines


@dataclass(slots=True)
class LogLine:
    """One displayable line.

    ``text`` is sanitised. ``offset`` is the byte offset of the line's start in its file (or
    -1 when unknown) and ``gen`` counts rotations of that source, so scroll-back knows
    whether the offset still means anything. ``ts`` is the line's own time or the one it
    inherited from the line above (``ts_own`` tells which); ``order_ts`` is what merging
    sorts by.
    """

    text: str
    source: str = ""
    level: str | None = None
    ts: float | None = None
    ts_own: bool = False
    offset: int = -1
    gen: int = 0
    order_ts: float = 0.0


@dataclass
class Annotator:
    """Per-source state for level/time inheritance: a line without a timestamp gets the time
    of the line above, and a continuation line (traceback) gets its level too."""

    source: str = ""
    last_ts: float | None = None
    last_level: str | None = None

    def annotate(self, text: str, *, offset: int = -1, gen: int = 0, now: float = 0.0) -> LogLine:
        ts = parse_timestamp(text)
        own = ts is not None
        level = parse_level(text)
        if own:
            self.last_ts = ts
            self.last_level = level
        else:
            ts = self.last_ts
            if level is None and is_continuation(text):
                level = self.last_level
            else:
                self.last_level = level
        return LogLine(
            text=text,
            source=self.source,
            level=level,
            ts=ts,
            ts_own=own,
            offset=offset,
            gen=gen,
            order_ts=ts if ts is not None else now,
        )


def annotate_lines(
    texts: Iterable[tuple[int, str]], source: str = "", now: float = 0.0
) -> list[LogLine]:
    """Annotate ``(offset, text)`` pairs in order with a fresh :class:`Annotator`."""
    ann = Annotator(source)
    return [ann.annotate(t, offset=o, now=now) for o, t in texts]


def merge_streams(batches: Sequence[Sequence[LogLine]]) -> list[LogLine]:
    """Merge per-source batches (each in its own order) into one list ordered by time.

    Stable: lines with equal times keep their source order, and a source's own order is
    never changed (a traceback stays together under its timestamp).
    """
    if len(batches) == 1:
        return list(batches[0])
    return list(heapq.merge(*batches, key=lambda line: line.order_ts))


def line_matches(line: LogLine, pattern: re.Pattern[str] | None, invert: bool = False) -> bool:
    """True when ``line`` passes the filter (no pattern: everything passes)."""
    if pattern is None:
        return True
    found = pattern.search(line.text) is not None or pattern.search(line.source) is not None
    return found != invert


def compile_filter(expr: str) -> tuple[re.Pattern[str] | None, bool]:
    """``expr`` -> (regex, inverted). A leading ``!`` inverts; an invalid regex is matched as
    plain text; smart case (case-insensitive unless the expression has a capital)."""
    invert = expr.startswith("!")
    if invert:
        expr = expr[1:]
    if not expr:
        return None, False
    flags = 0 if any(c.isupper() for c in expr) else re.IGNORECASE
    try:
        return re.compile(expr, flags), invert
    except re.error:
        return re.compile(re.escape(expr), flags), invert


# --------------------------------------------------------------------------- time specs

_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|w)s?\s*$", re.IGNORECASE)
_REL_UNITS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hr": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
}


def parse_since(spec: str, now: float) -> float:
    """``10m``, ``2h``, ``1d``, ``30s`` (ago) or an ISO time (local unless it has a zone)
    -> epoch seconds. Raises ValueError with a readable message otherwise."""
    m = _REL.match(spec)
    if m:
        return now - float(m.group(1)) * _REL_UNITS[m.group(2).lower()]
    text = spec.strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            t = datetime.strptime(text, "%H:%M")
        except ValueError:
            raise ValueError(
                f"cannot read time {spec!r}: use 10m, 2h, 1d or an ISO time "
                "like 2026-11-25T12:00 or 12:30"
            ) from None
        today = datetime.fromtimestamp(now)
        dt = today.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
        if dt.timestamp() > now:
            dt -= timedelta(days=1)
    if dt.tzinfo is None:
        return dt.timestamp()
    return dt.astimezone(timezone.utc).timestamp()
