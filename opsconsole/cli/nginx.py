"""``opsconsole nginx test|reload|status|config`` and ``opsconsole topology``.

Exit codes: ``nginx test`` 0 ok, 1 the test failed; ``nginx reload`` 0 only when the new
config took effect cleanly, 1 refused/rejected/unverified; ``nginx status`` 0 running, 1 no
master; ``topology`` 0 clean, 1 a target or path is flagged. 2 is an error before anything
ran (no nginx, unreadable config, missing --yes).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import time
from typing import Any

from opsconsole.core import nginx
from opsconsole.core.actions import ActionGate, default_audit_path
from opsconsole.core.config import AppConfig, NginxSettings
from opsconsole.core.errors import ConfirmationRequired
from opsconsole.core.nginx_config import TopoNode
from opsconsole.core.procs import format_bytes
from opsconsole.core.supervisor import ProcessInfo, SupervisorClient, SupervisorError


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
    r.set_defaults(handler=cmd_reload)

    s = nsub.add_parser("status", help="master, workers, last reload, stub_status")
    _nginx_flags(s)
    s.add_argument("--interval", type=float, default=1.0, help="seconds between the 2 samples")
    s.set_defaults(handler=cmd_status)

    c = nsub.add_parser("config", help="the effective config (nginx -T), file by file")
    _nginx_flags(c)
    c.add_argument("--file", help="print only this file")
    c.set_defaults(handler=cmd_config)

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


async def _programs(config: AppConfig) -> tuple[list[ProcessInfo], list[str]]:
    """Every supervisor process we can see (to tie pids to programs) and any errors."""
    found: list[ProcessInfo] = []
    notes: list[str] = []
    for target in config.supervisors:
        try:
            async with SupervisorClient(
                target, timeout=min(config.timeout, 3.0), read_only=True
            ) as client:
                found += await client.get_all_process_info()
        except SupervisorError as exc:
            notes.append(f"supervisord {target.name}: {exc.message}")
    return found, notes


def _gate(config: AppConfig) -> ActionGate:
    return ActionGate(read_only=config.read_only, audit_path=default_audit_path())


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _print_test(result: nginx.ConfigTestResult) -> None:
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
    return asyncio.run(_test(args, config))


async def _test(args: argparse.Namespace, config: AppConfig) -> int:
    programs, _ = await _programs(config)
    inst = await asyncio.to_thread(nginx.discover, _settings(args, config), programs)
    result = await _gate(config).run(
        "nginx.test", inst.label, lambda: nginx.run_config_test(inst), params=inst.to_dict()
    )
    findings: list[dict[str, Any]] = []
    try:
        inspection = await asyncio.to_thread(nginx.inspect, inst, programs)
        findings = [f.to_dict() for f in inspection.findings]
    except nginx.NginxError:
        pass
    if args.json:
        _print_json({**result.to_dict(), "instance": inst.to_dict(), "findings": findings})
    else:
        _print_test(result)
        for f in findings:
            where = f"  {f['where']}" if f["where"] else ""
            print(f"  check {f['check']}{where}: {f['message']}")
    return 0 if result.ok else 1


def cmd_reload(args: argparse.Namespace, config: AppConfig) -> int:
    return asyncio.run(_reload(args, config))


async def _reload(args: argparse.Namespace, config: AppConfig) -> int:
    programs, _ = await _programs(config)
    inst = await asyncio.to_thread(nginx.discover, _settings(args, config), programs)
    try:
        result = await _gate(config).run(
            "nginx.reload",
            inst.label,
            lambda: nginx.reload_or_raise(inst, verify_timeout=args.wait),
            params={"master_pid": inst.master_pid, "conf": inst.conf_path},
            confirmed=args.yes,
        )
    except ConfirmationRequired:
        print(
            f"opsconsole: reloading {inst.label} needs confirmation: add --yes\n"
            f"  it runs nginx -t, then sends HUP to master {inst.master_pid} and checks that "
            "new workers start",
            file=sys.stderr,
        )
        return 2
    except nginx.ReloadFailed as exc:
        result = exc.result
    if args.json:
        _print_json({**result.to_dict(), "instance": inst.to_dict()})
    else:
        print(("ok      " if result.ok else f"{result.status.upper():<8}") + result.message)
        if result.hint:
            print(f"  {result.hint}")
        if result.test is not None and (result.test.diagnostics and not result.test.ok):
            _print_test(result.test)
        for d in result.log_errors:
            print(f"  log: {d.raw}")
    return 0 if result.ok else 1


def cmd_status(args: argparse.Namespace, config: AppConfig) -> int:
    programs, _ = asyncio.run(_programs(config))
    monitor = nginx.NginxMonitor(_settings(args, config))
    status = monitor.sample(programs)
    if status.running and args.interval > 0:
        time.sleep(args.interval)
        status = monitor.sample(programs)
    inst = status.instance
    if args.json:
        _print_json(status.to_dict())
        return 0 if status.running else 1
    if not status.running:
        print(f"nginx is not running ({inst.source}); config {inst.conf_path}")
        return 1
    program = f" (supervisor program {inst.program.fullname})" if inst.program else ""
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


def cmd_config(args: argparse.Namespace, config: AppConfig) -> int:
    inst = nginx.discover(_settings(args, config))
    dump = asyncio.run(nginx.dump_config(inst))
    if not dump.test.ok:
        _print_test(dump.test)
        return 1
    files = [f for f in dump.files if args.file in (None, f[0])]
    if args.json:
        _print_json([{"file": path, "text": text} for path, text in files])
    else:
        for path, text in files:
            print(f"# ---- {path}")
            print(text, end="" if text.endswith("\n") else "\n")
    return 0


def _mark(node: TopoNode) -> str:
    return {"error": "✖ ", "warn": "! "}.get(node.status, "")


def _print_tree(node: TopoNode, prefix: str = "", last: bool = True, top: bool = True) -> None:
    branch = "" if top else ("└─ " if last else "├─ ")
    detail = f"  ({node.detail})" if node.detail else ""
    print(f"{prefix}{branch}{_mark(node)}{node.label}{detail}")
    child_prefix = prefix + ("" if top else ("   " if last else "│  "))
    for i, child in enumerate(node.children):
        _print_tree(child, child_prefix, i == len(node.children) - 1, False)


def cmd_topology(args: argparse.Namespace, config: AppConfig) -> int:
    programs, notes = asyncio.run(_programs(config))
    inst = nginx.discover(_settings(args, config), programs)
    inspection = nginx.inspect(inst, programs)
    flagged = [n for n in inspection.topology.walk() if n.status == "error"]
    if args.json:
        _print_json({**inspection.to_dict(), "instance": inst.to_dict(), "notes": notes})
    else:
        _print_tree(inspection.topology)
        for f in inspection.findings:
            where = f"  {f.where}" if f.where else ""
            print(f"check {f.check}{where}: {f.message}")
        for note in notes:
            print(f"note: {note}")
    return 1 if flagged else 0
