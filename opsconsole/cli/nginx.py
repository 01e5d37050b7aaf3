"""``opsconsole nginx test|reload|status|config|diff|rollback`` and ``opsconsole topology``.

Exit codes: ``nginx test`` 0 ok, 1 the test failed; ``nginx reload`` 0 only when the new
config took effect cleanly, 1 refused/rejected/unverified; ``nginx status`` 0 running, 1 no
master; ``topology`` 0 clean, 1 a target or path is flagged. 2 is an error before anything
ran (no nginx, unreadable config, missing --yes).

The nginx master is tied to a program of this machine's supervisords only (it is a local
process; a remote supervisord's pids are another machine's).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from opsconsole.cli import hosts
from opsconsole.cli.common import needs_confirmation, open_host, print_json, request
from opsconsole.core import nginx
from opsconsole.core.config import AppConfig, NginxSettings
from opsconsole.core.format import format_bytes
from opsconsole.core.host import (
    Host,
    NginxConfigDump,
    NginxFile,
    NginxSnapshot,
    NginxTest,
    OperationResult,
    TopologySnapshot,
    TopoNode,
)
from opsconsole.core.local import LocalHost
from opsconsole.core.nginx.history import ConfigDiff, format_diff
from opsconsole.core.nginx.rollback import when


def _nginx_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nginx-bin", metavar="PATH", help="nginx binary (default: discovered)")
    p.add_argument(
        "--nginx-conf", metavar="FILE", help="operate on the nginx serving this config file"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("nginx", help="test, reload and inspect nginx")
    nsub = p.add_subparsers(dest="nginx_command", metavar="ACTION", required=True)

    t = nsub.add_parser("test", help="nginx -t with the serving master's flags (exit 1: failed)")
    _nginx_flags(t)
    t.set_defaults(handler=cmd_test)

    r = nsub.add_parser("reload", help="test, then reload and verify (exit 0 only if it took)")
    _nginx_flags(r)
    r.add_argument("--yes", "-y", action="store_true", help="confirm the reload")
    r.add_argument(
        "--wait", type=float, default=nginx.RELOAD_VERIFY_TIMEOUT, help="seconds to verify"
    )
    r.add_argument(
        "--parallel", action="store_true", help="with several --host: all at once, no gate"
    )
    r.set_defaults(handler=cmd_reload)

    s = nsub.add_parser("status", help="master, workers, last reload, stub_status")
    _nginx_flags(s)
    s.add_argument("--interval", type=float, default=1.0, help="seconds between the 2 samples")
    s.set_defaults(handler=cmd_status)

    c = nsub.add_parser("config", help="the effective config (nginx -T), file by file")
    _nginx_flags(c)
    c.add_argument("--file", help="print only this file")
    c.set_defaults(handler=cmd_config)

    d = nsub.add_parser(
        "diff",
        help="what changed since the last config that reloaded and was verified",
        description="The config now (nginx -T, or the files on disk when the test fails) "
        "against the last config opsconsole reloaded and verified, file by file with line "
        "numbers. Exit 0 (with --exit-code: 1 when something changed), 2 on an error.",
    )
    _nginx_flags(d)
    d.add_argument("--exit-code", action="store_true", help="exit 1 when the config changed")
    d.set_defaults(handler=cmd_diff)

    rb = nsub.add_parser(
        "rollback",
        help="write the last good config back, test, reload, verify (needs --yes)",
        description="Writes back only the files that differ from the last config that "
        "reloaded and was verified (the current ones kept beside them as PATH.rejected), "
        "then nginx -t, reload and verify. Files added since are left and listed. Without "
        "--yes it prints what it would do. Exit 0 rolled back, 1 it failed, 2 refused.",
    )
    _nginx_flags(rb)
    rb.add_argument("--yes", "-y", action="store_true", help="confirm the rollback")
    rb.add_argument(
        "--wait", type=float, default=nginx.RELOAD_VERIFY_TIMEOUT, help="seconds to verify"
    )
    rb.add_argument(
        "--parallel", action="store_true", help="with several --host: all at once, no gate"
    )
    rb.set_defaults(handler=cmd_rollback)

    top = sub.add_parser(
        "topology", help="nginx -> upstreams -> gunicorn -> supervisor (exit 1: flagged)"
    )
    _nginx_flags(top)
    top.set_defaults(handler=cmd_topology)


# --------------------------------------------------------------------------- helpers


def _settings(args: argparse.Namespace, config: AppConfig) -> NginxSettings:
    return NginxSettings(
        binary=args.nginx_bin or config.nginx.binary,
        config=args.nginx_conf or config.nginx.config,
    )


def _host(args: argparse.Namespace, config: AppConfig) -> LocalHost:
    """The host, operating on the nginx the flags name (default: discovered)."""
    return open_host(replace(config, nginx=_settings(args, config)))


def _fleet(args: argparse.Namespace, config: AppConfig) -> AppConfig:
    """The hosts, each operating on the nginx the flags name (else its own settings)."""
    for settings in config.hosts:
        settings.nginx = NginxSettings(
            binary=args.nginx_bin or settings.nginx.binary,
            config=args.nginx_conf or settings.nginx.config,
        )
    return config


def _print_test(result: NginxTest) -> None:
    print(("ok      " if result.ok else "FAILED  ") + result.summary)
    if result.failure == "environment":
        print("        (not a syntax error: check permissions, certificates, log/pid paths)")
    for d in result.diagnostics:
        where = f"  {d.where}" if d.where else ""
        print(f"  {d.level:<6}{where}  {d.message}")


def _when(ts: float | None) -> str:
    if ts is None:
        return "none since the master started"
    ago = max(0, time.time() - ts)
    stamp = datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} ({ago:.0f} s ago)"


# --------------------------------------------------------------------------- commands


def cmd_test(args: argparse.Namespace, config: AppConfig) -> int:
    if hosts.is_fleet(config):
        run = hosts.in_turn(_fleet(args, config), lambda n, h: _test_on(h, args), gate=False)
        return asyncio.run(run)
    return asyncio.run(_test(args, config))


async def _test(args: argparse.Namespace, config: AppConfig) -> int:
    async with _host(args, config) as host:
        return await _test_on(host, args)


async def _test_on(host: Host, args: argparse.Namespace) -> int:
    result = await request(host, "nginx.test", "nginx")
    if "ok" not in result.data:
        result.raise_error()  # nginx not installed, config unreadable: exit 2 in words
    data = result.data
    if args.json:
        print_json(data)
    else:
        _print_test(NginxTest.from_json(data))
        for f in data["findings"]:
            where = f"  {f['where']}" if f["where"] else ""
            print(f"  check {f['check']}{where}: {f['message']}")
    return 0 if data["ok"] else 1


def cmd_reload(args: argparse.Namespace, config: AppConfig) -> int:
    if hosts.is_fleet(config):
        fleet = _fleet(args, config)
        run = hosts.in_turn(
            fleet,
            lambda n, h: _reload_on(h, args),
            parallel=args.parallel,
            gate_programs=["nginx"],
        )
        return asyncio.run(run)
    return asyncio.run(_reload(args, config))


async def _reload(args: argparse.Namespace, config: AppConfig) -> int:
    async with _host(args, config) as host:
        return await _reload_on(host, args)


async def _reload_on(host: Host, args: argparse.Namespace) -> int:
    result = await request(host, "nginx.reload", "nginx", {"wait": args.wait}, confirmed=args.yes)
    if needs_confirmation(result):
        master_pid = result.data["instance"]["master_pid"]
        print(
            f"opsconsole: reloading {result.target} needs confirmation: add --yes\n"
            f"  it runs nginx -t, then sends HUP to master {master_pid} and checks that "
            "new workers start",
            file=sys.stderr,
        )
        return 2
    if "status" not in result.data:
        result.raise_error()  # read-only, no nginx, unreadable config: exit 2 in words
    data = result.data
    if args.json:
        print_json(data)
    else:
        print(("ok      " if data["ok"] else f"{data['status'].upper():<8}") + data["message"])
        if data["hint"]:
            print(f"  {data['hint']}")
        test = data["test"]
        if test is not None and test["diagnostics"] and not test["ok"]:
            _print_test(NginxTest.from_json(test))
        for d in data["log_errors"]:
            print(f"  log: {d['raw']}")
    return 0 if data["ok"] else 1


async def _status(args: argparse.Namespace, config: AppConfig) -> NginxSnapshot:
    async with _host(args, config) as host:
        return await _sample(host, args)


async def _sample(host: Host, args: argparse.Namespace) -> NginxSnapshot:
    status = await host.nginx()
    if status.running and args.interval > 0:
        await asyncio.sleep(args.interval)
        status = await host.nginx()
    return status


def cmd_status(args: argparse.Namespace, config: AppConfig) -> int:
    if hosts.is_fleet(config):
        return asyncio.run(_fleet_status(args, config))
    status = asyncio.run(_status(args, config))
    if args.json:
        print_json(status.status_json())
        return 0 if status.running else 1
    return _print_status(status)


async def _fleet_status(args: argparse.Namespace, config: AppConfig) -> int:
    """Every host's nginx: a section per host; with --json a list, ``host`` in each."""
    answers = await hosts.read_all(_fleet(args, config), lambda h: _sample(h, args))
    worst = 0
    shown: list[dict[str, Any]] = []
    for answer in answers:
        if answer.value is None:
            continue
        worst = max(worst, 0 if answer.value.running else 1)
        if args.json:
            shown.append({"host": answer.name, **answer.value.status_json()})
        else:
            print(f"== {answer.name}")
            _print_status(answer.value)
    if args.json:
        failed = [{"host": a.name, **hosts.error_json(a.error)} for a in answers if a.error]
        print_json(shown + failed)
    return max(worst, hosts.say_failed(answers))


