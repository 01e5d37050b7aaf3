"""Nginx failing under the console: its binary missing from PATH, its config directory
unreadable, its master owned by another user (the reload signal gets EPERM).

The console keeps showing status (psutil needs neither the binary nor the config), says in
operator words what is wrong when t/R need them, and works again once the fault clears.
Faults only a non-root user meets run the console as ``nobody`` (see as_operator.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.core import nginx
from opsconsole.core.config import NginxSettings
from opsconsole.demo.stack import DemoStack, find_nginx
from opsconsole.tui.app import OpsConsoleApp
from opsconsole.tui.widgets.nginx import NginxView
from tests.faults import as_operator
from tests.faults.common import events, keys_still_work, words
from tests.integration.test_nginx import open_to_other_users, standalone_nginx
from tests.tui.helpers import flat, screen_text, stack_config, until

pytestmark = pytest.mark.integration  # starts an nginx of its own, opsconsole as another user


async def test_binary_missing_from_path_then_installed(
    demo_stack: DemoStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = find_nginx()
    assert real is not None
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))  # `binary = "nginx"` must come from PATH
    settings = NginxSettings(binary="nginx", config=str(demo_stack.nginx_conf))
    app = OpsConsoleApp(stack_config(demo_stack, nginx=settings), audit=False)
    pid = int((demo_stack.nginx_dir / "nginx.pid").read_text())
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("3")
        view = app.query_one(NginxView)
        await until(pilot, lambda: "nginx binary nginx not found" in flat(screen_text(pilot)), 10)
        # status does not need the binary: the master and its workers are still shown
        text = screen_text(pilot)
        assert f"master {pid}" in text
        assert all(str(w) in text for w in nginx.worker_pids(pid))
        await pilot.press("t")
        await until(pilot, lambda: "test config: error" in events(app), 10)
        await until(pilot, lambda: "apt-get install nginx-light" in words(screen_text(pilot)), 3)
        assert "Traceback" not in screen_text(pilot)
        await keys_still_work(pilot)
        await pilot.press("3")

        # the fault clears: nginx appears on PATH, and t works without a restart
        (bindir / "nginx").symlink_to(real)
        await until(pilot, lambda: view.status is not None and view.status.instance.binary, 10)
        await pilot.press("t")
        await until(pilot, lambda: view.last_test is not None and view.last_test.ok, 15)
        assert "config test passed" in words(screen_text(pilot))


@pytest.fixture(scope="module")
def foreign_nginx() -> Iterator[tuple[Path, int, Path]]:
    """A standalone nginx started by this user (root in CI), in a directory of its own, that
    ``nobody`` may test once the directory is open (log and temp paths writable)."""
    directory = Path(tempfile.mkdtemp(prefix="opsconsole-fault-nginx-"))
    try:
        directory.chmod(0o755)
        with standalone_nginx(directory) as (conf, pid):
            open_to_other_users(directory)
            yield conf, pid, directory
    finally:
        directory.chmod(0o755)
        shutil.rmtree(directory, ignore_errors=True)


def test_config_dir_unreadable_then_readable(foreign_nginx: tuple[Path, int, Path]) -> None:
    conf, pid, directory = foreign_nginx
    before = nginx.worker_pids(pid)
    # root: closed to nobody; otherwise closed to ourselves
    directory.chmod(0o700 if as_operator.drops_privileges() else 0o000)
    try:
        seen = as_operator.run(
            "nginx-unreadable", str(conf), steps={"fix": lambda: directory.chmod(0o755)}
        )
    finally:
        directory.chmod(0o755)
    assert seen["master_pid"] == pid
    said = f"cannot read nginx config {conf}: permission denied"
    assert said in seen["fault_events"]
    assert "does not exist" not in seen["fault_events"]
    assert "run opsconsole as a user who can read it" in words(seen["fault_screen"])
    assert seen["status_after_fault"]  # status kept refreshing throughout
    assert "config test passed" in words(seen["fixed_screen"])
    assert nginx.worker_pids(pid) == before  # testing never touched the serving nginx


@pytest.mark.skipif(
    not as_operator.drops_privileges(), reason="needs root to own a master nobody cannot HUP"
)
def test_reload_of_another_users_master_is_refused_in_words(
    foreign_nginx: tuple[Path, int, Path],
) -> None:
    conf, pid, _ = foreign_nginx
    before = nginx.worker_pids(pid)
    seen = as_operator.run("nginx-eperm", str(conf))
    assert seen["uid"] == as_operator.NOBODY and seen["master_pid"] == pid
    assert (
        f"not permitted to reload nginx: master pid {pid} belongs to user root (EPERM); "
        "nothing was changed" in seen["fault_events"]
    )
    assert "run opsconsole with sudo" in words(seen["fault_screen"])
    assert seen["status_after_fault"]
    assert nginx.worker_pids(pid) == before  # the old workers still serve
    assert os.path.exists(directory_of(conf) / "nginx.pid")


def directory_of(conf: Path) -> Path:
    return conf.parent
