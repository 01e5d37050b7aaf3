"""The config history without nginx: the dump split byte for byte, the diff's line numbers,
the store's bounds and permissions, the write-back (mode, owner, symlinks, .rejected), and
py-spy's permission words."""

from __future__ import annotations

import asyncio
import os
import stat
import textwrap
from pathlib import Path

import pytest

from opsconsole.core import actions
from opsconsole.core.errors import ReadOnlyError
from opsconsole.core.gunicorn import stack
from opsconsole.core.nginx.config import parse_config
from opsconsole.core.nginx.history import (
    GOOD,
    Capture,
    ConfigDiff,
    ConfigFile,
    FileDiff,
    History,
    diff_files,
    file_diff,
    format_diff,
    split_dump_bytes,
)
from opsconsole.core.nginx.instance import NginxInstance
from opsconsole.core.nginx.parse import MasterArgs
from opsconsole.core.nginx.rollback import Written, move_included_rejected, write_back


def test_dump_split_is_byte_exact() -> None:
    # nginx -T: the marker line, the file as read, one newline (a file without a newline at
    # its end, an empty file and a file with blank lines at the end all come back exactly)
    files = [("/a.conf", b"events {}\n"), ("/b.conf", b"x;"), ("/c.conf", b""), ("/d", b"y;\n\n")]
    dump = b"".join(b"# configuration file " + p.encode() + b":\n" + d + b"\n" for p, d in files)
    assert split_dump_bytes(dump) == files


def test_file_diff_numbers_old_and_new_lines() -> None:
    old = ConfigFile("/s.conf", b"a\nb\nc\nd\n", 0o640)
    new = ConfigFile("/s.conf", b"a\nB\nc\nd\ne\n", 0o640)
    d = file_diff("/s.conf", old, new)
    assert d is not None and d.status == "changed"
    assert [ln for ln in d.lines if ln[0] != " "] == [
        ["@", 1, 1, "@@ -1,4 +1,5 @@"],
        ["-", 2, None, "b"],
        ["+", None, 2, "B"],
        ["+", None, 5, "e"],
    ]
    assert file_diff("/s.conf", old, old) is None
    mode = file_diff("/s.conf", old, ConfigFile("/s.conf", old.data, 0o644))
    assert mode is not None and mode.status == "mode" and mode.lines == []
    # only the last newline differs: still a change, said in words
    eol = file_diff("/s.conf", old, ConfigFile("/s.conf", b"a\nb\nc\nd", 0o640))
    assert eol is not None and "line endings" in eol.lines[0][3]


def test_diff_files_orders_and_names_added_and_removed() -> None:
    a = [ConfigFile("/1", b"x\n"), ConfigFile("/2", b"y\n")]
    b = [ConfigFile("/1", b"x\n"), ConfigFile("/3", b"z\n")]
    diffs, same = diff_files(a, b)
    assert [(d.path, d.status) for d in diffs] == [("/2", "removed"), ("/3", "added")]
    assert same == 1
    text = format_diff_lines(diffs)
    assert "--- /2 (gone from disk)  +0 -1" in text and "--- /3 (not in the good config)" in text


def format_diff_lines(diffs: list[FileDiff]) -> str:
    return "\n".join(format_diff(ConfigDiff({"at": 0, "user": "u"}, diffs, 0, "disk", True)))


def _capture(n: int) -> Capture:
    return Capture([ConfigFile("/etc/nginx/nginx.conf", f"# {n}\n".encode(), 0o644)], "x", True)


def test_store_is_private_bounded_and_keeps_the_last_good(tmp_path: Path) -> None:
    history = History("/etc/nginx/nginx.conf", "/etc/nginx", root=tmp_path / "state", keep=4)
    good = history.save(_capture(0), "reload")
    history.mark(good, GOOD, "reloaded")
    for n in range(1, 8):
        history.mark(history.save(_capture(n), "reload"), "test-failed")
    records = history.records()
    assert len(records) == 4
    assert records[0].id == good.id and history.last_good() is not None
    assert history.last_good().id == good.id  # type: ignore[union-attr]
    assert [r.files()[0].data for r in records[1:]] == [b"# 5\n", b"# 6\n", b"# 7\n"]
    for path in [history.dir, *history.dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600) or (
            path.is_file() and mode & 0o077 == 0
        ), (path, oct(mode))
    # a 0400 original is kept 0400: never wider than the file it copies
    ro = history.save(Capture([ConfigFile("/k", b"key\n", 0o400)], "x", True), "reload")
    assert stat.S_IMODE((ro.dir / "files" / "0000").stat().st_mode) == 0o400
    assert ro.files()[0].mode == 0o400


def test_write_back_keeps_mode_owner_symlink_and_rejected(tmp_path: Path) -> None:
    target = tmp_path / "available" / "site.conf"
    target.parent.mkdir()
    target.write_bytes(b"bad;\n")
    target.chmod(0o640)
    link = tmp_path / "enabled.conf"
    link.symlink_to(target)
    st = target.stat()
    good = ConfigFile(str(link), b"good;", 0o640, st.st_uid, st.st_gid)
    gone = ConfigFile(str(tmp_path / "gone.conf"), b"back\n", 0o600, st.st_uid, st.st_gid)
    written = write_back([good, gone])
    assert link.is_symlink() and target.read_bytes() == b"good;"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert Path(f"{target}.rejected").read_bytes() == b"bad;\n"
    assert (tmp_path / "gone.conf").read_bytes() == b"back\n"
    assert [(w.real, w.rejected) for w in written] == [
        (str(target), f"{target}.rejected"),
        (str(tmp_path / "gone.conf"), None),
    ]
    assert not [p for p in tmp_path.rglob("*.new")]  # no temporary file left behind


