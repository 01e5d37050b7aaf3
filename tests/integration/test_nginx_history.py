"""The nginx config history, diff and rollback on a real nginx of our own (not the shared
demo stack's: these tests break its config on purpose), through LocalHost as the console and
the CLI use it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import stat
import subprocess
import textwrap
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from opsconsole import cli
from opsconsole.core import actions, nginx
from opsconsole.core.config import AppConfig, NginxSettings
from opsconsole.core.host import OperationRequest, OperationResult
from opsconsole.core.local import LocalHost
from opsconsole.core.nginx.history import History
from opsconsole.demo.stack import find_nginx, free_port
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


@dataclass
class OwnNginx:
    dir: Path
    conf: Path
    port: int
    pid: int

    @property
    def site(self) -> Path:
        return self.dir / "conf.d" / "site.conf"

    @property
    def linked(self) -> Path:
        """The file behind the symlink conf.d/extra.conf (as Debian's sites-enabled)."""
        return self.dir / "available" / "extra.conf"

    def get(self) -> str:
        url = f"http://127.0.0.1:{self.port}/"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return str(resp.read().decode())


SITE = "server {{\n    listen 127.0.0.1:{port};\n    location / {{ return 200 '{body}'; }}\n}}\n"


@pytest.fixture(scope="module")
def own_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnNginx]:
    binary = find_nginx()
    if binary is None:
        pytest.skip("nginx is not installed")
    d = tmp_path_factory.mktemp("nginx-history")
    for sub in ("logs", "temp", "conf.d", "available"):
        (d / sub).mkdir()
    port = free_port()
    conf = d / "nginx.conf"
    conf.write_text(
        textwrap.dedent(
            f"""\
            worker_processes 1;
            pid {d}/nginx.pid;
            error_log logs/error.log;
            events {{ worker_connections 64; }}
            http {{
                access_log off;
                client_body_temp_path {d}/temp/b;
                proxy_temp_path {d}/temp/p;
                fastcgi_temp_path {d}/temp/f;
                uwsgi_temp_path {d}/temp/u;
                scgi_temp_path {d}/temp/s;
                include conf.d/*.conf;
            }}
            """
        )
    )
    own = OwnNginx(d, conf, port, 0)
    own.site.write_text(SITE.format(port=port, body="v1"))
    own.site.chmod(0o640)
    # no newline at the end: kept and written back byte for byte all the same
    own.linked.write_text("map $host $opsconsole_extra { default 1; }")
    (d / "conf.d" / "extra.conf").symlink_to(own.linked)
    subprocess.run([binary, "-p", str(d), "-c", str(conf)], check=True, timeout=30)
    try:
        pid_file = d / "nginx.pid"
        own.pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text().strip()))
        wait_for(lambda: nginx.worker_pids(own.pid))
        yield own
    finally:
        for master in nginx.find_masters():
            if master.args.conf == str(conf):
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(master.pid)
                    proc.send_signal(signal.SIGTERM)  # fast shutdown: nothing to drain
                    proc.wait(timeout=10)


def _host(own: OwnNginx, read_only: bool = False) -> LocalHost:
    config = AppConfig(nginx=NginxSettings(config=str(own.conf)), read_only=read_only)
    return LocalHost(config, gate=actions.ActionGate(read_only=read_only), name="test")


async def _do(
    host: LocalHost, op: str, confirmed: bool = True, **params: object
) -> OperationResult:
    return await host.perform(OperationRequest(op, "nginx", dict(params), confirmed=confirmed))  # type: ignore[arg-type]


def _tree_modes(path: Path) -> list[tuple[str, int]]:
    return [(str(p), stat.S_IMODE(p.stat().st_mode)) for p in [path, *path.rglob("*")]]


