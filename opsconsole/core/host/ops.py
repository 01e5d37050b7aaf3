"""Who the host is (HostInfo), and writes: OperationRequest -> OperationResult."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from opsconsole.core.host.codec import JSONValue, Snapshot
from opsconsole.core.host.errors import HostError


@dataclass(frozen=True)
class HostInfo(Snapshot):
    """Who and what the host is: versions, capabilities, read-only, the user it runs as."""

    host: str
    at: float
    opsconsole_version: str
    python_version: str
    user: str
    read_only: bool
    capabilities: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    supervisors: tuple[str, ...] = ()


# --------------------------------------------------------------------------- operations

#: The outcomes of a request.
DONE, REFUSED, FAILED = "done", "refused", "failed"


@dataclass(frozen=True)
class OperationRequest(Snapshot):
    """Do ``operation`` (an id of the operations registry) to ``target`` (what the operator
    named: a program, ``group:*``, ``all``, a master pid or program, nginx). ``parameters``
    are JSON values (``server``, ``names``, ``signal``, ``count``, ``wait`` ...);
    ``confirmed`` is the operator's yes for operations that need one."""

    operation: str
    target: str
    parameters: dict[str, JSONValue] = field(default_factory=dict)
    confirmed: bool = False


@dataclass(frozen=True)
class ResultItem(Snapshot):
    """The outcome for one program of a request that named several."""

    name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class OperationResult(Snapshot):
    """What a request did. ``outcome`` is done, refused (nothing was sent: read-only, no
    confirmation, a bound) or failed; ``message`` says it in words, ``verified`` what was
    checked afterwards, ``error`` the typed error of a refusal or failure. ``items`` holds a
    line per program; ``data`` the operation's own details as JSON values (what the CLI
    prints with ``--json``); ``notes`` what else the operator should know."""

    host: str
    operation: str
    target: str
    outcome: str
    message: str
    at: float
    verified: str = ""
    error: HostError | None = None
    items: tuple[ResultItem, ...] = ()
    data: dict[str, JSONValue] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what the operator should know besides (a server unread)
    duration: float = 0.0

    OUTCOMES: ClassVar[tuple[str, ...]] = (DONE, REFUSED, FAILED)

    @property
    def ok(self) -> bool:
        return self.outcome == DONE

    def raise_error(self) -> None:
        """Raise the typed error of a refused or failed request (nothing when done)."""
        if self.error is not None and not self.ok:
            raise self.error.exception()
