"""The nginx backend against the real demo stack's nginx (and one standalone nginx).

Every test that changes conf.d removes its file again and, when it reloaded, reloads back so
the shared stack serves its original config afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from opsconsole.core import actions, nginx
from opsconsole.core.config import NginxSettings
from opsconsole.core.errors import ReadOnlyError
from opsconsole.core.gunicorn import GunicornScanner
from opsconsole.core.supervisor import ProcessInfo
from opsconsole.demo.stack import DemoStack, find_nginx, free_port
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(demo_stack: DemoStack) -> NginxSettings:
    return NginxSettings(config=str(demo_stack.nginx_conf))


def _programs(stack: DemoStack) -> list[ProcessInfo]:
    return [ProcessInfo.from_rpc(d, "demo") for d in stack.rpc().supervisor.getAllProcessInfo()]


@pytest.fixture
def conf_d(demo_stack: DemoStack, settings: NginxSettings) -> Iterator[Path]:
    """conf.d of the demo nginx; files a test leaves there are removed and nginx reloaded."""
    directory = demo_stack.nginx_dir / "conf.d"
    before = set(directory.iterdir())
    yield directory
    added = set(directory.iterdir()) - before
    for path in added:
        path.unlink()
    if added:
        result = asyncio.run(nginx.reload(nginx.discover(settings)))
        assert result.took_effect, result.message


def _workers(inst: nginx.NginxInstance) -> set[int]:
    assert inst.master_pid is not None
    return nginx.worker_pids(inst.master_pid)


# --------------------------------------------------------------------------- discovery / test


def test_samples_keep_the_master_until_it_or_the_programs_change(
    demo_stack: DemoStack, settings: NginxSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sample re-checks the master it found instead of walking every process again; a
    changed set of supervised pids, or a pid that is no longer that process (reused),
    forces a full discovery."""
    from dataclasses import replace

    from opsconsole.core.nginx import status as nginx_status

    monkeypatch.setattr(nginx_status, "DISCOVERY_SECONDS", 3600.0)
    programs = _programs(demo_stack)
    monitor = nginx.NginxMonitor(settings)
    first = monitor.sample(programs)
    second = monitor.sample(programs)
    assert monitor.discoveries == 1
    assert first.instance.master is not None and second.instance.master is not None
    assert second.instance.master.pid == first.instance.master.pid
    assert second.instance.program is not None and second.instance.program.name == "nginx"
    assert {w.pid for w in second.workers if w.role == "worker"} == _workers(second.instance)
    # an open client connection is counted on the worker that holds it, as psutil counts it
    with socket.create_connection(("127.0.0.1", demo_stack.ports["nginx"]), timeout=10) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        conn.recv(100)  # a worker accepted it and answered; the connection stays open

        def held() -> bool:
            workers = monitor.sample(programs).workers
            expected = {
                w.pid: sum(
                    1
                    for c in psutil.Process(w.pid).net_connections("tcp")
                    if c.status == psutil.CONN_ESTABLISHED
                )
                for w in workers
            }
            return {w.pid: w.connections for w in workers} == expected and sum(
                expected.values()
            ) >= 1

        assert wait_for(held, timeout=20)
    discoveries = monitor.discoveries
    assert discoveries == 1
    # a program started or stopped: the supervisor's pids changed
    others = [p for p in programs if p.name != "web"]
    assert len(others) < len(programs)
    monitor.sample(others)
    assert monitor.discoveries == discoveries + 1
    # the master's pid now belongs to another process (other create time): discovered again
    found = monitor._found
    assert found is not None and found[0].master is not None
    stale = replace(found[0].master, create_time=found[0].master.create_time - 5)
    monitor._found = (replace(found[0], master=stale), found[1], found[2])
    third = monitor.sample(others)
    assert monitor.discoveries == discoveries + 2
    assert third.instance.master is not None
    assert third.instance.master.create_time == first.instance.master.create_time


