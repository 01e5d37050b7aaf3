"""``update`` in the console: say what supervisord will really do, then apply group by group.

After the reread (``u`` or ``:update``) the session posts the diff (``UpdateReread``) and
the app hands it here. For each group it touches, the operator is asked on its own: the
question names every running process that supervisord will stop (and, for a changed group,
start again: the whole group restarts, not only the changed program, supervisor issues
#1154, #591), ``y`` applies that group alone (a ``supervisor.update`` request naming only
it: gated and audited per group), ``n`` leaves it for a later update; then the next group
is asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsconsole.core.errors import OpsError
from opsconsole.core.host import OperationRequest, OperationResult
from opsconsole.core.update_preview import CHANGES, GroupChange, preview_update

if TYPE_CHECKING:
    from opsconsole.tui.session import Session


def confirm_by_group(session: Session, server: str, reread: OperationResult) -> None:
    """Preview ``reread``'s diff on ``server`` and ask group by group (see the module)."""
    diff = {k: [str(n) for n in reread.data.get(k) or []] for k in CHANGES}
    if not any(diff.values()):
        session.ui.notify("no config changes: nothing to update")
        return
    try:
        session.gate.check("supervisor.update", server, {"server": server})
    except OpsError as exc:
        session.ui.notify(exc.message, title="Refused", severity="error")
        return

    async def preview() -> None:
        try:
            snap = await session.machine.supervisord(server)
        except OpsError as exc:
            session.ui.notify(exc.message, title="Update", severity="error")
            return
        groups = list(preview_update(diff, snap).groups)
        _ask(session, server, groups, 0)

    session.ui.run_worker(preview(), group="ops")


def _ask(session: Session, server: str, groups: list[GroupChange], i: int) -> None:
    if i >= len(groups):
        session.poll_now()
        return
    group = groups[i]
    later = [g.group for g in groups[i + 1 :]]
    detail = group.words + (
        f"\nGroup {i + 1} of {len(groups)}: y applies {group.group} alone now; n leaves it "
        "for a later update."
    )
    if later:
        detail += f" Asked next: {', '.join(later)}."

    async def apply() -> None:
        request = OperationRequest(
            "supervisor.update", server, {"server": server, **group.parameters}, confirmed=True
        )
        result = await session.machine.perform(request)
        if result.ok:
            done = "\n".join(str(d) for d in result.data.get("done") or []) or "updated"
            session.ui.notify(done, title="Update")
        else:
            session.report_failure(result)
        session.poll_now()
        _ask(session, server, groups, i + 1)

    def answered(yes: bool | None) -> None:
        if yes:
            session.ui.run_worker(apply(), group="ops")
        else:
            _ask(session, server, groups, i + 1)

    session.ui.confirm(group.question, detail, answered)
