"""The operator's verbs on programs (start, stop, restart, signal, clear logs), by name or
``group:*``, on one supervisord, each answered per program in words (:class:`OpResult`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opsconsole.core.supervisor.client import SupervisorClient
from opsconsole.core.supervisor.model import Faults, RPCFault
from opsconsole.core.supervisor.protocol import fault_to_error

# --------------------------------------------------------------------------- operations

VERBS = ("start", "stop", "restart", "signal", "clear_logs")


@dataclass
class OpResult:
    """Outcome of one verb on one program."""

    name: str
    ok: bool
    message: str


def parse_spec(spec: str) -> tuple[str, str]:
    """``all`` → ("all", ""); ``grp:*`` → ("group", "grp"); else ("process", spec)."""
    spec = spec.strip()
    if spec == "all":
        return ("all", "")
    if spec.endswith(":*"):
        return ("group", spec[:-2])
    return ("process", spec)


def _group_results(raw: list[dict[str, Any]], verb: str) -> list[OpResult]:
    out = []
    for item in raw:
        name = str(item.get("name", "?"))
        group = str(item.get("group", name))
        full = name if group == name else f"{group}:{name}"
        code = int(item.get("status", Faults.SUCCESS))
        if code == Faults.SUCCESS:
            out.append(OpResult(full, True, f"{full}: {verb} done"))
        else:
            err = fault_to_error(code, f"{item.get('description', '')}: {full}", verb)
            out.append(OpResult(full, False, err.message))
    return out


async def perform(
    client: SupervisorClient,
    verb: str,
    specs: Sequence[str],
    *,
    signame: str = "HUP",
) -> list[OpResult]:
    """Apply ``verb`` to every spec (a name, ``group:*`` or ``all``), the way supervisorctl does.

    Per-program failures are returned as results, not raised; connection failures raise.
    Call only from inside :meth:`ActionGate.run`.
    """
    if verb not in VERBS:
        raise ValueError(f"unknown verb {verb}")
    results: list[OpResult] = []
    for spec in specs:
        kind, name = parse_spec(spec)
        try:
            if kind == "process":
                await _one(client, verb, name, signame)
                results.append(OpResult(name, True, f"{name}: {_done(verb, signame)}"))
                continue
            if verb == "start":
                raw = await (client.start_all() if kind == "all" else client.start_group(name))
            elif verb == "stop":
                raw = await (client.stop_all() if kind == "all" else client.stop_group(name))
            elif verb == "restart":
                await (client.stop_all() if kind == "all" else client.stop_group(name))
                raw = await (client.start_all() if kind == "all" else client.start_group(name))
            elif verb == "signal":
                if kind == "all":
                    raw = await client.signal_all(signame)
                else:
                    raw = await client.signal_group(name, signame)
            else:
                procs = await client.get_all_process_info()
                raw = []
                for p in procs:
                    if kind == "all" or p.group == name:
                        await client.clear_logs(p.fullname)
                        raw.append({"name": p.name, "group": p.group, "status": Faults.SUCCESS})
            results.extend(_group_results(list(raw), _done(verb, signame)))
        except RPCFault as exc:
            results.append(OpResult(spec, False, exc.message))
    return results


def _done(verb: str, signame: str) -> str:
    return {
        "start": "started",
        "stop": "stopped",
        "restart": "restarted",
        "signal": f"sent {signame}",
        "clear_logs": "logs cleared",
    }[verb]


async def _one(client: SupervisorClient, verb: str, name: str, signame: str) -> None:
    if verb == "start":
        await client.start(name)
    elif verb == "stop":
        await client.stop(name)
    elif verb == "restart":
        await client.restart(name)
    elif verb == "signal":
        await client.signal(name, signame)
    else:
        await client.clear_logs(name)
