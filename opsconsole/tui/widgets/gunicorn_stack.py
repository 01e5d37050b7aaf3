"""The gunicorn view's ``S``: the selected worker's Python stack (py-spy), worker alive.

A request through the session (``gunicorn.stack``: a read, audited), naming the master and
the worker with their create times (proof they are still the processes shown). The stack
opens in :class:`~opsconsole.tui.screens.stack.StackViewer`. When py-spy cannot run (not
installed, no ptrace rights) the one question asked is the old way: send ABRT, which prints
the stack to the error log but kills the worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsconsole.core.host import GunicornMaster, GunicornWorker, OperationRequest, OperationResult
from opsconsole.core.operations import operation
from opsconsole.tui.screens.stack import StackViewer

if TYPE_CHECKING:
    from opsconsole.tui.widgets.gunicorn import GunicornView


def show_stack(
    view: GunicornView,
    master: GunicornMaster,
    worker: GunicornWorker,
    screen: StackViewer | None = None,
) -> None:
    """Read the worker's stack and show it (in ``screen`` when it is open: ``r``)."""
    label = f"worker {worker.pid} of {master.label}"

    def again(open_screen: StackViewer) -> None:
        show_stack(view, master, worker, open_screen)

    def done(result: OperationResult) -> None:
        if "text" in result.data:
            if screen is not None and screen.is_attached:
                screen.show(result.data)
            else:
                view.app.push_screen(StackViewer(result.data, again))
            return
        if result.error is not None and result.error.kind == "StackUnavailable":
            offer_abrt(view, master, worker, result)
        elif view.session is not None:
            view.session.report_failure(result)

    view._send(
        OperationRequest(
            "gunicorn.stack",
            str(master.pid),
            {
                "create_time": master.create_time,
                "worker": worker.pid,
                "worker_create_time": worker.create_time,
            },
        ),
        question="",
        on_done=done,
        label=label,
    )


def offer_abrt(
    view: GunicornView, master: GunicornMaster, worker: GunicornWorker, result: OperationResult
) -> None:
    """py-spy could not run: say why, and ask (the one question) whether to ABRT instead."""
    from opsconsole.core.gunicorn import WORKER_SIGNALS

    why = result.message
    fix = result.error.hint.split("; or ")[0] if result.error is not None else ""
    view._send(
        OperationRequest(
            "gunicorn.worker_signal",
            str(master.pid),
            {
                "create_time": master.create_time,
                "worker": worker.pid,
                "worker_create_time": worker.create_time,
                "signal": "ABRT",
            },
        ),
        label=f"worker {worker.pid} of {master.label}",
        question=operation("gunicorn.worker_signal").question.format(
            signal="ABRT", pid=worker.pid, target=master.label
        ),
        detail=f"{why}" + (f"\n({fix})" if fix else "") + "\n\nInstead, ABRT prints its "
        f"stack to the error log but kills it: the worker {WORKER_SIGNALS['ABRT'][1]}. "
        "The new error-log lines are shown afterwards.",
        on_done=view._worker_signalled,
    )
