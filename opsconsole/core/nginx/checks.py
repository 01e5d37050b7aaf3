"""Extra checks nginx -t does not make (alias without a trailing slash, unreadable files and
the like), each a :class:`Finding` located in the config. File modes are read through an
injectable callable so the checks can be fed synthetic facts.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opsconsole.core.nginx.config import Location, NginxConfig
from opsconsole.core.nginx.parse import Located
from opsconsole.core.nginx.topology import TopoNode

# --------------------------------------------------------------------------- extra checks


@dataclass(frozen=True)
class Finding(Located):
    """A warning from the extra checks; never blocks a reload."""

    check: str
    level: str
    message: str
    file: str | None = None
    line: int | None = None


def check_alias(loc: Location) -> Finding | None:
    """The gixy alias traversal: prefix location without trailing ``/`` + alias with one
    (``location /i { alias /data/; }`` serves ``/i../secret``), and the reverse mismatch."""
    if loc.alias is None or loc.modifier not in ("", "^~") or "$" in loc.alias:
        return None
    loc_slash, alias_slash = loc.path.endswith("/"), loc.alias.endswith("/")
    if not loc_slash and alias_slash:
        return Finding(
            "alias-traversal",
            "warning",
            f"{loc.label} has no trailing / but alias {loc.alias} has: "
            f"{loc.path}../ reaches the parent of {loc.alias} (path traversal); "
            f"write location {loc.path}/",
            loc.file,
            loc.line,
        )
    if loc_slash and not alias_slash:
        return Finding(
            "alias-mismatch",
            "warning",
            f"{loc.label} ends with / but alias {loc.alias} does not: "
            f"{loc.path}x maps to {loc.alias}x; add a trailing / to the alias",
            loc.file,
            loc.line,
        )
    return None


def run_checks(
    cfg: NginxConfig,
    *,
    topology: TopoNode | None = None,
    mode_of: Callable[[str], int | None] | None = None,
) -> list[Finding]:
    """Extra warnings: alias traversal, dead proxy targets, server_tokens, writable files."""
    findings: list[Finding] = []
    for server in cfg.servers:
        for loc in server.locations:
            f = check_alias(loc)
            if f is not None:
                findings.append(f)
    if topology is not None:
        seen: set[Finding] = set()  # a target reached twice (try_files → @name) is one finding
        for node in topology.walk():
            if node.kind == "target" and node.status == "error":
                found = Finding(
                    "dead-upstream", "warning", f"{node.label}: {node.detail}", node.file, node.line
                )
            elif node.kind == "static" and node.status == "error":
                found = Finding("missing-path", "warning", node.detail, node.file, node.line)
            elif node.kind == "location" and node.status == "error":
                found = Finding(
                    "missing-named-location",
                    "warning",
                    f"{node.label}: {node.detail}",
                    node.file,
                    node.line,
                )
            else:
                continue
            if found not in seen:
                seen.add(found)
                findings.append(found)
    if cfg.servers:
        if cfg.http_server_tokens in (None, "on"):
            file, line = cfg.http_server_tokens_where or (cfg.conf_path, None)
            findings.append(
                Finding(
                    "server-tokens",
                    "warning",
                    "server_tokens is "
                    + ("on" if cfg.http_server_tokens else "not set (default on)")
                    + ": nginx shows its version in headers and error pages; "
                    "set server_tokens off; in http {}",
                    file,
                    line,
                )
            )
        else:
            for server in cfg.servers:
                if server.server_tokens == "on" and server.server_tokens_where:
                    file, line2 = server.server_tokens_where
                    findings.append(
                        Finding(
                            "server-tokens",
                            "warning",
                            f"{server.label} turns server_tokens on (version disclosed)",
                            file,
                            line2,
                        )
                    )
    mode_of = mode_of or _file_mode
    for path in cfg.files:
        mode = mode_of(path)
        if mode is not None and mode & (stat.S_IWGRP | stat.S_IWOTH):
            who = "others" if mode & stat.S_IWOTH else "its group"
            findings.append(
                Finding(
                    "writable-config",
                    "warning",
                    f"{path} is writable by {who} (mode {stat.S_IMODE(mode):o}): "
                    f"anyone who can write it controls nginx; chmod go-w {path}",
                    path,
                    None,
                )
            )
    return findings


def _file_mode(path: str) -> int | None:
    try:
        return Path(path).stat().st_mode
    except OSError:
        return None
