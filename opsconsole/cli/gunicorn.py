"""``opsconsole tree``, ``scale`` and ``stack``: gunicorn masters and workers from the shell.

Masters are tied to the programs of this machine's supervisords only (a master is a local
process; a remote supervisord's pids are another machine's).

Exit codes of ``scale``: 0 done (converged with ``--wait``), 1 not converged or refused
(read-only, below 1 worker), 2 error (unknown target, unreachable, missing ``--yes``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from opsconsole.cli import hosts
from opsconsole.cli.common import (
    needs_confirmation,
    open_host,
    print_error,
    refused_because,
    request,
    warn,
)
from opsconsole.core import gunicorn
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import ConfigError
from opsconsole.core.format import format_bytes, short_duration
from opsconsole.core.host import (
    GunicornMaster,
    GunicornSnapshot,
    Host,
    HostError,
    OperationResult,
)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tree", help="gunicorn masters and their workers")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_tree)

    p = sub.add_parser(
        "scale",
        help="add or remove gunicorn workers (exit 0 converged, 1 not/refused, 2 error)",
        description="TARGET is a supervisor program name or a gunicorn master pid; COUNT is "
        "+N (add), -N (remove) or N (exact). Uses the control socket when the master has "
        "one, else TTIN/TTOU. The change lasts until the master restarts.",
    )
    p.add_argument("target", metavar="TARGET")
    p.add_argument("count", metavar="COUNT", help="+N, -N or N")
    p.add_argument("--wait", action="store_true", help="wait until the live count matches")
    p.add_argument("--server", help="which configured supervisord, when names collide")
    p.add_argument("--yes", "-y", action="store_true", help="confirm (scaling needs it)")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--parallel", action="store_true", help="with several --host: all at once, no gate"
    )
    p.set_defaults(handler=cmd_scale)

    p = sub.add_parser(
        "stack",
        help="a gunicorn worker's Python stack (py-spy dump), without killing it",
        description="PID is a gunicorn worker's pid (`opsconsole tree` lists them). py-spy "
        "(pip install opsconsole[debug]) stops the worker for a moment to read its stack, "
        "then lets it go on; it needs root or the worker's user with ptrace allowed. Exit 0 "
        "shown, 2 it could not be read (why, in words).",
    )
    p.add_argument("pid", metavar="PID")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_stack)


async def scan(config: AppConfig) -> GunicornSnapshot:
    """Every gunicorn master on this machine, CPU% included (it needs two samples)."""
    async with open_host(config) as host:
        return await scan_host(host)


async def scan_host(host: Host) -> GunicornSnapshot:
    """Every gunicorn master on ``host``, CPU% included (it needs two samples)."""
    await host.gunicorn()
    await asyncio.sleep(0.3)
    return await host.gunicorn()


def _warn(problems: Sequence[str]) -> None:
    warn(problems, "masters found without it are shown unattached")


def _duration(seconds: float | None) -> str:
    return short_duration(seconds) or "-"


def format_tree(masters: Sequence[GunicornMaster]) -> str:
    """The text tree: program → master → workers, flags as symbol + words."""
    if not masters:
        return "no gunicorn masters found on this machine"
    lines: list[str] = []
    for m in masters:
        owner = f"{m.program} [{m.server}]" if m.program else f"{m.name} (not under supervisor)"
        target = "?" if m.target is None else str(m.target)
        configured = "?" if m.configured is None else str(m.configured)
        lines.append(
            f"{owner}  master {m.pid}  {m.worker_class}  {', '.join(m.binds)}  "
            f"workers {m.live}/{target} (configured {configured})  up {_duration(m.uptime)}  "
            f"timeout {m.timeout_text}"
        )
        if "ctl-shared" in m.flags:
            ctl = f"ctl: shared path, not used ({m.control_socket}; signals)"
        else:
            ctl = f"control socket {m.control_socket}" if m.control_socket else "no control socket"
        extra = [ctl]
        if m.error_log:
            extra.append(f"error log {m.error_log}")
        lines.append("  " + "  ".join(extra))
        if m.flags:
            lines.append(f"  {gunicorn.flag_label(m.flags)}")
        for note in m.notes:
            lines.append(f"  ! {note}")
        for i, w in enumerate(m.workers):
            branch = "└─" if i == len(m.workers) - 1 else "├─"
            cpu = "-" if w.cpu_percent is None else f"{w.cpu_percent:.1f}%"
            beat = "-" if w.heartbeat_age is None else f"{w.heartbeat_age:.1f}s"
            flags = f"  {gunicorn.flag_label(w.flags)}" if w.flags else ""
            lines.append(
                f"  {branch} worker {w.pid:<7} up {_duration(w.age):<7} cpu {cpu:<6} "
                f"rss {format_bytes(w.rss) or '-':<7} thr {w.threads or '-':<3} "
                f"conn {w.connections if w.connections is not None else '-':<3} "
                f"heartbeat {beat}{flags}"
            )
    return "\n".join(lines)


def cmd_tree(args: argparse.Namespace, config: AppConfig) -> int:
    if hosts.is_fleet(config):
        return asyncio.run(_fleet_tree(args, config))
    snapshot = asyncio.run(scan(config))
    _warn(snapshot.problems)
    if args.json:
        print(json.dumps({"masters": [m.tree_json() for m in snapshot.masters]}, indent=2))
    else:
        print(format_tree(snapshot.masters))
    return 0


async def _fleet_tree(args: argparse.Namespace, config: AppConfig) -> int:
    """Every host's masters: a section per host, ``host`` in each JSON master."""
    answers = await hosts.read_all(config, scan_host)
    if args.json:
        masters = [
            {"host": a.name, **m.tree_json()}
            for a in answers
            if a.value is not None
            for m in a.value.masters
        ]
        failed = {a.name: hosts.error_json(a.error) for a in answers if a.error is not None}
        print(json.dumps({"masters": masters, "failed": failed}, indent=2))
    for answer in answers:
        if answer.value is None:
            continue
        _warn([f"{answer.name}: {p}" for p in answer.value.problems])
        if not args.json:
            print(f"== {answer.name}")
            print(format_tree(answer.value.masters))
    return hosts.say_failed(answers)


