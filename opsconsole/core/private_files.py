"""Files only their owner may read: the audit trail (who did what) and ``:export`` notes (log
excerpts that may carry secrets). Their modes never depend on the umask.

A file is created 0600; a directory created for one is 0700. One that already exists with
other modes is set to those if it is ours (an audit trail written by an older version, say);
one owned by another user is left alone.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

FILE_MODE = 0o600
DIR_MODE = 0o700


def _set_mode(st: os.stat_result, mode: int, chmod: Callable[[int], None]) -> None:
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != mode:
        chmod(mode)


def private_dir(path: Path) -> None:
    """Make ``path`` (and any missing parent) exist, ``path`` itself 0700."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, DIR_MODE)
    _set_mode(os.stat(path), DIR_MODE, lambda mode: os.chmod(path, mode))


def open_private_append(path: Path) -> TextIO:
    """``path`` opened for appending text, created 0600 (or set so, if ours)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        _set_mode(os.fstat(fd), FILE_MODE, lambda mode: os.fchmod(fd, mode))
        return os.fdopen(fd, "a", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a new 0600 file. It is written aside, then renamed over
    ``path``: a full disk leaves no half-written file behind. Raises OSError."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            fh.write(text)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