def test_discovers_the_demo_master_with_its_flags(
    demo_stack: DemoStack, settings: NginxSettings
) -> None:
    inst = nginx.discover(settings, _programs(demo_stack))
    assert inst.running and inst.program is not None and inst.program.name == "nginx"
    assert inst.conf_path == str(demo_stack.nginx_conf)
    assert inst.prefix == str(demo_stack.nginx_dir)
    # the serving master's -g is passed on, so nginx -t tests exactly what is serving
    assert inst.args.flags()[-2:] == ["-g", "daemon off;"]
    assert "-p" in inst.command("-t")


async def test_good_config_passes(settings: NginxSettings) -> None:
    result = await nginx.run_config_test(nginx.discover(settings))
    assert result.ok and result.failure is None and result.errors == []


async def test_broken_config_points_at_file_and_line_and_reload_is_refused(
    conf_d: Path, settings: NginxSettings
) -> None:
    bad = conf_d / "zz-broken.conf"
    bad.write_text("server {\n    listen 127.0.0.1:1;\n    lisen 80;\n}\n")
    inst = nginx.discover(settings)
    before = _workers(inst)

    test = await nginx.run_config_test(inst)
    assert not test.ok and test.failure == "syntax"
    assert test.errors[0].file == str(bad) and test.errors[0].line == 3
    assert "lisen" in test.errors[0].message

    result = await nginx.reload(inst)
    assert result.status == "refused" and not result.signal_sent
    assert result.old_config_serving and "no signal sent" in result.message
    assert _workers(inst) == before
    bad.unlink()


async def test_good_change_reloads_with_new_workers(conf_d: Path, settings: NginxSettings) -> None:
    port = free_port()
    (conf_d / "zz-new.conf").write_text(
        f"server {{ listen 127.0.0.1:{port}; location / {{ return 200 'new-server'; }} }}\n"
    )
    inst = nginx.discover(settings)
    before = _workers(inst)
    result = await nginx.reload(inst)
    assert result.status == "reloaded", result.message
    assert result.signal_sent and set(result.new_workers) and not set(result.new_workers) & before
    assert _workers(inst).isdisjoint(before)
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text == "new-server"


async def test_port_in_use_is_reported_as_rejected(conf_d: Path, settings: NginxSettings) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        (conf_d / "zz-busy.conf").write_text(f"server {{ listen 127.0.0.1:{port}; return 200; }}\n")
        inst = nginx.discover(settings)
        before = _workers(inst)
        result = await nginx.reload(inst)
        # nginx -t does not bind, so the test passes and only the master notices
        assert result.test is not None and result.test.ok
        assert result.status == "rejected" and not result.took_effect
        assert result.signal_sent and result.old_config_serving
        assert "old config is still serving" in result.message
        assert any(
            f"127.0.0.1:{port}" in d.message and d.category == "bind" for d in result.log_errors
        )
        assert _workers(inst) == before
    finally:
        holder.close()


async def test_reload_refused_in_read_only_mode(settings: NginxSettings) -> None:
    inst = nginx.discover(settings)
    before = _workers(inst)
    actions.set_read_only(True)
    with pytest.raises(ReadOnlyError):
        await nginx.reload(inst)
    assert _workers(inst) == before


async def test_missing_binary_is_a_clear_error(settings: NginxSettings) -> None:
    inst = nginx.discover(NginxSettings(binary="/nonexistent/sbin/nginx", config=settings.config))
    assert inst.binary is None and inst.running  # status still works without the binary
    with pytest.raises(nginx.NginxNotInstalled) as err:
        await nginx.run_config_test(inst)
    assert "apt-get install nginx-light" in err.value.hint


async def test_unreadable_config_is_a_clear_error(tmp_path: Path) -> None:
    inst = nginx.discover(NginxSettings(config=str(tmp_path / "missing.conf")))
    assert not inst.running
    with pytest.raises(nginx.NginxConfigUnreadable) as err:
        await nginx.run_config_test(inst)
    assert "missing.conf" in err.value.message