async def _scale(config: AppConfig, args: argparse.Namespace) -> OperationResult:
    async with open_host(config) as host:
        return await _scale_request(host, args)


async def _scale_request(host: Host, args: argparse.Namespace) -> OperationResult:
    parameters = {"count": args.count, "wait": args.wait}
    if args.server is not None:
        parameters["server"] = args.server
    return await request(host, "gunicorn.scale", args.target, parameters, confirmed=args.yes)


def cmd_scale(args: argparse.Namespace, config: AppConfig) -> int:
    try:
        gunicorn.parse_scale_spec(args.count)
    except gunicorn.GunicornError as exc:
        print_error(exc.message, exc.hint)
        return 2
    if hosts.is_fleet(config):
        gate = [] if args.target.isdigit() else [args.target]
        return asyncio.run(
            hosts.in_turn(
                config,
                lambda name, host: _scale_on(host, args),
                parallel=args.parallel,
                gate_programs=gate,
            )
        )
    return _scale_done(asyncio.run(_scale(config, args)), args)


async def _scale_on(host: Host, args: argparse.Namespace) -> int:
    return _scale_done(await _scale_request(host, args), args)


def _scale_done(result: OperationResult, args: argparse.Namespace) -> int:
    _warn(result.notes)
    if needs_confirmation(result):
        print(f"opsconsole: would {result.data.get('plan')}", file=sys.stderr)
        print("  scaling needs confirmation: add --yes", file=sys.stderr)
        return 2
    refusal = refused_because(result, "ReadOnlyError", "ScaleRefused")
    if refusal is not None:
        return _refused(refusal, args.json)
    if "converged" not in result.data:
        result.raise_error()  # no such master, the pid changed, ...: exit 2 in words
    _print_result(result.data, args.json)
    if result.data["converged"] is False:
        return 1
    return 0


def cmd_stack(args: argparse.Namespace, config: AppConfig) -> int:
    result = asyncio.run(_stack(config, args.pid))
    _warn(result.notes)
    result.raise_error()  # not a worker, no py-spy, no ptrace: exit 2 in words (ABRT offered)
    data = result.data
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    age = _duration(float(data["worker_age"]))
    flags = f"  {gunicorn.flag_label(data['worker_flags'])}" if data["worker_flags"] else ""
    print(f"worker {data['worker_pid']}  up {age}{flags}  of {data['master_label']}")
    print(str(data["text"]).rstrip("\n"))
    return 0


async def _stack(config: AppConfig, pid: str) -> OperationResult:
    if hosts.is_fleet(config):
        if len(config.hosts) != 1:
            names = ", ".join(h.name for h in config.hosts)
            given = f"{len(config.hosts)} are given ({names})"
            raise ConfigError(
                f"a worker's pid belongs to one host, and {given}",
                "give the one host the worker runs on: opsconsole stack PID --host HOST",
            )
        async with hosts.opened(config) as opened:
            return await request(opened[0][1], "gunicorn.stack", pid)
    async with open_host(config) as host:
        return await request(host, "gunicorn.stack", pid)


def _refused(error: HostError, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"refused": True, "message": error.message, "hint": error.hint}))
    else:
        print_error(error.message, error.hint)
    return 1


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    print(result["message"])
    if result["converged"] is None:
        print(f"live now {result['live']}; add --wait to wait until it reaches {result['target']}")
    print(f"undo: {result['undo']} --yes")