def _print_status(status: NginxSnapshot) -> int:
    inst = status.instance
    if not status.running:
        print(f"nginx is not running ({inst.source}); config {inst.conf_path}")
        return 1
    program = f" (supervisor program {inst.program})" if inst.program else ""
    print(f"nginx {status.version}  master {inst.master_pid}{program}")
    print(f"config {inst.conf_path}  prefix {inst.prefix}")
    print(f"last reload: {_when(status.last_reload)}")
    print(f"{'PID':>8} {'ROLE':<14} {'CPU%':>6} {'RSS':>8} {'CONN':>5}")
    for w in status.workers:
        cpu = f"{w.cpu_percent:.1f}" if w.cpu_percent is not None else ""
        conn = str(w.connections) if w.connections is not None else "?"
        print(f"{w.pid:>8} {w.role:<14} {cpu:>6} {format_bytes(w.rss):>8} {conn:>5}")
    if status.stub is not None:
        s = status.stub
        rps = f"{status.rps:.1f}" if status.rps is not None else "?"
        print(
            f"stub_status {status.stub_url}: active {s.active}  reading {s.reading} "
            f"writing {s.writing} waiting {s.waiting}  requests {s.requests}  req/s {rps}"
        )
    elif status.stub_error:
        print(f"stub_status: {status.stub_error}")
    else:
        print("stub_status: no location with stub_status in the config")
    return 0


