"""Where a request goes: nginx → proxy_pass target → the process listening there → its
supervisor program.

The machine facts (listening sockets, process parents) are read by :func:`collect_listeners`,
:func:`collect_unix_listeners` and :func:`proc_facts`, and handed to :func:`build_topology` as
a :class:`Facts`, so the topology itself can be fed synthetic facts.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil

from opsconsole.core import gunicorn
from opsconsole.core.nginx.config import (
    Location,
    NginxConfig,
    ProxyTarget,
    parse_proxy_pass,
    parse_upstream_server,
)
from opsconsole.core.supervisor import ProcessInfo

# --------------------------------------------------------------------------- machine facts


@dataclass(frozen=True)
class Listener:
    """A listening socket on this machine and the process holding it (pid None if hidden)."""

    ip: str
    port: int
    pid: int | None


@dataclass(frozen=True)
class ProcFacts:
    pid: int
    ppid: int
    name: str
    cmdline: tuple[str, ...]


def collect_listeners() -> list[Listener]:
    """TCP sockets in LISTEN state (needs root to see other users' pids)."""
    found: list[Listener] = []
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return found
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr:
            found.append(Listener(str(c.laddr.ip), int(c.laddr.port), c.pid))
    return found


def collect_unix_listeners() -> dict[str, int | None]:
    """Unix stream sockets in LISTEN state, path -> pid."""
    found: dict[str, int | None] = {}
    try:
        conns = psutil.net_connections(kind="unix")
    except (psutil.Error, OSError):
        return found
    for c in conns:
        path = c.laddr if isinstance(c.laddr, str) else ""
        listening = c.status in (psutil.CONN_LISTEN, psutil.CONN_NONE)
        if path and listening and found.get(path) is None:
            found[path] = c.pid
    return found


def proc_facts(pid: int) -> ProcFacts | None:
    """Name, parent and cmdline of ``pid`` via psutil; None if gone or hidden."""
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            return ProcFacts(pid, p.ppid(), p.name(), tuple(p.cmdline()))
    except psutil.Error:
        return None


def _local_ips() -> set[str]:
    ips = {"127.0.0.1", "::1"}
    try:
        for addrs in psutil.net_if_addrs().values():
            for a in addrs:
                ips.add(str(a.address).split("%")[0])
    except (psutil.Error, OSError):
        pass
    return ips


def is_local_host(host: str, local_ips: set[str]) -> bool:
    if host in ("localhost", "*", "") or host in local_ips:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def find_listener(listeners: Iterable[Listener], host: str, port: int) -> Listener | None:
    """The listener that would accept a connection to ``host:port`` (wildcards match)."""
    wanted = {host}
    if host in ("localhost", "*", ""):
        wanted = {"127.0.0.1", "::1"}
    best: Listener | None = None
    for lst in listeners:
        if lst.port != port:
            continue
        if lst.ip in wanted:
            if lst.pid is not None:
                return lst
            best = best or lst
        elif lst.ip in ("0.0.0.0", "::"):
            best = lst if best is None or best.pid is None else best
    return best


# --------------------------------------------------------------------------- topology


@dataclass
class TopoNode:
    """A node of the topology tree; ``status`` is ok, warn or error."""

    kind: str
    label: str
    status: str = "ok"
    detail: str = ""
    file: str | None = None
    line: int | None = None
    pid: int | None = None
    children: list[TopoNode] = field(default_factory=list)

    def add(self, node: TopoNode) -> TopoNode:
        self.children.append(node)
        return node

    def walk(self) -> Iterator[TopoNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "status": self.status,
            "detail": self.detail,
            "file": self.file,
            "line": self.line,
            "pid": self.pid,
            "children": [c.to_dict() for c in self.children],
        }


@dataclass
class Facts:
    """What topology needs from the machine; defaults read it with psutil."""

    listeners: list[Listener] = field(default_factory=list)
    unix_listeners: dict[str, int | None] = field(default_factory=dict)
    local_ips: set[str] = field(default_factory=lambda: {"127.0.0.1", "::1"})
    proc: Callable[[int], ProcFacts | None] = proc_facts
    path_exists: Callable[[str], bool] = os.path.exists

    @classmethod
    def gather(cls) -> Facts:
        return cls(collect_listeners(), collect_unix_listeners(), _local_ips())


def _ancestry(pid: int, proc: Callable[[int], ProcFacts | None]) -> list[ProcFacts]:
    chain: list[ProcFacts] = []
    seen: set[int] = set()
    current: int | None = pid
    while current and current not in seen and len(chain) < 32:
        seen.add(current)
        facts = proc(current)
        if facts is None:
            break
        chain.append(facts)
        current = facts.ppid
    return chain


def program_for(
    chain: list[ProcFacts], programs: Iterable[ProcessInfo]
) -> tuple[ProcessInfo | None, ProcFacts | None]:
    """The supervisor program owning the first process of ``chain`` whose pid it reports."""
    by_pid = {p.pid: p for p in programs if p.pid}
    for facts in chain:
        if facts.pid in by_pid:
            return by_pid[facts.pid], facts
    return None, None


def _gunicorn_role(chain: list[ProcFacts], i: int) -> str | None:
    """``master``/``worker``/``other`` for ``chain[i]`` as the gunicorn tree classifies it
    (its parent is ``chain[i + 1]``), None when it is not gunicorn. A shell that starts
    gunicorn (``sh -c 'gunicorn …; …'``) is not gunicorn: its command line only mentions it."""
    facts = chain[i]
    if not facts.cmdline:  # another user's process: only its name is visible
        return "other" if "gunicorn" in facts.name else None
    parent = chain[i + 1].cmdline if i + 1 < len(chain) else None
    return gunicorn.classify(facts.cmdline, parent or None)


def _short_cmd(facts: ProcFacts, width: int = 60) -> str:
    text = " ".join(facts.cmdline) or facts.name
    return text if len(text) <= width else text[: width - 1] + "…"


def process_chain_node(pid: int, programs: list[ProcessInfo], facts: Facts) -> TopoNode:
    """process listening -> gunicorn master (if any) -> supervisor program (if any)."""
    chain = _ancestry(pid, facts.proc)
    if not chain:
        return TopoNode("process", f"pid {pid}", "warn", "process details not visible", pid=pid)
    holder = chain[0]
    # Up from the listener through gunicorn processes to the first master (the one the
    # gunicorn tree names), never into the wrapper or supervisord above it.
    gunicorn_idx = None
    for i in range(len(chain)):
        role = _gunicorn_role(chain, i)
        if role is None:
            break
        gunicorn_idx = i
        if role == "master":
            break
    if gunicorn_idx is not None:
        master = chain[gunicorn_idx]
        node = TopoNode("gunicorn", f"gunicorn master {master.pid}", detail=_short_cmd(master))
        node.pid = master.pid
        rest = chain[gunicorn_idx:]
    else:
        node = TopoNode("process", f"{holder.name} {holder.pid}", detail=_short_cmd(holder))
        node.pid = holder.pid
        rest = chain
    program, _ = program_for(rest, programs)
    if program is not None:
        node.add(
            TopoNode(
                "program",
                f"supervisor program {program.fullname}",
                "ok" if program.statename == "RUNNING" else "warn",
                f"{program.statename} on {program.server}",
                pid=program.pid,
            )
        )
    return node


def _target_node(
    target: ProxyTarget, label: str, programs: list[ProcessInfo], facts: Facts
) -> TopoNode:
    if target.variable:
        return TopoNode("target", label, "ok", "uses variables: resolved per request")
    if target.unix is not None:
        if target.unix not in facts.unix_listeners:
            return TopoNode("target", label, "error", "nothing listens on this socket")
        node = TopoNode("target", label, "ok")
        pid = facts.unix_listeners[target.unix]
        if pid:
            node.add(process_chain_node(pid, programs, facts))
        return node
    port = target.port or (443 if target.scheme == "https" else 80)
    if not is_local_host(target.host, facts.local_ips):
        return TopoNode("target", label, "ok", "remote host: not checked")
    found = find_listener(facts.listeners, target.host, port)
    if found is None:
        return TopoNode("target", label, "error", f"nothing listens on {target.host}:{port}")
    node = TopoNode("target", label, "ok")
    if found.pid:
        node.add(process_chain_node(found.pid, programs, facts))
    else:
        node.detail = "listening (owner not visible: run as root)"
    return node


def _static_node(cfg: NginxConfig, loc: Location, facts: Facts) -> TopoNode | None:
    if loc.alias is not None:
        path, what = loc.alias, "alias"
    elif loc.handler is None and loc.root is not None:
        path, what = loc.root, "root"
    else:
        return None
    label = f"{what} {path}"
    if "$" in path:
        return TopoNode("static", label, "ok", "uses variables: not checked")
    full = cfg.resolve(path)
    if not facts.path_exists(full):
        return TopoNode("static", label, "error", f"{full} does not exist", loc.file, loc.line)
    return TopoNode("static", label, "ok", file=loc.file, line=loc.line)


def build_topology(
    cfg: NginxConfig,
    *,
    master_pid: int | None = None,
    programs: list[ProcessInfo] | None = None,
    facts: Facts | None = None,
) -> TopoNode:
    """The chain nginx -> server -> location -> target -> process -> gunicorn -> program.

    Targets with nothing listening and static paths that do not exist are marked ``error``.
    """
    programs = programs or []
    facts = facts or Facts.gather()
    root = TopoNode("nginx", f"nginx {cfg.conf_path}", pid=master_pid)
    if master_pid:
        chain = _ancestry(master_pid, facts.proc)
        program, _ = program_for(chain, programs)
        root.label = f"nginx master {master_pid}"
        root.detail = cfg.conf_path
        if program is not None:
            root.add(
                TopoNode(
                    "program",
                    f"supervisor program {program.fullname}",
                    "ok" if program.statename == "RUNNING" else "warn",
                    f"{program.statename} on {program.server}",
                    pid=program.pid,
                )
            )
    else:
        root.status, root.detail = "warn", "no running master found"
    for server in cfg.servers:
        snode = root.add(TopoNode("server", server.label, file=server.file, line=server.line))
        named = {loc.path: loc for loc in server.locations if loc.modifier == "@"}
        for loc in server.locations:
            lnode = snode.add(TopoNode("location", loc.label, file=loc.file, line=loc.line))
            for child in _location_nodes(cfg, loc, programs, facts):
                lnode.add(child)
            fallback = loc.named_fallback
            if fallback is not None:
                lnode.add(_fallback_node(cfg, loc, fallback, named.get(fallback), programs, facts))
    _propagate(root)
    return root


def _location_nodes(
    cfg: NginxConfig, loc: Location, programs: list[ProcessInfo], facts: Facts
) -> list[TopoNode]:
    """What answers a location: its proxy target (through its upstream), the status page, or
    the static files of its root/alias."""
    if loc.proxy_pass:
        target = parse_proxy_pass(loc.proxy_pass)
        upstream = None if target.port or target.unix else cfg.upstreams.get(target.host)
        if upstream is None:
            node = _target_node(target, f"proxy_pass {loc.proxy_pass}", programs, facts)
            node.file, node.line = loc.file, loc.line
            return [node]
        unode = TopoNode(
            "upstream", f"upstream {upstream.name}", file=upstream.file, line=upstream.line
        )
        if not upstream.servers:
            unode.status, unode.detail = "error", "upstream has no servers"
        for us in upstream.servers:
            node = _target_node(parse_upstream_server(us.address), us.address, programs, facts)
            node.file, node.line = us.file, us.line
            unode.add(node)
        return [unode]
    if loc.stub_status:
        return [TopoNode("static", "stub_status", detail="nginx status page")]
    static = _static_node(cfg, loc, facts)
    return [static] if static is not None else []


def _fallback_node(
    cfg: NginxConfig,
    loc: Location,
    name: str,
    target: Location | None,
    programs: list[ProcessInfo],
    facts: Facts,
) -> TopoNode:
    """``try_files … @name``: what the named location does, linked under this location."""
    file, line = loc.try_files_at or (loc.file, loc.line)
    node = TopoNode("location", f"try_files → location {name}", file=file, line=line)
    if target is None:
        node.status = "error"
        node.detail = f"no location {name} in this server (requests falling back get 500)"
        return node
    node.detail = f"{target.file}:{target.line}"
    for child in _location_nodes(cfg, target, programs, facts):
        node.add(child)
    return node


def _propagate(node: TopoNode) -> str:
    """Lift the worst child status to each parent as ``warn`` (so problems are visible folded)."""
    worst = node.status
    for child in node.children:
        status = _propagate(child)
        if status != "ok" and worst == "ok" and node.kind in ("server", "location", "upstream"):
            worst = "warn"
            node.status = "warn"
    return "error" if node.status == "error" else worst


def topology_problems(root: TopoNode) -> list[TopoNode]:
    """The leaf nodes that carry an error (dead target, missing path)."""
    return [n for n in root.walk() if n.status == "error"]
