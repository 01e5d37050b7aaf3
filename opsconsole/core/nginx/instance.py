"""Nginx backend: find the serving master, test its config, reload it and prove the reload.

A running master is found by its process title (``nginx: master process BIN -p .. -c ..``);
its own -c/-p/-g/-e are reused for every ``nginx -t``/``-T``, so what is tested is what is
serving. A reload is: test, HUP the master (identity-checked), then watch for a new worker
generation and for ``[emerg]``/``[alert]`` in the error log, because HUP never reports failure
to its sender and a rejected config leaves the old one serving.

Parsing of nginx's text lives in :mod:`opsconsole.core.nginx.config`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import subprocess
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from opsconsole.core import actions, procs
from opsconsole.core.config import NginxSettings
from opsconsole.core.errors import OpsError, ProcessChanged, ReadOnlyError
from opsconsole.core.nginx.config import (
    BuildInfo,
    Diagnostic,
    Facts,
    Finding,
    MasterArgs,
    NginxConfig,
    StubStatus,
    TopoNode,
    build_topology,
    failure_kind,
    is_bind_retry,
    parse_build_info,
    parse_config,
    parse_diagnostic_line,
    parse_diagnostics,
    parse_master_cmdline,
    parse_stub_status,
    parse_version,
    run_checks,
    split_dump,
)
from opsconsole.core.supervisor import ProcessInfo

INSTALL_HINT = "install it with `sudo apt-get install nginx-light`, or set [nginx] binary"
COMMON_BINARIES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
TEST_TIMEOUT = 20.0
RELOAD_VERIFY_TIMEOUT = 8.0  # nginx retries a busy bind() 5 times, 500 ms apart


class NginxError(OpsError):
    """Something about nginx went wrong; message says what, hint what to do."""


class NginxNotInstalled(NginxError):
    """The nginx binary is missing or not executable."""


class NginxConfigUnreadable(NginxError):
    """The config file does not exist or cannot be read."""


class NginxNotRunning(NginxError):
    """There is no running master to reload or inspect."""


class ReloadFailed(NginxError):
    """A reload that did not take effect; ``result`` has the whole story."""

    def __init__(self, result: ReloadResult) -> None:
        super().__init__(result.message, result.hint)
        self.result = result


# --------------------------------------------------------------------------- binary facts


def _run_quick(argv: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        raise NginxNotInstalled(f"nginx not found at {argv[0]}", INSTALL_HINT) from exc
    except PermissionError as exc:
        raise NginxNotInstalled(f"{argv[0]} is not executable", INSTALL_HINT) from exc
    except subprocess.TimeoutExpired as exc:
        raise NginxError(
            f"{' '.join(argv)} did not answer within {timeout:.0f} s", "check the binary"
        ) from exc


@functools.lru_cache(maxsize=32)
def _output_cached(binary: str, flag: str, mtime: float) -> str:
    proc = _run_quick([binary, flag])
    return proc.stderr + proc.stdout


def _output(binary: str, flag: str) -> str:
    """What ``binary flag`` prints, cached until the binary changes (upgraded in place)."""
    try:
        mtime = os.stat(binary).st_mtime
    except OSError as exc:
        raise NginxNotInstalled(f"nginx not found at {binary}", INSTALL_HINT) from exc
    return _output_cached(binary, flag, mtime)


def build_info(binary: str) -> BuildInfo:
    """``nginx -V`` of ``binary`` (cached until the binary changes)."""
    return parse_build_info(_output(binary, "-V"))


def nginx_version(binary: str) -> str:
    """The version ``nginx -v`` reports, e.g. ``1.22.1``."""
    return parse_version(_output(binary, "-v"))


def resolve_binary(configured: str | None, hint_from_master: str | None = None) -> str | None:
    """The nginx binary to run: the configured one (only that), the master's, PATH, usual
    places. None when nothing executable is found."""
    if configured:
        path = configured if "/" in configured else shutil.which(configured)
        return path if path and os.access(path, os.X_OK) and os.path.isfile(path) else None
    candidates: list[str] = []
    if hint_from_master:
        if "/" in hint_from_master:
            candidates.append(hint_from_master)
        else:
            found = shutil.which(hint_from_master)
            if found:
                candidates.append(found)
    found = shutil.which("nginx")
    if found:
        candidates.append(found)
    candidates += list(COMMON_BINARIES)
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


# --------------------------------------------------------------------------- discovery


@dataclass
class Master:
    pid: int
    ppid: int
    args: MasterArgs
    create_time: float
    cwd: str | None
    identity: procs.ProcIdentity


def find_masters() -> list[Master]:
    """Every running nginx master visible to this user, oldest first."""
    found: list[Master] = []
    for p in psutil.process_iter(["pid", "name", "cmdline", "ppid", "create_time"]):
        try:
            cmdline = p.info.get("cmdline") or []
            args = parse_master_cmdline([str(c) for c in cmdline])
            if args is None:
                continue
            try:
                cwd: str | None = p.cwd()
            except psutil.Error:
                cwd = None
            identity = procs.ProcIdentity(
                p.pid, float(p.info["create_time"]), tuple(str(c) for c in cmdline)
            )
            found.append(
                Master(
                    p.pid, int(p.info["ppid"]), args, float(p.info["create_time"]), cwd, identity
                )
            )
        except (psutil.Error, OSError, KeyError, TypeError):
            continue
    found.sort(key=lambda m: m.create_time)
    return found


def _absolute(path: str, base: str) -> str:
    return os.path.normpath(path if path.startswith("/") else os.path.join(base, path))


@dataclass
class NginxInstance:
    """The nginx opsconsole operates on: binary, config, prefix and (if running) its master."""

    binary: str | None
    conf_path: str
    prefix: str
    args: MasterArgs
    master: Master | None = None
    program: ProcessInfo | None = None
    source: str = ""
    build: BuildInfo | None = None
    others: list[int] = field(default_factory=list)
    binary_problem: str = ""

    @property
    def master_pid(self) -> int | None:
        return self.master.pid if self.master else None

    @property
    def running(self) -> bool:
        return self.master is not None

    @property
    def label(self) -> str:
        if self.program is not None:
            return f"nginx ({self.program.fullname})"
        return f"nginx {self.master_pid}" if self.master else "nginx"

    def command(self, *flags: str) -> list[str]:
        """``nginx FLAGS`` with exactly the serving master's -p/-c/-e/-g."""
        if self.binary is None:
            raise NginxNotInstalled(self.binary_problem or "nginx is not installed", INSTALL_HINT)
        return [self.binary, *flags, *self.args.flags()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "binary": self.binary,
            "conf_path": self.conf_path,
            "prefix": self.prefix,
            "master_pid": self.master_pid,
            "program": self.program.fullname if self.program else None,
            "flags": self.args.flags(),
            "source": self.source,
            "other_masters": self.others,
        }


