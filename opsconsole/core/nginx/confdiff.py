"""Comparing two nginx configs file by file (pure): difflib hunks with line numbers.

:func:`diff_files` gives a :class:`FileDiff` per file that differs (changed, added, removed
or only its mode); :class:`ConfigDiff` is what ``nginx.diff`` returns (the diff against the
last good config, as JSON values); :func:`format_diff` the CLI's text.
"""

from __future__ import annotations

import difflib
import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsconsole.core.nginx.history import ConfigFile

#: lines of context around a change in a diff
CONTEXT = 3
#: lines (old + new) above which a file is not compared line by line
MAX_DIFF_LINES = 100_000
#: difflib's work is up to (old lines x new lines) of the part that differs (the lines the
#: two share at the start and the end are set aside first); above this it is not compared
MAX_DIFF_CELLS = 10_000_000


@dataclass
class FileDiff:
    """How one file differs from the good config. ``status``: changed, added (not in the
    good config), removed (gone from disk), mode (same bytes, other mode). ``lines``:
    ``[kind, old line, new line, text]``: kind ``@`` (a hunk header), `` ``, ``-``, ``+``."""

    path: str
    status: str
    lines: list[list[Any]] = field(default_factory=list)
    old_mode: int = -1
    new_mode: int = -1

    @property
    def added_lines(self) -> int:
        return sum(1 for ln in self.lines if ln[0] == "+")

    @property
    def removed_lines(self) -> int:
        return sum(1 for ln in self.lines if ln[0] == "-")

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "old_mode": self.old_mode,
            "new_mode": self.new_mode,
            "added": self.added_lines,
            "removed": self.removed_lines,
            "lines": self.lines,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileDiff:
        return cls(
            str(data["path"]),
            str(data["status"]),
            [list(x) for x in data.get("lines", [])],
            int(data.get("old_mode", -1)),
            int(data.get("new_mode", -1)),
        )


def _lines(text: str) -> list[str]:
    return text.splitlines()


