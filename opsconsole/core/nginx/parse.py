"""Nginx's own output into facts (pure, no I/O, so hypothesis can drive it).

``nginx -t`` diagnostics, ``nginx -V``/``-v`` build facts, ``nginx -T`` dumps, master process
titles and stub_status bodies.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

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
#: "<message> in <file>:<line>", as nginx and crossplane end a message that points into the config
WHERE_RE = re.compile(r"^(?P<msg>.*) in (?P<file>\S.*):(?P<line>\d+)$")
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


class Located:
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
class Diagnostic(Located):
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
    where = WHERE_RE.match(msg)
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
