"""The program list's columns and what a row shows: pure (no widget), shared by the list and
the fleet's rows."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from rich.text import Text
from textual.theme import Theme

from opsconsole.core.format import format_bytes, short_duration
from opsconsole.core.host import Program
from opsconsole.tui.styles import role_style, state_role

COLUMNS = [
    ("name", "Name", 16),
    ("state", "State", 10),
    ("pid", "PID", 7),
    ("uptime", "Uptime", 8),
    ("cpu", "CPU%", 5),
    ("rss", "RSS", 6),
    ("info", "Info", None),
]
SORTS = ["group", "name", "state", "pid", "uptime", "cpu", "rss"]

#: what places a program's row and draws its cells, but its uptime, CPU and memory (a running
#: program's description repeats its pid and uptime; supervisord's clock moves every second)
_PLACE = attrgetter("name", "group", "state", "pid", "start", "spawnerr", "exitstatus")


def uptime_until(p: Program, clock: float | None = None) -> int:
    """The host's clock at which ``p``'s short uptime (``42s``, ``12m``, ``5h03m``,
    ``3d04h``) at ``clock`` (None: its own ``now``) next reads differently; 0 when it
    shows none."""
    up = p.uptime_at(clock)
    if up is None:
        return 0
    s = int(up)
    step = 1 if s < 60 else 60 if s < 86400 else 3600
    return p.start + (s // step + 1) * step


def state_text(statename: str, theme: Theme | None = None) -> Text:
    symbol, role = state_role(statename)
    return Text(f"{symbol} {statename}", style=role_style(theme, role))


def info_text(p: Program, theme: Theme | None = None) -> Text:
    """Spawn error, exit status or supervisord's description; not the pid/uptime it repeats."""
    error = role_style(theme, "error")
    if p.spawnerr:
        return Text(p.spawnerr, style=error)
    if p.statename == "EXITED":
        return Text(
            f"exit status {p.exitstatus}: {p.description}", style=role_style(theme, "warning")
        )
    if p.statename == "FATAL":
        return Text(p.description or "could not be started", style=error)
    if p.statename == "RUNNING":
        return Text("")
    return Text(p.description)


@dataclass
class Row:
    key: str
    cells: tuple[Any, ...]
    proc: Program | None  # None for a group header
    group: str
    server: str


def proc_cells(
    p: Program,
    marked: bool,
    indent: bool,
    usage: Any,
    theme: Theme | None,
    cache: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]],
    key: str,
    clock: float | None = None,
) -> tuple[Any, ...]:
    """The cells of a program's row (``usage``: its sampled CPU and memory, or None; its
    uptime at ``clock``, the host's clock, see :meth:`Program.uptime_at`); the same tuple as
    last time (``cache[key]``) when nothing it shows changed (supervisord's clock moves
    every second; the short uptime once a minute)."""
    uptime = short_duration(p.uptime_at(clock))
    cpu = f"{usage.cpu_percent:.1f}" if usage else ""
    rss = format_bytes(usage.rss) if usage else ""
    running = p.statename == "RUNNING"
    shown = (
        marked,
        indent,
        p.name,
        p.group,
        p.statename,
        p.pid,
        uptime,
        cpu,
        rss,
        p.spawnerr,
        p.exitstatus,
        "" if running else p.description,
        theme.name if theme is not None else "",
    )
    cached = cache.get(key)
    if cached is not None:
        before, kept = cached
        if before == shown:
            return kept
        if before[:6] == shown[:6] and before[9:] == shown[9:]:
            # only the uptime, CPU or memory moved (every row once a minute): the name,
            # state and info cells are kept as they are
            cells = (kept[0], kept[1], kept[2], uptime, cpu, rss, kept[6])
            cache[key] = (shown, cells)
            return cells
    name = Text(f"{' *'[marked]}{'  ' if indent else ''}{p.name if indent else p.fullname}")
    if marked:
        name.stylize("bold reverse")
    cells = (
        name,
        state_text(p.statename, theme),
        str(p.pid) if p.pid else "",
        uptime,
        cpu,
        rss,
        info_text(p, theme),
    )
    cache[key] = (shown, cells)
    return cells
