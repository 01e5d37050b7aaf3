"""Nginx config and output parsing: diagnostics, the config model, topology and extra checks.

Everything that turns text into facts lives here. The parsers of nginx's own output
(``nginx -t`` diagnostics, ``nginx -V`` build flags, ``nginx -T`` dumps, master process
titles, stub_status bodies, ``listen`` and ``proxy_pass`` arguments) are pure functions with
no I/O, so hypothesis can drive them. The config model is built from crossplane's parse of the
files (crossplane follows ``include``); no regex ever spans lines of a config.

Topology and the extra checks look at the machine (listening sockets, process parents, file
modes); their I/O goes through small injectable callables so they can be fed synthetic facts.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import crossplane  # type: ignore[import-untyped]
import psutil

from opsconsole.core import gunicorn
from opsconsole.core.supervisor import ProcessInfo

# --------------------------------------------------------------------------- diagnostics

#: nginx log levels, most severe first.
LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
ERROR_LEVELS = frozenset({"emerg", "alert", "crit", "error"})

#: Categories that are not mistakes in the config text: the environment refused something.
ENVIRONMENT_CATEGORIES = frozenset(
    {"permission", "certificate", "missing-file", "bind", "pid-file", "log-file", "resolve"}
)

_DIAG_RE = re.compile(
    r"^(?:nginx: |(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) )"
    r"\[(?P<level>emerg|alert|crit|error|warn|notice|info|debug)\] "
    r"(?:(?P<pid>\d+)#(?P<tid>\d+): )?(?:\*\d+ )?(?P<msg>.*)$"
)
_WHERE_RE = re.compile(r"^(?P<msg>.*) in (?P<file>\S.*):(?P<line>\d+)$")
_SUMMARY_RE = re.compile(
    r"^nginx: (?:the )?configuration file .* (?:syntax is ok|test is successful|test failed)$"
)

_SYNTAX_MARKERS = (
    "unknown directive",
    "invalid number of arguments",
    "directive is not allowed here",
    "directive is duplicate",
    "is duplicate",
    "unexpected",
    "invalid parameter",
    "invalid value",
    "invalid port",
    "invalid host",
    "is not terminated",
    "unknown log format",
    'no "events" section',
    'unknown "',
    "must be",
    "is not allowed",
)


class _Located:
    """``file:line`` for messages that point into the config (Diagnostic, Finding)."""

    file: str | None
    line: int | None

    @property
    def where(self) -> str:
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)  # type: ignore[call-overload]
        data["where"] = self.where
        return dict(data)


@dataclass(frozen=True)
class Diagnostic(_Located):
    """One message nginx printed: level, text and, when nginx named it, file and line."""

    level: str
    message: str
    file: str | None = None
    line: int | None = None
    category: str = "other"
    raw: str = ""

    @property
    def is_error(self) -> bool:
        return self.level in ERROR_LEVELS


def classify(message: str, has_location: bool) -> str:
    """Which kind of problem ``message`` describes.

    ``syntax`` means the config text is wrong; the other categories (see
    :data:`ENVIRONMENT_CATEGORIES`) mean the machine refused something the config asks for.
    """
    low = message.lower()
    if "certificate" in low or "ssl_ctx" in low or "bio_new_file" in low or "pem_read" in low:
        return "certificate"
    if "bind()" in low or "could not bind" in low:
        return "bind"
    if "permission denied" in low or "operation not permitted" in low:
        return "permission"
    if ".pid" in low and ("open()" in low or "failed" in low):
        return "pid-file"
    if ("error log" in low or ".log" in low) and ("open()" in low or "failed" in low):
        return "log-file"
    if "no such file or directory" in low:
        return "missing-file"
    if "host not found" in low or "could not be resolved" in low:
        return "resolve"
    if any(marker in low for marker in _SYNTAX_MARKERS):
        return "syntax"
    return "syntax" if has_location else "other"


def parse_diagnostic_line(line: str) -> Diagnostic | None:
    """Parse one line of nginx output or error log; None when it is not a leveled message.

    Accepts both shapes nginx prints: ``nginx: [emerg] MSG in FILE:LINE`` and
    ``2026/11/24 23:44:19 [emerg] 2705#2705: MSG in FILE:LINE``.
    """
    text = line.rstrip("\r\n")
    m = _DIAG_RE.match(text)
    if m is None:
        return None
    msg = m.group("msg")
    file: str | None = None
    lineno: int | None = None
    where = _WHERE_RE.match(msg)
    if where is not None:
        msg, file, lineno = where.group("msg"), where.group("file"), int(where.group("line"))
    return Diagnostic(
        level=m.group("level"),
        message=msg,
        file=file,
        line=lineno,
        category=classify(msg, file is not None),
        raw=text,
    )


def parse_diagnostics(output: str) -> list[Diagnostic]:
    """Every diagnostic in ``nginx -t`` output, in order; summary lines are left out.

    A non-empty line that is neither a leveled message nor a summary is kept as an
    ``error`` of category ``other`` (nginx prints e.g. ``nginx: invalid option`` that way).
    """
    found: list[Diagnostic] = []
    for line in output.splitlines():
        stripped = line.strip()
        if not stripped or _SUMMARY_RE.match(stripped):
            continue
        diag = parse_diagnostic_line(stripped)
        if diag is None:
            diag = Diagnostic("error", stripped, category="other", raw=stripped)
        found.append(diag)
    return found


def failure_kind(diagnostics: Iterable[Diagnostic]) -> str | None:
    """``syntax`` if any error is in the config text, ``environment`` if only the machine
    refused something (permission, certificate, log or pid file, bind), None without errors."""
    errors = [d for d in diagnostics if d.is_error]
    if not errors:
        return None
    if any(d.category == "syntax" for d in errors):
        return "syntax"
    if all(d.category in ENVIRONMENT_CATEGORIES for d in errors):
        return "environment"
    return "other"


def is_bind_retry(diag: Diagnostic) -> bool:
    """True for the notice nginx logs between bind() attempts (it is still trying)."""
    return diag.level == "notice" and "try again to bind()" in diag.message


# --------------------------------------------------------------------------- nginx -V / -v / -T


@dataclass
class BuildInfo:
    """What ``nginx -V`` says about the binary."""

    version: str = ""
    prefix: str = "/usr/local/nginx"
    conf_path: str = "conf/nginx.conf"
    error_log_path: str = "logs/error.log"
    pid_path: str = "logs/nginx.pid"
    options: dict[str, str] = field(default_factory=dict)

    @property
    def has_stub_status(self) -> bool:
        return "with-http_stub_status_module" in self.options


_VERSION_RE = re.compile(r"nginx version: \S+?/(?P<v>\S+)")


def parse_version(text: str) -> str:
    """The version number from ``nginx -v`` output, or "" if absent."""
    m = _VERSION_RE.search(text)
    return m.group("v") if m else ""


def parse_build_info(text: str) -> BuildInfo:
    """Parse ``nginx -V`` output (any junk tolerated). Unknown fields keep nginx's defaults."""
    info = BuildInfo(version=parse_version(text))
    for line in text.splitlines():
        if not line.startswith("configure arguments:"):
            continue
        rest = line.split(":", 1)[1]
        try:
            tokens = shlex.split(rest)
        except ValueError:
            tokens = rest.split()
        for token in tokens:
            if not token.startswith("--"):
                continue
            key, _, value = token[2:].partition("=")
            info.options[key] = value
    opts = info.options
    info.prefix = opts.get("prefix") or info.prefix
    info.conf_path = opts.get("conf-path") or info.conf_path
    info.error_log_path = opts.get("error-log-path") or info.error_log_path
    info.pid_path = opts.get("pid-path") or info.pid_path
    return info