async def _config(args: argparse.Namespace, config: AppConfig) -> NginxConfigDump:
    async with _host(args, config) as host:
        return await host.nginx_config()


def cmd_config(args: argparse.Namespace, config: AppConfig) -> int:
    if hosts.is_fleet(config):
        return asyncio.run(_fleet_config(args, config))
    dump = asyncio.run(_config(args, config))
    if not dump.test.ok:
        _print_test(dump.test)
        return 1
    files = [f for f in dump.files if args.file in (None, f.path)]
    if args.json:
        print_json([{"file": f.path, "text": f.text} for f in files])
    else:
        _print_files(files)
    return 0


def _print_files(files: Sequence[NginxFile]) -> None:
    for f in files:
        print(f"# ---- {f.path}")
        print(f.text, end="" if f.text.endswith("\n") else "\n")


async def _fleet_config(args: argparse.Namespace, config: AppConfig) -> int:
    """Every host's effective config: a section per host; with --json a list of
    ``{"host", "file", "text"}`` (a failed test or host: its error, ``host`` in it)."""
    answers = await hosts.read_all(_fleet(args, config), lambda h: h.nginx_config())
    worst = 0
    shown: list[dict[str, Any]] = []
    for answer in answers:
        dump = answer.value
        if dump is None:
            continue
        if not args.json:
            print(f"== {answer.name}")
        if not dump.test.ok:
            worst = 1
            if args.json:
                shown.append({"host": answer.name, "test": dump.test.to_json()})
            else:
                _print_test(dump.test)
            continue
        files = [f for f in dump.files if args.file in (None, f.path)]
        if args.json:
            shown += [{"host": answer.name, "file": f.path, "text": f.text} for f in files]
        else:
            _print_files(files)
    if args.json:
        failed = [{"host": a.name, **hosts.error_json(a.error)} for a in answers if a.error]
        print_json(shown + failed)
    return max(worst, hosts.say_failed(answers))


