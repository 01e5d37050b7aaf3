"""Testing and reloading nginx's config, and proving the reload took.

A reload is: test, HUP the master (identity-checked, through the gate), then watch for a new
worker generation and for ``[emerg]``/``[alert]`` in the error log, because HUP never reports
failure to its sender and a rejected config leaves the old one serving.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from opsconsole.core import actions, procs
from opsconsole.core.errors import OpsError, ProcessChanged, ReadOnlyError
from opsconsole.core.nginx.config import NginxConfig, parse_config
from opsconsole.core.nginx.instance import (
    INSTALL_HINT,
    RELOAD_VERIFY_TIMEOUT,
    TEST_TIMEOUT,
    NginxConfigUnreadable,
    NginxError,
    NginxInstance,
    NginxNotInstalled,
    NginxNotRunning,
    absolute_path,
    check_readable,
    worker_pids,
)
from opsconsole.core.nginx.parse import (
    Diagnostic,
    failure_kind,
    is_bind_retry,
    parse_diagnostic_line,
    parse_diagnostics,
    split_dump,
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
    check_readable(inst)
    rc, out, err, took = await _run(argv, _cwd(inst), timeout)
    text = err + out
    return ConfigTestResult(rc == 0, rc, parse_diagnostics(text), argv, text, took, inst.conf_path)


@dataclass
class EffectiveConfig:
    """``nginx -T``: every file nginx read, in order, as ``(path, text)``."""

    files: list[tuple[str, str]]
    test: ConfigTestResult

    def text_of(self, path: str) -> str | None:
        """The text nginx read for ``path``, or None when it read no such file."""
        for p, text in self.files:
            if p == path:
                return text
        return None


async def dump_config(inst: NginxInstance, timeout: float = TEST_TIMEOUT) -> EffectiveConfig:
    """The effective config from ``nginx -T``, split per file (empty when the test fails).

    Raises as :func:`run_config_test`; a failing test is in ``test``, not an exception.
    """
    argv = inst.command("-T")
    check_readable(inst)
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
    """The parsed config (crossplane, following includes) of ``inst``; what crossplane
    could not parse is in its ``errors``. Raises NginxConfigUnreadable."""
    check_readable(inst)
    return parse_config(inst.conf_path, inst.prefix)


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
            paths = [absolute_path(fallback, inst.prefix)]
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


class ReloadFailed(NginxError):
    """A reload that did not take effect; ``result`` has the whole story."""

    def __init__(self, result: ReloadResult) -> None:
        super().__init__(result.message, result.hint)
        self.result = result


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
    """:func:`reload`, raising ReloadFailed (carrying the whole result) unless the new config
    took effect cleanly; otherwise raises as :func:`reload`."""
    result = await reload(inst, **kwargs)
    if not result.ok:
        raise ReloadFailed(result)
    return result