DUMP_MARKER = "# configuration file "


def split_dump(text: str) -> list[tuple[str, str]]:
    """Split ``nginx -T`` stdout into ``(path, content)`` per file, in nginx's order."""
    files: list[tuple[str, list[str]]] = []
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if bare.startswith(DUMP_MARKER) and bare.endswith(":") and len(bare) > len(DUMP_MARKER) + 1:
            files.append((bare[len(DUMP_MARKER) : -1], []))
        elif files:
            files[-1][1].append(line)
    result = []
    for path, lines in files:
        content = "".join(lines)
        # nginx -T writes one newline after each file's content
        if content.endswith("\n\n") or (content == "\n"):
            content = content[:-1]
        result.append((path, content))
    return result


# --------------------------------------------------------------------------- master title


_OPTS_WITH_VALUE = {"-c", "-p", "-g", "-e", "-s"}
_ALL_OPTS = _OPTS_WITH_VALUE | {"-t", "-T", "-q", "-v", "-V", "-h", "-?"}


@dataclass(frozen=True)
class MasterArgs:
    """The binary and the -c/-p/-g/-e a master was started with (None when not given)."""

    binary: str
    conf: str | None = None
    prefix: str | None = None
    globals: str | None = None
    error_log: str | None = None

    def flags(self) -> list[str]:
        """The same flags, to pass to ``nginx -t`` / ``-T`` so it tests what is serving."""
        out: list[str] = []
        if self.prefix is not None:
            out += ["-p", self.prefix]
        if self.conf is not None:
            out += ["-c", self.conf]
        if self.error_log is not None:
            out += ["-e", self.error_log]
        if self.globals is not None:
            out += ["-g", self.globals]
        return out


