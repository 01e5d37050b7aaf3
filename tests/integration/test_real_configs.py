"""supervisord.conf as people write it: ``opsconsole status`` lists what ``supervisorctl status``
lists on the same file, or fails where it fails.

Each test starts a real supervisord on a config from tests/configs/supervisor/ (the stock
sample, the Debian/Ubuntu file, ...; each file says where its pattern comes from), rewritten
into a temporary directory, then runs the real ``supervisorctl -c CONF status`` and
``opsconsole -c CONF status --json`` side by side.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from opsconsole.demo.stack import MARKER_ENV, _bin, free_port, teardown

pytestmark = pytest.mark.integration  # starts supervisord, supervisorctl and opsconsole

CORPUS = Path(__file__).parent.parent / "configs" / "supervisor"

PROGRAMS = """
[program:alpha]
command=/bin/sleep 600
startsecs=0

[program:beta]
command=/bin/sleep 600
autostart=false

[program:pool]
command=/bin/sleep 600
process_name=%(program_name)s_%(process_num)02d
numprocs=2
startsecs=0
"""
LISTING = {
    "alpha": "RUNNING",
    "beta": "STOPPED",
    "pool:pool_00": "RUNNING",
    "pool:pool_01": "RUNNING",
}
STATES = {"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN"}


@contextmanager
def supervisord(conf: Path, cwd: Path, env: dict[str, str]) -> Iterator[None]:
    """A real supervisord on ``conf`` (run from ``cwd``) until its programs are up; then gone."""
    marker = str(conf.parent)
    log = conf.parent / "supervisord-test.log"
    log.unlink(missing_ok=True)  # readiness is read from this run's log only
    proc = subprocess.Popen(
        [_bin("supervisord"), "-n", "-c", str(conf), "-l", str(log)],
        cwd=cwd,
        env={**env, MARKER_ENV: marker},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 40
        text = ""
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"supervisord exited: {text}"
            text = log.read_text(errors="replace") if log.exists() else ""
            if all(
                f"success: {n} entered RUNNING" in text for n in ("alpha", "pool_00", "pool_01")
            ):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"supervisord on {conf.name} not ready in 40 s: {text}")
        yield
    finally:
        teardown(Path(marker), proc.pid, remove=False)
        proc.wait(timeout=10)


def supervisorctl(conf: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_bin("supervisorctl"), "-c", str(conf), "status"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def opsconsole(conf: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsconsole", "-c", str(conf), "status", "--json"],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )


def ctl_listing(out: subprocess.CompletedProcess[str]) -> dict[str, str]:
    rows = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] in STATES:
            rows[parts[0]] = parts[1]
    return rows


def ops_report(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data = json.loads(out.stdout)
    server: dict[str, Any] = data["servers"][0]
    return server


def ops_listing(out: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {p["name"]: p["state"] for p in ops_report(out)["programs"]}


def same_listing(conf: Path, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Both list the running supervisord's programs, the same ones in the same states."""
    ctl = supervisorctl(conf, cwd, env)
    assert ctl_listing(ctl) == LISTING, ctl.stdout + ctl.stderr
    ops = opsconsole(conf, cwd, env)
    assert ops.returncode == 0, ops.stdout + ops.stderr
    assert ops_listing(ops) == LISTING
    return ops_report(ops)


def base_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def corpus(name: str) -> str:
    return (CORPUS / name).read_text()


def test_stock_sample(tmp_path: Path) -> None:
    """The echo_supervisord_conf file: `serverurl=unix:///tmp/supervisor.sock ; comment`."""
    conf = tmp_path / "supervisord.conf"
    conf.write_text(corpus("stock_echo_supervisord_conf.conf").replace("/tmp/", f"{tmp_path}/"))
    conf.write_text(conf.read_text() + PROGRAMS)
    with supervisord(conf, tmp_path, base_env()):
        report = same_listing(conf, tmp_path, base_env())
    assert report["url"] == f"unix://{tmp_path}/supervisor.sock"


def test_debian_ubuntu_file(tmp_path: Path) -> None:
    """The package's /etc/supervisor/supervisord.conf, programs in conf.d/ by [include]."""
    text = corpus("debian_ubuntu.conf")
    for old, new in (
        ("/var/run/", f"{tmp_path}/run/"),
        ("/var/log/supervisor", f"{tmp_path}/log"),
        ("/etc/supervisor/conf.d", f"{tmp_path}/conf.d"),
    ):
        assert old in text
        text = text.replace(old, new)
        (tmp_path / new.rstrip("/").rsplit("/", 1)[1]).mkdir(exist_ok=True)
    conf = tmp_path / "supervisord.conf"
    conf.write_text(text)
    (tmp_path / "conf.d" / "programs.conf").write_text(PROGRAMS)
    with supervisord(conf, tmp_path, base_env()):
        same_listing(conf, tmp_path, base_env())
    # supervisord gone: both fail, on the same socket.
    ctl, ops = supervisorctl(conf, tmp_path, base_env()), opsconsole(conf, tmp_path, base_env())
    sock = f"unix://{tmp_path}/run/supervisor.sock"
    assert ctl.returncode != 0 and f"{sock} no such file" in ctl.stdout
    assert ops.returncode == 2 and not ops_report(ops)["reachable"]
    assert ops_report(ops)["url"] == sock and "does not exist" in ops_report(ops)["error"]


