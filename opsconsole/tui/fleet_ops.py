"""The same program action on several supervisords (hosts): one host at a time.

Programs marked on several hosts (``space`` in the program list, then ``s``/``x``/``r``/``K``/
``C``), or ``:restart NAME`` on a console of several hosts, go host by host: the action on
one host, then the CLI's health gate (:func:`opsconsole.cli.hosts.health_gate`: the programs
RUNNING and the host's probes green, steadily for a few seconds), then the next host;
the first failure stops it, saying why and which hosts were not touched. Read-only refuses
before anything is asked; one confirmation names the hosts in their order; every step is
on the timeline and on screen (a notice per step, the hosts view's progress line); each
request is audited by the host's gate (the console's), naming the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsconsole.core.errors import OpsError
from opsconsole.core.host import Host, OperationRequest, OperationResult
from opsconsole.core.operations import operation

if TYPE_CHECKING:
    from opsconsole.tui.session import Session

#: actions after which the programs are meant to run (the health gate holds the next host)
GATED = frozenset({"start", "restart", "signal"})


@dataclass(frozen=True)
class Step:
    """One host's part: ``names`` on its supervisord ``server`` (the host's own name)."""

    label: str  # the host (or supervisord) as the console shows it
    host: Host
    server: str
    names: tuple[str, ...]


def steps_for(session: Session, keys: list[str]) -> list[Step]:
    """Marked row keys (``server/program``) grouped by host, in the console's host order."""
    by_server: dict[str, list[str]] = {}
    for key in keys:
        server, _, name = key.partition("/")
        by_server.setdefault(server, []).append(name)
    fleet = session.fleet
    # the hosts in the console's order (as configured), then each host's supervisords
    order = list(session.servers)
    hosts = fleet.names if fleet is not None else []

    def place(server: str) -> tuple[int, int]:
        host = fleet.host_of(server) if fleet is not None else ""
        return (
            hosts.index(host) if host in hosts else len(hosts),
            order.index(server) if server in order else len(order),
        )

    steps = []
    for server in sorted(by_server, key=place):
        names = tuple(by_server[server])
        if fleet is not None:
            state, raw = fleet.route(server)
            steps.append(Step(server, state.host, raw, names))
        else:
            steps.append(Step(server, session.machine, server, names))
    return steps


def run_across(session: Session, verb: str, keys: list[str], signame: str = "") -> None:
    """Refuse (read-only), ask once, then act host by host (see the module's doc)."""
    from opsconsole.tui.session import VERB_EFFECT, VERB_OP

    if verb not in VERB_OP:
        session.ui.notify(f"{verb} cannot run on several hosts", severity="error")
        return
    if verb == "signal" and not signame:

        def picked(name: str | None) -> None:
            if name:
                run_across(session, verb, keys, name)

        session.ui.pick_signal("Signal for the marked programs", picked)
        return
    try:
        steps = steps_for(session, keys)
    except OpsError as exc:
        session.ui.notify(exc.message, title="Refused", severity="error")
        return
    op_id = VERB_OP[verb]
    names = sorted({n for s in steps for n in s.names})
    order = ", then ".join(s.label for s in steps)
    target = f"{' '.join(names)} on {', '.join(s.label for s in steps)}"
    try:
        session.gate.check(op_id, target, {"server": ",".join(s.label for s in steps)})
    except OpsError as exc:
        session.ui.notify(exc.message, title="Refused", severity="error")
        return
    what = verb.replace("_", " ")
    if verb == "signal":
        what = f"send SIG{signame} to"
    question = f"{what.capitalize()} {' '.join(names)} on {order}?"
    gate_words = (
        "each next host only once the programs are RUNNING and its probes are green "
        "for a few seconds"
        if verb in GATED
        else "each next host once the last one answered"
    )
    detail = (
        f"One host at a time ({len(steps)} host(s)): {VERB_EFFECT.get(verb, what)}; "
        f"{gate_words}. The first failure stops it; the hosts after it are not touched."
    )

    def answer(confirmed: bool | None) -> None:
        if confirmed:
            session.ui.run_worker(
                _run(session, op_id, verb, steps, signame), group="ops", name="across"
            )

    session.ui.confirm(question, detail, answer)


def _failure(result: OperationResult) -> str:
    """Why a host's part failed, in words ("" when it did not)."""
    failed = [r.message for r in result.items if not r.ok]
    if failed:
        return "; ".join(failed[:3])
    return "" if result.ok else result.message or result.outcome


async def _run(session: Session, op_id: str, verb: str, steps: list[Step], signame: str) -> None:
    from opsconsole.cli.hosts import GATE_STEADY, health_gate

    title = operation(op_id).title
    total = len(steps)

    def say(level: str, subject: str, text: str) -> None:
        session.timeline.add("action", level, subject, text)
        _progress(session, text)
        severity: Any = {"error": "error", "warning": "warning"}.get(level, "information")
        session.ui.notify(text, title=title, severity=severity, timeout=4)

    for index, step in enumerate(steps, 1):
        names = " ".join(step.names)
        rest = [s.label for s in steps[index:]]
        say("info", step.label, f"{index}/{total} {step.label}: {verb} {names}")
        parameters: dict[str, Any] = {"server": step.server, "names": list(step.names)}
        if verb == "signal":
            parameters["signal"] = signame
        request = OperationRequest(op_id, names, parameters, confirmed=True)
        try:
            result = await step.host.perform(request)
            why = _failure(result)
        except OpsError as exc:
            why = exc.message
        if why:
            tail = f"; not run on: {', '.join(rest)}" if rest else ""
            say("error", step.label, f"stopped at {step.label}: {why}{tail}")
            session.poll_now()
            return
        session.poll_now()
        if rest and verb in GATED:
            say(
                "info",
                step.label,
                f"{index}/{total} {step.label}: waiting for {names} RUNNING and probes "
                f"green for {GATE_STEADY:g} s before {rest[0]}",
            )
            try:
                await health_gate(step.host, list(step.names))
            except OpsError as exc:
                say(
                    "error",
                    step.label,
                    f"stopped at {step.label}: {exc.message}; not run on: {', '.join(rest)}",
                )
                return
            say("info", step.label, f"{index}/{total} {step.label}: healthy")
    done = ", ".join(s.label for s in steps)
    say("info", done, f"{verb} done on {done}, one host at a time")


def _progress(session: Session, text: str) -> None:
    fleet = session.fleet
    if fleet is not None:
        fleet.progress = text
