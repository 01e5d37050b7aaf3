"""LocalHost's handlers for the nginx config history and a worker's stack.

- ``nginx.diff`` (a read, through the gate so it is audited): what changed since the last
  config that reloaded and was verified (:mod:`opsconsole.core.nginx.history`).
- ``nginx.rollback`` (mutating, confirmed): write that config back, test, reload, verify
  (:mod:`opsconsole.core.nginx.rollback`). Without the yes the result carries the plan.
- ``gunicorn.stack`` (a read, audited: py-spy stops the worker for a moment): the worker's
  Python stack (:mod:`opsconsole.core.gunicorn.stack`), after proving the pid is a worker of
  the master meant (a fresh scan; the worker's create time when the view sends it).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from opsconsole.core.errors import ConfirmationRequired, ProcessChanged
from opsconsole.core.host import DONE, FAILED, REFUSED, OperationRequest, OperationResult

if TYPE_CHECKING:  # the backends are imported by the handlers (the first frame needs neither)
    from opsconsole.core import gunicorn as gunicorn_backend
    from opsconsole.core.local.host import LocalHost


async def nginx_diff(host: LocalHost, request: OperationRequest) -> OperationResult:
    from opsconsole.core.nginx import history, rollback

    programs, _ = await host.local_processes()
    inst = await host._discover(programs)
    diff = await host.gate.run(
        "nginx.diff",
        inst.label,
        lambda: asyncio.to_thread(history.diff_since_good, inst),
        params={"conf": inst.conf_path},
    )
    good = diff.good
    if good is None:
        message = (
            f"no config of {inst.conf_path} has been reloaded and verified by opsconsole yet: "
            "nothing to compare with"
        )
    elif not diff.changed:
        message = f"no change since the last good config ({rollback.when(good['at'])})"
    else:
        message = (
            f"{len(diff.files)} file(s) differ from the last good config "
            f"({rollback.when(good['at'])}, {good['user']})"
        )
    data = {**diff.to_json(), "instance": inst.to_dict()}
    return host._result(request, DONE, message, data=data, target=inst.label)


async def nginx_rollback(host: LocalHost, request: OperationRequest) -> OperationResult:
    from opsconsole.core.nginx import RELOAD_VERIFY_TIMEOUT, NginxError, rollback

    programs, _ = await host.local_processes()
    inst = await host._discover(programs)
    p = request.parameters
    expect = p.get("expect")
    wait = p.get("wait")
    verify = float(wait) if isinstance(wait, (int, float)) else RELOAD_VERIFY_TIMEOUT
    try:
        result = await host.gate.run(
            "nginx.rollback",
            inst.label,
            lambda: rollback.rollback(
                inst, expect=str(expect) if expect else None, verify_timeout=verify
            ),
            params={"conf": inst.conf_path, "expect": expect},
            confirmed=request.confirmed,
        )
    except ConfirmationRequired as exc:
        data: dict[str, Any] = {"instance": inst.to_dict(), "plan": None}
        try:
            plan = await asyncio.to_thread(rollback.plan_rollback, inst)
            data["plan"] = rollback.plan_json(plan)
        except NginxError as why:
            data["why"] = why.message
        return host._result(request, REFUSED, exc.message, error=exc, data=data, target=inst.label)
    data = {**result.to_json(), "instance": inst.to_dict()}
    return host._result(
        request,
        DONE if result.ok else FAILED,
        result.message,
        verified="nginx -t passed, new workers started, no error logged"
        if result.status == "rolled-back"
        else "",
        data=data,
        target=inst.label,
    )


async def _worker(
    host: LocalHost, request: OperationRequest
) -> tuple[gunicorn_backend.Master, gunicorn_backend.Worker, list[str]]:
    """The master and worker a request names: ``worker`` (and its create time) of the master
    ``target`` (the view), or ``target`` as a worker pid of any master here (the CLI)."""
    from opsconsole.core import gunicorn as gunicorn_backend

    p = request.parameters
    if p.get("worker") is None:
        text = request.target.strip()
        if not text.isdigit():
            raise gunicorn_backend.GunicornError(
                f"{text!r} is not a worker pid",
                "give the pid of a gunicorn worker (tree lists them)",
            )
        pid = int(text)
        masters, problems = await host._scan(fresh=True)
        for m in masters:
            for w in m.workers:
                if w.pid == pid:
                    return m, w, problems
        if any(m.pid == pid for m in masters):
            raise gunicorn_backend.GunicornError(
                f"pid {pid} is a gunicorn master, not a worker",
                "give the pid of one of its workers (`opsconsole tree` lists them)",
            )
        raise gunicorn_backend.GunicornError(
            f"pid {pid} is not a worker of any gunicorn master found on this machine",
            "`opsconsole tree` lists the masters and their workers",
        )
    master, problems = await host._master(request)
    shown, created = p.get("worker"), p.get("worker_create_time")
    worker = next((w for w in master.workers if w.pid == shown), None)
    if worker is None:
        raise gunicorn_backend.GunicornError(
            f"{master.label} has no worker {shown}", "refresh: it may have been replaced"
        )
    if isinstance(created, (int, float)) and abs(worker.identity.create_time - created) > 0.01:
        raise ProcessChanged(
            f"pid {worker.pid} is no longer the worker that was shown",
            "nothing was read; refresh and look again",
        )
    return master, worker, problems


async def gunicorn_stack(host: LocalHost, request: OperationRequest) -> OperationResult:
    from opsconsole.core.gunicorn import stack

    master, worker, problems = await _worker(host, request)
    target = f"worker {worker.pid} of {master.label}"
    dump = await host.gate.run(
        "gunicorn.stack",
        target,
        lambda: asyncio.to_thread(stack.dump_stack, master, worker),
        params={"worker": worker.pid},
    )
    return host._result(
        request,
        DONE,
        f"stack of {target} (py-spy, {dump.duration:.2f} s)",
        data=dump.to_dict(),
        target=target,
        notes=tuple(problems),
    )
