"""Reloads that keep the config history, and the rollback to the last good config.

:func:`reload_recorded` is the console's nginx reload: it keeps the effective config
(:mod:`.history`) before the reload and marks the record with the result after it; a record
whose reload was verified is the *last good* config.

:func:`rollback` writes the last good config back: only the files that differ (the current
ones kept beside them as ``PATH.rejected``; a symlink's target is written, never the link),
each atomically (written aside, then renamed) with its original mode and owner; then
``nginx -t``, reload and verify (:func:`.control.reload`). Files added since the good config
are left in place and listed. A ``.rejected`` file that the config would read (a glob
``include`` matching it) is moved into the history directory instead, and said so. If the
rolled-back config fails too, the result says so and the ``.rejected`` files stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsconsole.core import actions
from opsconsole.core.nginx import control
from opsconsole.core.nginx.history import (
    RESULT_OF_STATUS,
    ConfigFile,
    DumpTimeout,
    FileDiff,
    History,
    HistoryError,
    Record,
    capture,
    diff_files,
    fingerprint,
)
from opsconsole.core.nginx.instance import RELOAD_VERIFY_TIMEOUT, NginxError, NginxInstance

REJECTED = ".rejected"


class ConfigChanged(NginxError):
    """The config changed between the diff the operator saw and the yes."""


class NothingToRollBack(NginxError):
    """The config is the last good one already (or there is none)."""


def when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------- recorded reload


async def _keep(inst: NginxInstance, reason: str, root: Path | None) -> tuple[Record | None, str]:
    """Keep the config now (a Record), or (None, why not): the history never stops a reload
    (but a hung ``nginx -T`` is raised: the reload's own test would hang as long)."""
    history = History.of(inst, root)
    try:
        good = await asyncio.to_thread(history.last_good)
        also = good.paths if good is not None else []
        snap = await asyncio.to_thread(capture, inst, also)
        return await asyncio.to_thread(history.save, snap, reason), ""
    except DumpTimeout:
        raise  # nginx -t would hang the same way: say so now rather than after twice the wait
    except NginxError as exc:
        return None, f"config history not kept: {exc.message}"
    except OSError as exc:  # pragma: no cover - save words its own OSErrors
        return None, f"config history not kept: {exc}"


def _mark(
    inst: NginxInstance, record: Record | None, result: str, message: str, root: Path | None
) -> None:
    if record is not None:
        History.of(inst, root).mark(record, result, message)


async def reload_recorded(
    inst: NginxInstance,
    *,
    reason: str = "reload",
    root: Path | None = None,
    **kwargs: Any,
) -> control.ReloadResult:
    """:func:`control.reload` with the effective config kept before it and the record marked
    with the result after (a verified reload's record is the new last good config). Never
    raises for the history (a note is added to the result's hint); raises as
    :func:`control.reload` otherwise."""
    actions.assert_writable("reload nginx")  # refused read-only before anything is kept
    if inst.master is None:
        return await control.reload(inst, **kwargs)  # raises NginxNotRunning: nothing to keep
    record, note = await _keep(inst, reason, root)
    try:
        result = await control.reload(inst, **kwargs)
    except Exception as exc:
        _mark(inst, record, "error", str(exc), root)
        raise
    _mark(inst, record, RESULT_OF_STATUS.get(result.status, result.status), result.message, root)
    if note:
        result.hint = f"{result.hint}; {note}" if result.hint else note
    return result


async def reload_recorded_or_raise(inst: NginxInstance, **kwargs: Any) -> control.ReloadResult:
    """:func:`reload_recorded`, raising ReloadFailed unless the new config took effect
    cleanly (as :func:`control.reload_or_raise`)."""
    result = await reload_recorded(inst, **kwargs)
    if not result.ok:
        raise control.ReloadFailed(result)
    return result


# --------------------------------------------------------------------------- the plan


@dataclass
class RollbackPlan:
    """What a rollback writes: the good versions of the files that changed, were removed or
    changed mode (``write``); what it leaves (``added``); a fingerprint of the config it was
    planned on (the yes is for that config, not a later one)."""

    good: Record
    diffs: list[FileDiff]
    write: list[ConfigFile]
    added: list[str]
    fingerprint: str

    def steps(self) -> list[str]:
        """The plan in words, one line per file, then the test, the reload and the proof."""
        out = []
        for f in self.write:
            real = os.path.realpath(f.path)
            via = f" (the target of the symlink {f.path})" if real != f.path else ""
            if os.path.lexists(real):
                out.append(f"write back {real}{via}; the current one is kept as {real}{REJECTED}")
            else:
                out.append(f"write back {real}{via} (it is gone)")
        for path in self.added:
            out.append(f"leave {path} (not in the good config) as it is")
        out.append("nginx -t; if it passes: reload and verify new workers")
        return out


def plan_rollback(inst: NginxInstance, root: Path | None = None) -> RollbackPlan:
    """The rollback to the last good config, planned on the config now (blocking: runs
    ``nginx -T``). Raises NothingToRollBack (no good config, or nothing differs but added
    files), HistoryError, NginxError."""
    history = History.of(inst, root)
    good = history.last_good()
    if good is None:
        raise NothingToRollBack(
            f"no config of {inst.conf_path} has been reloaded and verified by opsconsole yet: "
            "nothing to roll back to",
            "a reload through opsconsole that is verified (R, `opsconsole nginx reload`) "
            "becomes the last good config",
        )
    snap = capture(inst, good.paths)
    good_files = {f.path: f for f in good.files()}
    diffs, _ = diff_files(list(good_files.values()), snap.files)
    write = [good_files[d.path] for d in diffs if d.status in ("changed", "removed", "mode")]
    added = [d.path for d in diffs if d.status == "added"]
    fp = fingerprint(good.id, diffs, snap.by_path())
    if not write:
        left = f"; left as they are: {', '.join(added)}" if added else ""
        raise NothingToRollBack(
            f"the config is the last good one ({when(good.at)}): nothing to write back{left}",
            "remove an added file yourself if nginx should not read it" if added else "",
        )
    return RollbackPlan(good, diffs, write, added, fp)


# --------------------------------------------------------------------------- writing


@dataclass
class Written:
    """One file written back: ``real`` the file written (a symlink's target), ``rejected``
    where the version it replaced is kept (None: there was none)."""

    path: str
    real: str
    rejected: str | None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "real": self.real, "rejected": self.rejected}


