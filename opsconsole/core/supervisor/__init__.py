"""Supervisor: talking to supervisord over XML-RPC, and watching it.

The package face: importers use ``from opsconsole.core import supervisor`` and the names below.

- :mod:`.model`: states, fault codes, read methods, errors, :class:`ProcessInfo` (plain data)
- :mod:`.protocol`: XML-RPC answers and faults decoded (pure)
- :mod:`.client`: :class:`SupervisorClient`, the transport (bounded, read-only aware)
- :mod:`.operations`: start, stop, restart, signal, clear logs by name or group
- :mod:`.monitor`: :class:`SupervisorMonitor`, which polls every configured supervisord
"""

from __future__ import annotations

from opsconsole.core.supervisor.client import (
    MAX_RESPONSE_BYTES,
    RequestLog,
    SupervisorClient,
    gather_settled,
)
from opsconsole.core.supervisor.model import (
    BAD_STATES,
    READ_METHODS,
    AlreadyStarted,
    AuthFailed,
    BadSignal,
    ConfigDiff,
    Faults,
    NoSuchProcess,
    NotResponding,
    NotRunning,
    ProcessInfo,
    ProcessState,
    ProtocolError,
    RPCFault,
    ServerInfo,
    SpawnError,
    SupervisorError,
    Unreachable,
    state_counts,
)
from opsconsole.core.supervisor.monitor import (
    ServerSnapshot,
    SupervisorMonitor,
    status_of,
)
from opsconsole.core.supervisor.operations import (
    VERBS,
    OpResult,
    parse_spec,
    perform,
)
from opsconsole.core.supervisor.protocol import (
    decode_response,
    fault_to_error,
)

__all__ = [
    "BAD_STATES",
    "MAX_RESPONSE_BYTES",
    "READ_METHODS",
    "VERBS",
    "AlreadyStarted",
    "AuthFailed",
    "BadSignal",
    "ConfigDiff",
    "Faults",
    "NoSuchProcess",
    "NotResponding",
    "NotRunning",
    "OpResult",
    "ProcessInfo",
    "ProcessState",
    "ProtocolError",
    "RPCFault",
    "RequestLog",
    "ServerInfo",
    "ServerSnapshot",
    "SpawnError",
    "SupervisorClient",
    "SupervisorError",
    "SupervisorMonitor",
    "Unreachable",
    "decode_response",
    "fault_to_error",
    "gather_settled",
    "parse_spec",
    "perform",
    "state_counts",
    "status_of",
]
