"""nginx config history: the full effective config kept before every reload the console makes.

A record is the ``nginx -T`` dump split into its files (path, bytes, mode, owner), stored under
``$XDG_STATE_HOME/opsconsole/nginx/<instance>/<time>/`` with a small ``meta.json``: when, who,
why (a reload or a rollback) and the result (``pending`` until the reload is done, then
``test-failed``, ``reload-rejected``, ``reload-unverified``, ``reloaded-with-errors``,
``master-exited``, ``error`` or ``reloaded-verified``: the last one is a *good* config).
When ``nginx -T`` fails (the test fails) the files are read from disk instead: the main file,
the files it includes (crossplane) and the files of the last good record.

Bounded: :data:`MAX_RECORDS` per instance (the oldest pruned, never the last good one), at most
:data:`MAX_BYTES` of config per record. Private: directories 0700, each stored file at most as
open as the original (its mode masked to 0600), ``meta.json`` 0600.

:func:`diff_since_good` compares the config now with the last good one (:mod:`.confdiff`);
:mod:`.rollback` writes the last good config back.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsconsole.core.nginx.confdiff import (
    ConfigDiff,
    FileDiff,
    diff_files,
    file_diff,
    fingerprint,
    format_diff,
)
from opsconsole.core.nginx.instance import TEST_TIMEOUT, NginxError, NginxInstance
from opsconsole.core.nginx.parse import DUMP_MARKER
from opsconsole.core.private_files import private_dir, write_private

#: records kept per nginx instance (the last good one is never pruned)
MAX_RECORDS = 20
#: config bytes one record may hold (nginx -T of a sane config is far below)
MAX_BYTES = 16 * 1024 * 1024
#: files one record may hold
MAX_FILES = 2000

PENDING = "pending"
GOOD = "reloaded-verified"
#: a reload's status (control.ReloadResult) → the record's result
RESULT_OF_STATUS = {
    "reloaded": GOOD,
    "reloaded-with-errors": "reloaded-with-errors",
    "refused": "test-failed",
    "rejected": "reload-rejected",
    "unverified": "reload-unverified",
    "master-exited": "master-exited",
}


class HistoryError(NginxError):
    """The config history cannot be read or written (in words, with what to do)."""


class DumpTimeout(NginxError):
    """``nginx -T`` hung (a resolver, a slow filesystem): ``nginx -t`` would hang as well."""


# --------------------------------------------------------------------------- the files


@dataclass
class ConfigFile:
    """One file of a config: its path as nginx names it, its bytes, mode and owner
    (``mode`` -1 when it does not exist on disk)."""

    path: str
    data: bytes
    mode: int = -1
    uid: int = -1
    gid: int = -1

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass
class Capture:
    """The config as it is now: from ``nginx -T`` (``source`` "nginx -T") or, when the test
    fails, from disk ("disk"); ``unread`` names the files that could not be read, and why."""

    files: list[ConfigFile]
    source: str
    test_ok: bool
    unread: list[str] = field(default_factory=list)

    def by_path(self) -> dict[str, ConfigFile]:
        return {f.path: f for f in self.files}


def split_dump_bytes(out: bytes) -> list[tuple[str, bytes]]:
    """``nginx -T`` stdout → ``(path, bytes)`` per file, byte for byte: nginx writes
    ``# configuration file PATH:\\n``, the file as it read it, then one ``\\n``."""
    marker = DUMP_MARKER.encode()
    files: list[tuple[str, list[bytes]]] = []
    for line in out.splitlines(keepends=True):
        bare = line.rstrip(b"\n")
        if bare.startswith(marker) and bare.endswith(b":") and len(bare) > len(marker) + 1:
            path = bare[len(marker) : -1].decode("utf-8", "surrogateescape")
            files.append((path, []))
        elif files:
            files[-1][1].append(line)
    result = []
    for path, lines in files:
        data = b"".join(lines)
        result.append((path, data[:-1] if data.endswith(b"\n") else data))
    return result