def _conf_of(args: MasterArgs, build: BuildInfo | None, cwd: str | None) -> tuple[str, str]:
    """(conf path, prefix) the way nginx computes them from its flags and build defaults."""
    base = cwd or "/"
    default_prefix = build.prefix if build else "/usr/local/nginx"
    prefix = _absolute(args.prefix, base) if args.prefix else default_prefix
    conf = args.conf or (build.conf_path if build else "conf/nginx.conf")
    return _absolute(conf, prefix), prefix


def _tie_program(master: Master, programs: list[ProcessInfo]) -> ProcessInfo | None:
    by_pid = {p.pid: p for p in programs if p.pid}
    return by_pid.get(master.pid) or by_pid.get(master.ppid)


def discover(
    settings: NginxSettings | None = None, programs: list[ProcessInfo] | None = None
) -> NginxInstance:
    """Find the nginx to operate on.

    With ``settings.config`` set, the master serving that config is chosen (or none is
    running). Otherwise the master under a supervisor program wins, else the oldest master,
    else no master and the binary's compiled defaults (``nginx -V``). Never raises for a
    missing binary: ``binary`` is None and ``binary_problem`` says why (test/reload raise).
    """
    settings = settings or NginxSettings()
    programs = programs or []
    masters = find_masters()
    wanted_conf = os.path.realpath(settings.config) if settings.config else None
    chosen: Master | None = None
    chosen_build: BuildInfo | None = None
    matching: list[tuple[Master, BuildInfo | None]] = []
    for m in masters:
        binary = resolve_binary(settings.binary, m.args.binary) or resolve_binary(
            None, m.args.binary
        )
        build = None
        if binary:
            try:
                build = build_info(binary)
            except NginxError:
                build = None
        conf, _ = _conf_of(m.args, build, m.cwd)
        if wanted_conf is None or os.path.realpath(conf) == wanted_conf:
            matching.append((m, build))
    if matching:
        tied = [mb for mb in matching if _tie_program(mb[0], programs) is not None]
        chosen, chosen_build = (tied or matching)[0]
    binary = resolve_binary(settings.binary, chosen.args.binary if chosen else None)
    problem = ""
    if binary is None:
        problem = (
            f"nginx binary {settings.binary} not found or not executable"
            if settings.binary
            else "nginx is not installed (not on PATH nor in /usr/sbin)"
        )
    if chosen is not None:
        if chosen_build is None and binary:
            try:
                chosen_build = build_info(binary)
            except NginxError:
                chosen_build = None
        args = chosen.args
        if binary and args.binary != binary:
            args = MasterArgs(binary, args.conf, args.prefix, args.globals, args.error_log)
        conf, prefix = _conf_of(chosen.args, chosen_build, chosen.cwd)
        return NginxInstance(
            binary=binary,
            conf_path=conf,
            prefix=prefix,
            args=args,
            master=chosen,
            program=_tie_program(chosen, programs),
            source=f"running master pid {chosen.pid}",
            build=chosen_build,
            others=[m.pid for m, _ in matching if m is not chosen],
            binary_problem=problem,
        )
    build = None
    if binary:
        try:
            build = build_info(binary)
        except NginxError:
            build = None
    conf_flag = settings.config
    args = MasterArgs(binary or "nginx", conf=conf_flag)
    conf, prefix = _conf_of(args, build, os.getcwd())
    source = "config.nginx.config" if conf_flag else "nginx -V defaults"
    return NginxInstance(
        binary=binary,
        conf_path=conf,
        prefix=prefix,
        args=args,
        source=f"{source} (no running master)",
        build=build,
        binary_problem=problem,
    )


