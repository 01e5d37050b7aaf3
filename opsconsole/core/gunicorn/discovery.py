"""Gunicorn masters and their workers on this machine: discovery, facts, flags and actions.

Discovery (:meth:`GunicornScanner.scan`) combines three sources: the pids supervisord reports
for its programs (a master below a shell wrapper is found by walking down), the pidfiles named
with ``--pid``/``-p``, and a scan of every process for gunicorn masters not under supervisor.
It works with and without ``setproctitle`` (titles ``gunicorn: master [name]`` /
``gunicorn: worker [name]``, else the launch command line, also ``python -m gunicorn``).

Everything here blocks (psutil, /proc, the control socket): the TUI runs it in a thread
worker, the CLI calls it directly. Parsing functions are pure for hypothesis.

Actions (scale, reload, reopen logs, signal a worker) call :func:`actions.assert_writable`
before anything leaves the process and signal only through :func:`procs.send_signal`, which
checks the pid still belongs to the process that was shown.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import shlex
import signal
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import psutil

from opsconsole.core import actions, procs
from opsconsole.core.errors import OpsError, ProcessChanged
from opsconsole.core.gunicorn.control import (
    ControlClient,
    ControlSocketError,
    CtlStats,
    NotTheMaster,
    parse_stats,
    parse_workers,
)
from opsconsole.core.procs import ProcIdentity
from opsconsole.core.supervisor import ProcessInfo, ProcessState

DEFAULT_TIMEOUT = 30
DEFAULT_WORKER_CLASS = "sync"
DEFAULT_BIND = "127.0.0.1:8000"
#: shown for a setting that cannot be read without running code (never gunicorn's default)
UNKNOWN = "unknown"
#: A worker's heartbeat is refreshed at least every timeout/2 (gunicorn passes timeout/2 to
#: the worker as its select timeout), so "older than timeout/2" needs a little slack.
STUCK_GRACE = 1.0
#: How long live < target may last (workers booting) before the master is marked.
UNDER_TARGET_GRACE = 5.0
#: A worker with RSS above this many times the median of its siblings is marked.
RSS_FACTOR = 2.0

#: Flags → (symbol, words). Shown as text, never as colour only.
FLAG_TEXT: dict[str, tuple[str, str]] = {
    "stuck": ("◆", "stuck"),
    "stopped": ("‖", "stopped"),
    "rss-high": ("▲", "RSS>2×median"),
    "under-target": ("▼", "below target"),
    "pidfile-stale": ("≠", "pidfile stale"),
    "ctl-down": ("✗", "control socket down"),
    "ctl-shared": ("⇄", "ctl: shared path, not used"),
    "aborted": ("†", "aborted"),
}


class GunicornError(OpsError):
    """A gunicorn operation could not be done."""


class ScaleRefused(GunicornError):
    """A scale request was refused before anything was sent."""


class MasterNotFound(GunicornError):
    """No gunicorn master matches what the operator named."""


# --------------------------------------------------------------------------- parsing (pure)


@dataclass
class LaunchArgs:
    """The settings opsconsole cares about, from a command line, env or config file.

    ``None`` means "not given here" (the default applies, or another source decides).
    """

    workers: int | None = None
    worker_class: str | None = None
    binds: list[str] = field(default_factory=list)
    timeout: int | None = None
    pidfile: str | None = None
    control_socket: str | None = None
    control_socket_disabled: bool = False
    error_log: str | None = None
    config: str | None = None
    name: str | None = None
    threads: int | None = None
    #: settings set in a way that cannot be read without running code (``workers =
    #: cpu_count()``): their value is unknown, not gunicorn's default
    opaque: list[str] = field(default_factory=list)


_PYTHON = re.compile(r"^(python[0-9.]*|pypy[0-9.]*)$")
#: gunicorn's console script as distributions name it: ``gunicorn``, Debian/Ubuntu's
#: ``gunicorn3`` (python3-gunicorn before 20.x), Fedora/RHEL/EPEL's ``gunicorn-3`` (and
#: ``gunicorn-3.6``-style versioned names)
_GUNICORN_SCRIPT = re.compile(r"^gunicorn(-?3(\.\d+)?)?$")
#: ``python -m gunicorn`` and ``python -m gunicorn.app.wsgiapp`` (both run gunicorn's CLI)
_GUNICORN_MODULES = {"gunicorn", "gunicorn.app.wsgiapp"}
_PY_FLAGS_WITH_VALUE = {"-X", "-W", "-Q"}


def _is_script(arg: str) -> bool:
    return _GUNICORN_SCRIPT.match(os.path.basename(arg)) is not None


def launch_index(argv: Sequence[str]) -> int | None:
    """Where gunicorn's own options start in ``argv``, or None if this is not a gunicorn
    launch command (``gunicorn ...``, ``gunicorn3``/``gunicorn-3 ...``, ``python
    .../gunicorn ...``, ``python -m gunicorn``)."""
    if not argv:
        return None
    if _is_script(argv[0]):
        return 1
    if not _PYTHON.match(os.path.basename(argv[0])):
        return None
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            return i + 2 if i + 1 < len(argv) and argv[i + 1] in _GUNICORN_MODULES else None
        if arg.startswith("-") and not arg.startswith("--") and "m" in arg[1:]:
            # ``-mgunicorn`` or combined flags such as ``-Im gunicorn`` / ``-um gunicorn``
            flags, _, module = arg[1:].partition("m")
            if all(f.isalpha() for f in flags) and not any(f in "XWQc" for f in flags):
                if module:
                    return i + 1 if module in _GUNICORN_MODULES else None
                if i + 1 < len(argv):
                    return i + 2 if argv[i + 1] in _GUNICORN_MODULES else None
                return None
        if arg in _PY_FLAGS_WITH_VALUE:
            i += 2
            continue
        if arg.startswith("-") and arg != "-":
            i += 1
            continue
        return i + 1 if _is_script(arg) else None
    return None


def title_of(argv: Sequence[str]) -> tuple[str, str] | None:
    """``(role, name)`` from a setproctitle title, e.g. ``gunicorn: master [web]`` →
    ``("master", "web")``; None when ``argv`` is not such a title."""
    text = " ".join(argv).strip()
    if not text.startswith("gunicorn: "):
        return None
    rest = text[len("gunicorn: ") :]
    role, _, tail = rest.partition(" ")
    name = tail.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return (role if role in ("master", "worker") else "other"), name


def is_gunicorn(argv: Sequence[str]) -> bool:
    """True for a gunicorn master or worker, whether or not setproctitle renamed it."""
    return title_of(argv) is not None or launch_index(argv) is not None


def _to_int(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


#: gunicorn setting name (its argparse ``dest`` and its config-file name) → LaunchArgs field
_SETTINGS: dict[str, str] = {
    "workers": "workers",
    "worker_class": "worker_class",
    "bind": "binds",
    "timeout": "timeout",
    "pidfile": "pidfile",
    "control_socket": "control_socket",
    "control_socket_disable": "control_socket_disabled",
    "errorlog": "error_log",
    "config": "config",
    "proc_name": "name",
    "threads": "threads",
}
#: what a config file may set (``config`` itself is only read from the command line and env)
_FILE_SETTINGS = {k: v for k, v in _SETTINGS.items() if k != "config"}


class _ParseFailed(Exception):
    """gunicorn's argument parser refused the command line (gunicorn would exit too)."""


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise _ParseFailed


@dataclass
class _Gunicorn:
    """gunicorn's own argument parser and setting validators, built once."""

    parser: Any
    validators: dict[str, Callable[[Any], Any]]
    lock: Any


@functools.lru_cache(maxsize=1)
def _gunicorn() -> _Gunicorn | None:
    """gunicorn's ``Config`` parser (gunicorn is a dependency; it is imported, never run),
    with its exits and messages turned into an exception. None if gunicorn cannot load."""
    try:
        from gunicorn.config import Config
    except Exception:  # e.g. WEB_CONCURRENCY=abc in our own environment
        return None
    cfg = Config(prog="gunicorn")
    parser = cfg.parser()
    # an older gunicorn than the masters it looks at: still read their control socket options
    known = {a.dest for a in parser._actions}
    if "control_socket" not in known:
        parser.add_argument("--control-socket", dest="control_socket", default=None)
    if "control_socket_disable" not in known:
        parser.add_argument(
            "--no-control-socket", dest="control_socket_disable", action="store_true", default=None
        )
    parser.error = _refuse
    parser.exit = _refuse
    parser._print_message = lambda *_a, **_k: None  # -h / -v: never print
    validators = {name: cfg.settings[name].validator for name in _SETTINGS if name in cfg.settings}
    return _Gunicorn(parser, validators, threading.Lock())


