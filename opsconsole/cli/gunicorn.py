"""``opsconsole tree`` and ``opsconsole scale``: gunicorn masters and workers from the shell.

Exit codes of ``scale``: 0 done (converged with ``--wait``), 1 not converged or refused
(read-only, below 1 worker), 2 error (unknown target, unreachable, missing ``--yes``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from opsconsole.core import gunicorn
from opsconsole.core.actions import ActionGate, default_audit_path
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import ConfirmationRequired, OpsError, ReadOnlyError
from opsconsole.core.procs import format_bytes, short_duration
from opsconsole.core.supervisor import ProcessInfo, SupervisorClient, SupervisorError


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
    p.set_defaults(handler=cmd_scale)


async def _programs_async(config: AppConfig) -> tuple[list[ProcessInfo], list[str]]:
    programs: list[ProcessInfo] = []
    problems: list[str] = []
    for target in config.supervisors:
        async with SupervisorClient(target, timeout=config.timeout, read_only=True) as client:
            if not client.is_local:
                continue  # its pids are another machine's
            try:
                programs += await client.get_all_process_info()
            except SupervisorError as exc:
                problems.append(f"supervisord {target.name}: {exc.message}")
    return programs, problems


def programs_of(config: AppConfig) -> tuple[list[ProcessInfo], list[str]]:
    """Programs of every configured local supervisord, and why some could not be read."""
    return asyncio.run(_programs_async(config))


def _warn(problems: list[str]) -> None:
    for text in problems:
        print(
            f"opsconsole: {text} (masters found without it are shown unattached)", file=sys.stderr
        )


def scan(config: AppConfig) -> tuple[list[gunicorn.Master], list[str]]:
    programs, problems = programs_of(config)
    scanner = gunicorn.GunicornScanner()
    scanner.scan(programs)
    time.sleep(0.3)  # CPU% needs two samples
    return scanner.scan(programs), problems


def _duration(seconds: float | None) -> str:
    return short_duration(seconds) or "-"


def format_tree(masters: list[gunicorn.Master]) -> str:
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
    masters, problems = scan(config)
    _warn(problems)
    if args.json:
        print(json.dumps({"masters": [m.to_json() for m in masters]}, indent=2))
    else:
        print(format_tree(masters))
    return 0


def cmd_scale(args: argparse.Namespace, config: AppConfig) -> int:
    try:
        spec = gunicorn.parse_scale_spec(args.count)
    except gunicorn.GunicornError as exc:
        print(f"opsconsole: {exc.message}\n  {exc.hint}", file=sys.stderr)
        return 2
    programs, problems = programs_of(config)
    _warn(problems)
    scanner = gunicorn.GunicornScanner()
    master = gunicorn.find_master(scanner.scan(programs), args.target, args.server)
    gate = ActionGate(read_only=config.read_only, audit_path=default_audit_path())
    label = master.label
    try:
        plan = gunicorn.plan_scale(master, spec)
    except gunicorn.ScaleRefused as exc:
        return _refused(exc, args.json)

    def run() -> gunicorn.ScaleResult:
        return gunicorn.scale(master, spec, scanner=scanner, wait=args.wait)

    try:
        result = asyncio.run(
            gate.run(
                "gunicorn.scale",
                label,
                lambda: asyncio.to_thread(run),
                params={"count": args.count, "plan": plan.description},
                confirmed=args.yes,
            )
        )
    except ConfirmationRequired:
        print(f"opsconsole: would {plan.description}", file=sys.stderr)
        print("  scaling needs confirmation: add --yes", file=sys.stderr)
        return 2
    except (ReadOnlyError, gunicorn.ScaleRefused) as exc:
        return _refused(exc, args.json)
    _print_result(result, args.json)
    if result.converged is False:
        return 1
    return 0


def _refused(exc: OpsError, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"refused": True, "message": exc.message, "hint": exc.hint}))
    else:
        print(f"opsconsole: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  {exc.hint}", file=sys.stderr)
    return 1


def _print_result(result: gunicorn.ScaleResult, as_json: bool) -> None:
    if as_json:
        data: dict[str, Any] = dict(result.__dict__)
        print(json.dumps(data, indent=2))
        return
    print(result.message)
    if result.converged is None:
        print(f"live now {result.live}; add --wait to wait until it reaches {result.target}")
    print(f"undo: {result.undo} --yes")
