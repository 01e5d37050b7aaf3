"""``opsconsole --host A --host B restart NAME… --rolling``: a rolling restart host by host.

The same engine as on one host (:mod:`opsconsole.core.rolling`: on each host a
:class:`~opsconsole.core.rolling.RollRunner`, one program at a time, each settled and its
probes green before the next) in the fleet's sequence (:func:`opsconsole.cli.hosts.in_turn_over`):

1. read-only is refused by the console before any host is asked (and each agent refuses on
   its own: a read-only console starts its agents ``--read-only``);
2. every host's plan is read at once; a host that cannot be planned (unreachable, an unknown
   program) refuses the whole roll before anything is restarted (exit 2);
3. one confirmation: every host's plan, in the order the hosts are rolled; without ``--yes``
   it is printed and nothing runs (exit 2);
4. host by host: a host's roll, then the health gate (its rolled programs RUNNING and its
   probes answering, steadily) before the next host; ``--parallel`` rolls every host at once
   (each still one program at a time);
5. it stops at the first failure (exit 1), naming the host, the program, the reason, what
   was not restarted there and the hosts not touched. Ctrl-C stops every roll between steps.

Every step is printed as it happens, ``[host]`` before it (``--json``: one JSON object a line,
each with its ``host``; the last line, ``kind`` ``fleet``, says how the whole roll ended).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

from opsconsole.cli import hosts
from opsconsole.core.actions import ActionGate
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import OpsError
from opsconsole.core.host import Host
from opsconsole.core.remote import UP, RemoteHost
from opsconsole.core.rolling import (
    CANCELLED,
    OPERATION,
    RollEvent,
    RollOutcome,
    RollPlan,
    RollRunner,
    make_plan,
    run_gated,
)


def gate_of(host: Host) -> ActionGate:
    """The console's gate of a host (LocalHost and RemoteHost both carry one)."""
    gate = getattr(host, "gate", None)
    if not isinstance(gate, ActionGate):  # pragma: no cover - every host the CLI opens has one
        raise OpsError(f"{host.name} has no gate to run a roll through")
    return gate


async def server_on(host: Host, args: argparse.Namespace) -> str:
    """``--server``, else the host's first supervisord."""
    if args.server is not None:
        return str(args.server)
    info = await host.info()
    if not info.supervisors:
        raise OpsError(
            f"no supervisord is configured on {host.name}",
            "give -c or --supervisor-url, or supervisor_config in its [[host]] entry",
        )
    return info.supervisors[0]


async def _plan(host: Host, args: argparse.Namespace, label: str) -> RollPlan:
    """The host's plan. A host whose agent stopped answering while it was read is refused
    (its plan would miss the probes or the topology that timed out, and its restarts would
    not reach it)."""
    plan = await make_plan(host, await server_on(host, args), list(args.names), label)
    if isinstance(host, RemoteHost) and host.link.state != UP:
        raise OpsError(
            f"{host.name} did not answer while its plan was read: {host.link.words}",
            "look at it (opsconsole --host NAME status), then roll again",
        )
    return plan


def plans_text(plans: dict[str, RollPlan], parallel: bool) -> str:
    """Every host's plan, in the order they are rolled (the one confirmation's text)."""
    names = list(plans)
    lines = []
    for name, plan in plans.items():
        lines.append(f"== {name}: {plan.question}")
        lines.append(plan.detail)
    if parallel:
        lines.append(
            f"--parallel: every host at once ({', '.join(names)}), each one program at a time."
        )
    else:
        lines.append(
            f"Hosts one at a time: {' then '.join(names)}; the next host only once this host's "
            f"roll finished healthy and it stayed healthy {hosts.GATE_STEADY:g} s. Stops at the "
            "first failure."
        )
    return "\n".join(lines)


async def fleet_rolling(config: AppConfig, args: argparse.Namespace) -> int:
    label = " ".join(args.names)
    parallel = bool(getattr(args, "parallel", False))
    async with hosts.opened(config) as opened:
        for name, host in opened:  # read-only: refused (and audited) before any host is asked
            gate_of(host).check(OPERATION, f"{label} on {name}")
        read = await asyncio.gather(
            *(_plan(host, args, label) for _, host in opened), return_exceptions=True
        )
        plans: dict[str, RollPlan] = {}
        refused = False
        for (name, _), got in zip(opened, read, strict=True):
            if isinstance(got, RollPlan):
                plans[name] = got
            elif isinstance(got, OpsError):
                refused = True
                print(f"opsconsole: {name}: {got.message}", file=sys.stderr)
                if got.hint:
                    print(f"  {got.hint}", file=sys.stderr)
            else:
                raise got
        if refused:
            print(
                "opsconsole: rolling restart refused: nothing was restarted on any host",
                file=sys.stderr,
            )
            return 2
        if not args.yes:
            print(plans_text(plans, parallel))
            print(
                f"opsconsole: rolling restart of {label} on {', '.join(plans)} needs "
                "confirmation: add --yes",
                file=sys.stderr,
            )
            return 2
        return await _roll(opened, plans, args, parallel)


