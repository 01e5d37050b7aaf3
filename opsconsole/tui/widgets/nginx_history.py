"""The nginx view's config history: ``d`` the diff since the last good config, ``U`` the
rollback to it (the diff first, then one confirmation listing the files written back).

Both go through the session as requests (``nginx.diff``, a read; ``nginx.rollback``,
mutating: refused read-only before anything is fetched or asked, confirmed, audited, on the
timeline); the host does the work (:mod:`opsconsole.core.nginx.rollback`).
"""

from __future__ import annotations

import datetime
import os
from typing import TYPE_CHECKING

from rich.text import Text

from opsconsole.core.errors import OpsError
from opsconsole.core.host import OperationRequest, OperationResult
from opsconsole.core.operations import operation
from opsconsole.tui.screens.diff import DiffViewer

if TYPE_CHECKING:  # the nginx backend is imported once a diff is asked for
    from opsconsole.core.nginx.history import ConfigDiff
    from opsconsole.tui.widgets.nginx import NginxView

#: what the view says after a failed test or reload
ROLLBACK_HINT = "d: what changed since the last good config; U: roll back to it"


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def show_diff(view: NginxView, *, rollback: bool = False) -> None:
    """Fetch the diff and show it; with ``rollback`` (``U``) refuse first in read-only mode.
    The viewer offers the rollback whenever the gate allows it."""
    inst = view._need_instance()
    session = view.session
    if inst is None or session is None:
        return
    if rollback:
        try:
            session.gate.check("nginx.rollback", inst.label)
        except OpsError as exc:
            view.app.notify(exc.message, title="Refused", severity="error")
            return
    offer = session.gate.allowed("nginx.rollback")

    def got(result: OperationResult) -> None:
        from opsconsole.core.nginx.history import ConfigDiff

        if "files" not in result.data:  # failed before a diff was made (no nginx ...)
            view._failed(result)
            return
        diff = ConfigDiff.from_json(result.data)
        if rollback and diff.good is not None and not diff.to_write:
            view.app.notify(result.message, title="Nothing to roll back", markup=False)

        def closed(choice: str | None) -> None:
            if choice == "rollback":
                confirm_rollback(view, diff)

        view.app.push_screen(DiffViewer(diff, inst.label, offer_rollback=offer), callback=closed)

    view._send(OperationRequest("nginx.diff", inst.label), "", "", got)


def rollback_detail(diff: ConfigDiff) -> str:
    """The confirmation's text: every file written back, what is kept, what is left."""
    good = diff.good or {"at": 0.0, "user": "?"}
    lines = [f"Write back the config of {_when(good['at'])} ({good['user']}):"]
    for f in diff.files:
        if f.status == "added":
            continue
        name = os.path.basename(f.path)
        kept = "it is gone" if f.status == "removed" else f"the current one kept as {name}.rejected"
        lines.append(f"  {f.path} ({kept})")
    if diff.added:
        lines.append("Left as they are (added since): " + ", ".join(diff.added))
    lines.append("Then nginx -t; only if it passes: reload and verify new workers.")
    return "\n".join(lines)


def confirm_rollback(view: NginxView, diff: ConfigDiff) -> None:
    """Ask once (the files written back), then send the rollback for exactly this diff."""
    inst = view.instance
    if inst is None or diff.good is None or not diff.to_write:
        return
    question = operation("nginx.rollback").question.format(
        target=inst.label, when=_when(diff.good["at"])
    )
    view._result_line(Text(f"rolling {inst.label} back …", style="dim"))
    view._send(
        OperationRequest("nginx.rollback", inst.label, {"expect": diff.fingerprint}),
        question,
        rollback_detail(diff),
        lambda result: rolled_back(view, result),
    )


def rolled_back(view: NginxView, result: OperationResult) -> None:
    if "status" not in result.data:  # refused or failed before anything was written
        view._failed(result)
        return
    data = result.data
    ok = bool(data.get("ok"))
    line = Text(("✔ " if ok else "✖ ") + result.message, style="green" if ok else "bold red")
    hint = str(data.get("hint") or "")
    if hint:
        line.append(f"\n  {hint}", style="dim")
    view._result_line(line)
    view._timeline("info" if ok else "error", result.message)
    view.app.notify(
        result.message if ok else f"{result.message}\n{hint}".strip(),
        title="Rolled back" if ok else "Rollback failed",
        severity="information" if ok else "error",
        markup=False,
        timeout=10,
    )
    view.tick()
