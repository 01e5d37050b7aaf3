"""Logs: parsing lines, following files, reading supervisord's logs, and the merged stream.

The package face: importers use ``from opsconsole.core import logs`` and the names below.

- :mod:`.model`: the :class:`LogSource` interface and :class:`LogError`
- :mod:`.parse`: lines (sanitising, levels, timestamps, filters, ``--since``) (pure)
- :mod:`.file`: :class:`LogFile`, the follower of one file (reads backwards, never whole)
- :mod:`.sources`: :class:`FileSource`, source specs and the sources available
- :mod:`.supervisord`: a program's captured output and supervisord's log over XML-RPC
- :mod:`.stream`: sources merged by time into one bounded stream
- :mod:`.through_host`: :class:`HostLogSource`, a log read through a host (``Host.log``)
"""

from __future__ import annotations

from opsconsole.core.logs.file import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_LINES,
    DEFAULT_CHUNK,
    HEAD_CUT,
    FileState,
    LineSplitter,
    LogFile,
    RawLine,
    rewind,
    scan_back,
)
from opsconsole.core.logs.model import (
    LogError,
    LogSource,
)
from opsconsole.core.logs.parse import (
    DEFAULT_MAX_LINE,
    LEVEL_TAG,
    LEVELS,
    Annotator,
    LogLine,
    annotate_lines,
    compile_filter,
    cut_marker,
    decode_line,
    is_continuation,
    line_matches,
    merge_streams,
    parse_level,
    parse_since,
    parse_timestamp,
    sanitize,
)
from opsconsole.core.logs.sources import (
    FileSource,
    SourceSpec,
    available_sources,
    make_source,
)
from opsconsole.core.logs.stream import (
    DEFAULT_RING,
    LogStream,
    RingBuffer,
)
from opsconsole.core.logs.supervisord import (
    RPC_BUDGET,
    MainLogSource,
    ProgramLogSource,
)
from opsconsole.core.logs.through_host import HostLogSource

__all__ = [
    "DEFAULT_BATCH_BYTES",
    "DEFAULT_BATCH_LINES",
    "DEFAULT_CHUNK",
    "DEFAULT_MAX_LINE",
    "DEFAULT_RING",
    "HEAD_CUT",
    "LEVELS",
    "LEVEL_TAG",
    "RPC_BUDGET",
    "Annotator",
    "FileSource",
    "FileState",
    "HostLogSource",
    "LineSplitter",
    "LogError",
    "LogFile",
    "LogLine",
    "LogSource",
    "LogStream",
    "MainLogSource",
    "ProgramLogSource",
    "RawLine",
    "RingBuffer",
    "SourceSpec",
    "annotate_lines",
    "available_sources",
    "compile_filter",
    "cut_marker",
    "decode_line",
    "is_continuation",
    "line_matches",
    "make_source",
    "merge_streams",
    "parse_level",
    "parse_since",
    "parse_timestamp",
    "rewind",
    "sanitize",
    "scan_back",
]
