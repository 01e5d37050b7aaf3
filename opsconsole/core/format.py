"""The one place numbers become words for the operator: durations and byte counts.

Two duration styles, for two kinds of column: :func:`format_duration` (a program's uptime, as
supervisorctl shows it) and :func:`short_duration` (6 characters at most, for dense tables).
"""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """An uptime as supervisorctl shows it: ``0:04:07``, ``2d 03:00:12`` ("" when unknown)."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d {hours:02}:{minutes:02}:{secs:02}"
    return f"{hours}:{minutes:02}:{secs:02}"


def short_duration(seconds: float | None) -> str:
    """6 characters at most: ``42s``, ``12m``, ``5h03m``, ``3d04h`` ("" when unknown)."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02}m"
    return f"{s // 86400}d{s % 86400 // 3600:02}h"


def format_bytes(n: int | None) -> str:
    """A byte count, short: ``512B``, ``12K``, ``3.4M``, ``1.2G`` ("" when unknown); binary
    units (1K = 1024 bytes)."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit in ("B", "K") else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}T"  # pragma: no cover