def _check_readable(inst: NginxInstance) -> None:
    path = inst.conf_path
    try:
        os.stat(path)
    except PermissionError as exc:  # a directory above it is closed to this user
        raise NginxConfigUnreadable(
            f"cannot read nginx config {path}: permission denied (on a directory above it)",
            "run opsconsole as a user who can read it (or with sudo)",
        ) from exc
    except OSError as exc:
        raise NginxConfigUnreadable(
            f"nginx config {path} does not exist",
            "set [nginx] config in config.toml, or start nginx so its -c can be found",
        ) from exc
    if not os.access(path, os.R_OK):
        raise NginxConfigUnreadable(
            f"cannot read nginx config {path}: permission denied",
            "run opsconsole as a user who can read it (or with sudo)",
        )


# --------------------------------------------------------------------------- nginx -t / -T


@dataclass
class ConfigTestResult:
    """The outcome of ``nginx -t``: ok or not, and every diagnostic with file and line."""

    ok: bool
    returncode: int
    diagnostics: list[Diagnostic]
    command: list[str]
    output: str
    duration: float
    conf_path: str
    at: float = field(default_factory=time.time)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def failure(self) -> str | None:
        """None when ok; ``syntax`` (the config text), ``environment`` (permission, cert,
        log/pid file, bind) or ``other``."""
        if self.ok:
            return None
        return failure_kind(self.diagnostics) or "other"

    @property
    def summary(self) -> str:
        if self.ok:
            extra = f" with {len(self.warnings)} warning(s)" if self.warnings else ""
            return f"config test passed{extra}: {self.conf_path}"
        first = self.errors[0] if self.errors else None
        what = {
            "syntax": "config error",
            "environment": "config is fine but nginx cannot use something it names",
        }.get(self.failure or "", "config test failed")
        if first is None:
            return f"{what} (nginx -t exit {self.returncode})"
        where = f" at {first.where}" if first.where else ""
        return f"{what}{where}: {first.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "returncode": self.returncode,
            "failure": self.failure,
            "summary": self.summary,
            "conf_path": self.conf_path,
            "command": self.command,
            "duration": round(self.duration, 3),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


