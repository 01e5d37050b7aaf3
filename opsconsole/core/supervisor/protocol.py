"""XML-RPC answers decoded (pure, no I/O): a body becomes a value, a fault becomes the
:class:`~opsconsole.core.supervisor.model.RPCFault` subclass its code names.
"""

from __future__ import annotations

import xmlrpc.client
from typing import Any
from xml.parsers.expat import ExpatError

from opsconsole.core.supervisor.model import (
    AlreadyStarted,
    BadSignal,
    Faults,
    NoSuchProcess,
    NotRunning,
    ProtocolError,
    RPCFault,
    SpawnError,
)


def fault_to_error(code: int, fault_string: str, method: str = "") -> RPCFault:
    """Map an XML-RPC fault to an error with operator words (pure, for tests and fuzzing)."""
    _, _, detail = fault_string.partition(":")
    name = detail.strip() or fault_string
    if code == Faults.BAD_NAME:
        return NoSuchProcess(
            code,
            fault_string,
            f"no such program: {name}",
            "check the name (group:name for grouped programs) in the program list",
        )
    if code == Faults.ALREADY_STARTED:
        return AlreadyStarted(code, fault_string, f"{name} is already running")
    if code == Faults.NOT_RUNNING:
        return NotRunning(code, fault_string, f"{name} is not running")
    if code == Faults.SPAWN_ERROR:
        return SpawnError(
            code,
            fault_string,
            f"{name} could not be spawned",
            "see the program's stderr log and its command= line",
        )
    if code == Faults.BAD_SIGNAL:
        return BadSignal(code, fault_string, f"bad signal: {name}", "use a name like HUP or TERM")
    if code == Faults.NO_FILE:
        return RPCFault(code, fault_string, f"command not found: {name}", "check command=")
    if code == Faults.NOT_EXECUTABLE:
        return RPCFault(code, fault_string, f"command is not executable: {name}", "chmod +x it")
    if code == Faults.ABNORMAL_TERMINATION:
        return RPCFault(code, fault_string, f"{name} terminated abnormally while stopping")
    if code == Faults.SHUTDOWN_STATE:
        return RPCFault(code, fault_string, "supervisord is shutting down", "wait, then retry")
    if code == Faults.STILL_RUNNING:
        return RPCFault(code, fault_string, f"{name} is still running", "stop it first")
    if code == Faults.CANT_REREAD:
        return RPCFault(
            code, fault_string, f"supervisord cannot reread its config: {name}", "fix the config"
        )
    if code == Faults.UNKNOWN_METHOD:
        return RPCFault(
            code, fault_string, f"supervisord does not know {method or name}", "upgrade supervisor"
        )
    return RPCFault(code, fault_string, f"supervisord refused {method}: {fault_string}")


def decode_response(body: bytes, method: str = "", where: str = "supervisord") -> Any:
    """Decode an XML-RPC response body (pure: no I/O). Faults become RPCFault subclasses."""
    try:
        params, _ = xmlrpc.client.loads(body, use_builtin_types=True)
    except xmlrpc.client.Fault as fault:
        raise fault_to_error(int(fault.faultCode), str(fault.faultString), method) from None
    except (ExpatError, xmlrpc.client.ResponseError, ValueError, TypeError, IndexError) as exc:
        raise ProtocolError(
            f"the answer from {where} to {method or 'a call'} is not valid XML-RPC",
            "is the URL really supervisord's XML-RPC server?",
        ) from exc
    if len(params) != 1:
        raise ProtocolError(f"the answer from {where} to {method} has {len(params)} values, not 1")
    return params[0]
