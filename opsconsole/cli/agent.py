"""opsconsole agent: serve this host to one console as JSON lines on stdin/stdout.

A console starts it (over ssh: ssh HOST -- opsconsole agent) and talks to it; it ends when its
stdin closes. It reads the same config as any command here (-c supervisord.conf,
--supervisor-url, --user, --config). With --read-only it refuses every mutating request on its
own, whatever the console asks. The supervisord password never comes from the console on its
command line or in its environment: it arrives inside the protocol, after the handshake.
Every request it runs is audited here, naming the ssh user and the console.
"""

from __future__ import annotations

import argparse
import asyncio

from opsconsole.core.config import AppConfig


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "agent",
        help="serve this host to a console as JSON lines on stdin/stdout (what ssh runs)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(handler=run_agent)


def run_agent(args: argparse.Namespace, config: AppConfig) -> int:
    from opsconsole.core.agent import serve_stdio

    return asyncio.run(serve_stdio(config))