def cmd_diff(args: argparse.Namespace, config: AppConfig) -> int:
    if hosts.is_fleet(config):
        return asyncio.run(_fleet_diff(args, config))
    return asyncio.run(_diff(args, config))


async def _diff_on(host: Host) -> OperationResult:
    """The diff a host answers; its error raised (no nginx, unreadable history)."""
    result = await request(host, "nginx.diff", "nginx")
    result.raise_error()
    return result


async def _diff(args: argparse.Namespace, config: AppConfig) -> int:
    async with _host(args, config) as host:
        result = await _diff_on(host)  # an error: exit 2 in words
    if args.json:
        print_json(result.data)
    else:
        _print_diff(result)
    return 1 if args.exit_code and result.data["changed"] else 0


def _print_diff(result: OperationResult) -> None:
    diff = ConfigDiff.from_json(result.data)
    print(result.message)
    if diff.changed and not diff.test_ok:
        print("(nginx -t fails now: the current files were read from disk)")
    for line in format_diff(diff):
        print(line)
    for why in diff.unread:
        print(f"unread: {why}")


async def _fleet_diff(args: argparse.Namespace, config: AppConfig) -> int:
    """Every host's diff against its own last good config: a section per host; with --json a
    list, ``host`` in each. --exit-code: 1 when any host's config changed."""
    answers = await hosts.read_all(_fleet(args, config), _diff_on)
    changed = False
    shown: list[dict[str, Any]] = []
    for answer in answers:
        result = answer.value
        if result is None:
            continue
        changed = changed or bool(result.data["changed"])
        if args.json:
            shown.append({"host": answer.name, **result.data})
        else:
            print(f"== {answer.name}")
            _print_diff(result)
    if args.json:
        failed = [{"host": a.name, **hosts.error_json(a.error)} for a in answers if a.error]
        print_json(shown + failed)
    return max(1 if args.exit_code and changed else 0, hosts.say_failed(answers))


def cmd_rollback(args: argparse.Namespace, config: AppConfig) -> int:
    if hosts.is_fleet(config):
        # Host by host as a reload: the next only once nginx answers again on the one
        # rolled back (--parallel: all at once); stops at the first host that fails.
        run = hosts.in_turn(
            _fleet(args, config),
            lambda n, h: _rollback_on(h, args),
            parallel=args.parallel,
            gate_programs=["nginx"],
        )
        return asyncio.run(run)
    return asyncio.run(_rollback(args, config))


async def _rollback(args: argparse.Namespace, config: AppConfig) -> int:
    async with _host(args, config) as host:
        return await _rollback_on(host, args)


