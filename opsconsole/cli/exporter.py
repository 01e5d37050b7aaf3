"""``opsconsole exporter``: a Prometheus endpoint for the host (read-only by construction).

The exporter always runs with the read-only gate on, whatever the config says: it reads, it
never acts. It listens on loopback unless told otherwise (``--listen ADDR:PORT``); the series
are in :mod:`opsconsole.core.metrics.families` and in the README's table.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from opsconsole.cli import hosts as fleet
from opsconsole.cli.common import open_host, print_error
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import ConfigError
from opsconsole.core.host import Host
from opsconsole.core.metrics.exporter import Exporter

DEFAULT_LISTEN = "127.0.0.1:9818"
#: seconds between two reads of gunicorn, nginx and probes (a scrape reads supervisord itself)
DEFAULT_INTERVAL = 5.0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "exporter",
        help="serve Prometheus metrics (read-only; default 127.0.0.1:9818)",
        description="Serve supervisor, gunicorn, nginx and probe metrics on /metrics for "
        "Prometheus. Always read-only. Listens on loopback unless --listen says otherwise.",
    )
    p.add_argument(
        "--listen",
        metavar="ADDR:PORT",
        default=DEFAULT_LISTEN,
        help=f"address and port to listen on (default {DEFAULT_LISTEN}; [::1]:PORT for IPv6)",
    )
    p.add_argument(
        "--scrape-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="longest a scrape waits for supervisord before serving the last values "
        "(default: --timeout)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help="how often gunicorn, nginx and probes are read between scrapes "
        f"(default {DEFAULT_INTERVAL:g}; supervisord is read by each scrape)",
    )
    p.add_argument(
        "--worker-pids",
        action="store_true",
        help="add a pid label to the per-worker series (more series over time)",
    )
    p.set_defaults(handler=cmd_exporter)


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[v6]:PORT``) → (addr, port). Raises ConfigError in words."""
    addr, sep, port_text = text.rpartition(":")
    if not sep or not addr:
        raise ConfigError(
            f"--listen {text!r} is not ADDR:PORT",
            f"for example --listen {DEFAULT_LISTEN} (loopback) or --listen 0.0.0.0:9818",
        )
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(
            f"--listen {text!r}: {port_text!r} is not a port (0-65535)",
            f"for example --listen {DEFAULT_LISTEN}",
        )
    return addr, port


def build_exporter(
    config: AppConfig,
    *,
    scrape_timeout: float | None = None,
    interval: float = DEFAULT_INTERVAL,
    **kw: Any,
) -> Exporter:
    """The exporter for ``config``, read-only whatever the config says."""
    ro = replace(config, read_only=True)

    def hosts() -> list[Host]:
        if fleet.is_fleet(ro):  # --host / [[host]]: each series labelled with its host
            return [fleet.open_one(ro, settings) for settings in ro.hosts]
        return [open_host(ro)]

    return Exporter(
        hosts,
        interval=interval,
        scrape_timeout=scrape_timeout if scrape_timeout is not None else ro.timeout,
        **kw,
    )


def cmd_exporter(args: argparse.Namespace, config: AppConfig) -> int:
    addr, port = parse_listen(args.listen)
    if args.interval <= 0:
        raise ConfigError(f"--interval must be more than 0 seconds, got {args.interval:g}")
    exporter = build_exporter(
        config,
        scrape_timeout=args.scrape_timeout,
        interval=args.interval,
        worker_pids=args.worker_pids,
    )
    done = threading.Event()

    def stop(signum: int, frame: object) -> None:
        done.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    exporter.start()
    try:
        try:
            host, bound = exporter.listen(addr, port)
        except OSError as exc:
            print_error(
                f"cannot listen on {args.listen}: {exc.strerror or exc}",
                "choose another port with --listen ADDR:PORT",
            )
            return 2
        shown = f"[{host}]" if ":" in host else host
        print(
            f"opsconsole: exporter serving http://{shown}:{bound}/metrics (read-only)",
            file=sys.stderr,
            flush=True,
        )
        while not done.wait(1.0):
            pass
    finally:
        exporter.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
