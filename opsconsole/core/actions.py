"""The single gate every mutating operation passes through.

Each operation is registered once (id, title, key, mutating, needs confirmation). The gate
refuses mutating operations in read-only mode *before* any request leaves the process,
requires an explicit confirmation for dangerous ones, and records every attempt (done,
failed or refused) in memory and in the audit file (0600 in a 0700 directory, whatever the
umask: it says who did what).

The read-only switch belongs to the gate: a read-only gate governs the context it is built in
(a ContextVar, inherited by every task and ``asyncio.to_thread`` started from there, so by the
whole TUI session or CLI command that built it, and by nothing else). Lower layers (the
XML-RPC transport, the signal sender, the nginx reload, the gunicorn control client) call
:func:`assert_writable`, which consults that gate, as a second line of defence, so a code path
that forgot the gate still cannot change anything in read-only mode.
"""

from __future__ import annotations

import contextvars
import getpass
import json
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from opsconsole.core.errors import ConfirmationRequired, OpsError, ReadOnlyError

# The operations the gate runs are registered once, in core.operations (id, title, mutating,
# confirmation, keys, `:` verb, CLI verb, help); re-exported here for the gate's callers.
from opsconsole.core.operations import OPERATIONS as OPERATIONS
from opsconsole.core.operations import Operation as Operation
from opsconsole.core.operations import operation as operation
from opsconsole.core.operations import register as register
from opsconsole.core.private_files import open_private_append, private_dir

T = TypeVar("T")


#: The read-only gate governing the code running in this context (None: no read-only gate).
#: A ContextVar, not a process global: it follows the session's tasks (asyncio copies the
#: context into every task and ``asyncio.to_thread``), and a test's change ends with its task.
_READ_ONLY_GATE: ContextVar[ActionGate | None] = ContextVar(
    "opsconsole_read_only_gate", default=None
)


def set_read_only(value: bool) -> None:
    """Make the current context read-only (only ever turned on, never off).

    Prefer building the session's gate with ``read_only=True`` (:func:`make_gate`): that is
    what this does, with a gate that also records the refusals.
    """
    if value and not is_read_only():
        ActionGate(read_only=True)


def is_read_only() -> bool:
    """Whether a read-only gate governs the current context."""
    gate = _READ_ONLY_GATE.get()
    return gate is not None and gate.read_only


class ContextThreadPool(ThreadPoolExecutor):
    """A thread pool whose jobs run in a copy of the context that submitted them.

    ``asyncio.to_thread`` carries the caller's context into its thread, but
    ``loop.run_in_executor`` does not, and Textual runs its thread workers that way: a job
    would start with no gate governing it and the lower layers would take it for writable.
    Installed as the event loop's default executor (:func:`govern_threads`), every thread job
    of the loop stays under the gate of whoever submitted it.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)


def govern_threads(loop: Any) -> None:
    """Make ``loop``'s default executor a :class:`ContextThreadPool` (see there)."""
    loop.set_default_executor(ContextThreadPool(thread_name_prefix="opsconsole"))


def _reset_for_tests() -> None:
    """Lift read-only from the current context (tests that set it outside a task)."""
    _READ_ONLY_GATE.set(None)


def assert_writable(what: str) -> None:
    """Raise ReadOnlyError if a read-only gate governs this context. Used by the lowest
    layers (transport, signal sender, nginx reload, control socket) as a second line of
    defence below the gate: a path that forgot the gate still cannot change anything."""
    if is_read_only():
        raise ReadOnlyError(
            f"read-only mode: refused to {what}",
            "restart opsconsole without --read-only to make changes",
        )


@dataclass
class AuditRecord:
    time: float
    user: str
    ssh_client: str | None
    host: str
    action: str
    target: str
    params: dict[str, Any]
    result: str  # "ok", "error", "refused"
    detail: str = ""
    duration: float = 0.0


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no passwd entry
        return str(os.getuid())


def default_audit_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "opsconsole" / "audit.jsonl"