async def test_good_reload_then_bad_change_diff_and_rollback(own_nginx: OwnNginx) -> None:
    own = own_nginx
    host = _host(own)
    # before any reload through opsconsole there is nothing to compare with
    first = await _do(host, "nginx.diff")
    assert first.ok and first.data["good"] is None
    assert "nothing to compare" in first.message

    # a good change reloads, is verified and becomes the last good config
    own.site.write_text(SITE.format(port=own.port, body="v2"))
    reload = await _do(host, "nginx.reload", wait=15)
    assert reload.ok, reload.message
    assert own.get() == "v2"
    inst = nginx.discover(NginxSettings(config=str(own.conf)))
    history = History.of(inst)
    good = history.last_good()
    assert (
        good is not None and good.meta["reason"] == "reload" and good.meta["source"] == "nginx -T"
    )
    assert sorted(good.paths) == sorted(
        [str(own.conf), str(own.site), str(own.dir / "conf.d" / "extra.conf")]
    )
    # private: directories 0700, each kept file no more open than its original (0640 → 0600)
    for path, mode in _tree_modes(history.dir):
        if Path(path).is_dir():
            assert mode == 0o700, path
        else:
            assert mode & 0o077 == 0, path
    unchanged = await _do(host, "nginx.diff")
    assert unchanged.ok and not unchanged.data["changed"]
    assert unchanged.message.startswith("no change since the last good config")

    good_site, good_linked = own.site.read_bytes(), own.linked.read_bytes()
    # a bad change: nginx -t fails, nothing is reloaded, the record says test-failed
    own.site.write_text(
        SITE.format(port=own.port, body="v3").replace("    location", "    lisen 80;\n    location")
    )
    own.linked.write_text("map $host $opsconsole_extra { default 2; }\n")
    added = own.dir / "conf.d" / "zz-added.conf"
    added.write_text("# added after the good config\n")
    refused = await _do(host, "nginx.reload", wait=15)
    assert not refused.ok and refused.data["status"] == "refused"
    assert history.records()[-1].result == "test-failed"
    assert own.get() == "v2"

    # diff shows exactly that change, file by file, with line numbers
    diff = await _do(host, "nginx.diff")
    assert diff.ok and diff.data["changed"] and not diff.data["test_ok"]
    files = {f["path"]: f for f in diff.data["files"]}
    assert set(files) == {str(own.site), str(own.dir / "conf.d" / "extra.conf"), str(added)}
    site = files[str(own.site)]
    changes = [line for line in site["lines"] if line[0] in "+-"]
    assert changes == [
        ["-", 3, None, "    location / { return 200 'v2'; }"],
        ["+", None, 3, "    lisen 80;"],
        ["+", None, 4, "    location / { return 200 'v3'; }"],
    ]
    assert files[str(added)]["status"] == "added"
    assert diff.data["added"] == [str(added)]

    # read-only: refused, nothing written
    async def read_only() -> OperationResult:  # in its own task: read-only ends with it
        return await _do(_host(own, read_only=True), "nginx.rollback")

    ro = await asyncio.create_task(read_only())
    assert ro.outcome == "refused" and ro.error is not None and ro.error.kind == "ReadOnlyError"
    assert own.site.read_bytes() != good_site
    # without the yes: refused with the plan (the CLI prints it)
    unconfirmed = await _do(host, "nginx.rollback", confirmed=False)
    assert unconfirmed.outcome == "refused"
    plan = unconfirmed.data["plan"]
    assert sorted(plan["write"]) == sorted([str(own.site), str(own.dir / "conf.d" / "extra.conf")])
    assert plan["added"] == [str(added)]
    assert any(f"kept as {own.site}.rejected" in step for step in plan["steps"])

    # a yes for an older diff is refused: the config changed since
    stale = await _do(host, "nginx.rollback", expect="0" * 16)
    assert not stale.ok and "changed since the diff" in stale.message

    workers = nginx.worker_pids(own.pid)
    done = await _do(host, "nginx.rollback", expect=diff.data["fingerprint"], wait=15)
    assert done.ok, done.message
    assert done.data["status"] == "rolled-back" and done.data["reload"]["status"] == "reloaded"
    # the good files are back byte for byte, with their mode; the symlink is still one
    assert own.site.read_bytes() == good_site and own.linked.read_bytes() == good_linked
    assert stat.S_IMODE(own.site.stat().st_mode) == 0o640
    assert (own.dir / "conf.d" / "extra.conf").is_symlink()
    # the rejected versions are kept beside them; the added file is left and listed
    assert b"lisen 80;" in Path(f"{own.site}.rejected").read_bytes()
    assert Path(f"{own.linked}.rejected").read_text().endswith("default 2; }\n")
    assert added.exists() and done.data["added"] == [str(added)]
    # reloaded and verified: new workers serve the good config, which is the last good again
    assert nginx.worker_pids(own.pid).isdisjoint(workers)
    assert own.get() == "v2"
    last = history.last_good()
    assert last is not None and last.meta["reason"] == "rollback"
    after = await _do(host, "nginx.diff")
    # the config that reloaded (the added file included) is the last good one now
    assert after.ok and not after.data["changed"] and str(added) in last.paths
    # every step is in the audit trail (diff reads included)
    actions_seen = [(r.action, r.result) for r in host.gate.history]
    assert ("nginx.rollback", "ok") in actions_seen and ("nginx.diff", "ok") in actions_seen
    added.unlink()


