"""Reading log files: the last lines of a huge file, scroll-back, and ``tail -F`` following.

A :class:`LogFile` never reads a file whole. Opening reads backwards from the end in chunks
until it has the lines it needs; scroll-back (:meth:`LogFile.before`) does the same from an
offset; following reads only what was appended. ``bytes_read`` counts every byte read, so
tests (and the curious) can check that.

Following has ``tail -F`` semantics and loses or repeats no line:

* rename rotation (logrotate ``create``, a writer reopening on a signal): the path names a
  new file (another ``(st_dev, st_ino)``); the old descriptor is drained to EOF first and we
  switch only once it yielded nothing after the new file was seen;
* copytruncate / clear: the file got shorter than our offset, or the bytes just before our
  offset changed (truncated and regrown between two polls): restart at 0;
* deleted: keep reading the open descriptor; switch when the path reappears;
* not there yet: try again on every poll, read from the start once it appears.

The partial last line is held back until its newline arrives (or the file is rotated away).
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from itertools import accumulate, repeat

from opsconsole.core.logs.parse import DEFAULT_MAX_LINE, Annotator, LogLine, decode_line

DEFAULT_CHUNK = 64 * 1024
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024
DEFAULT_BATCH_LINES = 5000
#: :meth:`LogFile.follow` reads this much per read, at most FOLLOW_BYTES per call, and in a
#: burst makes lines at most every FOLLOW_SECONDS
FOLLOW_CHUNK = 1024 * 1024
FOLLOW_BYTES = 256 * 1024 * 1024
FOLLOW_SECONDS = 1.0
FOLLOW_PAUSE = 0.05
#: lines made at a time by :meth:`LogFile.follow` (between two looks at the file's size)
MAKE_SLICE = 2000
_ANCHOR = 32

#: ``(offset, raw bytes without newline, bytes dropped from it)``; ``offset`` -1: unknown.
RawLine = tuple[int, bytes, int]

HEAD_CUT = "[… start of this long line not read] "


# --------------------------------------------------------------------------- pure helpers


class LineSplitter:
    """Turns appended bytes into complete lines, holding back the partial last line.

    Memory is bounded: of a line longer than ``max_line`` only the first ``max_line`` bytes
    are kept; the rest is counted and reported as dropped.
    """

    def __init__(self, offset: int = 0, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self.reset(offset)

    def reset(self, offset: int) -> None:
        self.buf = bytearray()
        self.dropped = 0
        self.start = offset  # file offset of the partial line's first byte

    @property
    def pending(self) -> bool:
        return bool(self.buf) or self.dropped > 0

    def _hold(self, piece: bytes) -> None:
        """Add ``piece`` to the partial line, keeping at most ``max_line`` bytes of it."""
        room = self.max_line - len(self.buf)
        if len(piece) > room:
            self.buf += piece[: max(room, 0)]
            self.dropped += len(piece) - max(room, 0)
        else:
            self.buf += piece

    def _finish(self, out: list[RawLine]) -> None:
        out.append((self.start, bytes(self.buf), self.dropped))
        self.start += len(self.buf) + self.dropped + 1
        self.buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[RawLine]:
        """Add ``data`` (the bytes that follow everything fed so far); return finished lines.

        The lines between the first and the last newline of ``data`` are split, measured and
        given their offsets in C (``bytes.split``, ``map``, ``accumulate``): no Python step
        per line unless one of them is longer than ``max_line``."""
        parts = data.split(b"\n")
        if len(parts) == 1:
            self._hold(data)
            return []
        out: list[RawLine] = []
        self._hold(parts[0])
        self._finish(out)
        middle = parts[1:-1]
        if middle:
            lengths = list(map(len, middle))
            if max(lengths) <= self.max_line:
                starts = list(accumulate(map((1).__add__, lengths), initial=self.start))
                out.extend(zip(starts, middle, repeat(0)))
                self.start = starts[-1]
            else:
                for piece in middle:
                    self._hold(piece)
                    self._finish(out)
        self._hold(parts[-1])
        return out

    def skip(self, data: bytes, offset: int, newlines: int) -> int:
        """Pass over the lines that end in ``data`` (the bytes fed next, starting at file
        offset ``offset``, holding ``newlines`` newlines) without making them; the bytes after
        its last newline start the partial line. Returns how many lines were passed over."""
        if newlines <= 0:
            self._hold(data)
            return 0
        last = data.rfind(b"\n")
        self.buf = bytearray()
        self.dropped = 0
        self.start = offset + last + 1
        self._hold(data[last + 1 :])
        return newlines

    def flush(self) -> list[RawLine]:
        """The partial line as a finished line (the file it came from will not grow)."""
        if not self.pending:
            return []
        line = (self.start, bytes(self.buf), self.dropped)
        self.start += len(self.buf) + self.dropped
        self.buf = bytearray()
        self.dropped = 0
        return [line]


def rewind(out: list[RawLine], cap: int, splitter: LineSplitter, offset: int) -> int:
    """Keep at most ``cap`` lines in ``out``; the splitter and the returned offset move back
    to the first line dropped, so the next read starts there (nothing lost)."""
    if len(out) <= cap:
        return offset
    start = out[cap][0]
    del out[cap:]
    splitter.reset(start)
    return start


def scan_back(buf: bytes, pos: int, n: int, max_line: int) -> tuple[list[RawLine], bool]:
    """Split ``buf`` (the bytes from file offset ``pos`` up to a line boundary) into its last
    ``n`` whole lines.

    Returns ``(lines, need_more)``: ``need_more`` is True when fewer than ``n`` whole lines
    are known and reading further back (``pos > 0``) could find more. A first line whose start
    lies more than ``max_line`` bytes back is returned cut (offset of its first *read* byte,
    marked by :data:`HEAD_CUT`) instead of reading on: scrolling back through a multi-GB line
    reads one ``max_line`` at a time.
    """
    body = buf[:-1] if buf.endswith(b"\n") else buf
    if not buf:
        return [], pos > 0
    parts = body.split(b"\n")
    offsets = []
    at = pos
    for p in parts:
        offsets.append(at)
        at += len(p) + 1
    lines: list[RawLine] = [(o, p, 0) for o, p in zip(offsets, parts, strict=True)]
    if pos == 0:
        return lines[-n:] if n > 0 else [], False
    # the first part may be a fragment of a longer line that started before ``pos``
    whole = lines[1:]
    if len(whole) >= n:
        return whole[-n:] if n > 0 else [], False
    first_off, first, _ = lines[0]
    if len(first) > max_line:
        cut = (first_off, HEAD_CUT.encode() + first[-max_line:], 0)
        return ([cut, *whole])[-n:], False
    return whole, True


# --------------------------------------------------------------------------- the file


@dataclass
class FileState:
    """What a follower knows about the file it reads (for tests and the status line)."""

    ident: tuple[int, int] | None
    offset: int
    gen: int
    rotations: int
    truncations: int
    exists: bool


class LogFile:
    """One log file: open at its last lines, scroll back lazily, follow like ``tail -F``.

    Every method is synchronous and quick (bounded reads); call them from a thread or
    ``asyncio.to_thread`` in the UI. ``poll()`` returns at most ``batch_lines`` lines and
    reads at most ``batch_bytes`` per call; what is left comes with the next call.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        source: str | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        chunk: int = DEFAULT_CHUNK,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        batch_lines: int = DEFAULT_BATCH_LINES,
    ) -> None:
        self.path = os.fspath(path)
        self.source = source if source is not None else os.path.basename(self.path)
        self.max_line = max_line
        self.chunk = chunk
        self.batch_bytes = batch_bytes
        self.batch_lines = batch_lines
        self.bytes_read = 0
        self.gen = 0
        self.rotations = 0
        self.truncations = 0
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._anchor = b""
        self._splitter = LineSplitter(0, max_line)
        self._annotator = Annotator(self.source)
        self._switch_seen = False
        self._shown_at = 0.0  # when follow() last made lines
        self._burst = False  # the last follow() passed over lines: a burst goes on

    # -- state -----------------------------------------------------------------

    @property
    def state(self) -> FileState:
        return FileState(
            self._ident,
            self._offset,
            self.gen,
            self.rotations,
            self.truncations,
            self._fd is not None,
        )

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> LogFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------

    def _pread(self, fd: int, length: int, offset: int) -> bytes:
        data = os.pread(fd, length, offset)
        self.bytes_read += len(data)
        return data

    def _open(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except (FileNotFoundError, NotADirectoryError):
            return False
        st = os.fstat(fd)
        self.close()
        self._fd = fd
        self._ident = (st.st_dev, st.st_ino)
        return True

    def _lines(self, raw: list[RawLine], ann: Annotator | None = None) -> list[LogLine]:
        ann = ann or self._annotator
        now = time.time()
        return [
            ann.annotate(decode_line(b, self.max_line, d), offset=o, gen=self.gen, now=now)
            for o, b, d in raw
        ]

    def _read_back(self, fd: int, end: int, n: int) -> list[RawLine]:
        pos = end
        buf = b""
        while True:
            start = max(0, pos - self.chunk)
            buf = self._pread(fd, pos - start, start) + buf
            pos = start
            lines, need_more = scan_back(buf, pos, n, self.max_line)
            if not need_more:
                return lines

    def open_tail(self, n: int) -> list[LogLine]:
        """Open the file and return its last ``n`` complete lines; following continues right
        after them (an unfinished last line comes with the poll that sees its newline).
        A missing file returns [] and is waited for by :meth:`poll`."""
        if not self._open():
            return []
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        # Align to the end of the last complete line.
        end = size
        tail = b""
        while end > 0:
            start = max(0, end - self.chunk)
            tail = self._pread(self._fd, end - start, start)
            nl = tail.rfind(b"\n")
            if nl >= 0:
                end = start + nl + 1
                break
            if size - start > self.max_line:  # one huge unfinished line: follow from here
                end = size
                break
            end = start
        raw = self._read_back(self._fd, end, n) if n > 0 and end > 0 else []
        self._offset = end
        self._splitter.reset(end)
        self._set_anchor()
        lines = self._lines(raw)
        return lines

    def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        """The ``n`` lines that end at ``offset`` (a line start returned earlier), oldest first.

        Returns [] at the top of the file, or when ``gen`` says the file was rotated since
        ``offset`` was handed out (the offset no longer means anything).
        """
        if self._fd is None or offset <= 0 or (gen is not None and gen != self.gen):
            return []
        raw = self._read_back(self._fd, offset, n)
        return self._lines(raw, Annotator(self.source))

    def _set_anchor(self) -> None:
        if self._fd is None or self._offset == 0:
            self._anchor = b""
            return
        length = min(_ANCHOR, self._offset)
        self._anchor = self._pread(self._fd, length, self._offset - length)

    def _drain(self, budget: list[int], out: list[RawLine]) -> tuple[int, bool]:
        """Read from the offset towards EOF within the budget. -> (bytes read, reached EOF)."""
        assert self._fd is not None
        total = 0
        at_eof = False
        while budget[0] > 0 and len(out) < self.batch_lines:
            data = self._pread(self._fd, min(self.chunk, budget[0]), self._offset)
            if not data:
                at_eof = True
                break
            total += len(data)
            budget[0] -= len(data)
            self._offset += len(data)
            out.extend(self._splitter.feed(data))
            self._offset = rewind(out, self.batch_lines, self._splitter, self._offset)
        if total:
            self._set_anchor()
        return total, at_eof

    def _truncated(self) -> bool:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size < self._offset:
            return True
        if self._anchor and size >= self._offset:
            start = self._offset - len(self._anchor)
            return self._pread(self._fd, len(self._anchor), start) != self._anchor
        return False

    def poll(self) -> list[LogLine]:
        """New complete lines since the last call (at most ``batch_lines``), in file order."""
        out: list[RawLine] = []
        budget = [self.batch_bytes]
        if self._fd is None:
            if not self._open():
                return []
            self._offset = 0
            self._splitter.reset(0)
            self._anchor = b""
        if self._truncated():
            out.extend(self._splitter.flush())
            self.truncations += 1
            self.gen += 1
            self._offset = 0
            self._splitter.reset(0)
            self._anchor = b""
        _, at_eof = self._drain(budget, out)
        if at_eof:
            self._check_rotation(budget, out)
        return self._lines(out)

    def follow(
        self,
        keep: int,
        *,
        first: int | None = None,
        max_bytes: int = FOLLOW_BYTES,
        max_seconds: float = FOLLOW_SECONDS,
    ) -> tuple[int, list[LogLine]]:
        """Follow a file that may grow faster than its lines can be shown: everything
        appended since the last call is read, and of its complete lines only the last
        ``keep`` are made into :class:`LogLine`; the ones before them are counted, not made.

        Returns ``(passed, lines)``: ``passed`` lines came before ``lines`` (oldest first).
        While the file grows faster than it is read (a burst), reading goes on (counting
        newlines costs little) and lines are made at most every ``max_seconds``; a burst
        ends when a short pause brings nothing new. ``passed`` is 0 unless ``len(lines)``
        is ``keep``, so a ring of ``keep`` lines that takes ``passed`` then ``lines`` holds
        what it would hold had it taken every line one by one; except that with ``first``,
        at the end of a burst, and in every call of a burst after its first, only the last
        ``first`` lines are made (the newest line shows at once, and making a ring-full on a
        loaded machine takes longer than the writer's next second) and the others are
        counted in ``passed`` too: the caller reads them back with :meth:`before` (the
        ring's room, from its oldest line) once the burst is over. Rotation and truncation
        are followed as by :meth:`poll` (used when the file is not open yet or was
        truncated). At most ``max_bytes`` are read per call.
        """
        keep = max(1, keep)
        if self._fd is None or self._truncated():
            return 0, self.poll()
        now = time.monotonic()
        shown = self._shown_at or now
        show_by = max(shown + max_seconds, now + 2 * FOLLOW_PAUSE)
        passed = 0
        out: list[RawLine] = []  # split, not made yet
        total = 0
        while True:
            quiet, skipped, total = self._read_ahead(keep, out, max_bytes, total, passed, show_by)
            passed += skipped
            if len(out) > keep:
                passed += len(out) - keep
                del out[: len(out) - keep]
            if first is not None and (quiet or self._burst) and passed and len(out) > first:
                passed += len(out) - first
                del out[: len(out) - first]
            # (with the byte budget spent, what is left unread waits for the next call)
            made = self._make(out, shown + 2 * max_seconds if total < max_bytes else 0.0)
            if made is not None:
                self._shown_at = time.monotonic()
                self._burst = passed > 0
                return passed, made
            # The lines being made would be pushed out by what was written meanwhile.

    def _read_ahead(
        self,
        keep: int,
        out: list[RawLine],
        max_bytes: int,
        total: int,
        passed: int,
        until: float,
    ) -> tuple[bool, int, int]:
        """:meth:`follow`'s reading: what was appended (until ``until`` while a burst goes
        on, within ``max_bytes`` read per call) split into ``out``, but for whole blocks of
        lines with ``keep`` newer ones after them, which are only counted. Returns (the
        burst ended: a pause brought nothing, lines counted, bytes read in the call)."""
        assert self._fd is not None
        counted = 0
        blocks: deque[tuple[int, bytes, int]] = deque()  # read, not split yet
        newlines = len(out)
        read = 0
        at_eof = paused = late = False
        while total < max_bytes:
            data = self._pread(self._fd, min(FOLLOW_CHUNK, max_bytes - total), self._offset)
            if not data:
                # In a burst (lines were passed over) read on rather than make a ring-full
                # of lines for every few megabytes: at the end of the file a short pause;
                # a pause that brings nothing ends the burst; once it is time to show
                # lines, the end of the file after one more pause ends the reading.
                if (passed or counted) and not paused and not late:
                    time.sleep(FOLLOW_PAUSE)
                    paused = True
                    continue
                at_eof = True
                break
            if paused:
                paused = False
                late = time.monotonic() >= until
            count = data.count(b"\n")
            blocks.append((self._offset, data, count))
            newlines += count
            self._offset += len(data)
            total += len(data)
            read += len(data)
            if out and newlines - len(out) >= keep:
                counted += len(out)  # the lines split before: all have `keep` newer ones
                newlines -= len(out)
                out.clear()
            # a block whose lines all have `keep` newer lines after them: counted, not split
            while not out and len(blocks) > 1 and newlines - blocks[0][2] >= keep:
                offset, block, count = blocks.popleft()
                newlines -= count
                counted += self._splitter.skip(block, offset, count)
        if read:
            self._set_anchor()
        for _, block, _ in blocks:
            out.extend(self._splitter.feed(block))
        if at_eof:
            extra: list[RawLine] = []
            self._check_rotation([max_bytes], extra)
            out.extend(extra)
        return at_eof and paused, counted, total

    def _make(self, raw: list[RawLine], until: float) -> list[LogLine] | None:
        """``raw`` made into lines, a slice at a time; None (nothing made) when, before
        ``until``, the file grew by at least as many bytes as ``raw`` spans: those lines would
        be pushed out by the new ones, which are read first."""
        if not raw:
            return []
        assert self._fd is not None
        span = raw[-1][0] + len(raw[-1][1]) - raw[0][0]
        made: list[LogLine] = []
        for at in range(0, len(raw), MAKE_SLICE):
            grown = at and time.monotonic() < until and os.fstat(self._fd).st_size - self._offset
            if grown and grown >= span:
                return None
            made += self._lines(raw[at : at + MAKE_SLICE])
        return made

    def _check_rotation(self, budget: list[int], out: list[RawLine]) -> None:
        try:
            st = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            return  # deleted or renamed away: keep draining the descriptor we hold
        if (st.st_dev, st.st_ino) == self._ident:
            return
        # The path names a new file. Everything the writer put in the old one before the new
        # one appeared is there now: drain it; switch once that yields nothing.
        got, at_eof = self._drain(budget, out)
        if got or not at_eof:
            return
        out.extend(self._splitter.flush())
        if not self._open():
            return
        self.rotations += 1
        self.gen += 1
        self._offset = 0
        self._splitter.reset(0)
        self._anchor = b""
        self._drain(budget, out)
