"""Nginx on this machine: the binary, the serving masters, their workers (reads the machine).

A running master is found by its process title (``nginx: master process BIN -p .. -c ..``);
its own -c/-p/-g/-e are kept on the :class:`NginxInstance`, so every ``nginx -t``/``-T`` tests
what is serving. The errors every nginx operation raises are here too.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import psutil

from opsconsole.core import procs
from opsconsole.core.config import NginxSettings
from opsconsole.core.errors import OpsError
from opsconsole.core.nginx.parse import (
    BuildInfo,
    MasterArgs,
    parse_build_info,
    parse_master_cmdline,
    parse_version,
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
    for p in procs.process_iter(["pid", "name", "cmdline", "ppid", "create_time"]):
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


def absolute_path(path: str, base: str) -> str:
    """``path`` as nginx reads it: relative paths are relative to ``base`` (pure)."""
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
    prefix = absolute_path(args.prefix, base) if args.prefix else default_prefix
    conf = args.conf or (build.conf_path if build else "conf/nginx.conf")
    return absolute_path(conf, prefix), prefix


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


def check_readable(inst: NginxInstance) -> None:
    """Returns when this user can read ``inst``'s main config file; raises
    NginxConfigUnreadable (missing, or permission denied on it or a directory above) in words."""
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


# --------------------------------------------------------------------------- workers


@dataclass
class WorkerInfo:
    pid: int
    role: str  # worker, shutting down, cache manager, cache loader
    create_time: float
    cpu_percent: float | None = None
    rss: int | None = None
    connections: int | None = None


def process_role(cmdline: list[str]) -> str | None:
    """``worker``, ``shutting down``, ``cache manager`` or ``cache loader`` from an nginx child's
    process title, None for anything else (pure)."""
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
    pids = procs.child_pids(master_pid)  # the master's own children, not every process
    try:
        if pids is None:
            children = psutil.Process(master_pid).children()
        else:
            children = []
            for pid in pids:
                try:
                    children.append(psutil.Process(pid))
                except psutil.NoSuchProcess:
                    continue
    except psutil.Error:
        return []
    out = []
    for c in children:
        try:
            if process_role(c.cmdline()) is not None:
                out.append(c)
        except psutil.Error:
            continue
    return out


def worker_pids(master_pid: int, *, serving_only: bool = True) -> set[int]:
    """Pids of the master's workers (by default only those not shutting down)."""
    pids = set()
    for c in worker_processes(master_pid):
        try:
            role = process_role(c.cmdline())
        except psutil.Error:
            continue
        if not serving_only or role == "worker":
            pids.add(c.pid)
    return pids