def read_disk(path: str) -> ConfigFile:
    """``path`` as it is on disk (following a symlink, as nginx does). Raises OSError."""
    st = os.stat(path)
    if st.st_size > MAX_BYTES:
        raise OSError(f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    with open(path, "rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    return ConfigFile(path, data, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def _with_owner(path: str, data: bytes) -> ConfigFile:
    try:
        st = os.stat(path)
    except OSError:
        return ConfigFile(path, data)
    return ConfigFile(path, data, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def _as_on_disk(f: ConfigFile) -> bool:
    """Whether ``f`` (a file of an ``nginx -T`` dump) is byte for byte the file on disk."""
    try:
        return read_disk(f.path).data == f.data
    except OSError:
        return False


def _included(inst: NginxInstance) -> list[str]:
    """The files the config names (crossplane follows includes and globs); [] on trouble."""
    from opsconsole.core.nginx.config import parse_config

    try:
        return list(parse_config(inst.conf_path, inst.prefix).files)
    except Exception:  # crossplane trouble: the main file and the good record's still count
        return []


def capture(inst: NginxInstance, also: list[str] | None = None) -> Capture:
    """The config nginx would load now: ``nginx -T`` split per file; when the test fails,
    the main file, its includes and ``also`` (the last good record's paths) read from disk.
    ``also`` files that ``nginx -T`` no longer prints are read from disk as well (so a file
    dropped from the config still compares). Blocking (runs nginx): call in a thread.
    Raises NginxError (no binary, nginx hung, a config too large to keep)."""
    argv = inst.command("-T")
    cwd = inst.master.cwd if inst.master and inst.master.cwd else None
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TEST_TIMEOUT,
            cwd=cwd if cwd and os.path.isdir(cwd) else None,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DumpTimeout(
            f"nginx -T did not finish within {TEST_TIMEOUT:.0f} s",
            "a resolver or a slow filesystem may be hanging it; try it by hand",
        ) from exc
    except OSError as exc:
        raise NginxError(f"cannot run {argv[0]}: {exc.strerror}", "check the nginx binary") from exc
    files: list[ConfigFile] = []
    unread: list[str] = []
    test_ok = proc.returncode == 0
    if test_ok:
        if len(proc.stdout) > MAX_BYTES + 1024 * 1024:
            raise HistoryError(
                f"the effective config is larger than {MAX_BYTES // (1024 * 1024)} MiB: "
                "not kept in the history",
                "nothing else changes; the reload goes on without a record",
            )
        files = [_with_owner(p, data) for p, data in split_dump_bytes(proc.stdout)]
        wanted: list[str] = []
        forged = [f.path for f in files if not _as_on_disk(f)]
        if forged:
            # nginx -T prints each file raw after its marker line: a config file holding a
            # line that looks like a marker (in a comment or a quoted string) would make up
            # a "file" of any path, which a rollback would then write. Only a split whose
            # every file is byte for byte what is on disk is trusted; else read from disk.
            unread.append(
                "nginx -T printed files that differ from the disk ("
                + ", ".join(forged[:5])
                + "): a file changed while it ran, or holds a line like nginx's "
                "'# configuration file PATH:'; the config was read from disk instead"
            )
            files, wanted = [], [inst.conf_path, *_included(inst)]
    else:
        wanted = [inst.conf_path, *_included(inst)]
    have = {f.path for f in files}
    for path in dict.fromkeys([*wanted, *(also or [])]):
        if path in have:
            continue
        try:
            files.append(read_disk(path))
        except FileNotFoundError:
            continue  # a file of the good config that is gone: the diff says "removed"
        except OSError as exc:
            unread.append(f"{path}: {exc.strerror or exc}")
        have.add(path)
    if len(files) > MAX_FILES or sum(len(f.data) for f in files) > MAX_BYTES:
        raise HistoryError(
            f"the config has more than {MAX_FILES} files or {MAX_BYTES // (1024 * 1024)} MiB: "
            "not kept in the history",
            "nothing else changes; the reload goes on without a record",
        )
    return Capture(files, "disk" if wanted else "nginx -T", test_ok, unread)


# --------------------------------------------------------------------------- the store


def state_root() -> Path:
    """``$XDG_STATE_HOME/opsconsole/nginx`` (default ``~/.local/state/...``), read now."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "opsconsole" / "nginx"


def instance_key(conf_path: str, prefix: str) -> str:
    """A directory name for one nginx instance: its config path made readable, and a hash
    of the path and prefix (two prefixes never share a history)."""
    readable = "".join(c if c.isalnum() or c in "._-" else "_" for c in conf_path.strip("/"))
    digest = hashlib.sha256(f"{conf_path}\0{prefix}".encode()).hexdigest()[:10]
    return f"{readable[-60:]}-{digest}"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no passwd entry
        return str(os.getuid())


@dataclass
class Record:
    """One kept config: ``meta`` as stored (time, user, reason, result, message, files)."""

    dir: Path
    meta: dict[str, Any]

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def at(self) -> float:
        return float(self.meta.get("at", 0.0))

    @property
    def user(self) -> str:
        return str(self.meta.get("user", "?"))

    @property
    def result(self) -> str:
        return str(self.meta.get("result", PENDING))

    @property
    def good(self) -> bool:
        return self.result == GOOD

    @property
    def paths(self) -> list[str]:
        return [str(f["path"]) for f in self.meta.get("files", [])]

    def files(self) -> list[ConfigFile]:
        """The stored files (bytes, original mode and owner). Raises HistoryError."""
        out = []
        for entry in self.meta.get("files", []):
            stored = self.dir / "files" / str(entry["stored"])
            try:
                data = stored.read_bytes()
            except OSError as exc:
                raise HistoryError(
                    f"config history record {self.id} is damaged: {stored}: {exc.strerror}",
                    f"look at {self.dir}",
                ) from exc
            out.append(
                ConfigFile(
                    str(entry["path"]),
                    data,
                    int(entry.get("mode", -1)),
                    int(entry.get("uid", -1)),
                    int(entry.get("gid", -1)),
                )
            )
        return out

    def summary(self) -> dict[str, Any]:
        """What the CLI and the diff viewer show about the record (JSON values)."""
        return {
            "id": self.id,
            "at": self.at,
            "user": self.user,
            "reason": self.meta.get("reason", ""),
            "result": self.result,
            "message": self.meta.get("message", ""),
            "source": self.meta.get("source", ""),
            "files": len(self.paths),
            "dir": str(self.dir),
        }


class History:
    """The kept configs of one nginx instance (``conf_path``, ``prefix``) under ``root``
    (default :func:`state_root`, read when built)."""

    def __init__(
        self, conf_path: str, prefix: str, root: Path | None = None, keep: int = MAX_RECORDS
    ) -> None:
        self.root = root if root is not None else state_root()
        self.dir = self.root / instance_key(conf_path, prefix)
        self.conf_path = conf_path
        self.prefix = prefix
        self.keep = max(2, keep)

    @classmethod
    def of(cls, inst: NginxInstance, root: Path | None = None) -> History:
        return cls(inst.conf_path, inst.prefix, root)

    def records(self) -> list[Record]:
        """Every readable record, oldest first (a damaged one is skipped)."""
        try:
            names = sorted(p.name for p in self.dir.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise HistoryError(
                f"cannot read the config history {self.dir}: {exc.strerror}",
                "check its owner and permissions (it is 0700, the user who ran the reloads)",
            ) from exc
        out = []
        for name in names:
            try:
                meta = json.loads((self.dir / name / "meta.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict):
                out.append(Record(self.dir / name, meta))
        return out

    def last_good(self) -> Record | None:
        """The newest record whose reload was verified, or None."""
        return next((r for r in reversed(self.records()) if r.good), None)

    def save(self, snap: Capture, reason: str, result: str = PENDING, message: str = "") -> Record:
        """Keep ``snap`` as a new record (result ``pending`` until :meth:`mark`), then prune.
        Raises HistoryError when it cannot be written (a full disk, permissions)."""
        try:
            private_dir(self.root.parent)
            private_dir(self.root)
            private_dir(self.dir)
            at = time.time()
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(at)) + f".{int(at % 1 * 1e6):06d}Z"
            rec_dir = self.dir / stamp
            n = 0
            while rec_dir.exists():
                n += 1
                rec_dir = self.dir / f"{stamp}-{n}"
            private_dir(rec_dir)
            private_dir(rec_dir / "files")
            entries = []
            for i, f in enumerate(snap.files):
                name = f"{i:04d}"
                mode = (f.mode & 0o600) if f.mode >= 0 else 0o600
                fd = os.open(rec_dir / "files" / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(f.data)
                    os.fchmod(fh.fileno(), mode)
                entries.append(
                    {
                        "path": f.path,
                        "stored": name,
                        "mode": f.mode,
                        "uid": f.uid,
                        "gid": f.gid,
                        "size": len(f.data),
                        "sha256": f.sha,
                    }
                )
            meta = {
                "version": 1,
                "at": at,
                "user": _user(),
                "reason": reason,
                "result": result,
                "message": message,
                "conf_path": self.conf_path,
                "prefix": self.prefix,
                "source": snap.source,
                "unread": snap.unread,
                "files": entries,
            }
            write_private(rec_dir / "meta.json", json.dumps(meta, indent=1))
        except OSError as exc:
            raise HistoryError(
                f"cannot keep the config in {self.dir}: {exc.strerror or exc}",
                "the reload goes on; free disk space or fix the directory's owner",
            ) from exc
        record = Record(rec_dir, meta)
        self.prune()
        return record

    def mark(self, record: Record, result: str, message: str = "") -> None:
        """Set a record's result after the reload (best effort: never raises)."""
        record.meta["result"] = result
        record.meta["message"] = message
        record.meta["marked_at"] = time.time()
        with contextlib.suppress(OSError):
            write_private(record.dir / "meta.json", json.dumps(record.meta, indent=1))

    def prune(self) -> list[str]:
        """Remove the oldest records beyond :attr:`keep`, never the last good one nor the
        newest; returns the ids removed."""
        records = self.records()
        good = next((r.id for r in reversed(records) if r.good), None)
        removable = [r for r in records[:-1] if r.id != good]
        removed: list[str] = []
        while len(records) - len(removed) > self.keep and removable:
            victim = removable.pop(0)
            shutil.rmtree(victim.dir, ignore_errors=True)
            removed.append(victim.id)
        return removed


# --------------------------------------------------------------------------- diff


def diff_since_good(inst: NginxInstance, root: Path | None = None) -> ConfigDiff:
    """The config now against the last good record (blocking: runs ``nginx -T``).
    Raises NginxError / HistoryError."""
    history = History.of(inst, root)
    good = history.last_good()
    snap = capture(inst, good.paths if good is not None else [])
    if good is None:
        return ConfigDiff(None, [], len(snap.files), snap.source, snap.test_ok, snap.unread)
    files, same = diff_files(good.files(), snap.files)
    return ConfigDiff(
        good.summary(),
        files,
        same,
        snap.source,
        snap.test_ok,
        snap.unread,
        fingerprint=fingerprint(good.id, files, snap.by_path()),
    )


__all__ = [
    "GOOD",
    "MAX_RECORDS",
    "PENDING",
    "Capture",
    "ConfigDiff",
    "ConfigFile",
    "DumpTimeout",
    "FileDiff",
    "History",
    "HistoryError",
    "Record",
    "capture",
    "diff_files",
    "diff_since_good",
    "file_diff",
    "fingerprint",
    "format_diff",
    "split_dump_bytes",
    "state_root",
]