async def test_environment_failure_is_not_called_syntax(
    conf_d: Path, settings: NginxSettings
) -> None:
    (conf_d / "zz-cert.conf").write_text(
        textwrap.dedent(
            f"""\
            server {{
                listen 127.0.0.1:{free_port()} ssl;
                ssl_certificate {conf_d}/no-such-cert.pem;
                ssl_certificate_key {conf_d}/no-such-key.pem;
            }}
            """
        )
    )
    result = await nginx.run_config_test(nginx.discover(settings))
    (conf_d / "zz-cert.conf").unlink()
    assert not result.ok and result.failure == "environment"
    assert result.errors[0].category == "certificate"


async def test_effective_config_is_split_per_file(
    conf_d: Path, demo_stack: DemoStack, settings: NginxSettings
) -> None:
    extra = conf_d / "zz-dump.conf"
    extra.write_text("# marker-for-dump\n")
    dump = await nginx.dump_config(nginx.discover(settings))
    extra.unlink()
    paths = [p for p, _ in dump.files]
    assert paths[0] == str(demo_stack.nginx_conf) and str(extra) in paths
    assert dump.text_of(str(extra)) == "# marker-for-dump\n"
    assert dump.text_of(str(demo_stack.nginx_conf)) == demo_stack.nginx_conf.read_text()


# --------------------------------------------------------------------------- status


def test_status_workers_and_stub_status(demo_stack: DemoStack, settings: NginxSettings) -> None:
    monitor = nginx.NginxMonitor(settings)
    first = monitor.sample(_programs(demo_stack))
    for _ in range(5):
        httpx.get(demo_stack.url("nginx", "/static/index.html"), timeout=5)
    second = monitor.sample(_programs(demo_stack))
    assert second.running and second.version.startswith("1.")
    assert first.instance.program is not None and first.instance.program.name == "nginx"
    assert {w.pid for w in second.workers} == _workers(second.instance)
    assert all(w.rss and w.rss > 0 for w in second.workers)
    assert second.stub_url == demo_stack.url("nginx", "/nginx_status")
    assert second.stub is not None and second.stub.active >= 1
    assert second.rps is not None and second.rps > 0 and second.rps_history


async def test_status_notices_a_reload(conf_d: Path, settings: NginxSettings) -> None:
    monitor = nginx.NginxMonitor(settings)
    monitor.sample()
    (conf_d / "zz-touch.conf").write_text("# reload me\n")
    result = await nginx.reload(nginx.discover(settings))
    assert result.ok
    status = monitor.sample()
    assert status.reloads_seen == 1 and status.last_reload is not None
    assert abs(status.last_reload - result.at) < 5


# --------------------------------------------------------------------------- topology


def test_topology_ties_nginx_to_gunicorn_and_supervisor(
    conf_d: Path, demo_stack: DemoStack, settings: NginxSettings
) -> None:
    dead_port = free_port()
    (conf_d / "zz-dead.conf").write_text(
        f"server {{ listen 127.0.0.1:{free_port()}; server_name dead.local;\n"
        f"    location / {{ proxy_pass http://127.0.0.1:{dead_port}; }} }}\n"
    )
    programs = _programs(demo_stack)
    inspection = nginx.inspect(nginx.discover(settings, programs), programs)
    root = inspection.topology
    assert any(c.label == "supervisor program nginx" for c in root.children)
    web = next(
        n
        for n in root.walk()
        if n.label == f"proxy_pass http://127.0.0.1:{demo_stack.ports['web']}"
    )
    gunicorn = web.children[0]
    web_pid = next(p.pid for p in programs if p.name == "web")
    assert gunicorn.kind == "gunicorn" and gunicorn.pid == web_pid
    assert gunicorn.children[0].label == "supervisor program web"
    dead = next(n for n in root.walk() if str(dead_port) in n.label)
    assert dead.status == "error" and "nothing listens" in dead.detail
    assert dead.file == str(conf_d / "zz-dead.conf") and dead.line == 2
    assert any(
        f.check == "dead-upstream" and str(dead_port) in f.message for f in inspection.findings
    )
    (conf_d / "zz-dead.conf").unlink()