def test_write_back_is_refused_read_only(tmp_path: Path) -> None:
    path = tmp_path / "a.conf"
    path.write_bytes(b"now\n")

    async def attempt() -> None:
        actions.ActionGate(read_only=True)
        with pytest.raises(ReadOnlyError):
            write_back([ConfigFile(str(path), b"good\n", 0o644)])

    asyncio.run(attempt())
    assert path.read_bytes() == b"now\n"


def test_a_rejected_file_an_include_would_read_is_moved_out(tmp_path: Path) -> None:
    (tmp_path / "sites").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        textwrap.dedent(
            """\
            events {}
            http { include sites/*; }
            """
        )
    )
    site = tmp_path / "sites" / "default"
    site.write_text("server { listen 1; }\n")
    rejected = tmp_path / "sites" / "default.rejected"
    rejected.write_text("server { lisen 1; }\n")
    inst = NginxInstance("/usr/sbin/nginx", str(conf), str(tmp_path), MasterArgs("nginx"))
    assert str(rejected) in parse_config(str(conf), str(tmp_path)).files  # the glob reads it
    written = [Written(str(site), str(site), str(rejected))]
    moved = move_included_rejected(inst, written, tmp_path / "history")
    assert moved == [str(tmp_path / "history" / "default.rejected")]
    assert not rejected.exists() and written[0].rejected == moved[0]


def test_ptrace_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack, "yama_scope", lambda: 3)
    assert "kernel.yama.ptrace_scope = 3" in (stack.ptrace_problem(os.getpid()) or "")
    monkeypatch.setattr(stack, "yama_scope", lambda: None)
    monkeypatch.setattr(stack, "_cap_eff", lambda: 0)
    words = stack.ptrace_problem(os.getpid()) or ""
    if os.geteuid() == 0:
        assert "without CAP_SYS_PTRACE" in words
    else:
        assert words == ""  # our own process, classic rules: allowed


def test_a_huge_file_is_not_compared_line_by_line() -> None:
    from opsconsole.core.nginx import confdiff

    old = ConfigFile("/big", b"x;\n" * (confdiff.MAX_DIFF_LINES // 2))
    new = ConfigFile("/big", b"y;\n" * (confdiff.MAX_DIFF_LINES // 2 + 1))
    d = file_diff("/big", old, new)
    assert d is not None and len(d.lines) == 1 and "too long to compare" in d.lines[0][3]


@pytest.mark.integration  # starts a process (a stand-in nginx that hangs)
def test_a_hung_nginx_dump_is_said_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsconsole.core.nginx import history

    hung = tmp_path / "nginx"
    hung.write_text("#!/bin/sh\nexec sleep 30\n")
    hung.chmod(0o755)
    monkeypatch.setattr(history, "TEST_TIMEOUT", 0.5)
    inst = NginxInstance(str(hung), str(tmp_path / "nginx.conf"), str(tmp_path), MasterArgs("x"))
    with pytest.raises(history.DumpTimeout, match=r"nginx -T did not finish within 0 s"):
        history.capture(inst)


@pytest.mark.integration  # runs the real nginx -T
def test_a_forged_file_marker_inside_a_config_file_is_not_taken_for_a_file(
    tmp_path: Path,
) -> None:
    # nginx -T prints files raw: a quoted string (or comment) holding a line like its file
    # marker must not make up a "file" of another path (a rollback would write it there)
    from opsconsole.core.nginx import history

    (tmp_path / "conf.d").mkdir()
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{ access_log off; include {tmp_path}/conf.d/*.conf; }}\n"
    )
    victim = tmp_path / "victim"
    victim.write_text("original\n")
    site = tmp_path / "conf.d" / "site.conf"
    site.write_text(
        'server { listen 127.0.0.1:1;\n add_header X-A "\n'
        f"# configuration file {victim}:\nFORGED\n"
        '";\n}\n'
    )
    args = MasterArgs("nginx", conf=str(conf), prefix=str(tmp_path))
    inst = NginxInstance("/usr/sbin/nginx", str(conf), str(tmp_path), args)
    snap = history.capture(inst)
    assert snap.test_ok
    by_path = snap.by_path()
    assert str(victim) not in by_path
    assert by_path[str(site)].data == site.read_bytes()
    assert snap.source == "disk" and "differ from the disk" in " ".join(snap.unread)


def test_a_big_config_diff_is_bounded_by_the_part_that_differs() -> None:
    from opsconsole.core.nginx import confdiff

    # 10000 server blocks (30000 lines of which a third are "}"): one changed line is found
    # at its line number (only the part between what the files share is compared)
    old = "".join(f"server {{\n  listen {i};\n}}\n" for i in range(10_000)).encode()
    new = old.replace(b"listen 5000;", b"listen 15000;")
    d = file_diff("/big", ConfigFile("/big", old), ConfigFile("/big", new))
    assert d is not None
    assert [ln[:3] for ln in d.lines if ln[0] in "+-"] == [["-", 15002, None], ["+", None, 15002]]
    assert d.lines[0][3] == "@@ -14999,7 +14999,7 @@"
    # a middle part too big to compare (every other line changed): said, not compared
    lines = [f"a{i};\n" for i in range(4_000)]
    other = [ln if i % 2 else f"b{i};\n" for i, ln in enumerate(lines)]
    assert confdiff.MAX_DIFF_CELLS < 4_000 * 4_000 and confdiff.MAX_DIFF_LINES > 8_000
    d = file_diff(
        "/f", ConfigFile("/f", "".join(lines).encode()), ConfigFile("/f", "".join(other).encode())
    )
    assert d is not None and len(d.lines) == 1 and "too long to compare" in d.lines[0][3]
