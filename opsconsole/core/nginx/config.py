"""The nginx config model, built from crossplane's parse of the files (pure but for reading
them; crossplane follows ``include``): servers, locations, upstreams, ``listen`` and
``proxy_pass`` arguments. No regex ever spans lines of a config.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import crossplane  # type: ignore[import-untyped]

from opsconsole.core.nginx.parse import WHERE_RE, Diagnostic, classify

# --------------------------------------------------------------------------- listen / proxy_pass


@dataclass(frozen=True)
class Listen:
    """One ``listen``: host ("*" for any), port, or a unix socket path."""

    host: str
    port: int
    ssl: bool = False
    unix: str | None = None
    default_server: bool = False

    def __str__(self) -> str:
        if self.unix is not None:
            return f"unix:{self.unix}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" + (" ssl" if self.ssl else "")


def parse_listen(args: list[str], default_port: int = 80) -> Listen:
    """Parse the arguments of ``listen`` (``80``, ``127.0.0.1:8080``, ``[::1]:80``,
    ``unix:/path``, ``*:80 ssl default_server`` ...). Raises ValueError when unparseable."""
    if not args:
        raise ValueError("listen without an address")
    addr, params = args[0], args[1:]
    ssl = "ssl" in params
    default = "default_server" in params or "default" in params
    if addr.startswith("unix:"):
        return Listen("unix", 0, ssl, addr[5:], default)
    if addr.isdigit():
        return Listen("*", _port(addr), ssl, None, default)
    if addr.startswith("["):
        host, _, tail = addr[1:].partition("]")
        port = _port(tail[1:]) if tail.startswith(":") else default_port
        return Listen(host, port, ssl, None, default)
    host, sep, port_text = addr.rpartition(":")
    if not sep:
        return Listen(addr, default_port, ssl, None, default)
    return Listen(host or "*", _port(port_text), ssl, None, default)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"invalid port {text!r}")
    return int(text)


@dataclass(frozen=True)
class ProxyTarget:
    """Where a ``proxy_pass`` (or upstream ``server``) sends requests."""

    scheme: str
    host: str
    port: int | None
    path: str = ""
    unix: str | None = None
    variable: bool = False

    @property
    def address(self) -> str:
        if self.unix is not None:
            return f"unix:{self.unix}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host


def parse_proxy_pass(url: str) -> ProxyTarget:
    """Parse a proxy_pass URL. A host without a port may name an upstream block (port None).

    ``variable`` is set when the URL contains ``$`` (resolved per request, not checkable).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "http", url
    scheme = scheme.lower()
    variable = "$" in url
    if rest.startswith("unix:"):
        sock, _, path = rest[5:].partition(":")
        return ProxyTarget(scheme, "unix", None, path, sock, variable)
    hostport, slash, path = rest.partition("/")
    path = slash + path
    if hostport.startswith("["):
        host, _, tail = hostport[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, sep2, port_text = hostport.rpartition(":")
        if not sep2:
            host, port_text = hostport, ""
    port: int | None = None
    if port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    return ProxyTarget(scheme, host, port, path, None, variable)


def parse_upstream_server(address: str) -> ProxyTarget:
    """An upstream ``server`` address (``127.0.0.1:8000``, ``unix:/x.sock``, ``host``)."""
    if address.startswith("unix:"):
        return ProxyTarget("http", "unix", None, "", address[5:])
    target = parse_proxy_pass(f"http://{address}")
    if target.port is None:
        target = ProxyTarget(target.scheme, target.host, 80, target.path, None, target.variable)
    return target


# --------------------------------------------------------------------------- config model


@dataclass
class Location:
    modifier: str
    path: str
    file: str
    line: int
    proxy_pass: str | None = None
    alias: str | None = None
    root: str | None = None
    root_explicit: bool = False
    stub_status: bool = False
    handler: str | None = None  # the directive that answers (proxy_pass, return, ...)
    try_files: tuple[str, ...] = ()
    try_files_at: tuple[str, int] | None = None  # file and line of the try_files directive

    @property
    def label(self) -> str:
        if self.modifier == "@":  # a named location: its path carries the @ already
            return f"location {self.path}"
        return f"location {self.modifier + ' ' if self.modifier else ''}{self.path}"

    @property
    def named_fallback(self) -> str | None:
        """The named location (``@name``) the last ``try_files`` parameter falls back to."""
        last = self.try_files[-1] if len(self.try_files) >= 2 else ""
        return last if last.startswith("@") and len(last) > 1 else None


@dataclass
class Server:
    file: str
    line: int
    listens: list[Listen] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    server_tokens: str | None = None  # effective value where it was set, None = default (on)
    server_tokens_where: tuple[str, int] | None = None

    @property
    def label(self) -> str:
        listens = ", ".join(str(x) for x in self.listens) or "*:80"
        names = " ".join(self.names) or "_"
        return f"server {names} ({listens})"


@dataclass
class UpstreamServer:
    address: str
    file: str
    line: int


@dataclass
class Upstream:
    name: str
    file: str
    line: int
    servers: list[UpstreamServer] = field(default_factory=list)


@dataclass
class NginxConfig:
    """The parsed config: files, servers, upstreams and the top-level facts opsconsole needs."""

    conf_path: str
    prefix: str
    files: list[str] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    error_logs: list[str] = field(default_factory=list)
    access_logs: list[str] = field(default_factory=list)
    pid: str | None = None
    http_server_tokens: str | None = None
    http_server_tokens_where: tuple[str, int] | None = None
    servers: list[Server] = field(default_factory=list)
    upstreams: dict[str, Upstream] = field(default_factory=dict)

    def resolve(self, path: str) -> str:
        """A path from the config made absolute the way nginx does (relative to prefix)."""
        return path if path.startswith("/") else os.path.join(self.prefix, path)

    def error_log_files(self) -> list[str]:
        """Absolute paths of the top-level error logs that are files (not stderr/syslog)."""
        out = []
        for value in self.error_logs:
            if value == "stderr" or value.startswith(("syslog:", "memory:")):
                continue
            out.append(self.resolve(value))
        return out

    def access_log_files(self) -> list[str]:
        """Absolute paths of the access logs named in http and server blocks (files only)."""
        out: list[str] = []
        for value in self.access_logs:
            if value in ("off", "stderr") or value.startswith(("syslog:", "memory:")):
                continue
            path = self.resolve(value)
            if path not in out:
                out.append(path)
        return out

    def stub_status_urls(self) -> list[tuple[str, str | None]]:
        """``(url, Host header)`` for every exact or prefix location serving stub_status."""
        found: list[tuple[str, str | None]] = []
        for server in self.servers:
            for loc in server.locations:
                if not loc.stub_status or loc.modifier not in ("", "=", "^~"):
                    continue
                listens = server.listens or [Listen("*", 80)]
                host_header = next((n for n in server.names if n and "*" not in n), None)
                for lst in listens:
                    if lst.unix is not None:
                        continue
                    host = lst.host
                    if host in ("*", "0.0.0.0", ""):
                        host = "127.0.0.1"
                    elif host == "::":
                        host = "::1"
                    if ":" in host:
                        host = f"[{host}]"
                    scheme = "https" if lst.ssl else "http"
                    found.append((f"{scheme}://{host}:{lst.port}{loc.path}", host_header))
        return found


def parse_config(conf_path: str, prefix: str) -> NginxConfig:
    """Parse ``conf_path`` and everything it includes with crossplane into an NginxConfig.

    Parse problems crossplane finds (missing include, unbalanced brace) are kept in
    ``errors``; a file that cannot be read at all is an error there too, never an exception.
    """
    payload = crossplane.parse(
        conf_path, catch_errors=True, check_ctx=False, check_args=False, comments=False
    )
    return config_from_payload(payload, conf_path, prefix)


def config_from_payload(payload: dict[str, Any], conf_path: str, prefix: str) -> NginxConfig:
    """Build the model from a crossplane payload (no I/O)."""
    cfg = NginxConfig(conf_path=conf_path, prefix=prefix.rstrip("/") or "/")
    configs: list[dict[str, Any]] = list(payload.get("config") or [])
    cfg.files = [str(c.get("file", "")) for c in configs]
    for err in payload.get("errors") or []:
        msg = str(err.get("error", ""))
        file = err.get("file")
        line = err.get("line")
        where = WHERE_RE.match(msg)
        if where is not None:
            msg = where.group("msg")
        if not msg.strip():  # crossplane gives no reason for some unfinished directives
            msg = "this file could not be parsed (crossplane gave no reason); t runs nginx -t"
        cfg.errors.append(
            Diagnostic(
                "emerg",
                msg,
                str(file) if file else None,
                int(line) if isinstance(line, int) else None,
                classify(msg, file is not None),
                raw=str(err.get("error", "")),
            )
        )
    if not configs:
        return cfg
    _Walker(cfg, configs).walk_main(configs[0].get("parsed") or [], cfg.files[0])
    return cfg


def _arg(d: dict[str, Any], i: int = 0) -> str | None:
    args = d.get("args") or []
    return str(args[i]) if len(args) > i else None


@dataclass
class _Inherit:
    root: str | None = None
    root_explicit: bool = False
    server_tokens: str | None = None
    server_tokens_where: tuple[str, int] | None = None


class _Walker:
    """Walks crossplane's tree, following ``includes`` indexes in place of ``include``."""

    MAX_DEPTH = 50

    def __init__(self, cfg: NginxConfig, configs: list[dict[str, Any]]) -> None:
        self.cfg = cfg
        self.configs = configs

    def expand(
        self, block: list[dict[str, Any]], file: str, depth: int = 0
    ) -> Iterator[tuple[dict[str, Any], str]]:
        """Directives of ``block`` with includes replaced by the included files' directives."""
        if depth > self.MAX_DEPTH:
            return
        for d in block:
            if d.get("directive") == "include" and "includes" in d:
                for idx in d.get("includes") or []:
                    if isinstance(idx, int) and 0 <= idx < len(self.configs):
                        sub = self.configs[idx]
                        yield from self.expand(
                            sub.get("parsed") or [], str(sub.get("file", "")), depth + 1
                        )
            else:
                yield d, file

    def walk_main(self, block: list[dict[str, Any]], file: str) -> None:
        for d, f in self.expand(block, file):
            name = d.get("directive")
            if name == "error_log" and _arg(d):
                self.cfg.error_logs.append(str(_arg(d)))
            elif name == "pid" and _arg(d):
                self.cfg.pid = self.cfg.resolve(str(_arg(d)))
            elif name == "http":
                self.walk_http(d.get("block") or [], f)

    def walk_http(self, block: list[dict[str, Any]], file: str) -> None:
        inherit = _Inherit(root="html")
        items = list(self.expand(block, file))
        for d, f in items:
            name = d.get("directive")
            if name == "root" and _arg(d):
                inherit.root, inherit.root_explicit = _arg(d), True
            elif name == "access_log" and _arg(d):
                self.cfg.access_logs.append(str(_arg(d)))
            elif name == "server_tokens" and _arg(d):
                inherit.server_tokens = _arg(d)
                inherit.server_tokens_where = (f, int(d.get("line", 0)))
                self.cfg.http_server_tokens = inherit.server_tokens
                self.cfg.http_server_tokens_where = inherit.server_tokens_where
        for d, f in items:
            name = d.get("directive")
            if name == "upstream" and _arg(d):
                up = Upstream(str(_arg(d)), f, int(d.get("line", 0)))
                for sd, sf in self.expand(d.get("block") or [], f):
                    if sd.get("directive") == "server" and _arg(sd):
                        up.servers.append(UpstreamServer(str(_arg(sd)), sf, int(sd.get("line", 0))))
                self.cfg.upstreams[up.name] = up
            elif name == "server":
                self.walk_server(d, f, inherit)

    def walk_server(self, d: dict[str, Any], file: str, parent: _Inherit) -> None:
        server = Server(file, int(d.get("line", 0)))
        inherit = _Inherit(
            parent.root, parent.root_explicit, parent.server_tokens, parent.server_tokens_where
        )
        items = list(self.expand(d.get("block") or [], file))
        for sd, sf in items:
            name = sd.get("directive")
            args = [str(a) for a in sd.get("args") or []]
            if name == "listen":
                try:
                    server.listens.append(parse_listen(args))
                except ValueError:
                    pass
            elif name == "server_name":
                server.names.extend(args)
            elif name == "root" and args:
                inherit.root, inherit.root_explicit = args[0], True
            elif name == "server_tokens" and args:
                inherit.server_tokens = args[0]
                inherit.server_tokens_where = (sf, int(sd.get("line", 0)))
        server.server_tokens = inherit.server_tokens
        server.server_tokens_where = inherit.server_tokens_where
        for sd, sf in items:
            if sd.get("directive") == "location":
                self.walk_location(sd, sf, server, inherit)
        self.cfg.servers.append(server)

    _HANDLERS = (
        "proxy_pass",
        "fastcgi_pass",
        "uwsgi_pass",
        "scgi_pass",
        "grpc_pass",
        "memcached_pass",
        "return",
        "stub_status",
    )

    def walk_location(
        self, d: dict[str, Any], file: str, server: Server, parent: _Inherit, depth: int = 0
    ) -> None:
        args = [str(a) for a in d.get("args") or []]
        if not args or depth > self.MAX_DEPTH:
            return
        modifier, path = ("", args[0]) if len(args) == 1 else (args[0], args[1])
        if len(args) == 1 and args[0].startswith("@"):
            modifier, path = "@", args[0]
        loc = Location(modifier, path, file, int(d.get("line", 0)))
        loc.root, loc.root_explicit = parent.root, parent.root_explicit
        inherit = _Inherit(loc.root, loc.root_explicit)
        nested: list[tuple[dict[str, Any], str]] = []
        for ld, lf in self.expand(d.get("block") or [], file):
            name = ld.get("directive")
            value = _arg(ld)
            if name == "location":
                nested.append((ld, lf))
            elif name == "alias" and value:
                loc.alias = value
            elif name == "root" and value:
                loc.root, loc.root_explicit = value, True
                inherit.root, inherit.root_explicit = value, True
            elif name == "try_files":
                loc.try_files = tuple(str(a) for a in ld.get("args") or [])
                loc.try_files_at = (lf, int(ld.get("line", 0)))
            elif name in self._HANDLERS:
                loc.handler = loc.handler or str(name)
                if name == "proxy_pass" and value:
                    loc.proxy_pass = value
                if name == "stub_status":
                    loc.stub_status = True
        server.locations.append(loc)
        for nd, nf in nested:
            self.walk_location(nd, nf, server, inherit, depth + 1)
