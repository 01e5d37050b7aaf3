"""Supervisor's vocabulary as our users know it from its ``rpcinterface.py``: process states,
fault codes, the methods that change nothing, the errors (each says what happened and what to
check) and the facts a program's row shows (:class:`ProcessInfo`). Plain data, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from opsconsole.core.errors import OpsError

#: Methods that never change anything. Everything else is mutating.
READ_METHODS = frozenset(
    {
        "supervisor.getAPIVersion",
        "supervisor.getVersion",
        "supervisor.getSupervisorVersion",
        "supervisor.getIdentification",
        "supervisor.getState",
        "supervisor.getPID",
        "supervisor.readLog",
        "supervisor.readMainLog",
        "supervisor.getProcessInfo",
        "supervisor.getAllProcessInfo",
        "supervisor.getAllConfigInfo",
        "supervisor.readProcessLog",
        "supervisor.readProcessStdoutLog",
        "supervisor.readProcessStderrLog",
        "supervisor.tailProcessLog",
        "supervisor.tailProcessStdoutLog",
        "supervisor.tailProcessStderrLog",
        "system.listMethods",
        "system.methodHelp",
        "system.methodSignature",
        "system.multicall",  # its inner calls are checked one by one
    }
)


class ProcessState(IntEnum):
    """A program's state, with supervisord's codes (``rpcinterface``'s ``ProcessStates``)."""

    STOPPED = 0
    STARTING = 10
    RUNNING = 20
    BACKOFF = 30
    STOPPING = 40
    EXITED = 100
    FATAL = 200
    UNKNOWN = 1000

    @classmethod
    def parse(cls, value: Any) -> ProcessState:
        """The state for a code; UNKNOWN for anything that is not one. Raises nothing."""
        try:
            return cls(int(value))
        except (TypeError, ValueError):
            return cls.UNKNOWN


#: States an operator must look at.
BAD_STATES = frozenset({ProcessState.FATAL, ProcessState.BACKOFF, ProcessState.UNKNOWN})


class Faults:
    """supervisord's XML-RPC fault codes (``xmlrpc.Faults``)."""

    UNKNOWN_METHOD = 1
    INCORRECT_PARAMETERS = 2
    BAD_ARGUMENTS = 3
    SIGNATURE_UNSUPPORTED = 4
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    BAD_SIGNAL = 11
    NO_FILE = 20
    NOT_EXECUTABLE = 21
    FAILED = 30
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    STILL_RUNNING = 91
    CANT_REREAD = 92


# --------------------------------------------------------------------------- errors


class SupervisorError(OpsError):
    """Any failure talking to supervisord."""


class Unreachable(SupervisorError):
    """Could not connect: socket missing, refused, or not permitted."""


class NotResponding(SupervisorError):
    """Connected (or tried to) but no answer within the timeout: hung or stopped."""


class AuthFailed(SupervisorError):
    """HTTP 401: the username/password were rejected."""


class ProtocolError(SupervisorError):
    """The answer was not valid XML-RPC, or too large."""

    #: the HTTP status when supervisord answered with one other than 200 (else 0)
    status = 0


class RPCFault(SupervisorError):
    """supervisord answered with an XML-RPC fault."""

    def __init__(self, code: int, fault_string: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.code = code
        self.fault_string = fault_string


class NoSuchProcess(RPCFault):
    """BAD_NAME: no program or group of that name."""


class AlreadyStarted(RPCFault):
    """ALREADY_STARTED: start asked of a running program."""


class NotRunning(RPCFault):
    """NOT_RUNNING: stop or signal asked of a stopped program."""


class SpawnError(RPCFault):
    """SPAWN_ERROR: the program could not be started."""


class BadSignal(RPCFault):
    """BAD_SIGNAL: a signal name supervisord does not know."""


# --------------------------------------------------------------------------- models


@dataclass
class ProcessInfo:
    """One program (process) as supervisord reports it."""

    name: str
    group: str
    state: ProcessState
    statename: str
    pid: int
    description: str = ""
    start: int = 0
    stop: int = 0
    now: int = 0
    spawnerr: str = ""
    exitstatus: int = 0
    stdout_logfile: str = ""
    stderr_logfile: str = ""
    server: str = "local"

    @property
    def fullname(self) -> str:
        """``name``, or ``group:name`` when the group has another name (supervisorctl's form)."""
        return self.name if self.group == self.name else f"{self.group}:{self.name}"

    @property
    def key(self) -> tuple[str, str]:
        """``(server, fullname)``: unique across every supervisord shown."""
        return (self.server, self.fullname)

    @property
    def uptime(self) -> float | None:
        """Seconds since it started while RUNNING, else None."""
        if self.state == ProcessState.RUNNING and self.start and self.now:
            return float(max(0, self.now - self.start))
        return None

    @classmethod
    def from_rpc(cls, data: dict[str, Any], server: str = "local") -> ProcessInfo:
        """From a ``getProcessInfo`` dict (missing fields default). Raises TypeError/ValueError
        for a field of the wrong type (a pid that is not a number)."""
        return cls(
            name=str(data.get("name", "?")),
            group=str(data.get("group", data.get("name", "?"))),
            state=ProcessState.parse(data.get("state")),
            statename=str(data.get("statename", "UNKNOWN")),
            pid=int(data.get("pid") or 0),
            description=str(data.get("description", "")),
            start=int(data.get("start") or 0),
            stop=int(data.get("stop") or 0),
            now=int(data.get("now") or 0),
            spawnerr=str(data.get("spawnerr") or ""),
            exitstatus=int(data.get("exitstatus") or 0),
            stdout_logfile=str(data.get("stdout_logfile") or data.get("logfile") or ""),
            stderr_logfile=str(data.get("stderr_logfile") or ""),
            server=server,
        )


@dataclass
class ServerInfo:
    """Who answers at a supervisor URL: version, pid, state, identification."""

    version: str
    pid: int
    statename: str
    identification: str


@dataclass
class ConfigDiff:
    """What ``reread`` found: group names added, changed, removed."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when reread found nothing to apply."""
        return not (self.added or self.changed or self.removed)


class Stated(Protocol):
    """Anything with supervisor's state name: a ProcessInfo, or a host snapshot's Program."""

    @property
    def statename(self) -> str: ...


def state_counts(procs: Sequence[Stated]) -> dict[str, int]:
    """Per-state counts, most important states first (for the header)."""
    counts: dict[str, int] = {}
    for p in procs:
        counts[p.statename] = counts.get(p.statename, 0) + 1
    order = ["FATAL", "BACKOFF", "EXITED", "UNKNOWN", "STARTING", "STOPPING", "RUNNING", "STOPPED"]
    return {
        k: counts[k] for k in sorted(counts, key=lambda s: order.index(s) if s in order else 99)
    }
