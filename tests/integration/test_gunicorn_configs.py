"""Issue 20: the tree shows the worker class, configured count and timeout gunicorn itself
runs, for real masters started from the config corpus (tests/configs/gunicorn) and from the
launchers distributions ship (gunicorn3, gunicorn-3, python -m gunicorn).

What gunicorn runs is read from gunicorn itself: with ``--log-level debug`` the arbiter logs its
whole configuration at boot ("Current configuration: ... workers: 3 ... timeout: 300") and
"Using worker: gthread" (``Config.worker_class_str``). The masters run without a control
socket, so what the console shows comes from reading the command line, the environment and
the config file, as it must for masters whose socket is off or not ours to open.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from opsconsole.cli.gunicorn import format_tree
from opsconsole.core import gunicorn
from opsconsole.core.local import master_of
from opsconsole.demo.stack import free_port
from tests.conftest import wait_for
from tests.gunicorn_own import Own
from tests.unit.test_gunicorn_parse import CORPUS, corpus_expectation

pytestmark = pytest.mark.integration  # starts real gunicorn masters

VENV_BIN = Path(sys.executable).parent


def gunicorn_says(log: str) -> dict[str, object]:
    """What the master's debug log says it runs: the configuration dump and the worker class."""
    said: dict[str, object] = {}
    for key in ("workers", "timeout", "threads"):
        match = re.search(rf"^  {key}: (\d+)$", log, re.M)
        if match:
            said[key] = int(match.group(1))
    match = re.search(r"Using worker: (\S+)", log)
    if match:
        said["worker_class"] = match.group(1)
    return said