def _store(out: LaunchArgs, setting: str, value: Any) -> bool:
    """Set one gunicorn setting on ``out`` after gunicorn's own validator; a value gunicorn
    would refuse (it would not have started) is not stored, and a value it cannot hold (a
    class object, ``None``) is left "not given". False when gunicorn would refuse it."""
    g = _gunicorn()
    validate = g.validators.get(setting) if g is not None else None
    try:
        if validate is not None:
            value = validate(value)
    except Exception:  # gunicorn's validators raise anything
        return False
    fname = _SETTINGS[setting]
    if fname in ("workers", "timeout", "threads"):
        if isinstance(value, int) and not isinstance(value, bool):
            setattr(out, fname, value)
    elif fname == "binds":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            out.binds = list(value)
    elif fname == "control_socket_disabled":
        out.control_socket_disabled = bool(value)
    elif isinstance(value, str):
        setattr(out, fname, value)
    return True


def parse_options(args: Sequence[str]) -> LaunchArgs:
    """Gunicorn options (after the program name) into :class:`LaunchArgs` (pure).

    Parsed by gunicorn's own argparse parser (``Config.parser()``), so every spelling
    gunicorn accepts (``-w4``, ``--workers=4``, ``--work 4``) reads the same; values go through
    gunicorn's validators. A command line this gunicorn cannot parse (one gunicorn would
    refuse, or made for another version) leaves every setting unknown.
    """
    unreadable = LaunchArgs(opaque=list(_SETTINGS.values()))
    g = _gunicorn()
    if g is None:
        return unreadable
    try:
        with g.lock:
            namespace, _ = g.parser.parse_known_args(list(args))
    except (_ParseFailed, ValueError, TypeError, RecursionError):
        return unreadable
    out = LaunchArgs()
    for setting in _SETTINGS:
        value = getattr(namespace, setting, None)
        if value is not None:
            _store(out, setting, value)
    return out


def _parse_argv(argv: tuple[str, ...]) -> LaunchArgs | None:
    start = launch_index(argv)
    if start is None:
        return None
    return parse_options(argv[start:])


_parse_argv_cached = functools.lru_cache(maxsize=256)(_parse_argv)


def parse_argv(argv: Sequence[str]) -> LaunchArgs | None:
    """:class:`LaunchArgs` from a full launch command line, or None if it is not gunicorn's."""
    args = _parse_argv_cached(tuple(argv))
    return None if args is None else replace(args, binds=list(args.binds), opaque=list(args.opaque))


# --------------------------------------------------------------------------- config files

#: bounds on what the constant folder builds (``2 ** 10 ** 10`` must not hang a scan)
_MAX_INT = 2**63
_MAX_LEN = 10_000


class _Unknown(Exception):
    """An expression whose value cannot be known without running code."""


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT:
        raise _Unknown
    if isinstance(value, float) and (value != value or abs(value) > _MAX_INT):
        raise _Unknown
    if isinstance(value, (str, list, tuple)) and len(value) > _MAX_LEN:
        raise _Unknown
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}


def _binop(op: ast.operator, a: Any, b: Any) -> Any:
    fn = _ARITH.get(type(op))
    if fn is None:
        raise _Unknown
    if _number(a) and _number(b):
        if isinstance(op, ast.Pow) and (abs(b) > 64 or abs(a) > _MAX_INT):
            raise _Unknown
    elif isinstance(op, ast.Add) and type(a) is type(b) and isinstance(a, (str, list, tuple)):
        if len(a) + len(b) > _MAX_LEN:
            raise _Unknown
    elif isinstance(op, ast.Mult) and isinstance(a, (str, list, tuple)) and _number(b):
        if not isinstance(b, int) or len(a) * max(b, 0) > _MAX_LEN:
            raise _Unknown
    elif isinstance(op, ast.Mult) and isinstance(b, (str, list, tuple)) and _number(a):
        return _binop(op, b, a)
    else:
        raise _Unknown  # no "%" formatting, no mixed types: a runtime error or too open
    try:
        return _bounded(fn(a, b))
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise _Unknown from exc


def _fold(node: ast.expr, names: Mapping[str, Any]) -> Any:
    """The value of a constant expression (pure, bounded): literals, tuples and lists,
    ``+ - * / // % **`` on numbers, ``+``/``*`` on strings and lists, f-strings of those,
    and names the module assigned such a value before. Anything else raises _Unknown."""
    if isinstance(node, ast.Constant):
        if node.value is None or isinstance(node.value, (bool, int, float, str)):
            return _bounded(node.value)
        raise _Unknown
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_fold(e, names) for e in node.elts if not isinstance(e, ast.Starred)]
        if len(items) != len(node.elts):
            raise _Unknown
        return _bounded(tuple(items) if isinstance(node, ast.Tuple) else items)
    if isinstance(node, ast.Name):
        if node.id in names:
            value = names[node.id]
            return list(value) if isinstance(value, list) else value
        raise _Unknown
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _fold(node.operand, names)
        if not _number(operand):
            raise _Unknown
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp):
        return _binop(node.op, _fold(node.left, names), _fold(node.right, names))
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                parts.append(part.value)
            elif (
                isinstance(part, ast.FormattedValue)
                and part.conversion == -1
                and part.format_spec is None
            ):
                value = _fold(part.value, names)
                if not isinstance(value, (str, int)) or isinstance(value, bool):
                    raise _Unknown
                parts.append(str(value))
            else:
                raise _Unknown
        return _bounded("".join(parts))
    raise _Unknown


def _bound_names(node: ast.AST) -> list[str]:
    """Every module-level name a statement may bind (assignments, imports, loops, ``with``,
    walrus, ``def``/``class``), for statements whose effect is not read precisely."""
    found: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            found.append(sub.id)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            found += [(a.asname or a.name).split(".")[0] for a in sub.names]
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append(sub.name)
        elif isinstance(sub, (ast.Global, ast.Nonlocal)):
            found += sub.names
    return found


_STAR = "*"
#: names through which a module can set its globals without a plain assignment
_DYNAMIC = {"exec", "eval", "globals", "vars", "locals", "setattr", "__import__", "compile"}