async def test_rollback_of_a_config_that_fails_too_leaves_the_rejected_files(
    own_nginx: OwnNginx,
) -> None:
    """The good config needs a directory that is gone since (not a config file: not in the
    history): the rollback writes the good file back, nginx -t fails, the result says the
    rolled-back config fails too, the .rejected file stays and the old config serves."""
    own = own_nginx
    host = _host(own)
    logs = own.dir / "site-logs"
    logs.mkdir()
    site_with_log = SITE.format(port=own.port, body="v4").replace(
        "    location", f"    error_log {logs}/site.log;\n    location"
    )
    own.site.write_text(site_with_log)
    try:
        assert (await _do(host, "nginx.reload", wait=15)).ok
        own.site.write_text(site_with_log.replace("listen", "lissen"))
        (logs / "site.log").unlink()
        logs.rmdir()
        failed = await _do(host, "nginx.rollback", wait=15)
        assert failed.outcome == "failed" and failed.data["status"] == "failed"
        assert "the rolled-back config fails too" in failed.message
        assert str(logs) in failed.message  # nginx's own words: the directory it cannot open
        assert own.site.read_text() == site_with_log  # the good file stays written back
        assert "lissen" in Path(f"{own.site}.rejected").read_text()
        assert own.get() == "v4"  # nothing was reloaded: the old config still serves
    finally:
        logs.mkdir(exist_ok=True)
        own.site.write_text(SITE.format(port=own.port, body="v1"))
        assert (await _do(host, "nginx.reload", wait=15)).ok


def test_cli_diff_and_rollback(own_nginx: OwnNginx, capsys: pytest.CaptureFixture[str]) -> None:
    own = own_nginx
    flags = ["--nginx-conf", str(own.conf)]

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(["nginx", *args, *flags])
        out = capsys.readouterr()
        return code, out.out, out.err

    assert run("reload", "--yes")[0] == 0
    code, out, _ = run("diff")
    assert code == 0 and "no change since the last good config" in out
    good = own.site.read_bytes()
    own.site.write_text(own.site.read_text().replace("return 200", "return 201"))
    code, out, _ = run("diff", "--exit-code")  # as git diff --exit-code: 1 when changed
    assert code == 1
    assert f"--- {own.site}  +1 -1" in out
    assert "    3       -     location / { return 200 'v1'; }" in out
    assert "          3 +     location / { return 201 'v1'; }" in out
    code, out, err = run("rollback")
    assert code == 2 and "needs confirmation: add --yes" in err
    assert f"write back {own.site}; the current one is kept as {own.site}.rejected" in err
    assert own.site.read_bytes() != good
    code, out, err = run("rollback", "--yes")
    assert code == 0, out + err
    assert out.startswith("ok      rolled back to the config of")
    assert own.site.read_bytes() == good