# --------------------------------------------------------------------------- standalone


def _standalone_conf(directory: Path, port: int) -> Path:
    for sub in ("logs", "temp"):
        (directory / sub).mkdir()
    conf = directory / "nginx.conf"
    conf.write_text(
        textwrap.dedent(
            f"""\
            worker_processes 1;
            pid {directory}/nginx.pid;
            error_log logs/error.log;
            events {{ worker_connections 64; }}
            http {{
                access_log off;
                client_body_temp_path {directory}/temp/b;
                proxy_temp_path {directory}/temp/p;
                fastcgi_temp_path {directory}/temp/f;
                uwsgi_temp_path {directory}/temp/u;
                scgi_temp_path {directory}/temp/s;
                server {{ listen 127.0.0.1:{port}; return 200 'standalone'; }}
            }}
            """
        )
    )
    return conf


def open_to_other_users(directory: Path) -> None:
    """Let another user (``nobody``) run ``nginx -t`` on a standalone nginx's config: it must
    open the log, temp and pid files."""
    for path in (directory / "logs", directory / "temp"):
        path.chmod(0o777)
    (directory / "logs" / "error.log").chmod(0o666)
    (directory / "nginx.pid").chmod(0o666)


@contextlib.contextmanager
def standalone_nginx(directory: Path) -> Iterator[tuple[Path, int]]:
    """A daemonized nginx (not under supervisor) in ``directory``; stopped afterwards."""
    binary = find_nginx()
    assert binary is not None
    conf = _standalone_conf(directory, free_port())
    try:
        subprocess.run([binary, "-p", str(directory), "-c", str(conf)], check=True, timeout=20)
        pid_file = directory / "nginx.pid"
        pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text().strip()))
        # the pid file is written before the workers are forked: tests compare worker sets
        wait_for(lambda: nginx.worker_pids(pid))
        yield conf, pid
    finally:
        for master in nginx.find_masters():
            if master.args.conf == str(conf):
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(master.pid)
                    proc.send_signal(signal.SIGQUIT)
                    proc.wait(timeout=10)


def test_standalone_nginx_is_found_tested_and_reloaded(tmp_path: Path) -> None:
    with standalone_nginx(tmp_path) as (conf, pid):
        inst = nginx.discover(NginxSettings(config=str(conf)))
        assert inst.master_pid == pid and inst.program is None
        assert inst.args.globals is None and inst.args.prefix == str(tmp_path)
        result = asyncio.run(nginx.reload(inst))
        assert result.ok, result.message
        # error_log is relative: found under the prefix, and the reload was verified there
        assert result.log_files == [str(tmp_path / "logs" / "error.log")]


