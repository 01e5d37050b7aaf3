"""What every subcommand shares: the host it reads and acts through, the one gate helper,
JSON output and operator-worded errors.

Every command opens one :class:`~opsconsole.core.local.LocalHost` for the config it was given
(with ``--host`` or ``[[host]]`` entries, one host per entry: see
:mod:`opsconsole.cli.hosts`). The host owns the command's gate
(:func:`opsconsole.core.actions.make_gate`: read-only as asked, auditing to the default file),
so a request is refused, confirmed and audited in one place. Programs are listed one way, by
the host: a gunicorn master or nginx is a process of this machine, so only the programs of
this machine's supervisords (a unix socket or a loopback URL) are matched to their pids; a
remote supervisord's pids are never compared with ours.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from opsconsole.core.config import AppConfig
from opsconsole.core.host import Host, HostError, OperationRequest, OperationResult
from opsconsole.core.local import LocalHost


def open_host(config: AppConfig) -> LocalHost:
    """The host a command reads and acts through (its gate built from ``config``)."""
    return LocalHost(config)


async def request(
    host: Host,
    operation: str,
    target: str,
    parameters: dict[str, Any] | None = None,
    *,
    confirmed: bool = False,
) -> OperationResult:
    """The one way a command acts: a request through the host's gate."""
    return await host.perform(
        OperationRequest(operation, target, dict(parameters or {}), confirmed=confirmed)
    )


def needs_confirmation(result: OperationResult) -> bool:
    return result.error is not None and result.error.kind == "ConfirmationRequired"


def refused_because(result: OperationResult, *kinds: str) -> HostError | None:
    """The error of a refused request when it is one of ``kinds`` (else None)."""
    if result.outcome == "refused" and result.error is not None and result.error.kind in kinds:
        return result.error
    return None


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def warn(notes: Sequence[str], why: str = "") -> None:
    """Notes on stderr, one a line (``why`` appended in parentheses)."""
    for text in notes:
        print(f"opsconsole: {text}" + (f" ({why})" if why else ""), file=sys.stderr)


def print_error(message: str, hint: str = "") -> None:
    print(f"opsconsole: {message}", file=sys.stderr)
    if hint:
        print(f"  {hint}", file=sys.stderr)
