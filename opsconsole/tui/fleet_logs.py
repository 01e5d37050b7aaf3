"""``:logs NAME`` on a console of several hosts: one log per stream, merged over the hosts.

On a fleet (not narrowed to one host), ``:logs web`` opens web's stdout and stderr each as a
:class:`~opsconsole.core.logs.merge.MergedSource` over every host that runs ``web``: lines
ordered by time, each prefixed ``[host]``, so the log view's ``/`` search and filter work
across the hosts unchanged (they read the lines' text). Every host's log is read through the
session's host (the fleet's, which routes a supervisord to its host), and a host that does not
answer is marked in the log without holding up the others. ``l`` on one program's row still
opens that host's log alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsconsole.core.host import LogRef
from opsconsole.core.logs import HostLogSource, LogSource
from opsconsole.core.logs.merge import MergedSource

if TYPE_CHECKING:
    from opsconsole.tui.fleet import Fleet
    from opsconsole.tui.session import Session


def merged_logs(session: Session, names: list[str]) -> list[LogSource] | None:
    """The merged logs ``:logs NAME…`` opens on several hosts (None: not a fleet, narrowed,
    or no name runs on more than one host; the single-host way applies)."""
    fleet = session.fleet
    if fleet is None or not fleet.several or fleet.narrowed is not None:
        return None
    servers = fleet.shown(list(session.servers.values()))
    sources: list[LogSource] = []
    for name in names:
        group = name[:-2] if name.endswith(":*") else None
        programs: dict[str, list[str]] = {}  # program -> the servers running it
        for server in servers:
            for p in server.programs:
                if p.fullname == name or p.name == name or (group and p.group == group):
                    programs.setdefault(p.fullname, []).append(server.name)
        for program, on in programs.items():
            if len(on) < 2:
                return None
            for stream in ("stdout", "stderr"):
                label = program if stream == "stdout" else f"{program}:err"
                per_host: list[tuple[str, LogSource]] = [
                    (
                        server,
                        HostLogSource(
                            session.machine,
                            LogRef("program", server, program, stream),
                            key=f"program:{server}/{program}:{stream}",
                            label=label,
                        ),
                    )
                    for server in on
                ]
                sources.append(MergedSource(per_host, key=f"hosts:{program}:{stream}", label=label))
    return sources or None


@dataclass(frozen=True)
class _LogServer:
    """A supervisord as the Logs view's list of sources reads it (name and programs)."""

    name: str
    processes: tuple[Any, ...]


def log_servers(session: Session) -> Any:
    """The supervisords whose logs the Logs view lists: on a fleet, the hosts' (named as the
    console names them: ``host1``, whose ``supervisord`` entry reaches host1's), not this
    machine's configured ones (which a fleet does not read). On a fleet, the same tuple as
    last time while no host's program names or log files changed (the view then has
    nothing to list again)."""
    fleet = session.fleet
    if fleet is None:
        return dict(session.monitor.snapshots)
    from opsconsole.tui.fleet import shown_servers

    servers = shown_servers(session)
    key = tuple((s.name, _log_names(fleet, s.programs)) for s in servers)
    if fleet._logs is None or fleet._logs[0] != key:
        fleet._logs = (key, tuple(_LogServer(s.name, s.programs) for s in servers))
    return fleet._logs[1]


def _log_names(fleet: Fleet, programs: tuple[Any, ...]) -> tuple[Any, ...]:
    """What the Logs view lists of a supervisord's programs (names and log files), worked
    out once per programs tuple: an uptime or a state that moved lists nothing new."""
    known = fleet._log_names.get(id(programs))
    if known is None or known[0] is not programs:
        names = tuple((p.fullname, p.stdout_logfile, p.stderr_logfile) for p in programs)
        known = (programs, names)
        if len(fleet._log_names) > 4 * len(fleet.states) + 16:
            fleet._log_names.clear()
        fleet._log_names[id(programs)] = known
    return known[1]
