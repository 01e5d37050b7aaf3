"""What a fleet console redraws: a host's programs are redrawn only when what the console
shows of them changed.

Supervisord's answer moves every second even at idle (its clock, ``now``, and a running
program's description, which repeats the pid and uptime): ten hosts x 300 programs
answering every second made ten full redraws of 3000 rows a second. :func:`same_shown` says
when an answer shows nothing new; the fleet then keeps the programs it has (the very tuple),
so the program list and the timeline have nothing to do for that host. An uptime is not
part of it: the program list works it out from the host's clock (``Session.clock``), so an
uptime that only grew is no change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from opsconsole.core.host import Program

if TYPE_CHECKING:
    from opsconsole.tui.session import Session


def shown(p: Program) -> tuple[Any, ...]:
    """What the console shows of a program (and acts on): not supervisord's clock nor a
    running program's description (its uptime follows from its start and the host's clock)."""
    running = p.state == "RUNNING"
    return (
        p.group,
        p.name,
        p.state,
        p.pid,
        p.start,
        p.stop,
        p.spawnerr,
        p.exitstatus,
        "" if running else p.description,
        p.stdout_logfile,
        p.stderr_logfile,
        p.exitcodes,
        p.startsecs,
    )


def same_shown(old: tuple[Program, ...], new: tuple[Program, ...]) -> bool:
    """True when ``new`` shows nothing that ``old`` does not (the same tuple, or only
    supervisord's clock moved): at idle a host's programs are not redrawn at all (the
    program list moves their uptimes by the host's clock)."""
    if old is new:
        return True
    if len(old) != len(new):
        return False
    return all(a is b or shown(a) == shown(b) for a, b in zip(old, new))


def columns(session: Session | None) -> list[tuple[str, str, int | None]]:
    """The program list's columns (a HOST column first on a console of several hosts)."""
    from opsconsole.tui.widgets.program_rows import COLUMNS

    fleet = getattr(session, "fleet", None)
    return fleet.columns(COLUMNS) if fleet is not None else COLUMNS


def host_rows(session: Session | None, rows: list[Any]) -> list[Any]:
    """The program list's rows as shown (see :meth:`Fleet.decorate`)."""
    fleet = getattr(session, "fleet", None)
    return fleet.decorate(rows) if fleet is not None else rows


def host_marks(session: Session | None) -> Any:
    """What marks a fleet's rows besides their programs (each host's stale word): the
    program list builds its rows again when it changes. None without a fleet."""
    fleet = getattr(session, "fleet", None)
    return fleet.marks() if fleet is not None else None


def host_cells(session: Session | None, key: str, server: str, cells: tuple[Any, ...]) -> Any:
    """One row's cells as shown (the HOST cell on a fleet): a row changed in place."""
    fleet = getattr(session, "fleet", None)
    return fleet.decorate_cells(key, server, cells) if fleet is not None else cells


def _dim(cell: Any) -> Any:
    text = cell.copy() if isinstance(cell, Text) else Text(str(cell))
    text.stylize("dim")
    return text