_SECRET_KEYS = {"password", "passwd", "secret", "token"}


def _scrub(params: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k.lower() in _SECRET_KEYS else v) for k, v in params.items()}


@dataclass
class ActionGate:
    """Runs operations: read-only refusal, confirmation requirement, audit record."""

    read_only: bool = False
    audit_path: Path | None = None
    history: deque[AuditRecord] = field(default_factory=lambda: deque(maxlen=1000))
    listeners: list[Callable[[AuditRecord], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A read-only gate governs the context it is built in (and every task and thread
        # started from it): the lower layers' assert_writable then refuses too. A writable
        # gate built later in the same context never lifts that.
        if self.read_only:
            _READ_ONLY_GATE.set(self)

    def allowed(self, op_id: str) -> bool:
        return not (self.read_only and operation(op_id).mutating)

    def _record(self, record: AuditRecord) -> None:
        self.history.append(record)
        if self.audit_path is not None:
            try:
                private_dir(self.audit_path.parent)
                with open_private_append(self.audit_path) as fh:
                    fh.write(json.dumps(asdict(record), default=str) + "\n")
            except OSError:
                pass  # auditing must never break the action; the in-memory record remains
        for listener in list(self.listeners):
            listener(record)

    def _new_record(
        self, op: Operation, target: str, params: dict[str, Any], result: str, detail: str
    ) -> AuditRecord:
        return AuditRecord(
            time=time.time(),
            user=_local_user(),
            ssh_client=(os.environ.get("SSH_CONNECTION") or "").split(" ")[0] or None,
            host=socket.gethostname(),
            action=op.id,
            target=target,
            params=_scrub(params),
            result=result,
            detail=detail,
        )

    def check(self, op_id: str, target: str, params: dict[str, Any] | None = None) -> None:
        """Raise ReadOnlyError (and record the refusal) if ``op_id`` may not run now."""
        op = operation(op_id)
        if self.read_only and op.mutating:
            err = ReadOnlyError(
                f"read-only mode: {op.title.lower()} {target} refused",
                "restart opsconsole without --read-only to make changes",
            )
            self._record(self._new_record(op, target, params or {}, "refused", err.message))
            raise err

    async def run(
        self,
        op_id: str,
        target: str,
        fn: Callable[[], Awaitable[T]],
        *,
        params: dict[str, Any] | None = None,
        confirmed: bool = False,
    ) -> T:
        """Run ``fn`` as operation ``op_id`` on ``target``.

        Raises ReadOnlyError before calling ``fn`` in read-only mode, ConfirmationRequired
        when the operation needs a confirmation and ``confirmed`` is false; otherwise returns
        what ``fn`` returns and re-raises what it raises, recording either way.
        """
        op = operation(op_id)
        params = params or {}
        self.check(op_id, target, params)
        if op.confirm and not confirmed:
            raise ConfirmationRequired(
                f"{op.title.lower()} {target} needs confirmation", "confirm with y (CLI: --yes)"
            )
        started = time.monotonic()
        try:
            result = await fn()
        except OpsError as exc:
            rec = self._new_record(op, target, params, "error", str(exc))
            rec.duration = time.monotonic() - started
            self._record(rec)
            raise
        except Exception as exc:
            rec = self._new_record(op, target, params, "error", f"{type(exc).__name__}: {exc}")
            rec.duration = time.monotonic() - started
            self._record(rec)
            raise
        rec = self._new_record(op, target, params, "ok", "")
        rec.duration = time.monotonic() - started
        self._record(rec)
        return result


def make_gate(read_only: bool, *, audit: bool = True) -> ActionGate:
    """The gate for one session or CLI command: read-only as asked, auditing to the default
    audit file (or only in memory when ``audit`` is false). A read-only gate also makes the
    calling context read-only for the lower layers (see :func:`assert_writable`)."""
    return ActionGate(read_only=read_only, audit_path=default_audit_path() if audit else None)
