"""Start and stop the demo stack: real supervisord, gunicorn and nginx on loopback.

Everything lives in a fresh temporary directory; every port is a free loopback port chosen at
start. Every process the stack starts carries ``OPSCONSOLE_DEMO_DIR`` in its environment, so
teardown can find and stop each of them even if supervisord itself died.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

MARKER_ENV = "OPSCONSOLE_DEMO_DIR"


class StackError(RuntimeError):
    """The demo stack could not be started; the message says why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _bin(name: str) -> str:
    """A console script of this interpreter's environment (the venv), else from PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise StackError(f"{name} is not installed: pip install -e '.[dev]' installs it")
    return found


class _UnixTransport(xmlrpc.client.Transport):
    """Minimal sync XML-RPC over a unix socket, used only to wait for the stack."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def make_connection(self, host: Any) -> Any:
        import http.client

        path = self.path
        _, self._extra_headers, _ = self.get_host_info(host)

        class Conn(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(5)
                self.sock.connect(path)

        return Conn("localhost")


@dataclass
class DemoStack:
    """The demo stack. ``start()`` returns once everything is up; ``stop()`` removes it all."""

    with_nginx: bool = True
    workers: int = 2
    extra_programs: int = 0
    base_dir: Path | None = None
    keep_dir: bool = False
    username: str = "demo"
    password: str = field(default_factory=lambda: secrets.token_hex(8), repr=False)
    dir: Path = field(init=False)
    ports: dict[str, int] = field(init=False, default_factory=dict)
    nginx_bin: str | None = field(init=False, default=None)
    supervisord: subprocess.Popen[bytes] | None = field(init=False, default=None)
    _started: bool = field(init=False, default=False)

    # -- paths -----------------------------------------------------------------

    @property
    def conf_path(self) -> Path:
        return self.dir / "supervisord.conf"

    @property
    def socket_path(self) -> Path:
        return self.dir / "supervisor.sock"

    @property
    def socket_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['supervisor']}"

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def nginx_dir(self) -> Path:
        return self.dir / "nginx"

    @property
    def nginx_conf(self) -> Path:
        return self.nginx_dir / "nginx.conf"

    def url(self, name: str, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    # -- config ----------------------------------------------------------------

    def _write_files(self) -> None:
        d = self.dir
        self.logs_dir.mkdir()
        (d / "conf.d").mkdir()
        (d / "static").mkdir()
        (d / "static" / "index.html").write_text("<h1>opsconsole demo static file</h1>\n")
        for name in ("web", "api", "nginx", "supervisor"):
            self.ports[name] = free_port()
        gunicorn = _bin("gunicorn")
        python = sys.executable
        common = "opsconsole.demo.wsgiapp:app"
        web_cmd = (
            f"{gunicorn} -w {self.workers} -b 127.0.0.1:{self.ports['web']} --name web "
            f"--pid {d}/web.pid --access-logfile {self.logs_dir}/web-access.log "
            f"--error-logfile {self.logs_dir}/web-error.log --timeout 30 "
            f"--control-socket {d}/web.ctl {common}"
        )
        api_cmd = (
            f"{gunicorn} -k gthread --threads 4 -w 2 -b 127.0.0.1:{self.ports['api']} "
            f"--name api --pid {d}/api.pid --access-logfile {self.logs_dir}/api-access.log "
            f"--error-logfile - --timeout 30 --no-control-socket {common}"
        )
        programs = [
            f"""
            [program:web]
            command={web_cmd}
            environment=DEMO_APP_NAME="web",DEMO_STATE_DIR="{d}",PYTHONUNBUFFERED="1"
            directory={d}
            autorestart=true
            startsecs=1
            stopwaitsecs=10
            stdout_logfile={self.logs_dir}/web.out.log
            stderr_logfile={self.logs_dir}/web.err.log
            """,
            f"""
            [program:api]
            command={api_cmd}
            environment=DEMO_APP_NAME="api",DEMO_STATE_DIR="{d}",PYTHONUNBUFFERED="1"
            directory={d}
            autorestart=true
            startsecs=1
            stopwaitsecs=10
            stdout_logfile={self.logs_dir}/api.out.log
            stderr_logfile={self.logs_dir}/api.err.log
            """,
            f"""
            [program:flaky]
            command=/bin/sh -c 'echo "flaky: cannot connect to database at 127.0.0.1:1" >&2; exit 3'
            startsecs=1
            startretries=1
            autorestart=true
            stdout_logfile={self.logs_dir}/flaky.out.log
            stderr_logfile={self.logs_dir}/flaky.err.log
            """,
            f"""
            [program:idle]
            command=/bin/sh -c 'while true; do echo "idle: tick"; sleep 5; done'
            autostart=false
            stdout_logfile={self.logs_dir}/idle.out.log
            stderr_logfile={self.logs_dir}/idle.err.log
            """,
            f"""
            [program:queue]
            command={python} -u -m opsconsole.demo.worker
            process_name=%(program_name)s_%(process_num)02d
            numprocs=3
            startsecs=1
            autorestart=true
            stopsignal=TERM
            stopwaitsecs=2
            stdout_logfile={self.logs_dir}/%(program_name)s_%(process_num)02d.out.log
            stderr_logfile={self.logs_dir}/%(program_name)s_%(process_num)02d.err.log
            """,
        ]
        for i in range(self.extra_programs):
            programs.append(
                f"""
                [program:extra{i:03d}]
                command=/bin/sleep 86400
                startsecs=0
                stdout_logfile=NONE
                stderr_logfile=NONE
                """
            )
        self.nginx_bin = find_nginx() if self.with_nginx else None
        if self.nginx_bin:
            self._write_nginx_conf()
            programs.append(
                f"""
                [program:nginx]
                command={self.nginx_bin} -p {self.nginx_dir} -c {self.nginx_conf} -g 'daemon off;'
                startsecs=1
                autorestart=true
                stopsignal=QUIT
                stdout_logfile={self.logs_dir}/nginx.out.log
                stderr_logfile={self.logs_dir}/nginx.err.log
                """
            )
        header = f"""
        [unix_http_server]
        file=%(here)s/supervisor.sock
        chmod=0700
        username={self.username}
        password={self.password}

        [inet_http_server]
        port=127.0.0.1:{self.ports["supervisor"]}
        username={self.username}
        password={self.password}

        [supervisord]
        logfile=%(here)s/logs/supervisord.log
        pidfile=%(here)s/supervisord.pid
        childlogdir=%(here)s/logs
        loglevel=info
        identifier=opsconsole-demo

        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

        [supervisorctl]
        serverurl=unix://%(here)s/supervisor.sock
        username={self.username}
        password={self.password}

        [include]
        files=%(here)s/conf.d/*.conf
        """
        text = textwrap.dedent(header) + "".join(textwrap.dedent(p) for p in programs)
        self.conf_path.write_text(text)
        self.conf_path.chmod(0o600)

    def _write_nginx_conf(self) -> None:
        n = self.nginx_dir
        for sub in ("logs", "temp", "conf.d"):
            (n / sub).mkdir(parents=True, exist_ok=True)
        conf = f"""
        worker_processes 2;
        pid {n}/nginx.pid;
        error_log {n}/logs/error.log info;

        events {{
            worker_connections 256;
        }}

        http {{
            types {{
                text/html html htm;
                text/css css;
                application/javascript js;
            }}
            default_type application/octet-stream;
            access_log {n}/logs/access.log;
            client_body_temp_path {n}/temp/client_body;
            proxy_temp_path {n}/temp/proxy;
            fastcgi_temp_path {n}/temp/fastcgi;
            uwsgi_temp_path {n}/temp/uwsgi;
            scgi_temp_path {n}/temp/scgi;
            server_tokens off;

            upstream api_backend {{
                server 127.0.0.1:{self.ports["api"]};
            }}

            server {{
                listen 127.0.0.1:{self.ports["nginx"]};
                server_name demo.local;

                location / {{
                    proxy_pass http://127.0.0.1:{self.ports["web"]};
                    proxy_set_header Host $host;
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                }}

                location /api/ {{
                    proxy_pass http://api_backend/;
                }}

                location /static/ {{
                    alias {self.dir}/static/;
                }}

                location = /nginx_status {{
                    stub_status;
                    allow 127.0.0.1;
                    deny all;
                }}
            }}

            include {n}/conf.d/*.conf;
        }}
        """
        self.nginx_conf.write_text(textwrap.dedent(conf))

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout: float = 40.0) -> DemoStack:
        if self._started:
            return self
        self.dir = Path(tempfile.mkdtemp(prefix="opsconsole-demo-", dir=self.base_dir))
        if len(str(self.socket_path)) > 100:  # unix socket paths are limited to 108 bytes
            path = self.dir
            shutil.rmtree(path, ignore_errors=True)
            raise StackError(
                f"the temporary directory {path.parent} is too deep for unix sockets: "
                "set TMPDIR to a short directory such as /tmp"
            )
        # nginx workers run as an unprivileged user when started by root: they must reach static/.
        self.dir.chmod(0o755)
        self._started = True
        try:
            self._write_files()
            self.launch_supervisord()
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def launch_supervisord(self) -> subprocess.Popen[bytes]:
        """Start supervisord on this stack's config (again, after a test killed it)."""
        env = dict(os.environ)
        env[MARKER_ENV] = str(self.dir)
        # Gunicorn's default control socket dir must not collide with other stacks.
        env["XDG_RUNTIME_DIR"] = str(self.dir)
        env.pop("OPSCONSOLE_SUPERVISOR_PASSWORD", None)
        self.supervisord = subprocess.Popen(
            [_bin("supervisord"), "-n", "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=(self.logs_dir / "supervisord.stdout").open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        return self.supervisord

    def rpc(self) -> Any:
        """A plain sync XML-RPC proxy (for setup and tests; the app uses core.supervisor)."""
        transport = _UnixTransport(str(self.socket_path))
        return xmlrpc.client.ServerProxy(
            f"http://{self.username}:{self.password}@localhost/RPC2", transport=transport
        )

    def expected_states(self) -> dict[str, set[str]]:
        want = {
            "web": {"RUNNING"},
            "api": {"RUNNING"},
            "flaky": {"FATAL"},
            "idle": {"STOPPED"},
            "queue_00": {"RUNNING"},
            "queue_01": {"RUNNING"},
            "queue_02": {"RUNNING"},
        }
        if self.nginx_bin:
            want["nginx"] = {"RUNNING"}
        return want

    def wait_ready(self, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        last = "supervisord did not create its socket"
        while time.monotonic() < deadline:
            if self.supervisord is not None and self.supervisord.poll() is not None:
                log = (self.logs_dir / "supervisord.stdout").read_text(errors="replace")
                raise StackError(f"supervisord exited with {self.supervisord.returncode}: {log}")
            if self.socket_path.exists():
                try:
                    infos = {
                        p["name"]: p["statename"] for p in self.rpc().supervisor.getAllProcessInfo()
                    }
                    bad = {n: s for n, s in self.expected_states().items() if infos.get(n) not in s}
                    if not bad and self._ports_answer():
                        return
                    last = f"waiting for {bad or 'ports to answer'}"
                except (OSError, xmlrpc.client.Error) as exc:
                    last = f"supervisord not answering yet: {exc}"
            time.sleep(0.2)
        raise StackError(f"demo stack not ready after {timeout:.0f} s: {last}")

    def _ports_answer(self) -> bool:
        names = ["web", "api"] + (["nginx"] if self.nginx_bin else [])
        for name in names:
            try:
                with socket.create_connection(("127.0.0.1", self.ports[name]), timeout=0.5):
                    pass
            except OSError:
                return False
        return True

    def processes(self) -> list[psutil.Process]:
        """Every live process started for this stack (found by the marker in its environment)."""
        return stack_processes(self.dir) if self._started else []

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every process of the stack and remove its directory. Safe to call twice."""
        if not self._started:
            return
        sup = self.supervisord
        teardown(self.dir, sup.pid if sup is not None else None, timeout, remove=not self.keep_dir)
        if sup is not None:
            try:
                sup.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._started = False

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> str:
        lines = [
            f"demo stack in {self.dir}",
            f"  supervisord: {self.socket_url}  (also {self.http_url})",
            f"  user {self.username}, password in {self.conf_path} ([supervisorctl])",
            f"  web (gunicorn): {self.url('web')}",
            f"  api (gunicorn gthread): {self.url('api')}",
        ]
        if self.nginx_bin:
            lines.append(
                f"  nginx: {self.url('nginx')}  status: {self.url('nginx', '/nginx_status')}"
            )
        else:
            lines.append("  nginx: not installed (sudo apt-get install nginx-light)")
        return "\n".join(lines)


def stack_processes(directory: Path) -> list[psutil.Process]:
    """Live processes of this stack: the marker in their environment, or the stack directory in
    their command line (nginx clears its environment), and all their descendants."""
    found: dict[int, psutil.Process] = {}
    marker = str(directory)
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if marker in cmdline or proc.environ().get(MARKER_ENV) == marker:
                found[proc.pid] = proc
        except (psutil.Error, OSError):
            continue
    for proc in list(found.values()):
        try:
            for child in proc.children(recursive=True):
                found.setdefault(child.pid, child)
        except psutil.Error:
            continue
    found.pop(os.getpid(), None)  # the watchdog names the directory in its own command line
    return list(found.values())


def teardown(
    directory: Path, supervisord_pid: int | None = None, timeout: float = 20.0, remove: bool = True
) -> None:
    """Stop supervisord (it stops its programs), kill any survivor, remove the directory."""
    procs = stack_processes(directory)
    if supervisord_pid is None:
        try:
            supervisord_pid = int((directory / "supervisord.pid").read_text().strip())
        except (OSError, ValueError):
            supervisord_pid = None
    if supervisord_pid:
        try:
            sup = psutil.Process(supervisord_pid)
            if sup.environ().get(MARKER_ENV) == str(directory):
                sup.send_signal(signal.SIGTERM)
                sup.wait(timeout=timeout)
        except (psutil.Error, OSError):
            pass
    survivors = [p for p in procs + stack_processes(directory) if p.is_running()]
    for proc in survivors:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(survivors, timeout=5)
    if remove:
        shutil.rmtree(directory, ignore_errors=True)
