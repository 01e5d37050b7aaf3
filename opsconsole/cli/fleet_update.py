"""``opsconsole --host A --host B update``: supervisord's config reread and applied host by host.

* ``--dry-run`` (or no ``--yes``): every host is reread at once and each host's preview is
  printed under its name: per group, which running processes supervisord will stop and start
  again (:mod:`opsconsole.core.update_preview`); ``--json``: a list, ``host`` in each entry.
  Without ``--dry-run`` nor ``--yes`` it ends asking for ``--yes`` (exit 2).
* ``--yes``: one host at a time (``--parallel``: all at once), each reread again, its preview
  printed, then applied; between hosts the health gate waits until the processes the update
  restarted there are RUNNING and the host's probes answer. It stops at the first host that
  fails (exit 1 for a failed update, 2 for an error before anything ran), naming the hosts
  not touched. ``--json``: one line a host as it is done.
* ``--group G``: only those groups, on every host; a host with no change for them has nothing
  to do (said, not a failure: a fleet is often part-updated).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from opsconsole.cli import hosts
from opsconsole.cli.common import request
from opsconsole.cli.rolling import preview_json
from opsconsole.core.config import AppConfig
from opsconsole.core.host import Host
from opsconsole.core.update_preview import UpdatePreview, preview_update


@dataclass
class HostUpdate:
    """What reread found on one host (``summary``: added / changed / removed group names,
    narrowed to ``--group``), the preview, the supervisord, and the named groups unchanged."""

    target: str
    summary: dict[str, list[str]]
    preview: UpdatePreview
    unchanged: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(self.summary.values())

    def to_json(self, host: str) -> dict[str, Any]:
        return {
            "host": host,
            "server": self.target,
            **self.summary,
            "preview": preview_json(self.preview),
            "no_change": self.unchanged,
        }


def _server(args: argparse.Namespace) -> dict[str, Any]:
    return {} if args.server is None else {"server": args.server}


async def read_update(host: Host, args: argparse.Namespace) -> HostUpdate:
    """Reread the host's supervisord and preview what applying it does."""
    reread = await request(host, "supervisor.reread", "", _server(args))
    reread.raise_error()
    summary = {k: list(reread.data.get(k) or []) for k in ("added", "changed", "removed")}
    unchanged: list[str] = []
    if args.group:
        unchanged = sorted(set(args.group) - {g for v in summary.values() for g in v})
        summary = {k: [g for g in v if g in args.group] for k, v in summary.items()}
    preview = preview_update(summary, await host.supervisord(reread.target))
    return HostUpdate(reread.target, summary, preview, unchanged)


def print_update(name: str, update: HostUpdate) -> None:
    """One host's preview, each line ``[host]`` first."""
    for word, groups in update.summary.items():
        for g in groups:
            print(f"[{name}] {word:<8} {g}")
    for line in update.preview.lines():
        print(f"[{name}] {line}")
    if update.unchanged:
        print(f"[{name}] no config change for {', '.join(update.unchanged)}")
    if update.empty:
        print(f"[{name}] no config changes")


async def fleet_update(config: AppConfig, args: argparse.Namespace) -> int:
    if args.dry_run or not args.yes:
        return await _preview(config, args)
    return await _apply(config, args)


async def _preview(config: AppConfig, args: argparse.Namespace) -> int:
    answers = await hosts.read_all(config, lambda host: read_update(host, args))
    if args.json:
        entries = [
            a.value.to_json(a.name)
            if a.error is None
            else {"host": a.name, "error": hosts.error_json(a.error)}
            for a in answers
        ]
        print(json.dumps(entries, indent=2))
    else:
        for a in answers:
            if a.error is None:
                print_update(a.name, a.value)
    code = hosts.say_failed(answers)
    changes = [a.name for a in answers if a.error is None and not a.value.empty]
    if not args.dry_run and changes:
        print(
            f"opsconsole: applying on {', '.join(changes)} (one host at a time) needs "
            "confirmation: add --yes",
            file=sys.stderr,
        )
        return 2
    return code


async def _apply(config: AppConfig, args: argparse.Namespace) -> int:
    restarted: dict[str, tuple[str, ...]] = {}

    async def act(name: str, host: Host) -> int:
        update = await read_update(host, args)
        if not args.json:
            print_update(name, update)
        if update.empty:
            if args.json:
                print(json.dumps({**update.to_json(name), "applied": False, "done": []}))
            return 0
        applied = await request(
            host,
            "supervisor.update",
            update.target,
            {**_server(args), **update.summary},
            confirmed=True,
        )
        applied.raise_error()
        done = [str(d) for d in applied.data.get("done") or []]
        restarted[name] = update.preview.restarts
        if args.json:
            print(json.dumps({**update.to_json(name), "applied": True, "done": done}), flush=True)
        else:
            for line in done:
                print(f"[{name}] {line}", flush=True)
        return 0

    return await hosts.in_turn(
        config,
        act,
        parallel=bool(args.parallel),
        gate=True,
        gate_programs=lambda name: restarted.get(name, ()),
        quiet=True,
    )
