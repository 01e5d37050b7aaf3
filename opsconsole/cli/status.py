"""``opsconsole status``, ``start``/``stop``/``restart`` and ``update``: supervisor programs.

Exit codes of ``status``: 0 all as expected, 1 a program is FATAL, BACKOFF or unexpectedly
EXITED, 2 supervisord unreachable (usable as a monitoring check). The verbs (``start``,
``stop``, ``restart``, ``signal``): 0 done, 1 a program failed, 2 an error before anything
ran (unknown server, read-only, missing --yes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from opsconsole.cli import hosts, rolling
from opsconsole.cli.common import needs_confirmation, open_host, request
from opsconsole.core.config import AppConfig
from opsconsole.core.format import format_duration
from opsconsole.core.host import Host, ProgramsSnapshot
from opsconsole.core.update_preview import preview_update


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="program states (exit 0 ok, 1 trouble, 2 unreachable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=lambda args, config: asyncio.run(cmd_status(config, args.json)))

    for verb in ("start", "stop", "restart"):
        p = sub.add_parser(verb, help=f"{verb} NAME, group:* or all")
        p.add_argument("names", nargs="+", metavar="NAME")
        p.add_argument("--server", help="which configured supervisord (default: the first)")
        p.add_argument("--yes", "-y", action="store_true", help="confirm (needed for stop/restart)")
        p.add_argument("--json", action="store_true")
        _parallel(p)
        if verb == "restart":
            p.add_argument(
                "--rolling",
                action="store_true",
                help="one at a time, each RUNNING for its startsecs (>= 2 s) with its probes "
                "green before the next; stops at the first failure (exit 1)",
            )
        p.set_defaults(handler=_verb_handler(verb))

    p = sub.add_parser("signal", help="send SIGNAL to NAME, group:* or all (supervisorctl signal)")
    p.add_argument("signal", metavar="SIGNAL", help="a signal name or number: HUP, USR1, 15")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--server", help="which configured supervisord (default: the first)")
    p.add_argument("--yes", "-y", action="store_true", help="confirm (signals need it)")
    p.add_argument("--json", action="store_true")
    _parallel(p)
    p.set_defaults(handler=_verb_handler("signal"))

    p = sub.add_parser(
        "update", help="reread supervisord's config and apply it (supervisorctl update)"
    )
    p.add_argument("--dry-run", action="store_true", help="only show what would change")
    p.add_argument("--group", action="append", help="apply only this group (repeat for several)")
    p.add_argument("--server")
    p.add_argument("--yes", "-y", action="store_true")
    p.add_argument("--json", action="store_true")
    _parallel(p)
    p.set_defaults(handler=lambda args, config: asyncio.run(cmd_update(config, args)))


def _parallel(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--parallel",
        action="store_true",
        help="with several --host: all hosts at once (default: one at a time, stopping at the "
        "first failure, each host healthy again before the next)",
    )


def _verb_handler(verb: str) -> Any:
    return lambda args, config: asyncio.run(cmd_verb(config, verb, args))


async def cmd_status(config: AppConfig, as_json: bool) -> int:
    if hosts.is_fleet(config):
        return await _fleet_status(config, as_json)
    async with open_host(config) as host:
        snapshot = await host.programs()
    worst, report = _report(snapshot)
    if as_json:
        print(json.dumps({"exit": worst, "servers": report}, indent=2))
        return worst
    _print_report(report)
    return worst


async def _fleet_status(config: AppConfig, as_json: bool) -> int:
    """Every host's supervisords, each row labelled with its host (a HOST column when there
    are several; ``host`` in each JSON entry). A host that cannot be reached is an entry
    that says why, and exit 2."""
    answers = await hosts.read_all(config, lambda host: host.programs())
    worst = 0
    report: list[dict[str, Any]] = []
    for answer in answers:
        if answer.error is not None:
            worst = 2
            report.append(
                {
                    "host": answer.name,
                    "server": None,
                    "url": None,
                    "reachable": False,
                    "error": answer.error.message,
                    "hint": answer.error.hint,
                    "kind": type(answer.error).__name__,
                    "programs": [],
                }
            )
            continue
        code, entries = _report(answer.value)
        worst = max(worst, code)
        report += [{"host": answer.name, **entry} for entry in entries]
    if as_json:
        print(json.dumps({"exit": worst, "servers": report}, indent=2))
        return worst
    _print_report(report, host_column=len(answers) > 1)
    return worst


def _report(snapshot: ProgramsSnapshot) -> tuple[int, list[dict[str, Any]]]:
    """The exit code and one entry per supervisord (its programs as rows)."""
    worst = 0
    report: list[dict[str, Any]] = []
    for server in snapshot.servers:
        if not server.reachable:
            worst = 2
            error = server.error
            report.append(
                {
                    "server": server.name,
                    "url": server.url,
                    "reachable": False,
                    "error": error.message if error else server.status,
                    "hint": error.hint if error else "",
                    "programs": [],
                }
            )
            continue
        rows = []
        for p in server.programs:
            if p.trouble:
                worst = max(worst, 1)
            rows.append(
                {
                    "name": p.fullname,
                    "group": p.group,
                    "state": p.state,
                    "pid": p.pid,
                    "uptime": p.uptime_at(snapshot.at),
                    "description": p.description,
                    "spawnerr": p.spawnerr,
                    "exitstatus": p.exitstatus,
                    "trouble": p.trouble,
                }
            )
        report.append(
            {"server": server.name, "url": server.url, "reachable": True, "programs": rows}
        )
    return worst, report


def _print_report(report: list[dict[str, Any]], *, host_column: bool = False) -> None:
    width = max([len(str(e.get("host") or "")) for e in report] + [4])
    if host_column:
        print(f" {'HOST':<{width}} {'PROGRAM':<28} {'STATE':<9} {'PID':>7} {'UPTIME':>10}")
    # A [server] line when a host has several supervisords (as without hosts).
    per_host = [e.get("host") for e in report if e["server"] is not None]
    several = any(per_host.count(h) > 1 for h in per_host)
    for entry in report:
        host = f"{entry.get('host') or '':<{width}} " if host_column else ""
        if several and entry["server"] is not None:
            where = f"{entry['host']}/" if host_column else ""
            print(f"[{where}{entry['server']}] {entry['url']}")
        if not entry["reachable"]:
            print(f"{' ' if host_column else ''}{host}UNREACHABLE  {entry['error']}")
            print(f"  {entry['hint']}")
            continue
        for row in entry["programs"]:
            extra = row["spawnerr"] or row["description"]
            flag = "!" if row["trouble"] else " "
            up = format_duration(row["uptime"])
            print(
                f"{flag}{host}{row['name']:<28} {row['state']:<9} {row['pid'] or '':>7} "
                f"{up:>10}  {extra}"
            )


def _server(args: argparse.Namespace) -> dict[str, Any]:
    return {} if args.server is None else {"server": args.server}


async def cmd_verb(config: AppConfig, verb: str, args: argparse.Namespace) -> int:
    if getattr(args, "rolling", False):
        return await rolling.cmd_rolling(config, args)
    if hosts.is_fleet(config):
        return await hosts.in_turn(
            config,
            lambda name, host: _verb_on(host, verb, args),
            parallel=args.parallel,
            gate=verb != "stop",
            gate_programs=list(args.names),
        )
    async with open_host(config) as host:
        return await _verb_on(host, verb, args)


async def _verb_on(host: Host, verb: str, args: argparse.Namespace) -> int:
    label = " ".join(args.names)
    parameters = {**_server(args), "names": list(args.names)}
    if verb == "signal":
        parameters["signal"] = args.signal.upper().removeprefix("SIG")
    result = await request(host, f"supervisor.{verb}", label, parameters, confirmed=args.yes)
    if needs_confirmation(result):
        print(f"opsconsole: {verb} {label} needs confirmation: add --yes", file=sys.stderr)
        return 2
    if not result.items:
        result.raise_error()  # read-only, unknown server, unreachable: exit 2 in words
    if args.json:
        print(json.dumps([item.to_json() for item in result.items], indent=2))
    else:
        for item in result.items:
            print(("ok    " if item.ok else "FAIL  ") + item.message)
    return 0 if result.ok else 1


async def cmd_update(config: AppConfig, args: argparse.Namespace) -> int:
    if hosts.is_fleet(config):  # each host's preview; applied one host at a time
        from opsconsole.cli.fleet_update import fleet_update

        return await fleet_update(config, args)
    async with open_host(config) as host:
        reread = await request(host, "supervisor.reread", "", _server(args))
        reread.raise_error()
        summary = {k: list(reread.data.get(k) or []) for k in ("added", "changed", "removed")}
        if args.group:  # one group at a time: the others stay as they are, for a later update
            unchanged = set(args.group) - {g for v in summary.values() for g in v}
            if unchanged:
                print(
                    f"opsconsole: no config change for {', '.join(sorted(unchanged))}",
                    file=sys.stderr,
                )
                return 2
            summary = {k: [g for g in v if g in args.group] for k, v in summary.items()}
        preview = preview_update(summary, await host.supervisord(reread.target))
        empty = not any(summary.values())
        if args.dry_run or empty:
            if args.json:
                print(
                    json.dumps(
                        {**summary, "applied": False, "preview": rolling.preview_json(preview)},
                        indent=2,
                    )
                )
            else:
                _print_summary(summary)
                rolling.print_preview(preview)
                if empty:
                    print("no config changes")
            return 0
        applied = await request(
            host,
            "supervisor.update",
            reread.target,
            {**_server(args), **summary},
            confirmed=args.yes,
        )
    if needs_confirmation(applied):
        _print_summary(summary)
        rolling.print_preview(preview)
        print("opsconsole: applying needs confirmation: add --yes", file=sys.stderr)
        return 2
    applied.raise_error()
    done = list(applied.data.get("done") or [])
    if args.json:
        print(json.dumps({**summary, "applied": True, "done": done}, indent=2))
    else:
        print("\n".join(done))
    return 0


def _print_summary(summary: dict[str, list[str]]) -> None:
    for word, names in summary.items():
        for n in names:
            print(f"{word:<8} {n}")