async def _run(argv: list[str], cwd: str | None, timeout: float) -> tuple[int, str, str, float]:
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd if cwd and os.path.isdir(cwd) else None,
        )
    except FileNotFoundError as exc:
        raise NginxNotInstalled(f"nginx not found at {argv[0]}", INSTALL_HINT) from exc
    except PermissionError as exc:
        raise NginxNotInstalled(f"{argv[0]} is not executable by this user", INSTALL_HINT) from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise NginxError(
            f"{' '.join(argv[:2])} did not finish within {timeout:.0f} s",
            "a resolver or a slow filesystem may be hanging it; try it by hand",
        ) from exc
    rc = proc.returncode if proc.returncode is not None else -1
    return (
        rc,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        time.monotonic() - started,
    )


def _cwd(inst: NginxInstance) -> str | None:
    return inst.master.cwd if inst.master else None


async def run_config_test(inst: NginxInstance, timeout: float = TEST_TIMEOUT) -> ConfigTestResult:
    """Run ``nginx -t`` with the serving master's flags. Never mutates anything.

    Raises NginxNotInstalled (no binary) or NginxConfigUnreadable (no such file / no read
    access); a failing test is a result with ``ok`` False, not an exception.
    """
    argv = inst.command("-t")
    _check_readable(inst)
    rc, out, err, took = await _run(argv, _cwd(inst), timeout)
    text = err + out
    return ConfigTestResult(rc == 0, rc, parse_diagnostics(text), argv, text, took, inst.conf_path)


@dataclass
class EffectiveConfig:
    """``nginx -T``: every file nginx read, in order, as ``(path, text)``."""

    files: list[tuple[str, str]]
    test: ConfigTestResult

    def text_of(self, path: str) -> str | None:
        for p, text in self.files:
            if p == path:
                return text
        return None


async def dump_config(inst: NginxInstance, timeout: float = TEST_TIMEOUT) -> EffectiveConfig:
    """The effective config from ``nginx -T``, split per file (empty when the test fails)."""
    argv = inst.command("-T")
    _check_readable(inst)
    rc, out, err, took = await _run(argv, _cwd(inst), timeout)
    test = ConfigTestResult(rc == 0, rc, parse_diagnostics(err), argv, err, took, inst.conf_path)
    return EffectiveConfig(split_dump(out) if rc == 0 else [], test)


def read_config_file(path: str, limit: int = 4 * 1024 * 1024) -> str:
    """The text of one config file for the viewer; raises NginxConfigUnreadable."""
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError as exc:
        raise NginxConfigUnreadable(
            f"cannot read {path}: {exc.strerror}", "check the path and its permissions"
        ) from exc


def load_config(inst: NginxInstance) -> NginxConfig:
    """The parsed config (crossplane, following includes) of ``inst``."""
    _check_readable(inst)
    return parse_config(inst.conf_path, inst.prefix)


# --------------------------------------------------------------------------- workers


@dataclass
class WorkerInfo:
    pid: int
    role: str  # worker, shutting down, cache manager, cache loader
    create_time: float
    cpu_percent: float | None = None
    rss: int | None = None
    connections: int | None = None


def _role(cmdline: list[str]) -> str | None:
    title = " ".join(cmdline).strip()
    if not title.startswith("nginx: "):
        return None
    if "worker process is shutting down" in title:
        return "shutting down"
    if "worker process" in title:
        return "worker"
    if "cache manager" in title:
        return "cache manager"
    if "cache loader" in title:
        return "cache loader"
    return None


def worker_processes(master_pid: int) -> list[psutil.Process]:
    """The master's child processes that nginx titled as workers/cache processes."""
    try:
        children = psutil.Process(master_pid).children()
    except psutil.Error:
        return []
    out = []
    for c in children:
        try:
            if _role(c.cmdline()) is not None:
                out.append(c)
        except psutil.Error:
            continue
    return out


