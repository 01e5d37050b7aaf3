"""The ``opsconsole`` command: the TUI by default, subcommands for scripting.

Exit codes of ``status``: 0 all as expected, 1 a program is FATAL, BACKOFF or unexpectedly
EXITED, 2 supervisord unreachable (usable as a monitoring check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opsconsole import __version__
from opsconsole.core.actions import ActionGate, default_audit_path
from opsconsole.core.config import AppConfig, build_config
from opsconsole.core.errors import ConfirmationRequired, OpsError
from opsconsole.core.supervisor import (
    BAD_STATES,
    ProcessInfo,
    ProcessState,
    SupervisorClient,
    SupervisorError,
    format_duration,
    perform,
)

_GLOBALS_TITLE = "connection and behaviour (also settable in config.toml; anywhere on the line)"
_APPENDED_GLOBALS = ("supervisor_url",)


def _common(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """The global options. A subcommand's copy has no defaults (``SUPPRESS``), so a value
    given before the subcommand is kept when the same option is not repeated after it."""

    def default(value: Any = None) -> Any:
        return argparse.SUPPRESS if sub else value

    g = parser.add_argument_group(_GLOBALS_TITLE)
    g.add_argument(
        "--config", metavar="FILE", default=default(), help="opsconsole TOML config file"
    )
    g.add_argument(
        "-c",
        "--supervisor-config",
        metavar="FILE",
        default=default(),
        help="supervisord.conf to read",
    )
    g.add_argument(
        "--supervisor-url",
        action="append",
        metavar="URL",
        default=default(),
        help="unix:///path/supervisor.sock or http://host:port (repeat for several)",
    )
    g.add_argument(
        "--user",
        default=default(),
        help="supervisord username (password: config or OPSCONSOLE_SUPERVISOR_PASSWORD)",
    )
    g.add_argument("--read-only", action="store_true", default=default(), help="monitoring only")
    g.add_argument("--theme", default=default(), help="theme name (see themes/)")
    g.add_argument(
        "--refresh", type=float, default=default(), help="refresh interval in seconds (default 1)"
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=default(),
        help="supervisord call timeout in seconds (default 5)",
    )


class _SubcommandsAction(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subcommands whose repeatable global options add to those given before them
    (``--supervisor-url A status --supervisor-url B`` means both), not replace them."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        before = {key: getattr(namespace, key, None) for key in _APPENDED_GLOBALS}
        super().__call__(parser, namespace, values, option_string)
        for key, earlier in before.items():
            later = getattr(namespace, key, None)
            if earlier and later is not earlier:
                setattr(namespace, key, [*earlier, *(later or [])])


class _Parser(argparse.ArgumentParser):
    """The parser class of ``opsconsole`` and (by inheritance) of every subcommand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _SubcommandsAction)


