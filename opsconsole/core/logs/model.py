"""What every log source is: the :class:`LogSource` interface and :class:`LogError`.

Every source has ``open_tail(n)`` (last ``n`` lines, never reading a log whole),
``poll()`` (new complete lines, capped per call), ``before(offset, n, gen)`` (scroll back)
and ``aclose()``.
"""

from __future__ import annotations

from typing import Protocol

from opsconsole.core.errors import OpsError
from opsconsole.core.logs.parse import LogLine


class LogError(OpsError):
    """A log source cannot be read."""


class LogSource(Protocol):
    """What the stream and the views need from any log."""

    key: str
    label: str

    async def open_tail(self, n: int) -> list[LogLine]:
        """The last ``n`` complete lines; following continues after them."""
        ...

    async def poll(self) -> list[LogLine]:
        """Lines completed since the last call, in order, at most one batch."""
        ...

    async def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        """The ``n`` lines before ``offset`` (oldest first); [] at the top or after rotation."""
        ...

    async def aclose(self) -> None: ...


def file_error(path: str, exc: OSError) -> LogError:
    """The :class:`LogError` that says, in words, why ``path`` could not be read."""
    if isinstance(exc, PermissionError):
        return LogError(
            f"no permission to read {path}",
            "run as a user who can read it (e.g. in the adm group), or read it through "
            "supervisord if it is a program's captured output",
        )
    if isinstance(exc, IsADirectoryError):
        return LogError(f"{path} is a directory, not a log file")
    return LogError(f"cannot read {path}: {exc.strerror or exc}")
