"""The ``opsconsole`` command: the TUI by default, subcommands for scripting.

One module per subcommand family (``status``: programs and their verbs, ``gunicorn``,
``nginx``, ``logs``, ``tui``: the console and the demo); each adds its parsers and sets
``handler(args, config) -> exit code``. Every command reads and acts through a
:class:`~opsconsole.core.local.LocalHost` (:mod:`opsconsole.cli.common`). The global options
work anywhere on the line, and a reader that goes away (``| head``) ends any command quietly.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from opsconsole import __version__
from opsconsole.cli.tui import run_demo, run_tui
from opsconsole.core.config import AppConfig, build_config
from opsconsole.core.errors import OpsError

__all__ = ["build_parser", "config_from_args", "main"]

_GLOBALS_TITLE = "connection and behaviour (also settable in config.toml; anywhere on the line)"
_APPENDED_GLOBALS = ("supervisor_url", "host")


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
    g.add_argument(
        "--host",
        action="append",
        metavar="DEST",
        default=default(),
        help="a host to work on (repeat for several): a [[host]] name, an ssh_config alias, "
        "user@host, ssh://user@host:port, or local (this machine)",
    )
    g.add_argument(
        "--agent",
        metavar="CMD",
        default=default(),
        help="command run on each --host over ssh (default: opsconsole agent)",
    )
    g.add_argument(
        "--ssh-config", metavar="FILE", default=default(), help="ssh -F FILE for every host"
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

    # Each family adds its own subcommands; each sets ``handler(args, config) -> exit code``.
    for module in _cli_modules():
        module.add_parsers(sub)
    # The global options work anywhere on the line: after a subcommand as well as before it.
    for subparser in _subcommand_parsers(parser):
        _common(subparser, sub=True)
    return parser


def _cli_modules() -> list[Any]:
    from opsconsole.cli import agent, exporter, gunicorn, logs, nginx, status, tui, watch

    return [tui, status, gunicorn, nginx, logs, exporter, watch, agent]


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
        hosts=getattr(args, "host", None),
        agent=getattr(args, "agent", None),
        ssh_config=getattr(args, "ssh_config", None),
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
        handler = getattr(args, "handler", None)
        if handler is not None:
            from opsconsole.cli.hosts import refuse_unless_over_hosts

            sub = getattr(args, "nginx_command", None)
            refuse_unless_over_hosts(f"{command} {sub}" if sub else command, config)
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
