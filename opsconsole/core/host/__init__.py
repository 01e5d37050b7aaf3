"""The host: one interface for everything the console reads from and does to a machine.

A :class:`Host` is async. Its reads return **snapshots**: frozen dataclasses of primitives
(str, int, float, bool, None, tuples of those, nested snapshot types) that carry the host's
name and the time they were taken, so the same value can be rendered, diffed, written as JSON
and read back unchanged. Its one write, :meth:`Host.perform`, takes an
:class:`OperationRequest` (an operation id of the registry, a target, parameters) and answers
an :class:`OperationResult` (done, refused or failed, in words, with what was verified).

The types here import no backend (no psutil, no httpx, no Textual): they are the wire format
the fleet issue carries over SSH, and stay stable while the backends behind them change.
:mod:`opsconsole.core.local` turns the backends' models into them.

JSON: every type has ``to_json()`` (a dict of JSON values: ``json.dumps`` accepts it) and
``from_json(data)``; ``T.from_json(x.to_json()) == x`` for every value whose floats are not
NaN (NaN is never equal to itself). Unknown keys are ignored and missing ones take the
field's default, so an older and a newer console can still read each other's snapshots.
Errors travel as :class:`HostError` (kind, message, hint) and become the same typed
:class:`~opsconsole.core.errors.OpsError` subclass again on the other side.

The package: ``codec`` (the JSON codec), ``errors``, the snapshots per backend
(``supervisor``, ``gunicorn``, ``nginx``, ``probes``, ``logs``), ``ops`` (HostInfo, requests,
results), ``protocol`` (Host) and ``diff`` (what changed between two snapshots' JSON: what
the agent pushes). Every public name is importable from here.
"""

from __future__ import annotations

from opsconsole.core.host.codec import HostProtocolError, JSONValue, Snapshot
from opsconsole.core.host.errors import (
    ERROR_WORDS,
    HostDown,
    HostError,
    HostNotResponding,
    ProtocolMismatch,
)
from opsconsole.core.host.gunicorn import (
    GunicornMaster,
    GunicornSnapshot,
    GunicornStats,
    GunicornWorker,
)
from opsconsole.core.host.logs import MAX_BEFORE_LINES, LogChunk, LogCursor, LogEntry, LogRef
from opsconsole.core.host.nginx import (
    NginxConfigDump,
    NginxDiagnostic,
    NginxFile,
    NginxInstance,
    NginxReload,
    NginxSnapshot,
    NginxTest,
    NginxWorker,
    StubCounts,
    TopologySnapshot,
    TopoNode,
)
from opsconsole.core.host.ops import (
    DONE,
    FAILED,
    REFUSED,
    HostInfo,
    OperationRequest,
    OperationResult,
    ResultItem,
)
from opsconsole.core.host.probes import ProbeOutcome, ProbesSnapshot
from opsconsole.core.host.protocol import Host
from opsconsole.core.host.supervisor import BAD_STATES, Program, ProgramsSnapshot, Supervisord

__all__ = [
    "BAD_STATES",
    "DONE",
    "ERROR_WORDS",
    "FAILED",
    "MAX_BEFORE_LINES",
    "REFUSED",
    "GunicornMaster",
    "GunicornSnapshot",
    "GunicornStats",
    "GunicornWorker",
    "Host",
    "HostDown",
    "HostError",
    "HostInfo",
    "HostNotResponding",
    "HostProtocolError",
    "JSONValue",
    "LogChunk",
    "LogCursor",
    "LogEntry",
    "LogRef",
    "NginxConfigDump",
    "NginxDiagnostic",
    "NginxFile",
    "NginxInstance",
    "NginxReload",
    "NginxSnapshot",
    "NginxTest",
    "NginxWorker",
    "OperationRequest",
    "OperationResult",
    "ProbeOutcome",
    "ProbesSnapshot",
    "Program",
    "ProgramsSnapshot",
    "ProtocolMismatch",
    "ResultItem",
    "Snapshot",
    "StubCounts",
    "Supervisord",
    "TopoNode",
    "TopologySnapshot",
]
