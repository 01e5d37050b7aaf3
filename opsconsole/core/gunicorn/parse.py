"""Gunicorn's settings as gunicorn itself reads them (pure, no I/O but gunicorn's import).

The one parser of gunicorn command lines: a launch command (``gunicorn ...``, ``python -m
gunicorn ...``) is read by gunicorn's own argparse parser, ``GUNICORN_CMD_ARGS`` the same way,
and a config file (``gunicorn.conf.py``) by folding its constant assignments without running
it; :func:`merge_args` layers them in gunicorn's order.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from opsconsole.core.gunicorn.model import DEFAULT_WORKER_CLASS

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
    access_log: str | None = None
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


def to_int(value: str) -> int | None:
    """``int(value)`` with surrounding blanks ignored, or None when it is not one (pure)."""
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
    "accesslog": "access_log",
    "config": "config",
    "proc_name": "name",
    "threads": "threads",
}
#: what a config file may set (``config`` itself is only read from the command line and env)
FILE_SETTINGS = {k: v for k, v in _SETTINGS.items() if k != "config"}


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


def log_paths(argv: Sequence[str]) -> dict[str, str]:
    """The log files a gunicorn launch command line names (pure).

    Args: ``argv``, the whole command line (``gunicorn ...``, ``python -m gunicorn ...``).
    Returns ``{"access": path, "error": path}`` with the keys that are named, paths as given
    (relative ones are relative to the master's working directory). Read by
    :func:`parse_argv`, so every spelling gunicorn accepts counts (``--error-logfile P``,
    ``--log-file=P``, ``--error-log P``); ``-`` (stdout/stderr, which supervisord captures)
    is left out, and a command line that is not gunicorn's, or that gunicorn would refuse,
    names none. Raises nothing.
    """
    args = parse_argv(argv)
    if args is None:
        return {}
    named = {"access": args.access_log, "error": args.error_log}
    return {kind: path for kind, path in named.items() if path and path != "-"}


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
    for setting, fname in FILE_SETTINGS.items():
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


def unreadable_settings(args: LaunchArgs, command_line_known: bool) -> list[str]:
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