def test_env_expanded_socket_and_credentials(tmp_path: Path) -> None:
    password = secrets.token_hex(8)
    (tmp_path / "run").mkdir()
    env = base_env(
        SUPERVISOR_RUN_DIR=str(tmp_path / "run"),
        SUPERVISOR_USER="ops",
        SUPERVISOR_PASSWORD=password,
    )
    conf = tmp_path / "supervisord.conf"
    conf.write_text(corpus("env_expanded.conf") + PROGRAMS)
    with supervisord(conf, tmp_path, env):
        same_listing(conf, tmp_path, env)
        # Without the password in the environment both refuse the file, naming the variable.
        del env["SUPERVISOR_PASSWORD"]
        ctl, ops = supervisorctl(conf, tmp_path, env), opsconsole(conf, tmp_path, env)
    assert ctl.returncode == 2 and "ENV_SUPERVISOR_PASSWORD" in ctl.stderr
    assert ops.returncode == 2 and "ENV_SUPERVISOR_PASSWORD" in ops.stderr
    assert "Traceback" not in ops.stderr and password not in ops.stderr + ops.stdout


def test_any_interface_port_without_serverurl(tmp_path: Path) -> None:
    """`port=*:9001` and no serverurl: supervisorctl's default http://localhost:9001 reaches it."""
    try:
        with socket.socket() as probe:
            probe.bind(("", 9001))
    except OSError:
        pytest.skip("port 9001 is in use: supervisorctl's default URL cannot be tested here")
    password = secrets.token_hex(8)
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        corpus("inet_any_interface.conf").replace("password=123", f"password={password}") + PROGRAMS
    )
    with supervisord(conf, tmp_path, base_env()):
        report = same_listing(conf, tmp_path, base_env())
    assert report["url"] == "http://localhost:9001"


def test_no_supervisorctl_section_is_a_labelled_fallback(tmp_path: Path) -> None:
    """supervisorctl refuses a file without [supervisorctl]; opsconsole reaches the
    [inet_http_server] (`*:port` means localhost) and lists what supervisorctl would list
    given a [supervisorctl] section."""
    port, password = free_port(), secrets.token_hex(8)
    text = corpus("inet_no_supervisorctl.conf").replace("9001", str(port))
    text = text.replace("password=123", f"password={password}") + PROGRAMS
    conf = tmp_path / "supervisord.conf"
    conf.write_text(text)
    completed = tmp_path / "with_supervisorctl.conf"
    completed.write_text(
        f"{text}\n[supervisorctl]\nserverurl=http://localhost:{port}\n"
        f"username=user\npassword={password}\n"
    )
    with supervisord(conf, tmp_path, base_env()):
        refused = supervisorctl(conf, tmp_path, base_env())
        assert refused.returncode == 2
        assert "does not include supervisorctl section" in refused.stderr
        assert ctl_listing(supervisorctl(completed, tmp_path, base_env())) == LISTING
        ops = opsconsole(conf, tmp_path, base_env())
    assert ops.returncode == 0, ops.stdout + ops.stderr
    assert ops_listing(ops) == LISTING
    assert ops_report(ops)["url"] == f"http://localhost:{port}"


def test_relative_socket_path(tmp_path: Path) -> None:
    """`unix://run/supervisor.sock` is the working directory's, made absolute as supervisorctl
    does; from another directory both fail on the same (absent) socket."""
    (tmp_path / "run").mkdir()
    conf = tmp_path / "supervisord.conf"
    conf.write_text(corpus("relative_socket.conf") + PROGRAMS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with supervisord(conf, tmp_path, base_env()):
        report = same_listing(conf, tmp_path, base_env())
        ctl, ops = (
            supervisorctl(conf, elsewhere, base_env()),
            opsconsole(conf, elsewhere, base_env()),
        )
    assert report["url"] == f"unix://{tmp_path}/run/supervisor.sock"
    wrong = f"unix://{elsewhere}/run/supervisor.sock"
    assert ctl.returncode != 0 and f"{wrong} no such file" in ctl.stdout
    assert ops.returncode == 2 and ops_report(ops)["url"] == wrong


def test_socket_in_home_directory(tmp_path: Path) -> None:
    """`unix://~/supervisor.sock`: `~` is expanded as supervisorctl expands it."""
    env = base_env(HOME=str(tmp_path))
    conf = tmp_path / "supervisord.conf"
    conf.write_text(corpus("home_socket.conf") + PROGRAMS)
    with supervisord(conf, tmp_path, env):
        report = same_listing(conf, tmp_path, env)
    assert report["url"] == f"unix://{tmp_path}/supervisor.sock"


def test_credentials_only_in_server_section(tmp_path: Path) -> None:
    """supervisorctl sends none and is refused. opsconsole falls back to the server section's
    plain password; with a {SHA} digest there is nothing to send, and both fail."""
    conf = tmp_path / "supervisord.conf"
    plain = corpus("server_credentials_only.conf") + PROGRAMS
    conf.write_text(plain)
    with supervisord(conf, tmp_path, base_env()):
        ctl = supervisorctl(conf, tmp_path, base_env())
        assert ctl.returncode != 0 and "Server requires authentication" in ctl.stdout
        ops = opsconsole(conf, tmp_path, base_env())
    assert ops.returncode == 0 and ops_listing(ops) == LISTING

    digest = hashlib.sha1(b"plain-secret").hexdigest()
    conf.write_text(plain.replace("password=plain-secret", f"password={{SHA}}{digest}"))
    with supervisord(conf, tmp_path, base_env()):
        ctl = supervisorctl(conf, tmp_path, base_env())
        ops = opsconsole(conf, tmp_path, base_env())
    assert ctl.returncode != 0 and "Server requires authentication" in ctl.stdout
    assert ops.returncode == 2 and not ops_report(ops)["reachable"]
