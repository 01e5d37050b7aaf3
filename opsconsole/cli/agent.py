"""opsconsole agent: serve this host to one console as JSON lines on stdin/stdout.

A console starts it (over ssh: ssh HOST -- opsconsole agent) and talks to it; it ends when its
stdin closes. It reads the same config as any command here (-c supervisord.conf,
--supervisor-url, --user, --config); --nginx-bin and --nginx-conf name this host's nginx (a
[[host]] entry's nginx_bin / nginx_conf on the console's side). With --read-only it refuses
every mutating request on its own, whatever the console asks. The supervisord password never
comes from the console on its command line or in its environment: it arrives inside the
protocol, after the handshake.
Every request it runs is audited here, naming the ssh user and the console.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace

from opsconsole.core.config import AppConfig, NginxSettings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "agent",
        help="serve this host to a console as JSON lines on stdin/stdout (what ssh runs)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--nginx-bin", metavar="PATH", help="nginx binary (default: discovered)")
    p.add_argument(
        "--nginx-conf",
        metavar="FILE",
        help="nginx.conf of the nginx to serve (default: discovered)",
    )
    p.set_defaults(handler=run_agent)


def run_agent(args: argparse.Namespace, config: AppConfig) -> int:
    from opsconsole.core.agent import serve_stdio

    nginx = NginxSettings(
        binary=args.nginx_bin or config.nginx.binary,
        config=args.nginx_conf or config.nginx.config,
    )
    return asyncio.run(serve_stdio(replace(config, nginx=nginx)))
