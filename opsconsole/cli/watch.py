"""``opsconsole watch``: the ``[[alert]]`` rules, headless.

It reads the host on the console's intervals (programs, gunicorn and nginx every refresh,
probes every 2 s, ``nginx -T`` every 30 s) and sends each alert as the TUI does: one when an
incident opens, one when it recovers. One line per alert on stderr. Read-only: it never acts
on anything. SIGTERM or SIGINT end it cleanly (deliveries under way are given a few seconds).
Made to run as a supervisor program or a systemd unit of its own (see contrib/).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from dataclasses import replace

from opsconsole.cli import hosts as fleet
from opsconsole.cli.common import open_host, print_error
from opsconsole.core.alerts import AlertManager, parse_rules
from opsconsole.core.config import AppConfig
from opsconsole.core.host import Host
from opsconsole.core.metrics.poll import Poller


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "watch",
        help="send the [[alert]] alerts, headless (for a supervisor program or systemd unit)",
        description="Evaluate the [[alert]] rules of the config on the console's intervals "
        "and send one alert per incident and one on recovery. One line per alert on "
        "stderr. Read-only. Ends cleanly on SIGTERM.",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=0,
        metavar="N",
        help="stop after N rounds (default: run until SIGTERM)",
    )
    p.set_defaults(handler=cmd_watch)


def _stderr(level: str, subject: str, text: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    print(f"{stamp} opsconsole watch: {level}: {subject}: {text}", file=sys.stderr, flush=True)


def cmd_watch(args: argparse.Namespace, config: AppConfig) -> int:
    if not config.alerts:
        print_error(
            "no [[alert]] in the config: nothing to watch for",
            'add [[alert]] with command = [...] or webhook = "..." to the config file '
            "(see the README: opsconsole watch)",
        )
        return 2
    rules = parse_rules(config.alerts, str(config.config_path or "config"))
    manager = AlertManager(rules, _stderr, qualify=fleet.is_fleet(config))
    return asyncio.run(watch(replace(config, read_only=True), manager, args))


async def watch(config: AppConfig, manager: AlertManager, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    rules = ", ".join(f"{r.name} → {r.where}" for r in manager.rules)
    _stderr("info", "watch", f"started (read-only): {rules}")
    rounds = 0
    said: dict[tuple[str, str], str] = {}
    if fleet.is_fleet(config):  # --host / [[host]]: every host, each alert names its host
        hosts: list[Host] = [fleet.open_one(config, settings) for settings in config.hosts]
    else:
        hosts = [open_host(config)]
    pollers = [Poller(h, interval=config.refresh, timeout=max(config.timeout, 5.0)) for h in hosts]
    try:
        while not stop.is_set():
            await asyncio.gather(*(p.refresh() for p in pollers))
            for poller in pollers:
                for part in poller.parts:  # say when a part starts or stops failing
                    key = (poller.host.name, part.name)
                    if part.error != said.get(key, ""):
                        where = f"{poller.host.name} {part.name}" if len(hosts) > 1 else part.name
                        if part.error:
                            _stderr("warning", where, f"cannot read: {part.error}")
                        else:
                            _stderr("info", where, "read again")
                        said[key] = part.error
                manager.evaluate(poller)
            rounds += 1
            if args.rounds and rounds >= args.rounds:
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=config.refresh)
            except asyncio.TimeoutError:
                pass
        await manager.drain()
    finally:
        await asyncio.gather(*(h.aclose() for h in hosts), return_exceptions=True)
    _stderr("info", "watch", "stopped")
    return 0