def _atomic_write(real: str, data: bytes, mode: int, uid: int, gid: int) -> None:
    directory = os.path.dirname(real) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(real)}.", suffix=".new")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), mode)
            if uid >= 0 and gid >= 0:
                with contextlib.suppress(PermissionError):  # not root: stays ours
                    os.fchown(fh.fileno(), uid, gid)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _keep_rejected(real: str) -> str:
    """Copy the file at ``real`` to ``real.rejected`` (mode and owner kept, atomically)."""
    rejected = real + REJECTED
    st = os.stat(real)
    with open(real, "rb") as fh:
        data = fh.read()
    _atomic_write(rejected, data, st.st_mode & 0o7777, st.st_uid, st.st_gid)
    return rejected


def write_back(files: list[ConfigFile]) -> list[Written]:
    """Write each good file back over what is there now (kept as ``.rejected``). Raises
    ReadOnlyError, or HistoryError naming what was written before the failure."""
    actions.assert_writable("write the last good nginx config back")
    done: list[Written] = []
    for f in files:
        real = os.path.realpath(f.path)
        try:
            rejected = _keep_rejected(real) if os.path.exists(real) else None
            mode = f.mode if f.mode >= 0 else 0o644
            _atomic_write(real, f.data, mode, f.uid, f.gid)
        except OSError as exc:
            so_far = ", ".join(w.real for w in done) or "nothing"
            raise HistoryError(
                f"cannot write {real} back: {exc.strerror or exc}; written back before it: "
                f"{so_far}",
                "fix the permission or disk space and roll back again (it writes only what "
                "still differs)",
            ) from exc
        done.append(Written(f.path, real, rejected))
    return done


def move_included_rejected(inst: NginxInstance, written: list[Written], into: Path) -> list[str]:
    """A ``.rejected`` file the config would read (an ``include`` glob such as
    ``sites-enabled/*`` matches it) is moved into ``into``; returns where each went."""
    from opsconsole.core.nginx.config import parse_config

    try:
        read = {os.path.realpath(p) for p in parse_config(inst.conf_path, inst.prefix).files}
    except Exception:  # crossplane trouble: nginx -t will say what is wrong
        return []
    moved = []
    for w in written:
        if w.rejected is not None and os.path.realpath(w.rejected) in read:
            os.makedirs(into, mode=0o700, exist_ok=True)
            target = into / os.path.basename(w.rejected)
            shutil.move(w.rejected, target)
            w.rejected = str(target)
            moved.append(str(target))
    return moved


# --------------------------------------------------------------------------- rollback