def worker_pids(master_pid: int, *, serving_only: bool = True) -> set[int]:
    """Pids of the master's workers (by default only those not shutting down)."""
    pids = set()
    for c in worker_processes(master_pid):
        try:
            role = _role(c.cmdline())
        except psutil.Error:
            continue
        if not serving_only or role == "worker":
            pids.add(c.pid)
    return pids


# --------------------------------------------------------------------------- reload


def error_log_sources(inst: NginxInstance, cfg: NginxConfig | None) -> list[str]:
    """Files where the master logs a failed reload: the config's top-level error_log
    (relative to prefix), else ``-e``/the compiled default, else the supervisor program's
    captured stderr when nginx logs to stderr."""
    paths: list[str] = []
    if cfg is not None:
        paths = cfg.error_log_files()
    if not paths:
        fallback = inst.args.error_log or (inst.build.error_log_path if inst.build else "")
        if fallback and fallback != "stderr" and not fallback.startswith("syslog:"):
            paths = [_absolute(fallback, inst.prefix)]
        elif inst.program is not None:
            cap = inst.program.stderr_logfile or inst.program.stdout_logfile
            if cap:
                paths = [cap]
    return list(dict.fromkeys(paths))


class LogTail:
    """New complete lines appended to a file since an offset (handles truncation)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.offset = os.stat(path).st_size
        except OSError:
            self.offset = 0
        self._partial = b""

    def read(self, limit: int = 1024 * 1024) -> list[str]:
        try:
            size = os.stat(self.path).st_size
            if size < self.offset:
                self.offset, self._partial = 0, b""
            if size == self.offset:
                return []
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(limit)
        except OSError:
            return []
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        return [line.decode("utf-8", "replace") for line in lines]


@dataclass
class ReloadResult:
    """What a reload did.

    ``status``: ``reloaded`` (new workers, no errors logged), ``reloaded-with-errors``,
    ``refused`` (nginx -t failed; no signal sent), ``rejected`` (the master logged an error
    and kept the old workers), ``unverified`` (no new workers within the wait), or
    ``master-exited``.
    """

    status: str
    message: str
    hint: str = ""
    test: ConfigTestResult | None = None
    master_pid: int | None = None
    old_workers: list[int] = field(default_factory=list)
    new_workers: list[int] = field(default_factory=list)
    old_remaining: list[int] = field(default_factory=list)
    log_errors: list[Diagnostic] = field(default_factory=list)
    log_files: list[str] = field(default_factory=list)
    signal_sent: bool = False
    at: float = field(default_factory=time.time)
    duration: float = 0.0

    @property
    def took_effect(self) -> bool:
        return self.status in ("reloaded", "reloaded-with-errors")

    @property
    def ok(self) -> bool:
        return self.status == "reloaded"

    @property
    def old_config_serving(self) -> bool:
        return self.status in ("refused", "rejected")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ok": self.ok,
            "took_effect": self.took_effect,
            "old_config_serving": self.old_config_serving,
            "message": self.message,
            "hint": self.hint,
            "signal_sent": self.signal_sent,
            "master_pid": self.master_pid,
            "old_workers": self.old_workers,
            "new_workers": self.new_workers,
            "old_remaining": self.old_remaining,
            "log_files": self.log_files,
            "log_errors": [d.to_dict() for d in self.log_errors],
            "test": self.test.to_dict() if self.test else None,
            "duration": round(self.duration, 3),
        }


async def reload(
    inst: NginxInstance,
    *,
    verify_timeout: float = RELOAD_VERIFY_TIMEOUT,
    settle: float = 0.6,
    test_timeout: float = TEST_TIMEOUT,
) -> ReloadResult:
    """Test, then HUP the serving master, then verify the reload took effect.

    Never sends a signal when the test fails (status ``refused``). Raises ReadOnlyError in
    read-only mode, NginxNotRunning without a master, ProcessChanged when the master's pid now
    belongs to another process, NginxError (hint: sudo) when the kernel refuses the signal.
    """
    actions.assert_writable("reload nginx")
    started = time.monotonic()
    master = inst.master
    if master is None:
        raise NginxNotRunning(
            "no running nginx master to reload",
            "start nginx (e.g. its supervisor program) first; `nginx test` works without it",
        )
    test = await run_config_test(inst, timeout=test_timeout)
    if not test.ok:
        return ReloadResult(
            "refused",
            f"reload refused, no signal sent: {test.summary}; the old config is still serving",
            "fix the config and test again (t)",
            test=test,
            master_pid=master.pid,
            duration=time.monotonic() - started,
        )
    try:
        cfg: NginxConfig | None = await asyncio.to_thread(parse_config, inst.conf_path, inst.prefix)
    except Exception:  # crossplane trouble must not stop a reload nginx itself accepted
        cfg = None
    tails = [LogTail(p) for p in error_log_sources(inst, cfg)]
    old = worker_pids(master.pid)
    try:
        procs.send_signal(master.identity, signal.SIGHUP)
    except (ReadOnlyError, ProcessChanged):
        raise
    except OpsError as exc:
        owner = procs.owner_of(master.pid)
        raise NginxError(
            f"not permitted to reload nginx: master pid {master.pid} belongs to user {owner} "
            "(EPERM); nothing was changed",
            f"run opsconsole with sudo (or as {owner})",
        ) from exc
    result = await _verify(master.pid, old, tails, verify_timeout, settle)
    result.test = test
    result.signal_sent = True
    result.master_pid = master.pid
    result.old_workers = sorted(old)
    result.log_files = [t.path for t in tails]
    result.duration = time.monotonic() - started
    return result


async def _verify(
    master_pid: int, old: set[int], tails: list[LogTail], timeout: float, settle: float
) -> ReloadResult:
    deadline = time.monotonic() + timeout
    errors: list[Diagnostic] = []
    retrying = False
    last_growth = time.monotonic()
    new: set[int] = set()
    seen_new_at: float | None = None
    while True:
        now = time.monotonic()
        for tail in tails:
            lines = tail.read()
            if lines:
                last_growth = now
            for line in lines:
                diag = parse_diagnostic_line(line)
                if diag is None or diag.level in ("info", "debug"):
                    continue
                if diag.level in ("emerg", "alert", "crit") and all(
                    e.message != diag.message for e in errors
                ):
                    errors.append(diag)
                retrying = is_bind_retry(diag)
        if not psutil.pid_exists(master_pid):
            return ReloadResult(
                "master-exited",
                f"the nginx master {master_pid} exited during the reload",
                "look at the error log and start nginx again",
                log_errors=errors,
            )
        current = worker_pids(master_pid)
        new = current - old
        if new and seen_new_at is None:
            seen_new_at = now
        if seen_new_at is not None and (now - seen_new_at >= 0.3 or now > deadline):
            break
        if errors and not new and not retrying and now - last_growth >= settle:
            first = errors[0]  # the cause; later lines are nginx giving up
            return ReloadResult(
                "rejected",
                f"nginx rejected the new config: {first.message}; "
                "the old config is still serving (workers unchanged)",
                "fix the cause and reload again; the lines from the error log are below",
                new_workers=[],
                old_remaining=sorted(current & old),
                log_errors=errors,
            )
        if now > deadline:
            return ReloadResult(
                "unverified",
                f"no new nginx workers within {timeout:.0f} s and no error logged",
                "check the error log: "
                + (", ".join(t.path for t in tails) or "(nginx logs to stderr)"),
                old_remaining=sorted(current & old),
                log_errors=errors,
            )
        await asyncio.sleep(0.1)
    # old workers finish their requests, then exit; give them a moment to show the swap
    drain_deadline = time.monotonic() + 1.0
    remaining = worker_pids(master_pid, serving_only=False) & old
    while remaining and time.monotonic() < drain_deadline:
        await asyncio.sleep(0.1)
        remaining = worker_pids(master_pid, serving_only=False) & old
    if errors:
        return ReloadResult(
            "reloaded-with-errors",
            f"the new config is serving (workers {sorted(new)}), but nginx logged: "
            f"{errors[0].message}",
            "look at the error log lines below",
            new_workers=sorted(new),
            old_remaining=sorted(remaining),
            log_errors=errors,
        )
    return ReloadResult(
        "reloaded",
        f"reloaded: new workers {sorted(new)} replaced {sorted(old)}",
        new_workers=sorted(new),
        old_remaining=sorted(remaining),
        log_errors=errors,
    )


async def reload_or_raise(inst: NginxInstance, **kwargs: Any) -> ReloadResult:
    """:func:`reload`, raising ReloadFailed unless the new config took effect cleanly."""
    result = await reload(inst, **kwargs)
    if not result.ok:
        raise ReloadFailed(result)
    return result


# --------------------------------------------------------------------------- inspection


@dataclass
class Inspection:
    """The parsed config with its topology and extra-check findings."""

    config: NginxConfig
    topology: TopoNode
    findings: list[Finding]

    def to_dict(self) -> dict[str, Any]:
        return {
            "conf_path": self.config.conf_path,
            "files": self.config.files,
            "parse_errors": [d.to_dict() for d in self.config.errors],
            "topology": self.topology.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }


def inspect(
    inst: NginxInstance, programs: list[ProcessInfo] | None = None, facts: Facts | None = None
) -> Inspection:
    """Parse the config, build the topology and run the extra checks (blocking: psutil)."""
    cfg = load_config(inst)
    topo = build_topology(cfg, master_pid=inst.master_pid, programs=programs, facts=facts)
    return Inspection(cfg, topo, run_checks(cfg, topology=topo))


# --------------------------------------------------------------------------- status


@dataclass
class NginxStatus:
    """One sample of the serving nginx: master, workers, last reload, stub_status."""

    instance: NginxInstance
    version: str = ""
    workers: list[WorkerInfo] = field(default_factory=list)
    last_reload: float | None = None
    reloads_seen: int = 0
    stub_url: str | None = None
    stub: StubStatus | None = None
    stub_error: str | None = None
    rps: float | None = None
    rps_history: list[float] = field(default_factory=list)
    at: float = field(default_factory=time.time)

    @property
    def running(self) -> bool:
        return self.instance.running

    def to_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "instance": self.instance.to_dict(),
            "version": self.version,
            "workers": [asdict(w) for w in self.workers],
            "last_reload": self.last_reload,
            "reloads_seen": self.reloads_seen,
            "stub_url": self.stub_url,
            "stub_status": asdict(self.stub) if self.stub else None,
            "stub_error": self.stub_error,
            "requests_per_second": self.rps,
            "rps_history": self.rps_history,
        }


class NginxMonitor:
    """Samples the serving nginx; keeps CPU baselines, worker generations and a short
    requests/s history between calls. Blocking (psutil, subprocess, HTTP): call it from a
    thread."""

    def __init__(self, settings: NginxSettings | None = None, history: int = 60) -> None:
        self.settings = settings or NginxSettings()
        self.history: deque[float] = deque(maxlen=history)
        self._procs: dict[tuple[int, float], psutil.Process] = {}
        self._generation: frozenset[int] = frozenset()
        self._master_pid: int | None = None
        self.last_reload: float | None = None
        self.reloads_seen = 0
        self._stub_prev: tuple[float, StubStatus] | None = None
        self._config: tuple[tuple[tuple[str, float], ...], NginxConfig] | None = None
        self.instance: NginxInstance | None = None

    def config(self, inst: NginxInstance) -> NginxConfig | None:
        """The parsed config, reparsed only when one of its files changed."""
        key_files = [inst.conf_path, *(self._config[1].files if self._config else [])]
        key = tuple((p, _mtime(p)) for p in dict.fromkeys(key_files))
        if self._config is not None and self._config[0] == key:
            return self._config[1]
        try:
            cfg = load_config(inst)
        except NginxError:
            self._config = None
            return None
        key = tuple((p, _mtime(p)) for p in dict.fromkeys([inst.conf_path, *cfg.files]))
        self._config = (key, cfg)
        return cfg

    def _proc(self, pid: int, create_time: float) -> psutil.Process | None:
        key = (pid, create_time)
        p = self._procs.get(key)
        if p is None:
            try:
                p = psutil.Process(pid)
                p.cpu_percent(None)
            except psutil.Error:
                return None
            self._procs[key] = p
        return p

    def _workers(self, master_pid: int) -> list[WorkerInfo]:
        out = []
        live: set[tuple[int, float]] = set()
        for c in worker_processes(master_pid):
            try:
                with c.oneshot():
                    role = _role(c.cmdline()) or "worker"
                    ct = c.create_time()
                    info = WorkerInfo(c.pid, role, ct)
                    p = self._proc(c.pid, ct)
                    if p is not None:
                        info.cpu_percent = p.cpu_percent(None)
                        info.rss = p.memory_info().rss
                    try:
                        conns = c.net_connections(kind="tcp")
                        info.connections = sum(
                            1 for x in conns if x.status == psutil.CONN_ESTABLISHED
                        )
                    except (psutil.AccessDenied, OSError):
                        info.connections = None
            except psutil.Error:
                continue
            live.add((c.pid, ct))
            out.append(info)
        for key in list(self._procs):
            if key not in live:
                del self._procs[key]
        out.sort(key=lambda w: (w.role != "worker", w.pid))
        return out

    def _track_generation(self, inst: NginxInstance, workers: list[WorkerInfo]) -> None:
        serving = frozenset(w.pid for w in workers if w.role == "worker")
        master = inst.master
        if master is None:
            return
        if self._master_pid != master.pid:
            self._master_pid = master.pid
            self._generation = serving
            self.reloads_seen = 0
            # workers much younger than the master mean a reload happened before we looked
            created = [w.create_time for w in workers if w.role == "worker"]
            oldest = min(created) if created else None
            self.last_reload = (
                oldest if oldest is not None and oldest - master.create_time > 2.0 else None
            )
            return
        if serving and self._generation and not (serving & self._generation):
            self.reloads_seen += 1
            created = [w.create_time for w in workers if w.role == "worker"]
            self.last_reload = min(created) if created else time.time()
        if serving:
            self._generation = serving

    def _stub(self, cfg: NginxConfig | None, status: NginxStatus) -> None:
        urls = cfg.stub_status_urls() if cfg is not None else []
        if not urls:
            return
        url, host = urls[0]
        status.stub_url = url
        headers = {"Host": host} if host else {}
        try:
            with httpx.Client(timeout=2.0, verify=False, trust_env=False) as client:
                resp = client.get(url, headers=headers)
            if resp.status_code != 200:
                status.stub_error = f"{url} answered HTTP {resp.status_code}"
                return
            stub = parse_stub_status(resp.text)
        except (httpx.HTTPError, ValueError) as exc:
            status.stub_error = f"{url}: {exc or type(exc).__name__}"
            return
        now = time.monotonic()
        status.stub = stub
        if self._stub_prev is not None:
            then, prev = self._stub_prev
            elapsed = now - then
            if elapsed > 0 and stub.requests >= prev.requests:
                # our own stub_status request is counted too; leave it out
                rps = max(0, stub.requests - prev.requests - 1) / elapsed
                status.rps = rps
                self.history.append(rps)
        self._stub_prev = (now, stub)

    def sample(self, programs: list[ProcessInfo] | None = None) -> NginxStatus:
        """Discover nginx and take one sample. Raises nothing for a stopped nginx: the
        status says ``running`` False."""
        inst = discover(self.settings, programs)
        self.instance = inst
        status = NginxStatus(instance=inst)
        if inst.binary:
            try:
                status.version = nginx_version(inst.binary)
            except NginxError:
                status.version = ""
        if inst.master is not None:
            status.workers = self._workers(inst.master.pid)
            self._track_generation(inst, status.workers)
            cfg = self.config(inst)
            self._stub(cfg, status)
        status.last_reload = self.last_reload
        status.reloads_seen = self.reloads_seen
        status.rps_history = list(self.history)
        return status


def _mtime(path: str) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return -1.0
