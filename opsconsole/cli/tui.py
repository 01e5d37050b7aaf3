"""``opsconsole`` (``tui``) and ``opsconsole demo``: the console, on a configured stack or on
a real local demo stack that is torn down when the console ends, however it ends."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from opsconsole.core.config import AppConfig, build_config


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("tui", help="open the console (the default)")
    p = sub.add_parser("demo", help="start a real local stack and open the console on it")
    p.add_argument(
        "--keep", action="store_true", help="leave the stack running; print how to use it"
    )
    p.add_argument("--stop", metavar="DIR", help="stop a stack left running by --keep")
    p.add_argument("--no-nginx", action="store_true", help="run the demo without nginx")
    p.add_argument(
        "--hosts",
        type=int,
        metavar="N",
        help="a fleet: N demo stacks, each reached over ssh through a real local sshd",
    )


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
    from opsconsole.demo.fleet import is_fleet_dir, run_fleet_demo, teardown_fleet
    from opsconsole.demo.stack import DemoStack, StackError, teardown
    from opsconsole.demo.watchdog import guarding

    if args.hosts is not None:
        return run_fleet_demo(args)
    if args.stop and is_fleet_dir(Path(args.stop)):
        teardown_fleet(Path(args.stop))
        print(f"stopped the demo fleet in {args.stop} and removed it")
        return 0
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
    with guarding(stack.dir):
        return _demo_console(args, stack)


def _demo_console(args: argparse.Namespace, stack: Any) -> int:
    """The console on a started demo stack; the stack stopped however it ends."""
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
        stack.stop()
        _say("demo stack stopped; nothing left running.")


def _say(text: str) -> None:
    """Print to a terminal that may have disappeared (EIO, EPIPE): never raise."""
    try:
        print(text, flush=True)
    except OSError:
        pass