@dataclass
class RollbackResult:
    """What a rollback did. ``status``: ``rolled-back`` (written, reloaded, verified),
    ``failed`` (written, but the test or the reload failed: the ``.rejected`` files stay) or
    ``written`` (nginx is not running: written and tested only)."""

    status: str
    message: str
    hint: str = ""
    good: dict[str, Any] = field(default_factory=dict)
    written: list[Written] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    reload: control.ReloadResult | None = None
    test: control.ConfigTestResult | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("rolled-back", "written") and (self.test is None or self.test.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ok": self.ok,
            "message": self.message,
            "hint": self.hint,
            "good": self.good,
            "written": [w.to_json() for w in self.written],
            "added": self.added,
            "moved_rejected": self.moved,
            "reload": self.reload.to_dict() if self.reload else None,
            "test": self.test.to_dict() if self.test else None,
        }


async def rollback(
    inst: NginxInstance,
    *,
    expect: str | None = None,
    root: Path | None = None,
    verify_timeout: float = RELOAD_VERIFY_TIMEOUT,
) -> RollbackResult:
    """Write the last good config back, test, reload and verify (see the module).

    ``expect``: the fingerprint of the plan the operator said yes to; a config that changed
    since is refused (ConfigChanged, nothing written). Raises ReadOnlyError,
    NothingToRollBack, HistoryError, NginxError."""
    actions.assert_writable("roll back the nginx config")
    plan = await asyncio.to_thread(plan_rollback, inst, root)
    if expect is not None and expect != plan.fingerprint:
        raise ConfigChanged(
            "the nginx config changed since the diff was shown: nothing was written",
            "look at the diff again and roll back from there",
        )
    written = await asyncio.to_thread(write_back, plan.write)
    history = History.of(inst, root)
    moved = await asyncio.to_thread(
        move_included_rejected, inst, written, history.dir / "rejected" / plan.fingerprint
    )
    good = plan.good.summary()
    files = ", ".join(w.real for w in written)
    kept = [w.rejected for w in written if w.rejected]
    kept_text = f"; the replaced files are kept as {', '.join(kept)}" if kept else ""
    left = f"; left as they are (added since): {', '.join(plan.added)}" if plan.added else ""
    if inst.master is None:
        test = await control.run_config_test(inst)
        if not test.ok:
            return RollbackResult(
                "failed",
                f"the rolled-back config fails too: {test.summary}{kept_text}",
                "nginx is not running; fix the config by hand (the good one was written back)",
                test=test,
                good=good,
                written=written,
                added=plan.added,
                moved=moved,
            )
        return RollbackResult(
            "written",
            f"wrote back {files} (the config of {when(plan.good.at)}); nginx -t passed; "
            f"nginx is not running, so nothing was reloaded{kept_text}{left}",
            test=test,
            good=good,
            written=written,
            added=plan.added,
            moved=moved,
        )
    try:
        result = await reload_recorded(
            inst, reason="rollback", root=root, verify_timeout=verify_timeout
        )
    except NginxError as exc:  # EPERM, the master gone: the files are written all the same
        return RollbackResult(
            "failed",
            f"wrote back {files}{kept_text}, but the reload failed: {exc.message}",
            exc.hint,
            good=good,
            written=written,
            added=plan.added,
            moved=moved,
        )
    if not result.ok:
        return RollbackResult(
            "failed",
            f"the rolled-back config fails too: {result.message}{kept_text}",
            "the good files stay written back; compare them with the .rejected ones",
            reload=result,
            test=result.test,
            good=good,
            written=written,
            added=plan.added,
            moved=moved,
        )
    return RollbackResult(
        "rolled-back",
        f"rolled back to the config of {when(plan.good.at)} ({plan.good.user}): wrote back "
        f"{files}; {result.message}{kept_text}{left}",
        reload=result,
        test=result.test,
        good=good,
        written=written,
        added=plan.added,
        moved=moved,
    )


def plan_json(plan: RollbackPlan) -> dict[str, Any]:
    """The plan as JSON values (the CLI without --yes, the confirmation)."""
    return {
        "good": plan.good.summary(),
        "fingerprint": plan.fingerprint,
        "write": [f.path for f in plan.write],
        "added": plan.added,
        "steps": plan.steps(),
        "files": [d.to_json() for d in plan.diffs],
    }


__all__ = [
    "ConfigChanged",
    "NothingToRollBack",
    "RollbackPlan",
    "RollbackResult",
    "Written",
    "plan_json",
    "plan_rollback",
    "reload_recorded",
    "reload_recorded_or_raise",
    "rollback",
    "write_back",
]