async def _roll(
    opened: list[tuple[str, Host]],
    plans: dict[str, RollPlan],
    args: argparse.Namespace,
    parallel: bool,
) -> int:
    outcomes: dict[str, RollOutcome] = {}
    runners: dict[str, RollRunner] = {}
    stopping = asyncio.Event()

    def say(name: str, kind: str, message: str, **extra: Any) -> None:
        if args.json:
            line = {"host": name, "kind": kind, "message": message, "at": time.time(), **extra}
            print(json.dumps(line), flush=True)
        else:
            print(f"[{name}] {message}", flush=True)

    def show(name: str, event: RollEvent) -> None:
        if args.json:
            print(json.dumps({"host": name, **event.to_json()}), flush=True)
        else:
            print(f"[{name}] {event.message}", flush=True)

    async def act(name: str, host: Host) -> int:
        plan = plans[name]
        if stopping.is_set():  # ctrl-c during the health gate: the next host is not begun
            left = plan.programs
            message = f"cancelled by the operator; not restarted: {', '.join(left)}"
            outcomes[name] = RollOutcome(CANCELLED, message, left=left)
            say(name, "cancelled", message, left=list(left))
            return 1
        runner = RollRunner(host, plan)
        runners[name] = runner
        outcome = await run_gated(gate_of(host), runner, lambda e: show(name, e), confirmed=True)
        outcomes[name] = outcome
        return 0 if outcome.ok else 1

    def cancel() -> None:
        stopping.set()
        for runner in runners.values():
            runner.cancel()

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, cancel)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
        pass
    try:
        code = await hosts.in_turn_over(
            opened,
            act,
            parallel=parallel,
            gate=True,
            gate_programs=lambda name: plans[name].programs,
            quiet=True,
            on_gate=lambda name, words: say(name, "host_healthy", words),
        )
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError):  # pragma: no cover
            pass
    return _ending([n for n, _ in opened], plans, outcomes, code, args.json)


def _ending(
    names: list[str],
    plans: dict[str, RollPlan],
    outcomes: dict[str, RollOutcome],
    code: int,
    as_json: bool,
) -> int:
    """Say how the whole roll ended: the hosts done, the one(s) it stopped at (the program,
    the reason, what is left there) and the hosts not touched. Exit 1 when it stopped."""
    done = [n for n in names if n in outcomes and outcomes[n].ok]
    failed = [n for n in names if n in outcomes and not outcomes[n].ok]
    untouched = [n for n in names if n not in outcomes]
    ok = code == 0 and not failed and not untouched
    if ok:
        message = f"rolling restart done on every host: {', '.join(done)}"
    else:
        parts = []
        for n in failed:
            o = outcomes[n]
            if o.status == CANCELLED:
                parts.append(f"{n}: {o.message}")
            else:
                left = f"; not restarted on {n}: {', '.join(o.left)}" if o.left else ""
                parts.append(f"on {n} at {o.failed}: {o.reason}{left}")
        if not failed and done:  # a host's roll was done but it did not stay healthy
            parts.append(f"after {done[-1]}: it did not stay healthy (said above)")
        message = "rolling restart stopped " + "; ".join(parts or ["(said above)"])
        if done:
            message += f"; done on: {', '.join(done)}"
        if untouched:
            message += "; hosts not touched: " + ", ".join(
                f"{n} ({', '.join(plans[n].programs)})" for n in untouched
            )
    if as_json:
        line = {
            "host": failed[0] if failed else "",
            "kind": "fleet",
            "status": "done" if ok else "stopped",
            "message": message,
            "done_hosts": done,
            "failed_hosts": failed,
            "program": outcomes[failed[0]].failed if failed else "",
            "reason": outcomes[failed[0]].reason if failed else "",
            "left": list(outcomes[failed[0]].left) if failed else [],
            "not_touched": untouched,
        }
        print(json.dumps(line), flush=True)
    if ok:
        if not as_json:
            print(message, flush=True)
        return 0
    print(f"opsconsole: {message}", file=sys.stderr)
    return 1