def _read_module(tree: ast.Module) -> tuple[dict[str, Any], set[str]]:
    """Module-level names → folded values, and the names whose value is unknown. Statements
    run in order and the last binding wins, as when gunicorn executes the file."""
    known: dict[str, Any] = {}
    unknown: set[str] = set()

    def bind(name: str, value: Any) -> None:
        known[name] = value
        unknown.discard(name)

    def lose(name: str) -> None:
        known.pop(name, None)
        unknown.add(name)

    def assign(target: ast.expr, value: ast.expr | None, folded: Any = None) -> None:
        if isinstance(target, ast.Name):
            try:
                bind(target.id, _fold(value, known) if value is not None else folded)
            except _Unknown:
                lose(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
            if len(target.elts) == len(value.elts) and not any(
                isinstance(e, ast.Starred) for e in (*target.elts, *value.elts)
            ):
                for t, v in zip(target.elts, value.elts):
                    assign(t, v)
            else:
                for name in _bound_names(target):
                    lose(name)
        else:
            for name in _bound_names(target):
                lose(name)  # ``x.y = ...`` binds nothing; ``a, *b = f()`` is unknown

    for node in tree.body:
        if any(isinstance(n, ast.Name) and n.id in _DYNAMIC for n in ast.walk(node)):
            # ``globals()["workers"] = ...``, ``exec(...)``: anything may change
            for name in _bound_names(node):
                lose(name)
            known.clear()
            unknown.add(_STAR)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # a hook's body runs later (its locals are not settings); ``global`` names it
            # declares may be set whenever it is called
            lose(node.name)
            for sub in ast.walk(node):
                if isinstance(sub, ast.Global):
                    for name in sub.names:
                        lose(name)
        elif isinstance(node, ast.Assign):
            if len(node.targets) > 1 or not isinstance(node.targets[0], ast.Name):
                for target in node.targets:
                    assign(target, node.value)
            else:
                assign(node.targets[0], node.value)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:  # ``workers: int`` alone binds nothing
                assign(node.target, node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            try:
                if name not in known:
                    raise _Unknown
                bind(name, _binop(node.op, known[name], _fold(node.value, known)))
            except _Unknown:
                lose(name)
        elif isinstance(node, ast.Delete):
            for name in _bound_names(node):
                known.pop(name, None)
                unknown.discard(name)  # deleted: not set at all
        elif isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            known.clear()
            unknown.add(_STAR)  # ``from settings import *`` may set anything
        elif isinstance(node, (ast.Expr, ast.Pass)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.NamedExpr):
                    lose(sub.target.id)
        else:
            # if/try/for/while/with/match/def/class/import: whatever they bind is not
            # known from reading them (a branch may or may not run)
            for name in _bound_names(node):
                lose(name)
    return known, unknown


def parse_config_py(text: str) -> LaunchArgs:
    """The settings a gunicorn config file sets, read statically (pure; never executes it).

    Module-level ``name = value`` and ``name: type = value`` are read in order, the last
    binding winning, as gunicorn's ``exec`` of the file would leave them; constant
    expressions are folded (``timeout = 5 * 60``, ``bind = f"0.0.0.0:{PORT}"`` with ``PORT``
    a constant set above). A value that needs code to run (``workers = cpu_count() * 2``,
    ``os.environ.get(...)``, an assignment under ``if``) is unknown: listed in ``opaque``,
    never replaced by gunicorn's default. A file that is not valid Python gives no settings.
    """
    out = LaunchArgs()
    try:
        tree = ast.parse(text)
        known, unknown = _read_module(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return out
    for setting, fname in _FILE_SETTINGS.items():
        if setting in unknown or (_STAR in unknown and setting not in known):
            out.opaque.append(fname)
            continue
        if setting not in known:
            continue
        if not _store(out, setting, known[setting]):
            out.opaque.append(fname)  # a value gunicorn itself would refuse
    return out


def merge_args(*layers: LaunchArgs | None) -> LaunchArgs:
    """Later layers win, as gunicorn loads them: config file < ``GUNICORN_CMD_ARGS`` <
    command line. A layer's unknown (``opaque``) setting hides what earlier layers said."""
    out = LaunchArgs()
    for layer in layers:
        if layer is None:
            continue
        for name in LaunchArgs.__dataclass_fields__:
            if name == "opaque":
                continue
            value = getattr(layer, name)
            given = (
                bool(value) if name in ("binds", "control_socket_disabled") else (value is not None)
            )
            if given:
                setattr(out, name, list(value) if name == "binds" else value)
                if name in out.opaque:
                    out.opaque.remove(name)
            elif name in layer.opaque:
                setattr(
                    out,
                    name,
                    []
                    if name == "binds"
                    else (False if name == "control_socket_disabled" else None),
                )
                if name not in out.opaque:
                    out.opaque.append(name)
    return out


def _unknown_settings(args: LaunchArgs, command_line_known: bool) -> list[str]:
    """Which of ``workers``, ``worker_class`` and ``timeout`` cannot be read from ``args``
    (merged from every layer): all three when the master's command line is not known (a
    setproctitle title and no supervisor command to read it from)."""
    if not command_line_known:
        return ["workers", "worker_class", "timeout"]
    out: list[str] = [name for name in ("workers", "timeout") if name in args.opaque]
    if effective_worker_class(args) is None:
        out.append("worker_class")
    return out


def _is_sync(value: str) -> bool:
    return value == "sync" or value.endswith("SyncWorker")


def effective_worker_class(args: LaunchArgs) -> str | None:
    """The worker class gunicorn runs for these settings, short (``sync``, ``gthread``), or
    None when it cannot be known. As gunicorn's ``Config.worker_class``: the default ``sync``
    class with ``threads`` > 1 runs ``gthread``."""
    if "worker_class" in args.opaque:
        return None
    value = args.worker_class or DEFAULT_WORKER_CLASS
    if _is_sync(value):
        if "threads" in args.opaque:
            return None  # sync or gthread, depending on a value we cannot read
        if (args.threads or 1) > 1:
            return "gthread"
    return short_worker_class(value)


_CLASS_ALIASES = {
    "syncworker": "sync",
    "threadworker": "gthread",
    "geventworker": "gevent",
    "eventletworker": "eventlet",
    "tornadoworker": "tornado",
    "uvicornworker": "uvicorn",
    "asgiworker": "asgi",
}


def short_worker_class(value: str | None) -> str:
    """``"gthread"``, ``"gunicorn.workers.sync.SyncWorker"`` or ``"<class '...SyncWorker'>"``
    → a short name (``gthread``, ``sync``); None → ``sync`` (gunicorn's default)."""
    if not value:
        return DEFAULT_WORKER_CLASS
    text = value.strip()
    match = re.fullmatch(r"<class '([^']*)'>", text)
    if match:
        text = match.group(1)
    last = text.rsplit(".", 1)[-1]
    if "." in text or last.lower().endswith("worker"):
        alias = _CLASS_ALIASES.get(last.lower())
        if alias:
            return alias
        if text.startswith("gunicorn.workers.") and "." in text:
            module = text.split(".")[2]
            return {"ggevent": "gevent", "geventlet": "eventlet", "gtornado": "tornado"}.get(
                module, module
            )
        return last
    return text or DEFAULT_WORKER_CLASS


def parse_scale_spec(spec: str) -> tuple[str, int]:
    """``"+2"`` → ``("+", 2)``, ``"-1"`` → ``("-", 1)``, ``"3"`` → ``("=", 3)`` (pure).

    Raises GunicornError for anything else (``"+0"``, ``"abc"``, ``"2.5"``).
    """
    text = spec.strip()
    match = re.fullmatch(r"([+-]?)(\d{1,6})", text)
    if not match:
        raise GunicornError(
            f"not a worker count: {spec!r}", "use +N (add), -N (remove) or N (exact count)"
        )
    sign, digits = match.groups()
    number = int(digits)
    if sign and number == 0:
        raise GunicornError(f"{spec!r} changes nothing", "use +1, -1 or an exact count")
    return (sign or "="), number


def scale_target(current: int, spec: tuple[str, int]) -> int:
    """The worker count a spec asks for, starting from ``current`` (pure; may be < 1)."""
    sign, number = spec
    if sign == "+":
        return current + number
    if sign == "-":
        return current - number
    return number


def is_heartbeat_link(target: str) -> bool:
    """True for a ``/proc/<pid>/fd`` link to a worker's unlinked heartbeat file."""
    return "wgunicorn-" in os.path.basename(target.removesuffix(" (deleted)")) and target.endswith(
        " (deleted)"
    )


def worker_flags(
    heartbeat_age: float | None,
    timeout: float,
    rss: int | None,
    median_rss: float | None,
    status: str = "",
) -> list[str]:
    """Flags for one worker (pure): stuck heartbeat, RSS above 2× the median, stopped."""
    flags: list[str] = []
    if heartbeat_age is not None and heartbeat_age > timeout / 2 + STUCK_GRACE:
        flags.append("stuck")
    if status == psutil.STATUS_STOPPED:
        flags.append("stopped")
    if rss is not None and median_rss and rss > RSS_FACTOR * median_rss:
        flags.append("rss-high")
    return flags


def flag_label(flags: Sequence[str]) -> str:
    """``["stuck"]`` → ``"◆ stuck"`` (symbol and words, readable without colour)."""
    return "  ".join(
        f"{FLAG_TEXT.get(f, ('!', f))[0]} {FLAG_TEXT.get(f, ('!', f))[1]}" for f in flags
    )


# --------------------------------------------------------------------------- models


@dataclass
class Worker:
    """One worker process of a master."""

    pid: int
    identity: ProcIdentity
    age: float  # seconds since it started
    cpu_percent: float | None = None  # None on the first sample
    rss: int | None = None
    threads: int | None = None
    connections: int | None = None  # open TCP connections (listening socket not counted)
    heartbeat_age: float | None = None  # seconds since its last heartbeat
    status: str = ""
    flags: list[str] = field(default_factory=list)


@dataclass
class Master:
    """One gunicorn master (arbiter) with what is known about it."""

    pid: int
    identity: ProcIdentity
    name: str
    program: str | None = None  # supervisor program (fullname) when under supervisor
    server: str | None = None  # which supervisord
    binds: list[str] = field(default_factory=list)
    worker_class: str = DEFAULT_WORKER_CLASS
    configured: int | None = None  # -w / --workers / config file; None = unknown
    live: int = 0
    target: int | None = None
    target_source: str = "configured"  # control socket | requested | configured | unknown
    uptime: float = 0.0
    timeout: int = DEFAULT_TIMEOUT  # what waits use; gunicorn's default when unknown
    #: settings that cannot be read (``worker_class``, ``timeout``): shown as unknown
    unknown: list[str] = field(default_factory=list)
    control_socket: str | None = None
    error_log: str | None = None
    pidfile: str | None = None
    cwd: str | None = None
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    stats: CtlStats | None = None
    found_by: str = "scan"  # supervisor | pidfile | scan

    @property
    def label(self) -> str:
        """``gunicorn master 1234 (web)`` — how messages name it."""
        return f"gunicorn master {self.pid} ({self.program or self.name})"

    @property
    def ctl_usable(self) -> bool:
        """A control socket proven to be this master's at the last scan (and not down)."""
        return self.control_socket is not None and not (
            {"ctl-down", "ctl-shared"} & set(self.flags)
        )

    @property
    def timeout_text(self) -> str:
        """``"30s"``, or ``"unknown"`` when the master's timeout cannot be read."""
        return UNKNOWN if "timeout" in self.unknown else f"{self.timeout}s"

    @property
    def unknown_settings(self) -> list[str]:
        """Every setting shown as unknown, the worker count included."""
        return (["workers"] if self.configured is None else []) + list(self.unknown)

    @property
    def scale_base(self) -> int:
        """The worker count a relative scale starts from: the master's own target when known
        (control socket, or what opsconsole asked for last), else the live count."""
        if self.target is not None and self.target_source in ("control socket", "requested"):
            return self.target
        return self.live

    @property
    def drift_note(self) -> str | None:
        """Says so when the live count differs from the configured one (TTIN/TTOU do not
        survive a restart)."""
        if self.configured is None or self.live == self.configured:
            return None
        return (
            f"running {self.live} workers, configured {self.configured}: "
            f"restarting the program returns to {self.configured}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "name": self.name,
            "program": self.program,
            "server": self.server,
            "binds": self.binds,
            "worker_class": self.worker_class,
            "configured": self.configured,
            "live": self.live,
            "target": self.target,
            "target_source": self.target_source,
            "uptime": round(self.uptime, 1),
            "timeout": None if "timeout" in self.unknown else self.timeout,
            "unknown": self.unknown_settings,
            "control_socket": self.control_socket,
            "error_log": self.error_log,
            "pidfile": self.pidfile,
            "found_by": self.found_by,
            "flags": self.flags,
            "notes": self.notes,
            "workers": [
                {
                    "pid": w.pid,
                    "age": round(w.age, 1),
                    "cpu_percent": w.cpu_percent,
                    "rss": w.rss,
                    "threads": w.threads,
                    "connections": w.connections,
                    "heartbeat_age": None if w.heartbeat_age is None else round(w.heartbeat_age, 2),
                    "status": w.status,
                    "flags": w.flags,
                }
                for w in self.workers
            ],
        }


# --------------------------------------------------------------------------- discovery


@dataclass
class _Proc:
    pid: int
    ppid: int
    argv: tuple[str, ...]
    create_time: float
    status: str


def _process_table() -> dict[int, _Proc]:
    table: dict[int, _Proc] = {}
    for p in psutil.process_iter(["pid", "ppid", "cmdline", "create_time", "status"]):
        info = p.info
        status = info.get("status") or ""
        if status in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            continue
        argv = info.get("cmdline") or []
        table[int(info["pid"])] = _Proc(
            int(info["pid"]),
            int(info.get("ppid") or 0),
            tuple(argv),
            float(info.get("create_time") or 0.0),
            str(status),
        )
    return table


def _read_proc(pid: int) -> _Proc | None:
    """One process as the discovery table has it, or None when it is gone or a zombie."""
    try:
        ps = psutil.Process(pid)
        with ps.oneshot():
            proc = _Proc(pid, ps.ppid(), tuple(ps.cmdline()), ps.create_time(), ps.status())
    except psutil.Error:
        return None
    if proc.status in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
        return None
    return proc


@dataclass
class _Known:
    """A master as the last discovery described it, without its workers."""

    template: Master
    argv: tuple[str, ...]
    ctl_workers: Mapping[int, Any]


def _children(table: Mapping[int, _Proc]) -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for proc in table.values():
        kids.setdefault(proc.ppid, []).append(proc.pid)
    return kids


def classify(
    argv: Sequence[str], parent_argv: Sequence[str] | None, has_same_children: bool = False
) -> str | None:
    """``"master"``, ``"worker"``, ``"other"`` (another gunicorn process) or None (pure).

    With setproctitle the title says it; without, a gunicorn process whose parent runs the
    same command (or is a titled master) is a worker — unless it has children running the same
    command itself (a new master forked by USR2).
    """
    titled = title_of(argv)
    if titled is not None:
        return titled[0]
    if launch_index(argv) is None:
        return None
    if parent_argv is not None:
        parent_title = title_of(parent_argv)
        same = tuple(parent_argv) == tuple(argv)
        if (same or (parent_title is not None and parent_title[0] == "master")) and not (
            has_same_children
        ):
            return "worker"
    return "master"


def _role(pid: int, table: Mapping[int, _Proc], kids: Mapping[int, list[int]]) -> str | None:
    proc = table[pid]
    parent = table.get(proc.ppid)
    same_kids = any(table[k].argv == proc.argv for k in kids.get(pid, []) if k in table)
    role = classify(proc.argv, parent.argv if parent else None, same_kids)
    if role == "master" and parent is not None and _newborn(proc, parent.argv):
        return None  # a worker forked a moment ago still wears its master's title
    return role


#: a child that still has its master's process title this soon after the fork is a worker
#: that has not renamed itself yet, not a new master (USR2 exec's and keeps the title)
NEWBORN_SECONDS = 2.0


def _newborn(proc: _Proc, parent_argv: Sequence[str]) -> bool:
    return (
        tuple(proc.argv) == tuple(parent_argv) and time.time() - proc.create_time < NEWBORN_SECONDS
    )


def _resolve(path: str | None, cwd: str | None) -> str | None:
    if not path or path == "-":
        return path
    if os.path.isabs(path) or not cwd:
        return path
    return os.path.normpath(os.path.join(cwd, path))


def _read_pidfile(path: str) -> int | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return _to_int(fh.read(32))
    except OSError:
        return None


def fd_facts(pid: int) -> tuple[float | None, set[int] | None]:
    """One pass over a process's open files: (heartbeat change time, socket inodes).

    The heartbeat is the unlinked temp file gunicorn's worker touches. Either is None when it
    cannot be known (the fds belong to another user, no heartbeat file).
    """
    best: float | None = None
    base = f"/proc/{pid}/fd"
    try:
        entries = os.listdir(base)
    except OSError:
        return None, None
    sockets: set[int] = set()
    for fd in entries:
        path = f"{base}/{fd}"
        try:
            target = os.readlink(path)
        except OSError:
            continue
        if target.startswith("socket:["):
            inode = _to_int(target[8:-1])
            if inode:
                sockets.add(inode)
            continue
        if not is_heartbeat_link(target):
            continue
        try:
            ctime = os.stat(path).st_ctime
        except OSError:
            continue
        best = ctime if best is None else max(best, ctime)
    return best, sockets


def open_tcp_inodes() -> set[int] | None:
    """Inodes of this network namespace's TCP sockets that are not listening (one read of
    /proc/net/tcp and tcp6), or None when neither table is readable (not Linux)."""
    inodes: set[int] = set()
    readable = False
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path, encoding="ascii", errors="replace") as fh:
                next(fh, None)
                for line in fh:
                    parts = line.split()
                    if len(parts) > 9 and parts[3] != "0A" and parts[9] != "0":
                        inode = _to_int(parts[9])
                        if inode:
                            inodes.add(inode)
        except OSError:
            continue
        readable = True
    return inodes if readable else None


def child_pids(pid: int) -> list[int] | None:
    """Children of ``pid`` from the kernel's per-thread lists (``/proc/PID/task/*/children``):
    no walk over every process. None when the kernel does not offer them."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    out: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                out += [int(x) for x in fh.read().split()]
        except FileNotFoundError:
            if tid == str(pid):
                return None  # no CONFIG_PROC_CHILDREN, or the process is gone
        except (OSError, ValueError):
            continue
    return out


def _format_addr(addr: Any) -> str:
    ip, port = addr[0], addr[1]
    return f"[{ip}]:{port}" if ":" in str(ip) else f"{ip}:{port}"


class GunicornScanner:
    """Finds masters and keeps what must survive between refreshes: CPU samples, since when a
    master is below target, and the target opsconsole asked for last (per master identity).

    Not thread-safe: use one scanner from one thread at a time (the actions only touch the
    small ``requested`` dict, which is safe enough under the GIL).
    """

    def __init__(self, *, use_control_socket: bool = True) -> None:
        self.use_control_socket = use_control_socket
        self._cpu: dict[tuple[int, float], psutil.Process] = {}
        #: open TCP socket inodes, read at most once per scan and only when needed
        self._open_tcp: set[int] | None = None
        self._tcp_read = False
        #: socket inode → (an open TCP connection?, when that was read)
        self._sockets: dict[int, tuple[bool, float]] = {}
        #: what the last discovery learnt, per master: reused by the refreshes in between
        self._known: dict[tuple[int, float], _Known] = {}
        self._worker_procs: dict[int, _Proc] = {}
        self._discovered_at = 0.0
        self._programs_seen: frozenset[tuple[str | None, str, int]] | None = None
        self.discoveries = 0
        #: master key → (when read, TCP listen addresses, unix socket paths)
        self._listen_cache: dict[Any, tuple[float, list[str], list[str]]] = {}
        self._under_since: dict[tuple[int, float], float] = {}
        self.requested: dict[tuple[int, float], int] = {}
        self._ctl_config: dict[tuple[int, float], tuple[int | None, dict[str, Any]]] = {}
        self._ctl_failures: dict[tuple[int, float], int] = {}

    @staticmethod
    def key(identity: ProcIdentity) -> tuple[int, float]:
        return (identity.pid, round(identity.create_time, 2))

    def remember_target(self, master: Master, target: int) -> None:
        self.requested[self.key(master.identity)] = target
        self.rediscover()

    def forget_target(self, master: Master) -> None:
        self.requested.pop(self.key(master.identity), None)
        self.rediscover()

    def rediscover(self) -> None:
        """Make the next :meth:`scan` a full discovery (after an action changed a master)."""
        self._discovered_at = 0.0

    # -- scan ----------------------------------------------------------------

    def scan(
        self,
        programs: Sequence[ProcessInfo] = (),
        commands: Mapping[str, str] | None = None,
        *,
        full: bool = False,
    ) -> list[Master]:
        """Every gunicorn master on this machine, each tied to its supervisor program when
        there is one. ``programs`` must come from supervisords on this machine; ``commands``
        (program fullname → command=) helps when setproctitle hid the launch command.

        A full discovery (every process on the machine, each master's environment, config
        file, sockets and control socket) runs every ``DISCOVERY_SECONDS``, when the programs
        changed, when a known master is gone or forked a new master, after an action, or with
        ``full``. The scans in between only re-read the known masters' children and each
        worker's usage, heartbeat and connections: the cost of a refresh is then close to one
        psutil pass over the same pids. A master started by hand outside supervisor shows up
        at the next discovery.
        """
        running = frozenset(
            (info.server, info.fullname, info.pid)
            for info in programs
            if info.pid > 0 and info.state in (ProcessState.RUNNING, ProcessState.STARTING)
        )
        due = time.monotonic() - self._discovered_at >= DISCOVERY_SECONDS
        if not (full or due or running != self._programs_seen):
            refreshed = self._refresh()
            if refreshed is not None:
                return refreshed
        masters = self._discover(programs, commands)
        self._programs_seen = running
        self._discovered_at = time.monotonic()
        self.discoveries += 1
        return masters

    def _refresh(self) -> list[Master] | None:
        """The known masters with fresh workers, or None when a full discovery is needed."""
        now = time.time()
        self._tcp_read = False
        out: list[Master] = []
        seen: set[int] = set()
        for key, known in self._known.items():
            template = known.template
            pid = template.pid
            if procs.process_start_time(pid) != template.identity.create_time:
                return None  # gone, or the pid is another process now
            kids = child_pids(pid)
            if kids is None:
                return None
            workers: list[_Proc] = []
            for kid in kids:
                proc = self._worker_procs.get(kid)
                if proc is None:
                    proc = _read_proc(kid)
                    if proc is None:
                        continue
                    role = classify(proc.argv, known.argv)
                    if role == "master" and _newborn(proc, known.argv):
                        continue  # a worker not yet renamed: look again next time
                    if role == "master":
                        return None  # USR2 forked a new master: discover it
                    if role != "worker":
                        continue
                    self._worker_procs[kid] = proc
                seen.add(kid)
                workers.append(proc)
            master = replace(
                template,
                binds=list(template.binds),
                flags=list(template.flags),
                notes=list(template.notes),
                workers=[],
                uptime=max(0.0, now - template.identity.create_time),
            )
            self._finish(master, workers, known.ctl_workers, now, key)
            out.append(master)
        for pid in list(self._worker_procs):
            if pid not in seen:
                del self._worker_procs[pid]
        return out

    def _discover(
        self, programs: Sequence[ProcessInfo], commands: Mapping[str, str] | None
    ) -> list[Master]:
        table = _process_table()
        kids = _children(table)
        roles = {pid: _role(pid, table, kids) for pid in table}
        self._tcp_read = False
        self._known = {}
        self._worker_procs = {}
        by_pid: dict[int, ProcessInfo] = {}
        for info in programs:
            if info.pid > 0 and info.state in (ProcessState.RUNNING, ProcessState.STARTING):
                by_pid[info.pid] = info
        found: dict[int, str] = {}
        owner: dict[int, ProcessInfo] = {}
        # 1. Supervisor: walk down from each program's pid (a shell wrapper, a venv launcher).
        for pid, info in by_pid.items():
            for master_pid in self._masters_below(pid, table, kids, roles):
                found.setdefault(master_pid, "supervisor")
                owner.setdefault(master_pid, info)
        # 2. Every master by role; 3. pidfiles named on the command lines.
        for pid, role in roles.items():
            if role == "master":
                found.setdefault(pid, "scan")
        for pid in list(found):
            args = parse_argv(table[pid].argv)
            if args is None or not args.pidfile:
                continue
            named = _read_pidfile(_resolve(args.pidfile, _cwd(pid)) or args.pidfile)
            if named and named in table and named not in found and roles.get(named) is not None:
                found[named] = "pidfile"
        # A master found by scan may still be under a program (deeper wrapper chains).
        for pid in found:
            if pid in owner:
                continue
            walker = table[pid].ppid
            for _ in range(8):
                if walker in by_pid:
                    owner[pid] = by_pid[walker]
                    break
                parent = table.get(walker)
                if parent is None:
                    break
                walker = parent.ppid
        masters = []
        for pid, how in sorted(found.items()):
            try:
                masters.append(
                    self._describe(pid, how, table, kids, roles, owner.get(pid), commands or {})
                )
            except psutil.NoSuchProcess:
                continue
        live_keys = {self.key(m.identity) for m in masters}
        for d in (
            self._under_since,
            self.requested,
            self._ctl_config,
            self._ctl_failures,
            self._listen_cache,
        ):
            for k in list(d):
                if k not in live_keys:
                    del d[k]
        return masters

    def _listening(self, ps: psutil.Process, identity: ProcIdentity) -> tuple[list[str], list[str]]:
        """(TCP listen addresses, unix socket paths) of a master, cached for a while: parsing
        /proc/net for every master on every refresh was most of a scan's cost."""
        key = self.key(identity)
        cached = self._listen_cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < LISTEN_CACHE_SECONDS:
            return list(cached[1]), list(cached[2])
        inet: list[str] = []
        unix: list[str] = []
        for conn in ps.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr:
                inet.append(_format_addr(conn.laddr))
        for conn in ps.net_connections(kind="unix"):
            path = conn.laddr if isinstance(conn.laddr, str) else ""
            if path and not conn.raddr:
                unix.append(path)
        self._listen_cache[key] = (now, inet, unix)
        return list(inet), list(unix)

    @staticmethod
    def _masters_below(
        pid: int,
        table: Mapping[int, _Proc],
        kids: Mapping[int, list[int]],
        roles: Mapping[int, str | None],
        depth: int = 4,
    ) -> list[int]:
        if pid not in table:
            return []
        if roles.get(pid) == "master":
            return [pid]
        out: list[int] = []
        frontier = [pid]
        for _ in range(depth):
            nxt: list[int] = []
            for parent in frontier:
                for child in kids.get(parent, []):
                    if roles.get(child) == "master":
                        out.append(child)
                    elif roles.get(child) is None:
                        nxt.append(child)  # keep walking through wrappers, not into workers
            if out:
                return out
            frontier = nxt
        return out

    def _describe(
        self,
        pid: int,
        how: str,
        table: Mapping[int, _Proc],
        kids: Mapping[int, list[int]],
        roles: Mapping[int, str | None],
        program: ProcessInfo | None,
        commands: Mapping[str, str],
    ) -> Master:
        proc = table[pid]
        now = time.time()
        identity = ProcIdentity(pid, proc.create_time, proc.argv)
        ps = psutil.Process(pid)
        cwd = _cwd(pid)
        cmd_args = parse_argv(proc.argv)
        if cmd_args is None and program is not None and program.fullname in commands:
            try:
                cmd_args = parse_argv(shlex.split(commands[program.fullname]))
            except ValueError:
                cmd_args = None
        env_args: LaunchArgs | None = None
        web_concurrency: int | None = None
        env_read = False
        try:
            env = ps.environ()
            env_read = True
            if env.get("GUNICORN_CMD_ARGS"):
                env_args = parse_options(shlex.split(env["GUNICORN_CMD_ARGS"]))
            web_concurrency = _to_int(env.get("WEB_CONCURRENCY", "1"))  # gunicorn's default -w
        except (psutil.Error, ValueError, OSError):
            pass
        file_args = self._config_file(cmd_args, env_args, cwd)
        args = merge_args(file_args, env_args, cmd_args)
        unknown = _unknown_settings(args, cmd_args is not None)
        titled = title_of(proc.argv)
        name = args.name or (titled[1] if titled else "") or (program.name if program else "")
        master = Master(
            pid=pid,
            identity=identity,
            name=name or "gunicorn",
            program=program.fullname if program else None,
            server=program.server if program else None,
            worker_class=effective_worker_class(args) or UNKNOWN,
            configured=args.workers,
            uptime=max(0.0, now - proc.create_time),
            timeout=args.timeout if args.timeout is not None else DEFAULT_TIMEOUT,
            unknown=[u for u in unknown if u != "workers"],
            pidfile=_resolve(args.pidfile, cwd),
            cwd=cwd,
            found_by=how,
        )
        if "workers" in unknown:
            master.configured = None  # computed, or from a command line we cannot see
        elif master.configured is None and env_read:
            master.configured = web_concurrency  # set nowhere: $WEB_CONCURRENCY, else 1
        # Listening sockets.
        unix_binds = {b[len("unix:") :] for b in args.binds if b.startswith("unix:")}
        unix_listen: list[str] = []
        try:
            inet, unix_listen = self._listening(ps, identity)
            master.binds += inet
        except (psutil.AccessDenied, OSError):
            master.binds = list(args.binds)
        master.binds += [f"unix:{p}" for p in unix_listen if p in unix_binds]
        if not master.binds:
            master.binds = list(args.binds) or [DEFAULT_BIND]
        # Control socket: a unix socket the master listens on that is not one of its binds.
        if not args.control_socket_disabled:
            candidates = [p for p in unix_listen if p not in unix_binds]
            if args.control_socket and _resolve(args.control_socket, cwd) in candidates:
                master.control_socket = _resolve(args.control_socket, cwd)
            elif candidates:
                ctl = [p for p in candidates if p.endswith(".ctl")]
                master.control_socket = (ctl or candidates)[0]
        ctl_workers: dict[int, Any] = {}
        key = self.key(identity)
        failed_before = self._ctl_failures.get(key, 0)
        # A socket that failed several scans in a row is retried only every 10th scan, so a
        # dead control server does not cost every refresh its connect timeout.
        skip_ctl = failed_before >= 2 and failed_before % 10 != 0
        if skip_ctl:
            self._ctl_failures[key] = failed_before + 1
            master.flags.append("ctl-down")
        if master.control_socket and self.use_control_socket and not skip_ctl:
            try:
                # The client checks that this master is the one listening before each
                # command: another master may have bound the same path (NotTheMaster).
                client = ControlClient(
                    master.control_socket, expect=identity, timeout=1.0, retry_for=0.3
                )
                master.stats = parse_stats(client.command("show", ["stats"]))
                ctl_workers = {w.pid: w for w in parse_workers(client.command("show", ["workers"]))}
                # The configuration only changes on reload: ask again when reloads moves.
                cached = self._ctl_config.get(key)
                if cached is None or cached[0] != master.stats.reloads:
                    cached = (master.stats.reloads, client.command("show", ["config"]))
                    self._ctl_config[key] = cached
                cfg = cached[1]
                self._ctl_failures.pop(key, None)
                if isinstance(cfg.get("workers"), int) and not isinstance(cfg["workers"], bool):
                    master.configured = cfg["workers"]
                if isinstance(cfg.get("timeout"), int) and args.timeout is None:
                    master.timeout = int(cfg["timeout"])
                if isinstance(cfg.get("worker_class"), str) and args.worker_class is None:
                    master.worker_class = short_worker_class(cfg["worker_class"])
                if isinstance(cfg.get("proc_name"), str) and not args.name and not titled:
                    master.name = cfg["proc_name"] or master.name
            except NotTheMaster as exc:
                # Another master answers on this path: nothing of its answers is this
                # master's. Stats come from /proc, scaling uses signals; said so.
                master.stats, ctl_workers = None, {}
                self._ctl_failures.pop(key, None)
                master.flags.append("ctl-shared")
                master.notes.append(exc.message)
            except ControlSocketError as exc:
                # Gunicorn restarts its control server around every fork, so one miss
                # while workers spawn is normal; two in a row is not.
                failures = self._ctl_failures.get(key, 0) + 1
                self._ctl_failures[key] = failures
                if failures >= 2:
                    master.flags.append("ctl-down")
                    master.notes.append(exc.message)
        # What the master itself said on its control socket is no longer unknown.
        answered = self._ctl_config.get(key) if master.stats is not None else None
        if answered is not None and master.unknown:
            said = answered[1]
            if isinstance(said.get("worker_class"), str):
                master.worker_class = short_worker_class(said["worker_class"])
                master.unknown = [u for u in master.unknown if u != "worker_class"]
            if isinstance(said.get("timeout"), int) and not isinstance(said["timeout"], bool):
                master.timeout = said["timeout"]
                master.unknown = [u for u in master.unknown if u != "timeout"]
        # Error log.
        err = args.error_log
        if err and err != "-":
            master.error_log = _resolve(err, cwd)
        elif program is not None and program.stderr_logfile:
            master.error_log = program.stderr_logfile
        # Pidfile agreement.
        if master.pidfile:
            named = _read_pidfile(master.pidfile)
            if named != pid and not (named is not None and roles.get(named) == "master"):
                master.flags.append("pidfile-stale")
                master.notes.append(
                    f"pidfile {master.pidfile} names {named or 'nothing'}, not {pid}"
                )
        # What the refreshes until the next discovery reuse.
        self._known[key] = _Known(
            replace(
                master, binds=list(master.binds), flags=list(master.flags), notes=list(master.notes)
            ),
            proc.argv,
            ctl_workers,
        )
        workers = [table[k] for k in kids.get(pid, []) if k in table and roles.get(k) == "worker"]
        self._worker_procs.update((w.pid, w) for w in workers)
        self._finish(master, workers, ctl_workers, now, key)
        return master

    def _finish(
        self,
        master: Master,
        workers: Sequence[_Proc],
        ctl_workers: Mapping[int, Any],
        now: float,
        key: tuple[int, float],
    ) -> None:
        """Workers, their flags, the live and target counts, and the notes that follow."""
        facts = [self._worker(p, master.timeout, now, ctl_workers.get(p.pid)) for p in workers]
        # Connections: a worker's sockets that its master does not hold too (the listening
        # sockets are inherited) and that the kernel's TCP table lists as not listening.
        inherited = fd_facts(master.pid)[1] or set()
        for worker, sockets in facts:
            own = sockets - inherited if sockets is not None else None
            worker.connections = None if own is None else self._count_tcp(own)
        master.workers = [
            w for w, _ in facts if w.status not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
        ]
        rss = [w.rss for w in master.workers if w.rss is not None]
        median_rss = statistics.median(rss) if len(rss) >= 2 else None
        for w in master.workers:
            # a timeout we cannot read cannot say a heartbeat is late
            timeout = float("inf") if "timeout" in master.unknown else master.timeout
            w.flags = worker_flags(w.heartbeat_age, timeout, w.rss, median_rss, w.status)
            cw = ctl_workers.get(w.pid)
            if cw is not None and cw.aborted:
                w.flags.append("aborted")
        master.live = len(master.workers)
        # Target and "below target for a while".
        if master.stats is not None and master.stats.workers_target is not None:
            master.target, master.target_source = master.stats.workers_target, "control socket"
        elif key in self.requested:
            master.target, master.target_source = self.requested[key], "requested"
        elif master.configured is not None:
            master.target, master.target_source = master.configured, "configured"
        else:
            master.target, master.target_source = None, "unknown"
        if master.target is not None and master.live < master.target:
            since = self._under_since.setdefault(key, time.monotonic())
            if time.monotonic() - since > UNDER_TARGET_GRACE:
                master.flags.append("under-target")
                master.notes.append(
                    f"{master.live} of {master.target} workers for "
                    f"{time.monotonic() - since:.0f} s: workers may fail to boot; "
                    f"see {master.error_log or 'the error log'}"
                )
        else:
            self._under_since.pop(key, None)
        drift = master.drift_note
        if drift:
            master.notes.append(drift)

    @staticmethod
    def _config_file(
        cmd_args: LaunchArgs | None, env_args: LaunchArgs | None, cwd: str | None
    ) -> LaunchArgs | None:
        """The settings of the config file gunicorn loaded: ``-c`` on the command line, else
        ``-c`` in ``GUNICORN_CMD_ARGS``, else ``gunicorn.conf.py`` in its directory; read
        statically. A named file that cannot be read leaves every setting unknown."""
        path = (cmd_args.config if cmd_args else None) or (env_args.config if env_args else None)
        unreadable = LaunchArgs(opaque=list(_FILE_SETTINGS.values()))
        if path and path.startswith("python:"):
            return unreadable  # a module: found on gunicorn's sys.path, not read here
        path = path.removeprefix("file:") if path else None
        if not cwd and not os.path.isabs(path or "gunicorn.conf.py"):
            return unreadable  # relative to a directory we cannot see
        candidate = _resolve(path or "gunicorn.conf.py", cwd)
        if not candidate:
            return unreadable if path else None
        try:
            with open(candidate, encoding="utf-8", errors="replace") as fh:
                text = fh.read(256 * 1024 + 1)
        except FileNotFoundError:
            return unreadable if path else None  # no gunicorn.conf.py: nothing set
        except OSError:
            return unreadable
        if len(text) > 256 * 1024:
            return unreadable  # bounded work: a config this large is not read
        return parse_config_py(text)

    def _count_tcp(self, inodes: set[int]) -> int | None:
        """How many of these socket inodes are open TCP connections.

        Reading the kernel's TCP table costs milliseconds on some kernels (it walks the whole
        hash table), so what a socket is gets remembered: it is read at most once per scan, and
        only when a socket is new or was not TCP when last looked at (a socket not yet
        connected is not in the table) more than ``SOCKET_RECHECK`` seconds ago.
        """
        now = time.monotonic()
        known = self._sockets
        if any(
            i not in known or (not known[i][0] and now - known[i][1] > SOCKET_RECHECK)
            for i in inodes
        ):
            if not self._tcp_read:
                self._open_tcp, self._tcp_read = open_tcp_inodes(), True
            if self._open_tcp is None:
                return None
            for i in inodes:
                if i not in known or not known[i][0]:
                    known[i] = (i in self._open_tcp, now)
        if len(known) > 4096:  # forget sockets long closed
            for i in list(known)[:1024]:
                del known[i]
        return sum(1 for i in inodes if i in known and known[i][0])

    def _worker(
        self, proc: _Proc, timeout: int, now: float, ctl: Any
    ) -> tuple[Worker, set[int] | None]:
        identity = ProcIdentity(proc.pid, proc.create_time, proc.argv)
        worker = Worker(
            pid=proc.pid,
            identity=identity,
            age=max(0.0, now - proc.create_time),
            status=proc.status,
        )
        key = (proc.pid, round(proc.create_time, 2))
        cached = self._cpu.get(key)
        try:
            first = cached is None
            if cached is None:
                cached = self._cpu[key] = psutil.Process(proc.pid)
            with cached.oneshot():  # one read of /proc/PID/stat for CPU, status and identity
                percent = cached.cpu_percent(None)
                if not first:
                    worker.cpu_percent = percent
                worker.rss = cached.memory_info().rss
                worker.threads = cached.num_threads()
                worker.status = cached.status()
        except psutil.NoSuchProcess:
            self._cpu.pop(key, None)
            worker.status = psutil.STATUS_DEAD
        except (psutil.AccessDenied, OSError):
            pass
        beat, sockets = fd_facts(proc.pid)
        if beat is not None:
            worker.heartbeat_age = max(0.0, time.time() - beat)
        elif ctl is not None and ctl.last_heartbeat is not None:
            worker.heartbeat_age = float(ctl.last_heartbeat)
        if len(self._cpu) > 4096:  # forget processes long gone
            for k in list(self._cpu)[:1024]:
                del self._cpu[k]
        return worker, sockets


#: a master's listening sockets are re-read this often (they change only on a reload)
LISTEN_CACHE_SECONDS = 30.0


#: a full discovery of gunicorn masters runs at least this often (seconds); refreshes in
#: between re-read only the known masters' workers
DISCOVERY_SECONDS = 5.0
#: a worker's socket that was not an open TCP connection is looked up again after this long
SOCKET_RECHECK = 10.0


def _cwd(pid: int) -> str | None:
    try:
        return str(psutil.Process(pid).cwd())
    except (psutil.Error, OSError):
        return None


def find_master(masters: Sequence[Master], target: str, server: str | None = None) -> Master:
    """The master an operator named: a master pid, a supervisor program name (``web`` or
    ``group:web``), or gunicorn's ``--name``. Raises MasterNotFound (none or ambiguous)."""
    text = target.strip()
    pool = [m for m in masters if server is None or m.server == server]
    if text.isdigit():
        pid = int(text)
        hits = [m for m in pool if m.pid == pid]
        if not hits:
            hits = [m for m in pool if any(w.pid == pid for w in m.workers)]
    else:
        hits = [m for m in pool if m.program is not None and text in (m.program, _short(m.program))]
        if not hits:
            hits = [m for m in pool if m.name == text]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        known = ", ".join(sorted({m.program or f"{m.name} (pid {m.pid})" for m in pool})) or "none"
        raise MasterNotFound(f"no gunicorn master matches {target!r}", f"masters found: {known}")
    where = ", ".join(f"{m.pid} ({m.server or 'no supervisor'})" for m in hits)
    raise MasterNotFound(
        f"{target!r} matches {len(hits)} gunicorn masters: {where}",
        "name the master by pid, or pick the server with --server",
    )


def _short(fullname: str) -> str:
    return fullname.split(":", 1)[1] if ":" in fullname else fullname


# --------------------------------------------------------------------------- live facts


def worker_pids(master: ProcIdentity) -> dict[int, float]:
    """The master's live workers now: pid → create time (zombies not counted).

    Raises ProcessChanged if the master is gone or its pid was reused.
    """
    master.verify()
    try:
        children = psutil.Process(master.pid).children()
    except psutil.NoSuchProcess as exc:
        raise ProcessChanged(
            f"gunicorn master {master.pid} exited", "refresh and look again"
        ) from exc
    out: dict[int, float] = {}
    for child in children:
        try:
            with child.oneshot():
                if child.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                    continue
                argv = child.cmdline()
                create = child.create_time()
        except psutil.Error:
            continue
        if classify(argv, master.cmdline) == "worker":
            out[child.pid] = create
    return out


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; return the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --------------------------------------------------------------------------- scaling


@dataclass
class ScalePlan:
    """What a scale will do, in the words the confirmation shows."""

    master: Master
    before: int
    target: int
    method: str  # "signal" | "control socket"
    description: str  # e.g. "send TTOU to gunicorn master 1234 (web): 4 -> 3 workers"
    action: str = ""  # what is sent: "TTOU", "TTIN 3 times", "'worker add 2'"

    @property
    def delta(self) -> int:
        return self.target - self.before


@dataclass
class ScaleResult:
    """The outcome of a scale; ``converged`` is None when nobody waited."""

    master_pid: int
    label: str
    before: int
    target: int
    live: int
    method: str
    converged: bool | None
    message: str
    undo: str
    configured: int | None = None


def plan_scale(master: Master, spec: str | tuple[str, int], base: int | None = None) -> ScalePlan:
    """Turn ``+N``/``-N``/``N`` into a plan from ``base`` (default: the master's current
    target, else its live count). Raises ScaleRefused below 1 worker or for no change."""
    parsed = parse_scale_spec(spec) if isinstance(spec, str) else spec
    before = master.scale_base if base is None else base
    target = scale_target(before, parsed)
    if target < 1:
        raise ScaleRefused(
            f"refused: {master.label} would go from {before} to {target} workers; "
            "gunicorn needs at least 1 (nothing was sent)",
            "to stop it, stop the program in supervisor instead",
        )
    if target == before:
        raise ScaleRefused(
            f"{master.label} already has a target of {before} workers; nothing to do",
        )
    delta = target - before
    if master.ctl_usable:
        verb = f"worker add {delta}" if delta > 0 else f"worker remove {-delta}"
        action = f"'{verb}'"
        how = f"send {action} on control socket {master.control_socket} to {master.label}"
        method = "control socket"
    else:
        sig = "TTIN" if delta > 0 else "TTOU"
        action = sig + (f" {abs(delta)} times" if abs(delta) > 1 else "")
        how = f"send {action} to {master.label}"
        method = "signal"
    return ScalePlan(master, before, target, method, f"{how}: {before} -> {target} workers", action)


def _fresh_base(master: Master, scanner: GunicornScanner | None) -> tuple[int, bool]:
    """The master's target right now (control socket), else what we asked, else live count.
    Returns (base, control socket answered).

    When another master now answers on the path (rebound since the scan), ``master`` is
    marked ``ctl-shared`` so the plan that follows uses signals."""
    if master.ctl_usable and master.control_socket:
        try:
            client = ControlClient(master.control_socket, expect=master.identity, timeout=2.0)
            stats = client.command("show", ["stats"])
            target = stats.get("workers_target")
            if isinstance(target, int) and not isinstance(target, bool):
                return target, True
        except NotTheMaster as exc:
            master.flags.append("ctl-shared")
            master.notes.append(exc.message)
        except ControlSocketError:
            pass
    if scanner is not None:
        asked = scanner.requested.get(scanner.key(master.identity))
        if asked is not None:
            return asked, False
    return len(worker_pids(master.identity)), False


def scale(
    master: Master,
    spec: str | tuple[str, int],
    *,
    scanner: GunicornScanner | None = None,
    wait: bool = False,
    timeout: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ScaleResult:
    """Change the number of workers of ``master`` by ``+N``/``-N`` or to exactly ``N``.

    Uses the control socket (``worker add/remove N``) when the master has one, else TTIN/TTOU
    signals one at a time. Raises ReadOnlyError in read-only mode and ScaleRefused below 1
    worker — both before anything is sent — and ProcessChanged if the master's pid now
    belongs to another process. With ``wait`` it polls the live worker count until it
    matches (at most ``timeout``, default the master's ``--timeout``).
    """
    actions.assert_writable(f"scale {master.label}")
    master.identity.verify()
    master = replace(master, flags=list(master.flags), notes=list(master.notes))
    shared_before = "ctl-shared" in master.flags
    base, _ = _fresh_base(master, scanner)
    plan = plan_scale(master, spec, base)
    if plan.method == "control socket" and master.control_socket:
        # checks the peer again on the connection that carries the command: the path may
        # have been rebound by another master since _fresh_base (NotTheMaster, nothing sent)
        client = ControlClient(master.control_socket, expect=master.identity, timeout=5.0)
        if plan.delta > 0:
            client.command("worker", ["add", str(plan.delta)])
        else:
            client.command("worker", ["remove", str(-plan.delta)])
    else:
        sig = signal.SIGTTIN if plan.delta > 0 else signal.SIGTTOU
        live = len(worker_pids(master.identity))
        for step in range(abs(plan.delta)):
            procs.send_signal(master.identity, sig)
            if step + 1 < abs(plan.delta):
                # Two identical signals in flight may merge into one: wait until the master
                # has acted on this one (live count moved) before sending the next.
                want = live + (step + 1) * (1 if plan.delta > 0 else -1)
                up = plan.delta > 0
                wait_until(partial(_moved, master.identity, want, up), 1.0, 0.05)
    if scanner is not None:
        scanner.remember_target(master, plan.target)
    undo = f"opsconsole scale {master.program or master.pid} {plan.before}"
    configured = master.configured
    note = ""
    if configured is not None and plan.target != configured:
        note = f" (configured {configured}: restarting the program returns to {configured})"
    if "ctl-shared" in master.flags and not shared_before:
        note += f" (signals: {master.control_socket} now answers for another master)"
    if not wait:
        live_now = len(worker_pids(master.identity))
        return ScaleResult(
            master.pid,
            master.label,
            plan.before,
            plan.target,
            live_now,
            plan.method,
            None,
            f"asked {master.label} for {plan.target} workers (was {plan.before}){note}",
            undo,
            configured,
        )
    converged, live_now = wait_for_count(
        master.identity,
        plan.target,
        timeout if timeout is not None else float(master.timeout),
        on_progress=on_progress,
    )
    if converged:
        message = f"{master.label} now runs {live_now} workers (was {plan.before}){note}"
    else:
        waited = timeout if timeout is not None else master.timeout
        message = (
            f"{master.label} has {live_now} live workers after {waited:.0f} s, target "
            f"{plan.target}: not converged — workers may be failing to boot or slow to "
            f"finish requests; see {master.error_log or 'its error log'}"
        )
    return ScaleResult(
        master.pid,
        master.label,
        plan.before,
        plan.target,
        live_now,
        plan.method,
        converged,
        message,
        undo,
        configured,
    )


def _moved(identity: ProcIdentity, want: int, up: bool) -> bool:
    try:
        count = len(worker_pids(identity))
    except ProcessChanged:
        return True
    return count >= want if up else count <= want


def wait_for_count(
    identity: ProcIdentity,
    target: int,
    timeout: float,
    *,
    interval: float = 0.2,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[bool, int]:
    """Poll the master's live worker count until it equals ``target`` or ``timeout`` passes.

    Returns ``(converged, last live count)``; ``on_progress(live, target)`` is called on each
    poll. Raises ProcessChanged if the master goes away.
    """
    live = -1

    def check() -> bool:
        nonlocal live
        live = len(worker_pids(identity))
        if on_progress is not None:
            on_progress(live, target)
        return live == target

    return wait_until(check, timeout, interval), live


# --------------------------------------------------------------------------- master actions


@dataclass
class ReloadResult:
    """A graceful reload and whether it was verified."""

    master_pid: int
    label: str
    ok: bool
    old_pids: list[int]
    new_pids: list[int]
    message: str


def reload(
    master: Master,
    *,
    scanner: GunicornScanner | None = None,
    timeout: float | None = None,
) -> ReloadResult:
    """Graceful reload (HUP): verified when every old worker pid has been replaced and the
    count is back to the configured one (gunicorn's reload re-reads ``-w``; without a known
    configuration, the count before the reload) within ``timeout`` (default the master's
    ``--timeout`` plus 5 s: old workers get that long to finish their requests)."""
    actions.assert_writable(f"reload {master.label}")
    old = worker_pids(master.identity)
    expected = master.configured if master.configured is not None else len(old)
    procs.send_signal(master.identity, signal.SIGHUP)
    if scanner is not None:
        scanner.forget_target(master)  # HUP resets the master to its configured count
    limit = timeout if timeout is not None else float(master.timeout) + 5.0
    now: dict[int, float] = {}

    def replaced() -> bool:
        nonlocal now
        now = worker_pids(master.identity)
        left = [p for p, t in old.items() if now.get(p) == t]
        return not left and len(now) == expected

    ok = wait_until(replaced, limit)
    new = sorted(p for p, t in now.items() if old.get(p) != t)
    if ok:
        text = f"{master.label} reloaded: all {len(old)} old workers replaced, {len(now)} running"
        if len(now) != len(old):
            text += f" (back to the configured {expected}; was {len(old)})"
    else:
        left = sorted(p for p, t in old.items() if now.get(p) == t)
        text = (
            f"{master.label} reload not verified after {limit:.0f} s: "
            f"{len(now)} workers (expected {expected}); old workers still running: "
            f"{', '.join(map(str, left)) or 'none'}; see {master.error_log or 'its error log'}"
        )
    return ReloadResult(master.pid, master.label, ok, sorted(old), new, text)


def reopen_logs(master: Master) -> str:
    """USR1: the master and its workers reopen their log files (after logrotate)."""
    actions.assert_writable(f"reopen the logs of {master.label}")
    procs.send_signal(master.identity, signal.SIGUSR1)
    return f"{master.label} asked to reopen its log files (USR1)"


# --------------------------------------------------------------------------- worker actions

WORKER_SIGNALS: dict[str, tuple[signal.Signals, str]] = {
    "TERM": (signal.SIGTERM, "finishes its current request, exits; the master starts another"),
    "KILL": (signal.SIGKILL, "dies at once (a request in progress fails); the master replaces it"),
    "ABRT": (signal.SIGABRT, "aborts (worker_abort hook), exits; the master replaces it"),
}


@dataclass
class WorkerSignalResult:
    master_pid: int
    worker_pid: int
    signal: str
    exited: bool
    log_path: str | None
    log_lines: list[str]
    message: str


def _log_size(path: str | None) -> int | None:
    if not path:
        return None
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def read_new_log(path: str, offset: int, limit: int = 64 * 1024) -> list[str]:
    """Lines appended to ``path`` after byte ``offset`` (at most ``limit`` bytes, the last
    ones); starts over when the file was truncated or rotated (smaller than ``offset``)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = offset if size >= offset else 0
            start = max(start, size - limit)
            fh.seek(start)
            data = fh.read(size - start)
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()


def signal_worker(
    master: Master,
    worker: Worker,
    signame: str,
    *,
    wait: float = 5.0,
) -> WorkerSignalResult:
    """Send TERM, KILL or ABRT to one worker of ``master`` and wait (up to ``wait`` s) for
    it to exit. After ABRT the lines the error log gained since the signal (the abort
    traceback, the master's report) are returned. Raises ReadOnlyError, ProcessChanged (the
    pid was reused) or OpsError naming the owner on EPERM — before anything is sent."""
    name = signame.upper().removeprefix("SIG")
    if name not in WORKER_SIGNALS:
        raise GunicornError(
            f"{signame} is not a worker action", f"use one of {', '.join(WORKER_SIGNALS)}"
        )
    actions.assert_writable(f"send {name} to worker {worker.pid} of {master.label}")
    sig, _ = WORKER_SIGNALS[name]
    log_path = master.error_log
    offset = _log_size(log_path)
    procs.send_signal(worker.identity, sig)

    def gone() -> bool:
        try:
            worker.identity.verify()
            return psutil.Process(worker.pid).status() == psutil.STATUS_ZOMBIE
        except (ProcessChanged, psutil.NoSuchProcess):
            return True
        except OpsError:
            return False

    exited = wait_until(gone, wait, 0.1)
    lines: list[str] = []
    if name == "ABRT" and log_path and offset is not None:
        # The master logs the exit once it reaps the worker: give it a moment to land.
        last = -1

        def settled() -> bool:
            nonlocal last
            size = _log_size(log_path) or 0
            done = size == last and size > offset
            last = size
            return done

        wait_until(settled, 2.0, 0.25)
        lines = read_new_log(log_path, offset)
    text = f"{name} sent to worker {worker.pid} of {master.label}; " + (
        "it exited; the master starts a replacement"
        if exited
        else f"still running after {wait:.0f} s"
    )
    if name == "ABRT":
        if not log_path:
            text += "; no error log file known (it goes to stderr)"
        elif not lines:
            text += f"; nothing new in {log_path}"
        else:
            text += f"; {len(lines)} new lines in {log_path}"
    return WorkerSignalResult(master.pid, worker.pid, name, exited, log_path, lines, text)