def _subcommand_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every subcommand parser below ``parser``, nested ones (``nginx test``) included."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to one parser
                found += [child, *_subcommand_parsers(child)]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="opsconsole",
        description="Keyboard-driven console for Nginx -> Gunicorn -> Supervisor stacks.",
    )
    parser.add_argument("--version", action="version", version=f"opsconsole {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("tui", help="open the console (the default)")
    p = sub.add_parser("demo", help="start a real local stack and open the console on it")
    p.add_argument(
        "--keep", action="store_true", help="leave the stack running; print how to use it"
    )
    p.add_argument("--stop", metavar="DIR", help="stop a stack left running by --keep")
    p.add_argument("--no-nginx", action="store_true", help="run the demo without nginx")

    p = sub.add_parser("status", help="program states (exit 0 ok, 1 trouble, 2 unreachable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    for verb in ("start", "stop", "restart"):
        p = sub.add_parser(verb, help=f"{verb} NAME, group:* or all")
        p.add_argument("names", nargs="+", metavar="NAME")
        p.add_argument("--server", help="which configured supervisord (default: the first)")
        p.add_argument("--yes", "-y", action="store_true", help="confirm (needed for stop/restart)")
        p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "update", help="reread supervisord's config and apply it (supervisorctl update)"
    )
    p.add_argument("--dry-run", action="store_true", help="only show what would change")
    p.add_argument("--server")
    p.add_argument("--yes", "-y", action="store_true")
    p.add_argument("--json", action="store_true")

    # Backends add their own subcommands; each sets ``handler(args, config) -> exit code``.
    for module in _backend_cli_modules():
        module.add_parsers(sub)
    # The global options work anywhere on the line: after a subcommand as well as before it.
    for subparser in _subcommand_parsers(parser):
        _common(subparser, sub=True)
    return parser


def _backend_cli_modules() -> list[Any]:
    from opsconsole.cli import gunicorn, logs, nginx

    return [gunicorn, nginx, logs]


def config_from_args(args: argparse.Namespace) -> AppConfig:
    return build_config(
        config_file=args.config,
        supervisor_conf=args.supervisor_config,
        supervisor_urls=args.supervisor_url,
        user=args.user,
        read_only=args.read_only,
        theme=args.theme,
        refresh=args.refresh,
        timeout=args.timeout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A reader that goes away (``| head``) ends any command quietly, as it
    ends ps or grep: no traceback, and the status of a process ended by SIGPIPE (141)."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # the last output fails here, not in the interpreter's exit
    except BrokenPipeError:
        try:  # later writes, and the flush at exit, go nowhere instead of failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 128 + signal.SIGPIPE
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "tui"
    try:
        if command == "demo":
            return run_demo(args)
        config = config_from_args(args)
        if command == "tui":
            return run_tui(config)
        if command == "status":
            return asyncio.run(cmd_status(config, args.json))
        if command in ("start", "stop", "restart"):
            return asyncio.run(cmd_verb(config, command, args))
        if command == "update":
            return asyncio.run(cmd_update(config, args))
        handler = getattr(args, "handler", None)
        if handler is not None:
            return int(handler(args, config))
    except OpsError as exc:
        print(f"opsconsole: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {command}")
    return 2  # pragma: no cover


def run_tui(config: AppConfig) -> int:
    from opsconsole.tui.app import OpsConsoleApp

    app = OpsConsoleApp(config)
    _exit_on_signals(app)
    app.run()
    return 0


def _exit_on_signals(app: Any) -> None:
    """SIGTERM and SIGHUP (a dropped SSH session) end the app the way ``q`` does."""

    def handler(signum: int, frame: Any) -> None:
        try:
            app.exit()
        except Exception:
            raise SystemExit(128 + signum) from None

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


# --------------------------------------------------------------------------- demo


def run_demo(args: argparse.Namespace) -> int:
    from opsconsole.demo.stack import DemoStack, StackError, teardown

    if args.stop:
        directory = Path(args.stop)
        if not (directory / "supervisord.conf").exists():
            print(f"opsconsole: {directory} is not a demo stack directory", file=sys.stderr)
            return 2
        teardown(directory)
        print(f"stopped the demo stack in {directory} and removed it")
        return 0
    stack = DemoStack(with_nginx=not args.no_nginx)
    print("starting the demo stack (supervisord, gunicorn web and api, nginx) ...", flush=True)
    try:
        stack.start()
    except StackError as exc:
        print(f"opsconsole: the demo stack did not start: {exc}", file=sys.stderr)
        return 2
    if not stack.nginx_bin and not args.no_nginx:
        print(
            "note: nginx is not installed, so the demo runs without it.\n"
            "      install it with: sudo apt-get install nginx-light",
            file=sys.stderr,
        )
    if args.keep:
        print(stack.describe())
        print(f"\nconnect:  opsconsole -c {stack.conf_path}")
        print(f"stop:     opsconsole demo --stop {stack.dir}")
        return 0
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "opsconsole.demo.watchdog", str(os.getpid()), str(stack.dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        config = build_config(
            config_file=args.config,
            supervisor_conf=str(stack.conf_path),
            read_only=args.read_only,
            theme=args.theme,
            refresh=args.refresh,
            timeout=args.timeout,
        )
        config.supervisors[0].name = "demo"
        return run_tui(config)
    finally:
        # The terminal may be gone (a dropped SSH session): nothing below may depend on it.
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        _say("stopping the demo stack ...")
        try:
            stack.stop()
        finally:
            watchdog.kill()
            watchdog.wait()
        _say("demo stack stopped; nothing left running.")


def _say(text: str) -> None:
    """Print to a terminal that may have disappeared (EIO, EPIPE): never raise."""
    try:
        print(text, flush=True)
    except OSError:
        pass


# --------------------------------------------------------------------------- status


def _trouble(p: ProcessInfo, exitcodes: dict[str, list[int]]) -> bool:
    if p.state in BAD_STATES:
        return True
    if p.state == ProcessState.EXITED:
        return p.exitstatus not in exitcodes.get(p.fullname, [0])
    return False


async def _exitcodes(client: SupervisorClient) -> dict[str, list[int]]:
    try:
        infos = await client.get_all_config_info()
    except SupervisorError:
        return {}
    out = {}
    for info in infos:
        name, group = str(info.get("name")), str(info.get("group"))
        full = name if name == group else f"{group}:{name}"
        out[full] = [int(c) for c in info.get("exitcodes", [0])]
    return out


async def cmd_status(config: AppConfig, as_json: bool) -> int:
    worst = 0
    report: list[dict[str, Any]] = []
    for target in config.supervisors:
        async with SupervisorClient(target, timeout=config.timeout, read_only=True) as client:
            try:
                procs = await client.get_all_process_info()
                codes = await _exitcodes(client)
            except SupervisorError as exc:
                worst = 2
                report.append(
                    {
                        "server": target.name,
                        "url": target.url,
                        "reachable": False,
                        "error": exc.message,
                        "hint": exc.hint,
                        "programs": [],
                    }
                )
                continue
        rows = []
        for p in procs:
            bad = _trouble(p, codes)
            if bad:
                worst = max(worst, 1)
            rows.append(
                {
                    "name": p.fullname,
                    "group": p.group,
                    "state": p.statename,
                    "pid": p.pid,
                    "uptime": p.uptime,
                    "description": p.description,
                    "spawnerr": p.spawnerr,
                    "exitstatus": p.exitstatus,
                    "trouble": bad,
                }
            )
        report.append(
            {"server": target.name, "url": target.url, "reachable": True, "programs": rows}
        )
    if as_json:
        print(json.dumps({"exit": worst, "servers": report}, indent=2))
        return worst
    for server in report:
        if len(report) > 1:
            print(f"[{server['server']}] {server['url']}")
        if not server["reachable"]:
            print(f"UNREACHABLE  {server['error']}\n  {server['hint']}")
            continue
        for row in server["programs"]:
            extra = row["spawnerr"] or row["description"]
            flag = "!" if row["trouble"] else " "
            up = format_duration(row["uptime"])
            print(
                f"{flag}{row['name']:<28} {row['state']:<9} {row['pid'] or '':>7} {up:>10}  {extra}"
            )
    return worst


def _pick_server(config: AppConfig, name: str | None) -> Any:
    if name is None:
        return config.supervisors[0]
    for target in config.supervisors:
        if target.name == name:
            return target
    raise OpsError(
        f"no supervisord named {name} is configured",
        f"configured: {', '.join(t.name for t in config.supervisors)}",
    )


def _gate(config: AppConfig) -> ActionGate:
    return ActionGate(read_only=config.read_only, audit_path=default_audit_path())


async def cmd_verb(config: AppConfig, verb: str, args: argparse.Namespace) -> int:
    target = _pick_server(config, args.server)
    gate = _gate(config)
    label = " ".join(args.names)
    async with SupervisorClient(
        target, timeout=config.timeout, read_only=config.read_only
    ) as client:
        try:
            results = await gate.run(
                f"supervisor.{verb}",
                label,
                lambda: perform(client, verb, args.names),
                params={"server": target.name},
                confirmed=args.yes,
            )
        except ConfirmationRequired:
            print(f"opsconsole: {verb} {label} needs confirmation: add --yes", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    else:
        for r in results:
            print(("ok    " if r.ok else "FAIL  ") + r.message)
    return 0 if all(r.ok for r in results) else 1


async def cmd_update(config: AppConfig, args: argparse.Namespace) -> int:
    target = _pick_server(config, args.server)
    gate = _gate(config)
    async with SupervisorClient(
        target, timeout=config.timeout, read_only=config.read_only
    ) as client:
        diff = await gate.run("supervisor.reread", target.name, client.reread)
        summary = {"added": diff.added, "changed": diff.changed, "removed": diff.removed}
        if args.dry_run or diff.empty:
            if args.json:
                print(json.dumps({**summary, "applied": False}, indent=2))
            else:
                for word, names in summary.items():
                    for n in names:
                        print(f"{word:<8} {n}")
                if diff.empty:
                    print("no config changes")
            return 0
        try:
            done = await gate.run(
                "supervisor.update",
                target.name,
                lambda: client.apply_update(diff),
                params=summary,
                confirmed=args.yes,
            )
        except ConfirmationRequired:
            for word, names in summary.items():
                for n in names:
                    print(f"{word:<8} {n}")
            print("opsconsole: applying needs confirmation: add --yes", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps({**summary, "applied": True, "done": done}, indent=2))
    else:
        print("\n".join(done))
    return 0