MASTER_TITLE = "nginx: master process"


def parse_master_cmdline(cmdline: list[str]) -> MasterArgs | None:
    """Parse a master's process title (``nginx: master process BIN -p P -c C -g G``).

    nginx rewrites argv into one string, which psutil may hand back split on spaces, so the
    words are joined and re-split. Returns None if this is not a master title.
    """
    title = " ".join(cmdline).strip()
    if not title.startswith(MASTER_TITLE):
        return None
    words = title[len(MASTER_TITLE) :].split()
    if not words:
        return MasterArgs(binary="nginx")
    binary, rest = words[0], words[1:]
    values: dict[str, str] = {}
    i = 0
    while i < len(rest):
        word = rest[i]
        flag, glued = word[:2], word[2:]
        i += 1
        if flag not in _OPTS_WITH_VALUE or not word.startswith("-"):
            continue
        if flag == "-g":
            parts = [glued] if glued else []
            while i < len(rest) and rest[i] not in _ALL_OPTS:
                parts.append(rest[i])
                i += 1
            values["-g"] = " ".join(parts)
        elif glued:
            values[flag] = glued
        elif i < len(rest):
            values[flag] = rest[i]
            i += 1
    return MasterArgs(
        binary=binary,
        conf=values.get("-c"),
        prefix=values.get("-p"),
        globals=values.get("-g"),
        error_log=values.get("-e"),
    )


# --------------------------------------------------------------------------- stub_status


@dataclass(frozen=True)
class StubStatus:
    active: int
    accepts: int
    handled: int
    requests: int
    reading: int
    writing: int
    waiting: int


_STUB_ACTIVE = re.compile(r"Active connections:\s*(\d+)")
_STUB_COUNTS = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$", re.MULTILINE)
_STUB_RWW = re.compile(r"Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)")


def parse_stub_status(text: str) -> StubStatus:
    """Parse a stub_status body; raises ValueError when it is not one."""
    active = _STUB_ACTIVE.search(text)
    counts = _STUB_COUNTS.search(text)
    rww = _STUB_RWW.search(text)
    if active is None or counts is None or rww is None:
        raise ValueError("not a stub_status response")
    return StubStatus(
        active=int(active.group(1)),
        accepts=int(counts.group(1)),
        handled=int(counts.group(2)),
        requests=int(counts.group(3)),
        reading=int(rww.group(1)),
        writing=int(rww.group(2)),
        waiting=int(rww.group(3)),
    )


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
        where = _WHERE_RE.match(msg)
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


# --------------------------------------------------------------------------- extra checks


@dataclass(frozen=True)
class Finding(_Located):
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
