"""``opsconsole restart NAME… --rolling``: a rolling restart, and ``update``'s preview.

The roll: one program at a time, the next only once this one stayed RUNNING for its settle
time (its startsecs, at least 2 s) and the probes that depend on it are green
(:mod:`opsconsole.core.rolling`). Without ``--yes`` the plan is printed and nothing runs
(exit 2); read-only refuses it (exit 2). Each step is printed as it happens (``--json``: one
JSON object a line, the events); a roll that stopped exits 1, saying which program failed,
why, and what was left undone. Ctrl-C stops the roll between steps. Over hosts (``--host``,
``[[host]]``): :mod:`opsconsole.cli.fleet_rolling`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from opsconsole.cli.common import open_host, print_error
from opsconsole.core.config import AppConfig
from opsconsole.core.errors import OpsError
from opsconsole.core.rolling import OPERATION, RollEvent, RollRunner, make_plan, run_gated
from opsconsole.core.update_preview import UpdatePreview


def server_of(config: AppConfig, args: argparse.Namespace) -> str:
    if args.server is not None:
        return str(args.server)
    if not config.supervisors:
        raise OpsError("no supervisord is configured", "give -c or --supervisor-url")
    return config.supervisors[0].name


async def cmd_rolling(config: AppConfig, args: argparse.Namespace) -> int:
    label = " ".join(args.names)
    if config.hosts:
        from opsconsole.cli.fleet_rolling import fleet_rolling

        return await fleet_rolling(config, args)
    async with open_host(config) as host:
        host.gate.check(OPERATION, label)  # read-only: refused (and audited) before anything
        plan = await make_plan(host, server_of(config, args), list(args.names), label)
        if not args.yes:
            print(plan.question)
            print(plan.detail)
            print(
                f"opsconsole: rolling restart of {label} needs confirmation: add --yes",
                file=sys.stderr,
            )
            return 2

        def show(event: RollEvent) -> None:
            if args.json:
                print(json.dumps(event.to_json()), flush=True)
            else:
                print(event.message, flush=True)

        runner = RollRunner(host, plan)
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, runner.cancel)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
            pass
        try:
            outcome = await run_gated(host.gate, runner, show, confirmed=True)
        finally:
            try:
                loop.remove_signal_handler(signal.SIGINT)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
    if not outcome.ok:
        print_error(f"rolling restart {outcome.status}: {outcome.message}")
        return 1
    return 0


def preview_json(preview: UpdatePreview) -> list[dict[str, Any]]:
    """The preview as ``update --json`` prints it: per group, what supervisord will do."""
    return [
        {
            "group": g.group,
            "change": g.change,
            "stops": list(g.stops),
            "restarts": list(g.restarts),
            "effect": g.words,
        }
        for g in preview.groups
    ]


def print_preview(preview: UpdatePreview) -> None:
    for g in preview.groups:
        print(g.words)