def start_master(
    directory: Path,
    launcher: Sequence[str],
    options: Sequence[str],
    env: dict[str, str],
    control_socket: Path | None = None,
) -> tuple[Own, dict[str, object]]:
    """A real master (no control socket unless given, debug log in ``error.log``), waited for
    until all the workers gunicorn says it runs have booted. Returns it and what gunicorn says
    it runs."""
    directory.mkdir(parents=True, exist_ok=True)
    base = {
        k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")
    }
    proc = subprocess.Popen(
        [
            *launcher,
            *options,
            *(
                ["--control-socket", str(control_socket)]
                if control_socket
                else ["--no-control-socket"]
            ),
            "--log-level",
            "debug",
            "--error-logfile",
            "error.log",
            "opsconsole.demo.wsgiapp:app",
        ],
        cwd=directory,
        env=dict(base, XDG_RUNTIME_DIR=str(directory), **env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    own = Own(proc, directory)
    log = directory / "error.log"

    def booted() -> dict[str, object] | None:
        assert proc.poll() is None, f"gunicorn exited: {log.read_text() if log.exists() else ''}"
        text = log.read_text() if log.exists() else ""
        said = gunicorn_says(text)
        if "worker_class" not in said or "workers" not in said:
            return None
        return said if text.count("Booting worker with pid") >= int(str(said["workers"])) else None

    try:
        said = wait_for(booted, timeout=30)
    except BaseException:
        own.kill()
        raise
    return own, said


@pytest.fixture
def masters() -> Iterator[list[Own]]:
    started: list[Own] = []
    yield started
    for own in started:
        own.kill()


def scanned(pid: int, live: int) -> gunicorn.Master:
    """The master as the console's tree shows it, once all its workers are seen."""
    scanner = gunicorn.GunicornScanner()

    def found() -> gunicorn.Master | None:
        mine = [m for m in scanner.scan() if m.pid == pid]
        assert len(mine) <= 1
        return mine[0] if mine and mine[0].live == live else None

    master = wait_for(found, timeout=20)
    assert isinstance(master, gunicorn.Master)
    return master


def tree_line(master: gunicorn.Master) -> str:
    return format_tree([master]).splitlines()[0]


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.py")), ids=lambda p: p.stem)
def test_corpus_config_shows_what_gunicorn_runs(
    tmp_path: Path, masters: list[Own], path: Path
) -> None:
    expect = corpus_expectation(path)
    text = path.read_text()
    shutil.copy(path, tmp_path / "gunicorn.conf.py")  # found by gunicorn in its directory
    options = [] if re.search(r"^bind\b", text, re.M) else ["-b", f"127.0.0.1:{free_port()}"]
    own, said = start_master(
        tmp_path, [str(VENV_BIN / "gunicorn")], options, {"WEB_CONCURRENCY": "3"}
    )
    masters.append(own)
    # the corpus says what gunicorn runs: check that against gunicorn first
    assert said["worker_class"] == expect["worker_class"], said
    if expect["workers"] not in ("unknown", "default"):
        assert said["workers"] == int(expect["workers"]), said
    if expect["timeout"] != "unknown":
        assert said["timeout"] == int(expect["timeout"]), said

    master = scanned(own.pid, int(str(said["workers"])))
    data = master_of(master).tree_json()
    line = tree_line(master)
    assert master.worker_class == said["worker_class"], line
    if expect["workers"] == "unknown":
        # computed in the file: said unknown, never the stale literal or gunicorn's default
        assert master.configured is None and "workers" in data["unknown"], line
        assert "(configured ?)" in line
        assert master.target_source == "unknown"
    else:
        assert master.configured == said["workers"] == master.live, line
        assert f"(configured {said['workers']})" in line
    if expect["timeout"] == "unknown":
        assert data["timeout"] is None and "timeout" in data["unknown"], line
        assert "timeout unknown" in line
    else:
        assert master.timeout == said["timeout"] and data["timeout"] == said["timeout"], line
        assert f"timeout {said['timeout']}s" in line
    if "bind" in expect:
        sock = expect["bind"].removeprefix("unix:")
        assert any(b.startswith("unix:") and b.endswith(sock) for b in master.binds), line
    assert not master.flags, line


LAUNCHERS = {
    "gunicorn": lambda d: [str(VENV_BIN / "gunicorn")],
    # Debian/Ubuntu's python3-gunicorn before 20.x installed the script as gunicorn3
    "gunicorn3": lambda d: [str(_script_copy(d, "gunicorn3"))],
    # Fedora/RHEL/EPEL's python3-gunicorn installed it as gunicorn-3
    "gunicorn-3": lambda d: [str(_script_copy(d, "gunicorn-3"))],
    "python -m gunicorn": lambda d: [sys.executable, "-m", "gunicorn"],
}


def _script_copy(directory: Path, name: str) -> Path:
    """The venv's gunicorn console script under a distribution's name (its ``#!`` line runs
    the venv's python, so /proc shows ``python .../gunicorn3 ...`` as on those systems)."""
    target = directory / "bin" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(VENV_BIN / "gunicorn", target)
    return target


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_distribution_launchers_and_threads_switch_to_gthread(
    tmp_path: Path, masters: list[Own], launcher: str
) -> None:
    """``--threads 4`` with the default class runs gthread workers, whatever launched gunicorn
    (no setproctitle here: recognised by the command line /proc shows)."""
    own, said = start_master(
        tmp_path,
        LAUNCHERS[launcher](tmp_path),
        ["-w", "2", "--threads", "4", "-t", "45", "-b", f"127.0.0.1:{free_port()}"],
        {},
    )
    masters.append(own)
    assert (said["worker_class"], said["workers"], said["timeout"]) == ("gthread", 2, 45)
    master = scanned(own.pid, 2)
    assert (master.worker_class, master.configured, master.timeout) == ("gthread", 2, 45)
    assert master.unknown == [] and not master.flags
    assert "gthread" in tree_line(master)


def test_command_line_over_env_over_config_file(tmp_path: Path, masters: list[Own]) -> None:
    """gunicorn's order: config file < GUNICORN_CMD_ARGS < command line."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "gunicorn.conf.py").write_text("workers: int = 4\ntimeout = 5 * 60\n")
    own, said = start_master(
        tmp_path,
        [str(VENV_BIN / "gunicorn")],
        ["-w", "2", "-b", f"127.0.0.1:{free_port()}"],
        {"GUNICORN_CMD_ARGS": "--threads 2 --workers 3"},
    )
    masters.append(own)
    assert (said["worker_class"], said["workers"], said["timeout"]) == ("gthread", 2, 300)
    master = scanned(own.pid, 2)
    assert (master.worker_class, master.configured, master.timeout) == ("gthread", 2, 300)


def test_what_the_master_says_on_its_control_socket_settles_the_unknowns(
    tmp_path: Path, masters: list[Own]
) -> None:
    """Computed settings are unknown from the file alone; a master whose control socket answers
    says them itself, and nothing is left shown as unknown."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "gunicorn.conf.py").write_text(
        "import os\n"
        "workers = int(os.environ.get('WEB_CONCURRENCY', 2))\n"
        "threads = int(os.environ.get('APP_THREADS', 1))\n"
        "timeout = 60\n"
        "if os.environ.get('APP_DEBUG'):\n"
        "    timeout = 600\n"
    )
    env = {"WEB_CONCURRENCY": "3", "APP_THREADS": "2"}
    options = ["-b", f"127.0.0.1:{free_port()}"]
    own, said = start_master(
        tmp_path, [str(VENV_BIN / "gunicorn")], options, env, control_socket=tmp_path / "g.ctl"
    )
    masters.append(own)
    assert (said["worker_class"], said["workers"], said["timeout"]) == ("gthread", 3, 60)
    scanner = gunicorn.GunicornScanner()

    seen: list[str] = []

    def answered() -> gunicorn.Master | None:
        mine = [m for m in scanner.scan(full=True) if m.pid == own.pid]
        if mine:
            m = mine[0]
            seen.append(f"live {m.live} ctl {m.control_socket} {m.flags} {m.notes}")
        return mine[0] if mine and mine[0].stats is not None and mine[0].live == 3 else None

    try:
        master = wait_for(answered, timeout=20)  # the control socket answered
    except BaseException:
        print("\n".join(seen[-5:]))
        raise
    assert (master.worker_class, master.configured, master.timeout) == ("gthread", 3, 60)
    assert master_of(master).tree_json()["unknown"] == [] and "unknown" not in tree_line(master)