async def _rollback_on(host: Host, args: argparse.Namespace) -> int:
    result = await request(host, "nginx.rollback", "nginx", {"wait": args.wait}, confirmed=args.yes)
    if needs_confirmation(result):
        plan = result.data.get("plan")
        if not isinstance(plan, dict):
            print(f"opsconsole: {result.data.get('why') or result.message}", file=sys.stderr)
            return 2
        good = plan["good"]
        diff = ConfigDiff.from_json({"files": plan["files"], "test_ok": True})
        for line in format_diff(diff):
            print(line)
        print(
            f"opsconsole: rolling {result.target} back to the config of "
            f"{when(good['at'])} ({good['user']}) needs confirmation: add --yes\n  it will:",
            file=sys.stderr,
        )
        for step in plan["steps"]:
            print(f"  - {step}", file=sys.stderr)
        return 2
    if "status" not in result.data:
        result.raise_error()  # read-only, nothing to roll back, config changed: exit 2
    data = result.data
    if args.json:
        print_json(data)
    else:
        print(("ok      " if data["ok"] else f"{data['status'].upper():<8}") + data["message"])
        if data["hint"]:
            print(f"  {data['hint']}")
        for moved in data["moved_rejected"]:
            print(f"  moved out of the config's reach (an include matched it): {moved}")
        test = data["test"]
        if test is not None and not test["ok"]:
            _print_test(NginxTest.from_json(test))
    return 0 if data["ok"] else 1


def _mark(node: TopoNode) -> str:
    return {"error": "✖ ", "warn": "! "}.get(node.status, "")


def _print_tree(node: TopoNode, prefix: str = "", last: bool = True, top: bool = True) -> None:
    branch = "" if top else ("└─ " if last else "├─ ")
    detail = f"  ({node.detail})" if node.detail else ""
    print(f"{prefix}{branch}{_mark(node)}{node.label}{detail}")
    child_prefix = prefix + ("" if top else ("   " if last else "│  "))
    for i, child in enumerate(node.children):
        _print_tree(child, child_prefix, i == len(node.children) - 1, False)


async def _topology(args: argparse.Namespace, config: AppConfig) -> TopologySnapshot:
    async with _host(args, config) as host:
        return await host.topology()


def cmd_topology(args: argparse.Namespace, config: AppConfig) -> int:
    if hosts.is_fleet(config):
        return asyncio.run(_fleet_topology(args, config))
    snapshot = asyncio.run(_topology(args, config))
    if args.json:
        print_json(snapshot.topology_json())
        return _flagged(snapshot)
    return _print_topology(snapshot)


async def _fleet_topology(args: argparse.Namespace, config: AppConfig) -> int:
    """Every host's topology: a section per host; with --json a list, ``host`` in each."""
    answers = await hosts.read_all(_fleet(args, config), lambda h: h.topology())
    worst = 0
    shown: list[dict[str, Any]] = []
    for answer in answers:
        if answer.value is None:
            continue
        if args.json:
            shown.append({"host": answer.name, **answer.value.topology_json()})
            worst = max(worst, _flagged(answer.value))
        else:
            print(f"== {answer.name}")
            worst = max(worst, _print_topology(answer.value))
    if args.json:
        failed = [{"host": a.name, **hosts.error_json(a.error)} for a in answers if a.error]
        print_json(shown + failed)
    return max(worst, hosts.say_failed(answers))


def _flagged(snapshot: TopologySnapshot) -> int:
    return 1 if any(n.status == "error" for n in snapshot.topology.walk()) else 0


def _print_topology(snapshot: TopologySnapshot) -> int:
    _print_tree(snapshot.topology)
    for f in snapshot.findings:
        where = f"  {f.where}" if f.where else ""
        print(f"check {f.check}{where}: {f.message}")
    for note in snapshot.notes:
        print(f"note: {note}")
    return _flagged(snapshot)
