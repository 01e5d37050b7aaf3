"""What ``update`` will really do, before the operator says yes.

``supervisorctl update`` (and opsconsole's ``supervisor.update``) applies what ``reread``
(supervisord's ``reloadConfig``) found group by group: a removed group is stopped and removed;
a changed group is stopped **as a whole**, removed and added again from the new config (so
every process of it restarts, not only the program whose section changed: supervisor issues
#1154, #591); an added group is added (its autostart programs start).

:func:`preview_update` turns the reread's added / changed / removed group names and the
supervisord's current programs (host snapshots: works for any host) into a
:class:`UpdatePreview`: per group, which processes are running now and will be stopped (and,
for a changed group, started again with new pids). Each :class:`GroupChange` carries the
``supervisor.update`` parameters that apply that group alone, so the console can apply one
group at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsconsole.core.host import Program, Snapshot, Supervisord

#: The order groups are listed and applied in (as supervisorctl update does).
CHANGES = ("removed", "changed", "added")
#: What "running" means here: a process supervisord would have to stop.
LIVE_STATES = frozenset({"RUNNING", "STARTING", "BACKOFF", "STOPPING"})


@dataclass(frozen=True)
class GroupChange(Snapshot):
    """One group ``update`` touches. ``change``: added, changed or removed; ``stops``: its
    processes running now (supervisord stops each; a changed group starts them again);
    ``members``: every process of the group now (fullname, state, pid)."""

    group: str
    change: str
    stops: tuple[str, ...] = ()
    members: tuple[tuple[str, str, int], ...] = ()

    @property
    def restarts(self) -> tuple[str, ...]:
        """The processes that are stopped and started again (a changed group's running
        ones; with autostart=false in the new config they stay stopped)."""
        return self.stops if self.change == "changed" else ()

    @property
    def parameters(self) -> dict[str, Any]:
        """The ``supervisor.update`` parameters that apply this group alone."""
        return {word: [self.group] if word == self.change else [] for word in CHANGES}

    @property
    def question(self) -> str:
        """One line: the processes by name when they fit (:attr:`words` names them all)."""
        names = ", ".join(self.stops)
        if len(names) > 36:
            names = f"its {len(self.stops)} running processes"
        if self.change == "changed":
            if self.stops:
                return f"Update group {self.group}: stop and start {names}?"
            return f"Update group {self.group} (nothing of it runs now)?"
        if self.change == "removed":
            if self.stops:
                return f"Remove group {self.group}: stop {names}?"
            return f"Remove group {self.group} (nothing of it runs now)?"
        return f"Add group {self.group}?"

    @property
    def words(self) -> str:
        """What supervisord will do to the group, in words."""
        now = ", ".join(
            f"{name} ({state}{f' pid {pid}' if pid else ''})" for name, state, pid in self.members
        )
        if self.change == "changed":
            text = (
                f"{self.group} changed: supervisord stops the whole group, not only the changed "
                f"program, removes it and adds it again from the new config"
            )
            if self.stops:
                text += f"; restarts (new pids): {', '.join(self.stops)}"
            if now:
                text += f"; now: {now}"
            return text
        if self.change == "removed":
            text = f"{self.group} removed: supervisord stops it and removes it"
            return text + (f"; stops: {', '.join(self.stops)}" if self.stops else "")
        return f"{self.group} added: supervisord adds it; its autostart programs start"


@dataclass(frozen=True)
class UpdatePreview(Snapshot):
    """Every group ``update`` touches on ``server``, in the order it applies them."""

    server: str
    groups: tuple[GroupChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.groups

    @property
    def restarts(self) -> tuple[str, ...]:
        """Every process that will be stopped and started again."""
        return tuple(name for g in self.groups for name in g.restarts)

    @property
    def stops(self) -> tuple[str, ...]:
        """Every process that will be stopped (restarted or removed)."""
        return tuple(name for g in self.groups for name in g.stops)

    def lines(self) -> list[str]:
        return [g.words for g in self.groups]


def _members(programs: tuple[Program, ...], group: str) -> list[Program]:
    return [p for p in programs if p.group == group]


def preview_update(diff: dict[str, list[str]], server: Supervisord) -> UpdatePreview:
    """What applying ``diff`` (``added``, ``changed``, ``removed`` group names, as reread
    found them) does to ``server``'s processes (pure)."""
    groups: list[GroupChange] = []
    for change in CHANGES:
        for group in sorted(diff.get(change) or []):
            members = _members(server.programs, group) if change != "added" else []
            groups.append(
                GroupChange(
                    group,
                    change,
                    tuple(p.fullname for p in members if p.state in LIVE_STATES),
                    tuple((p.fullname, p.state, p.pid) for p in members),
                )
            )
    return UpdatePreview(server.name, tuple(groups))