def file_diff(path: str, old: ConfigFile | None, new: ConfigFile | None) -> FileDiff | None:
    """The difference of one file (None when it is the same, bytes and mode)."""
    if old is not None and new is not None and old.data == new.data:
        if old.mode >= 0 and new.mode >= 0 and old.mode != new.mode:
            return FileDiff(path, "mode", [], old.mode, new.mode)
        return None
    status = (
        "changed" if old is not None and new is not None else "added" if old is None else "removed"
    )
    a = _lines(old.text) if old is not None else []
    b = _lines(new.text) if new is not None else []
    out: list[list[Any]] = []
    # difflib is quadratic at worst (and with lines that repeat, such as "}", in practice):
    # only the part between the lines both share at the start and the end is compared, and
    # only when it is small enough: bounded work whatever the files
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    mid_a, mid_b = len(a) - head - tail, len(b) - head - tail
    if len(a) + len(b) > MAX_DIFF_LINES or mid_a * mid_b > MAX_DIFF_CELLS:
        text = f"@@ {len(a)} -> {len(b)} lines: too long to compare line by line @@"
        return FileDiff(path, status, [["@", 1, 1, text]], *_modes(old, new))
    matcher = difflib.SequenceMatcher(
        None, a[head : len(a) - tail], b[head : len(b) - tail], autojunk=False
    )
    codes = [("equal", 0, head, 0, head)] if head else []
    codes += [
        (tag, x1 + head, x2 + head, y1 + head, y2 + head)
        for tag, x1, x2, y1, y2 in matcher.get_opcodes()
    ]
    if tail:
        codes.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    for group in _grouped(codes, CONTEXT):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(["@", i1 + 1, j1 + 1, f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@"])
        for tag, x1, x2, y1, y2 in group:
            if tag == "equal":
                out.extend([" ", x1 + k + 1, y1 + k + 1, a[x1 + k]] for k in range(x2 - x1))
                continue
            if tag in ("replace", "delete"):
                out.extend(["-", x1 + k + 1, None, a[x1 + k]] for k in range(x2 - x1))
            if tag in ("replace", "insert"):
                out.extend(["+", None, y1 + k + 1, b[y1 + k]] for k in range(y2 - y1))
    if not out and old is not None and new is not None:
        # same lines, other bytes: a newline at the end or line endings
        out.append(["@", 1, 1, "@@ the same lines; whitespace or line endings differ @@"])
    return FileDiff(path, status, out, *_modes(old, new))


Opcode = tuple[str, int, int, int, int]


def _grouped(codes: list[Opcode], n: int) -> list[list[Opcode]]:
    """difflib's ``get_grouped_opcodes(n)`` of these opcodes: the changes in hunks with up
    to ``n`` lines of context (none when everything is equal)."""
    if not codes:
        return []
    codes = list(codes)
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = (tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2)
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = (tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n))
    groups: list[list[Opcode]] = []
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * n:
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            groups.append(group)
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        groups.append(group)
    return groups


def _modes(old: ConfigFile | None, new: ConfigFile | None) -> tuple[int, int]:
    return (old.mode if old is not None else -1, new.mode if new is not None else -1)


def diff_files(old: list[ConfigFile], new: list[ConfigFile]) -> tuple[list[FileDiff], int]:
    """File by file (the old order, then the files only ``new`` has): the files that
    differ, and how many are the same."""
    a = {f.path: f for f in old}
    b = {f.path: f for f in new}
    diffs: list[FileDiff] = []
    same = 0
    for path in [*a, *(p for p in b if p not in a)]:
        d = file_diff(path, a.get(path), b.get(path))
        if d is None:
            same += 1
        else:
            diffs.append(d)
    return diffs, same


@dataclass
class ConfigDiff:
    """What changed since the last good config (``good`` None: there is none yet)."""

    good: dict[str, Any] | None
    files: list[FileDiff]
    unchanged: int
    source: str  # where the current config came from: nginx -T or disk
    test_ok: bool
    unread: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.time)
    #: names the config this diff was taken of (a rollback said yes to must be of it)
    fingerprint: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.files)

    @property
    def to_write(self) -> list[str]:
        """The files a rollback writes back (changed, removed, other mode)."""
        return [f.path for f in self.files if f.status != "added"]

    @property
    def added(self) -> list[str]:
        """The files that are not in the good config (a rollback leaves them)."""
        return [f.path for f in self.files if f.status == "added"]

    def to_json(self) -> dict[str, Any]:
        return {
            "good": self.good,
            "changed": self.changed,
            "files": [f.to_json() for f in self.files],
            "unchanged": self.unchanged,
            "source": self.source,
            "test_ok": self.test_ok,
            "unread": self.unread,
            "at": self.at,
            "fingerprint": self.fingerprint,
            "write": self.to_write,
            "added": self.added,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConfigDiff:
        good = data.get("good")
        return cls(
            dict(good) if isinstance(good, dict) else None,
            [FileDiff.from_json(f) for f in data.get("files", [])],
            int(data.get("unchanged", 0)),
            str(data.get("source", "")),
            bool(data.get("test_ok", False)),
            [str(u) for u in data.get("unread", [])],
            float(data.get("at", 0.0)),
            str(data.get("fingerprint", "")),
        )


def fingerprint(good_id: str, diffs: list[FileDiff], now: dict[str, ConfigFile]) -> str:
    """Names the config ``now`` as it differs from the good record ``good_id``."""
    basis = [good_id] + [
        f"{d.path}\0{d.status}\0{now[d.path].sha if d.path in now else '-'}" for d in diffs
    ]
    return hashlib.sha256("\n".join(basis).encode()).hexdigest()[:16]


def format_diff(diff: ConfigDiff) -> list[str]:
    """The diff as text lines (the CLI): a header per file, then numbered lines."""
    out: list[str] = []
    for f in diff.files:
        if f.status == "mode":
            out.append(f"--- {f.path}: mode {f.old_mode:04o} -> {f.new_mode:04o} (same content)")
            continue
        what = {"added": " (not in the good config)", "removed": " (gone from disk)"}
        out.append(f"--- {f.path}{what.get(f.status, '')}  +{f.added_lines} -{f.removed_lines}")
        for kind, old, new, text in f.lines:
            if kind == "@":
                out.append(f"  {text}")
                continue
            a = "" if old is None else str(old)
            b = "" if new is None else str(new)
            out.append(f"{a:>5} {b:>5} {kind} {text}")
    return out