EPERM_SCRIPT = """
import asyncio, json, os, sys
from opsconsole.core import nginx
from opsconsole.core.config import NginxSettings
inst = nginx.discover(NginxSettings(config=sys.argv[1]))
os.setresuid(65534, 65534, 0)  # become nobody; the master belongs to root
try:
    asyncio.run(nginx.reload(inst))
    print(json.dumps({"raised": None}))
except nginx.NginxError as exc:
    print(json.dumps({"raised": type(exc).__name__, "message": exc.message, "hint": exc.hint}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own a master another user can't HUP")
def test_reload_of_another_users_master_explains_and_suggests_sudo() -> None:
    directory = Path(tempfile.mkdtemp(prefix="opsconsole-eperm-"))
    try:
        directory.chmod(0o755)
        with standalone_nginx(directory) as (conf, pid):
            open_to_other_users(directory)  # nginx -t as nobody must pass
            before = nginx.worker_pids(pid)
            out = subprocess.run(
                [sys.executable, "-c", EPERM_SCRIPT, str(conf)],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=str(Path(__file__).parents[2]),
            )
            data = json.loads(out.stdout or "{}")
            assert data.get("raised") == "NginxError", out.stdout + out.stderr
            assert "belongs to user root" in data["message"] and "sudo" in data["hint"]
            assert nginx.worker_pids(pid) == before
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------- CLI


def _cli(stack: DemoStack, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsconsole", "-c", str(stack.conf_path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_test_status_topology(demo_stack: DemoStack, stack_env: dict[str, str]) -> None:
    conf = ["--nginx-conf", str(demo_stack.nginx_conf)]
    test = _cli(demo_stack, stack_env, "nginx", "test", "--json", *conf)
    assert test.returncode == 0, test.stderr
    assert json.loads(test.stdout)["ok"] is True
    status = _cli(demo_stack, stack_env, "nginx", "status", "--json", "--interval", "0.2", *conf)
    data = json.loads(status.stdout)
    assert status.returncode == 0 and data["running"] and data["instance"]["program"] == "nginx"
    topo = _cli(demo_stack, stack_env, "topology", *conf)
    assert topo.returncode == 0, topo.stdout + topo.stderr
    assert "supervisor program web" in topo.stdout and "gunicorn master" in topo.stdout


def test_cli_broken_config_and_reload(
    conf_d: Path, demo_stack: DemoStack, stack_env: dict[str, str]
) -> None:
    conf = ["--nginx-conf", str(demo_stack.nginx_conf)]
    no_yes = _cli(demo_stack, stack_env, "nginx", "reload", *conf)
    assert no_yes.returncode == 2 and "--yes" in no_yes.stderr
    bad = conf_d / "zz-cli.conf"
    bad.write_text("server {\n  listen 127.0.0.1:1\n}\n")
    test = _cli(demo_stack, stack_env, "nginx", "test", *conf)
    assert test.returncode == 1 and f"{bad}:3" in test.stdout
    reload = _cli(demo_stack, stack_env, "nginx", "reload", "--yes", "--json", *conf)
    data = json.loads(reload.stdout)
    assert reload.returncode == 1 and data["status"] == "refused" and not data["signal_sent"]
    bad.unlink()
    ok = _cli(demo_stack, stack_env, "nginx", "reload", "--yes", *conf)
    assert ok.returncode == 0 and ok.stdout.startswith("ok"), ok.stdout + ok.stderr


def test_cli_missing_binary(demo_stack: DemoStack, stack_env: dict[str, str]) -> None:
    env = dict(stack_env, PATH="/nonexistent")
    out = _cli(demo_stack, env, "nginx", "test", "--nginx-bin", "/nonexistent/nginx")
    assert out.returncode == 2
    assert "not found" in out.stderr and "apt-get install nginx-light" in out.stderr


def test_stack_unchanged_after_nginx_tests(demo_stack: DemoStack) -> None:
    # the shared nginx still serves the original config (our conf.d files gone, nginx up)
    assert list((demo_stack.nginx_dir / "conf.d").glob("zz-*")) == []
    assert httpx.get(demo_stack.url("nginx", "/static/index.html"), timeout=5).status_code == 200
    assert os.path.exists(demo_stack.nginx_dir / "nginx.pid")


# --------------------------------------------------------------------------- shell wrapper


@pytest.fixture
def shell_wrapped_program(demo_stack: DemoStack) -> Iterator[tuple[str, int]]:
    """A supervisor program that starts gunicorn through a shell that stays (no ``exec``):
    supervisord's pid for the program is the shell, gunicorn's master is its child.
    Yields (program name, gunicorn port); removed again afterwards."""
    name, port = "zzshweb", free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    d, logs = demo_stack.dir, demo_stack.logs_dir
    conf = d / "conf.d" / f"{name}.conf"
    launch = f"{gunicorn} -w 2 -b 127.0.0.1:{port} --name {name} opsconsole.demo.wsgiapp:app"
    conf.write_text(
        textwrap.dedent(
            f"""\
            [program:{name}]
            command=/bin/sh -c '{launch}; echo "gunicorn exited $?"'
            environment=DEMO_APP_NAME="{name}",DEMO_STATE_DIR="{d}"
            directory={d}
            startsecs=1
            stopasgroup=true
            killasgroup=true
            stdout_logfile={logs}/{name}.out.log
            stderr_logfile={logs}/{name}.err.log
            """
        )
    )
    rpc = demo_stack.rpc().supervisor
    try:
        rpc.reloadConfig()
        rpc.addProcessGroup(name)
        wait_for(lambda: rpc.getProcessInfo(name)["statename"] == "RUNNING", timeout=20)
        wait_for(lambda: _answers(port), timeout=20)
        yield name, port
    finally:
        with contextlib.suppress(Exception):
            rpc.stopProcess(name)
        with contextlib.suppress(Exception):
            rpc.removeProcessGroup(name)
        conf.unlink()
        rpc.reloadConfig()


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def test_topology_names_the_gunicorn_master_below_a_shell_wrapper(
    conf_d: Path,
    demo_stack: DemoStack,
    settings: NginxSettings,
    shell_wrapped_program: tuple[str, int],
) -> None:
    name, port = shell_wrapped_program
    listen = free_port()
    (conf_d / "zz-shweb.conf").write_text(
        f"upstream shweb_app {{ server 127.0.0.1:{port}; }}\n"
        f"server {{ listen 127.0.0.1:{listen};\n"
        "    location / { proxy_pass http://shweb_app; } }\n"
    )
    result = asyncio.run(nginx.reload(nginx.discover(settings)))
    assert result.took_effect, result.message
    reply = httpx.get(f"http://127.0.0.1:{listen}/", timeout=10)
    assert reply.status_code == 200  # nginx really proxies to the wrapped gunicorn
    programs = _programs(demo_stack)
    shell_pid = next(p.pid for p in programs if p.name == name)
    # the gunicorn tree names the master below the shell
    tree = next(m for m in GunicornScanner().scan(programs) if m.program == name)
    assert tree.pid != shell_pid and psutil.Process(tree.pid).ppid() == shell_pid
    root = nginx.inspect(nginx.discover(settings, programs), programs).topology
    upstream = next(n for n in root.walk() if n.label == "upstream shweb_app")
    master = upstream.children[0].children[0]
    assert master.kind == "gunicorn"
    assert (master.pid, master.label) == (tree.pid, f"gunicorn master {tree.pid}")
    assert master.children[0].label == f"supervisor program {name}"


def test_try_files_falls_back_to_a_named_location_upstream(
    conf_d: Path, demo_stack: DemoStack, settings: NginxSettings, tmp_path: Path
) -> None:
    listen = free_port()
    (conf_d / "zz-named.conf").write_text(
        f"upstream app_server {{ server 127.0.0.1:{demo_stack.ports['web']}; }}\n"
        f"server {{ listen 127.0.0.1:{listen}; root {tmp_path};\n"
        "    location / { try_files $uri @proxy_to_app; }\n"
        "    location @proxy_to_app { proxy_pass http://app_server; } }\n"
    )
    result = asyncio.run(nginx.reload(nginx.discover(settings)))
    assert result.took_effect, result.message
    # for real: a path with no file behind it is answered by gunicorn through @proxy_to_app
    reply = httpx.get(f"http://127.0.0.1:{listen}/no-such-file", timeout=10)
    assert reply.status_code == 200 and "web" in reply.text
    programs = _programs(demo_stack)
    root = nginx.inspect(nginx.discover(settings, programs), programs).topology
    server = next(n for n in root.walk() if n.kind == "server" and str(listen) in n.label)
    labels = [n.label for n in server.children]
    assert labels == ["location /", "location @proxy_to_app"]
    slash = server.children[0]
    link = next(n for n in slash.children if n.label == "try_files → location @proxy_to_app")
    assert (link.file, link.line) == (str(conf_d / "zz-named.conf"), 3)
    upstream = link.children[0]
    assert upstream.label == "upstream app_server"
    web_pid = next(p.pid for p in programs if p.name == "web")
    gunicorn = upstream.children[0].children[0]
    assert (gunicorn.kind, gunicorn.pid) == ("gunicorn", web_pid)
    assert gunicorn.children[0].label == "supervisor program web"
