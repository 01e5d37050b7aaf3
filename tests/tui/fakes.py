"""Deterministic data for snapshot tests: a monitor that returns fixed snapshots.

Real-server behaviour is covered by the other TUI tests; snapshots need pixels that do not
change between runs (pids, uptimes, host name, clock).
"""

from __future__ import annotations

import xmlrpc.client

import httpx

from opsconsole.core.config import AppConfig, SupervisorTarget
from opsconsole.core.supervisor import (
    ProcessInfo,
    ServerInfo,
    SupervisorClient,
    SupervisorError,
    Unreachable,
)
from opsconsole.core.supervisor.monitor import ServerSnapshot, SupervisorMonitor

NOW = 1_764_072_000  # 2025-11-25 12:00:00 UTC


def proc(
    name: str,
    state: str,
    code: int,
    pid: int = 0,
    group: str | None = None,
    up: int = 0,
    desc: str = "",
    spawnerr: str = "",
    exitstatus: int = 0,
) -> ProcessInfo:
    return ProcessInfo.from_rpc(
        {
            "name": name,
            "group": group or name,
            "statename": state,
            "state": code,
            "pid": pid,
            "start": NOW - up if up else 0,
            "now": NOW,
            "description": desc,
            "spawnerr": spawnerr,
            "exitstatus": exitstatus,
        },
        "demo",
    )


def demo_processes() -> list[ProcessInfo]:
    return [
        proc("api", "RUNNING", 20, 4101, up=3725),
        proc(
            "flaky",
            "FATAL",
            200,
            desc="Exited too quickly (process log may have details)",
            exitstatus=3,
        ),
        proc("idle", "STOPPED", 0, desc="Not started"),
        proc("nginx", "RUNNING", 20, 4102, up=3724),
        proc("queue_00", "RUNNING", 20, 4103, group="queue", up=3720),
        proc("queue_01", "RUNNING", 20, 4104, group="queue", up=3720),
        proc("queue_02", "BACKOFF", 30, group="queue", desc="Exited too quickly"),
        proc("web", "RUNNING", 20, 4105, up=86_500),
        proc("worker", "EXITED", 100, desc="Nov 25 11:58 AM", exitstatus=1),
    ]


class StaticMonitor(SupervisorMonitor):
    """Returns the same snapshot on every poll; sends nothing anywhere."""

    def __init__(self, config: AppConfig, error: SupervisorError | None = None) -> None:
        super().__init__(config.supervisors, refresh=60)
        self.error = error
        # Log tails opened by the views get fixed answers from an in-process transport.
        for name, client in list(self.clients.items()):
            self.clients[name] = SupervisorClient(
                client.target, transport=httpx.MockTransport(_fake_rpc)
            )

    async def poll(self, server: str) -> ServerSnapshot:
        target = self.clients[server].target
        if self.error is not None:
            snap = ServerSnapshot(
                server, target.url, status="unreachable", error=self.error, at=NOW
            )
        else:
            snap = ServerSnapshot(
                server,
                target.url,
                status="connected",
                processes=demo_processes(),
                info=ServerInfo("4.3.0", 4100, "RUNNING", "supervisor"),
                at=NOW,
            )
        self.snapshots[server] = snap
        return snap


def fake_config(theme: str | None = None, read_only: bool = False) -> AppConfig:
    # A .invalid host: never resolved or contacted (the StaticMonitor never sends).
    return AppConfig(
        supervisors=[SupervisorTarget("demo", "http://opsconsole-demo.invalid:9001")],
        theme=theme,
        read_only=read_only,
    )


def unreachable() -> Unreachable:
    return Unreachable(
        "supervisord socket /run/supervisor.sock does not exist",
        "is supervisord running? check the socket path (serverurl / [unix_http_server] file=)",
    )


# --------------------------------------------------------------------------- gunicorn, nginx
# Fixed models for the gunicorn and nginx views (snapshot tests patch them in for the real
# scanner/monitor, which read this machine). Every time shown is derived from NOW.

from collections.abc import Mapping, Sequence  # noqa: E402

from opsconsole.core import gunicorn as _gunicorn  # noqa: E402
from opsconsole.core import nginx as _nginx  # noqa: E402
from opsconsole.core.nginx import (  # noqa: E402
    Facts,
    Listen,
    Listener,
    Location,
    MasterArgs,
    NginxConfig,
    ProcFacts,
    Server,
    StubStatus,
    Upstream,
    UpstreamServer,
    build_topology,
    parse_diagnostics,
    run_checks,
)
from opsconsole.core.procs import ProcIdentity  # noqa: E402

MB = 1024 * 1024
DEMO_DIR = "/srv/demo"
VENV_PY = f"{DEMO_DIR}/.venv/bin/python"
GUNICORN_BIN = f"{DEMO_DIR}/.venv/bin/gunicorn"
NGINX_DIR = f"{DEMO_DIR}/nginx"
NGINX_CONF = f"{NGINX_DIR}/nginx.conf"
REPORTS_CONF = f"{NGINX_DIR}/conf.d/reports.conf"

WEB_ARGV = (
    VENV_PY,
    GUNICORN_BIN,
    "-w",
    "2",
    "-b",
    "127.0.0.1:8001",
    "--timeout",
    "30",
    "--pid",
    f"{DEMO_DIR}/web.pid",
    "--control-socket",
    f"{DEMO_DIR}/web.ctl",
    "--error-logfile",
    f"{DEMO_DIR}/logs/web-error.log",
    "--access-logfile",
    f"{DEMO_DIR}/logs/web-access.log",
    "demoapp:app",
)
API_ARGV = (
    VENV_PY,
    GUNICORN_BIN,
    "-k",
    "gthread",
    "-w",
    "3",
    "-b",
    "127.0.0.1:8002",
    "--no-control-socket",
    "demoapp:api",
)
REPORTS_ARGV = (VENV_PY, GUNICORN_BIN, "-w", "3", "-b", "127.0.0.1:8010", "reports:app")
NGINX_ARGV = (
    f"nginx: master process /usr/sbin/nginx -p {NGINX_DIR} -c {NGINX_CONF} -g daemon off;",
)


def _worker(
    pid: int,
    argv: tuple[str, ...],
    age: float,
    cpu: float,
    rss_mb: float,
    conns: int,
    beat: float,
    flags: list[str] | None = None,
) -> _gunicorn.Worker:
    return _gunicorn.Worker(
        pid,
        ProcIdentity(pid, NOW - age, argv),
        age=age,
        cpu_percent=cpu,
        rss=int(rss_mb * MB),
        threads=1,
        connections=conns,
        heartbeat_age=beat,
        status="sleeping",
        flags=flags or [],
    )


def demo_masters() -> list[_gunicorn.Master]:
    """web (2 workers, one stuck), api (2 of 3 workers: below target) and a master that no
    supervisor program runs (one worker with RSS above twice the median)."""
    web = _gunicorn.Master(
        4105,
        ProcIdentity(4105, NOW - 86_500, WEB_ARGV),
        "demoapp:app",
        program="web",
        server="demo",
        binds=["127.0.0.1:8001"],
        worker_class="sync",
        configured=2,
        live=2,
        target=2,
        target_source="control socket",
        uptime=86_500,
        timeout=30,
        control_socket=f"{DEMO_DIR}/web.ctl",
        error_log=f"{DEMO_DIR}/logs/web-error.log",
        pidfile=f"{DEMO_DIR}/web.pid",
        cwd=DEMO_DIR,
        found_by="supervisor",
        workers=[
            _worker(4210, WEB_ARGV, 86_490, 1.0, 48.2, 0, 3.0),
            _worker(4211, WEB_ARGV, 3_600, 99.0, 51.7, 1, 47.0, ["stuck"]),
        ],
    )
    api = _gunicorn.Master(
        4101,
        ProcIdentity(4101, NOW - 3_725, API_ARGV),
        "demoapp:api",
        program="api",
        server="demo",
        binds=["127.0.0.1:8002"],
        worker_class="gthread",
        configured=3,
        live=2,
        target=3,
        target_source="configured",
        uptime=3_725,
        timeout=30,
        cwd=DEMO_DIR,
        found_by="supervisor",
        flags=["under-target"],
        notes=["running 2 workers, configured 3: restarting the program returns to 3"],
        workers=[
            _worker(4220, API_ARGV, 3_720, 2.0, 61.0, 2, 1.0),
            _worker(4221, API_ARGV, 40, 0.0, 58.4, 0, 0.0),
        ],
    )
    reports = _gunicorn.Master(
        5300,
        ProcIdentity(5300, NOW - 420, REPORTS_ARGV),
        "reports:app",
        binds=["127.0.0.1:8010"],
        worker_class="sync",
        configured=3,
        live=3,
        target=3,
        uptime=420,
        timeout=30,
        cwd="/srv/reports",
        found_by="scan",
        workers=[
            _worker(5301, REPORTS_ARGV, 418, 0.0, 40.1, 0, 5.0),
            _worker(5302, REPORTS_ARGV, 418, 12.0, 131.5, 1, 2.0, ["rss-high"]),
            _worker(5303, REPORTS_ARGV, 418, 0.0, 42.3, 0, 11.0),
        ],
    )
    return [web, api, reports]


class FixedScanner(_gunicorn.GunicornScanner):
    """A GunicornScanner whose scan returns :func:`demo_masters` (reads nothing)."""

    def scan(
        self,
        programs: Sequence[ProcessInfo] = (),
        commands: Mapping[str, str] | None = None,
    ) -> list[_gunicorn.Master]:
        return demo_masters()


def demo_nginx_instance() -> _nginx.NginxInstance:
    args = MasterArgs("/usr/sbin/nginx", conf=NGINX_CONF, prefix=NGINX_DIR, globals="daemon off;")
    master = _nginx.Master(
        4102, 4100, args, NOW - 3_724, DEMO_DIR, ProcIdentity(4102, NOW - 3_724, NGINX_ARGV)
    )
    nginx_proc = next(p for p in demo_processes() if p.name == "nginx")
    return _nginx.NginxInstance(
        binary="/usr/sbin/nginx",
        conf_path=NGINX_CONF,
        prefix=NGINX_DIR + "/",
        args=args,
        master=master,
        program=nginx_proc,
        source="running master pid 4102",
    )


def demo_nginx_status() -> _nginx.NginxStatus:
    """Two workers, one old worker still finishing requests after a reload 25 minutes ago,
    stub_status answering, a steady request rate."""
    return _nginx.NginxStatus(
        instance=demo_nginx_instance(),
        version="1.22.1",
        workers=[
            _nginx.WorkerInfo(4230, "worker", NOW - 1_500, 0.0, int(4.2 * MB), 1),
            _nginx.WorkerInfo(4231, "worker", NOW - 1_500, 0.5, int(4.1 * MB), 0),
            _nginx.WorkerInfo(4190, "shutting down", NOW - 3_700, 0.0, int(3.9 * MB), 1),
        ],
        last_reload=NOW - 1_500,
        stub_url="http://127.0.0.1:8080/nginx_status",
        stub=StubStatus(3, 1_520, 1_520, 6_841, 0, 1, 2),
        rps=12.4,
        rps_history=[3.0, 4.5, 8.0, 9.5, 11.0, 12.5, 14.0, 12.0, 10.5, 12.4] * 2,
        at=NOW,
    )


def demo_nginx_config() -> NginxConfig:
    """The demo config: web and api behind one server, and a reports server whose backend
    is down."""
    web_conf = NGINX_CONF
    return NginxConfig(
        conf_path=NGINX_CONF,
        prefix=NGINX_DIR + "/",
        files=[NGINX_CONF, REPORTS_CONF],
        error_logs=[f"{NGINX_DIR}/logs/error.log"],
        access_logs=[f"{NGINX_DIR}/logs/access.log"],
        pid=f"{NGINX_DIR}/nginx.pid",
        http_server_tokens=None,
        servers=[
            Server(
                web_conf,
                31,
                listens=[Listen("127.0.0.1", 8080)],
                names=["demo.local"],
                locations=[
                    Location("", "/", web_conf, 34, proxy_pass="http://127.0.0.1:8001"),
                    Location("", "/api/", web_conf, 40, proxy_pass="http://api_backend/"),
                    Location("", "/static/", web_conf, 44, alias=f"{DEMO_DIR}/static/"),
                    Location("=", "/nginx_status", web_conf, 48, stub_status=True),
                ],
            ),
            Server(
                REPORTS_CONF,
                1,
                listens=[Listen("127.0.0.1", 8081)],
                names=["reports.local"],
                locations=[Location("", "/", REPORTS_CONF, 4, proxy_pass="http://127.0.0.1:8009")],
            ),
        ],
        upstreams={
            "api_backend": Upstream(
                "api_backend",
                web_conf,
                26,
                [UpstreamServer("127.0.0.1:8002", web_conf, 27)],
            )
        },
    )


def demo_facts() -> Facts:
    procs = {
        4100: ProcFacts(4100, 1, "supervisord", (VENV_PY, "-m", "supervisor.supervisord")),
        4101: ProcFacts(4101, 4100, "gunicorn", API_ARGV),
        4102: ProcFacts(4102, 4100, "nginx", NGINX_ARGV),
        4105: ProcFacts(4105, 4100, "gunicorn", WEB_ARGV),
    }
    return Facts(
        listeners=[
            Listener("127.0.0.1", 8001, 4105),
            Listener("127.0.0.1", 8002, 4101),
            Listener("127.0.0.1", 8080, 4102),
            Listener("127.0.0.1", 8081, 4102),
        ],
        unix_listeners={},
        local_ips={"127.0.0.1", "::1"},
        proc=procs.get,
        path_exists=lambda path: True,
    )


def demo_inspection(
    inst: object = None, programs: object = None, facts: object = None
) -> _nginx.Inspection:
    """What :func:`nginx.inspect` finds for the demo config (same signature; reads nothing)."""
    cfg = demo_nginx_config()
    topo = build_topology(cfg, master_pid=4102, programs=demo_processes(), facts=demo_facts())
    return _nginx.Inspection(cfg, topo, run_checks(cfg, topology=topo, mode_of=lambda p: 0o100644))


NGINX_T_FAILED = f"""\
nginx: [warn] conflicting server name "demo.local" on 127.0.0.1:8080, ignored
nginx: [emerg] unknown directive "proxy_passs" in {REPORTS_CONF}:6
nginx: configuration file {NGINX_CONF} test failed
"""


async def failed_config_test(
    inst: _nginx.NginxInstance, timeout: float = 20.0
) -> _nginx.ConfigTestResult:
    """What ``nginx -t`` says about a typo in conf.d/reports.conf (runs nothing)."""
    return _nginx.ConfigTestResult(
        ok=False,
        returncode=1,
        diagnostics=parse_diagnostics(NGINX_T_FAILED),
        command=inst.command("-t"),
        output=NGINX_T_FAILED,
        duration=0.04,
        conf_path=inst.conf_path,
        at=NOW,
    )


class FixedNginxMonitor(_nginx.NginxMonitor):
    """An NginxMonitor that always finds :func:`demo_nginx_instance` and samples
    :func:`demo_nginx_status` (reads nothing). The host finds nginx through its monitor for
    every read and request (topology, config, test, reload), so all of them see the demo."""

    def discover(self, programs: list[ProcessInfo] | None = None) -> _nginx.NginxInstance:
        return demo_nginx_instance()

    def sample(self, programs: list[ProcessInfo] | None = None) -> _nginx.NginxStatus:
        status = demo_nginx_status()
        self.instance = status.instance
        return status

    def config(self, inst: _nginx.NginxInstance) -> NginxConfig | None:
        return demo_nginx_config()


class FrozenClock:
    """Stands in for the ``time`` module where a view turns timestamps into "25m ago"."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        import time

        return time.monotonic()


# --------------------------------------------------------------------------- logs

#: A gunicorn error log: startup, an ERROR with its traceback, a line the app printed with
#: Rich markup, an ANSI colour escape and a NUL in it (all must show inertly), a worker
#: timeout.
APP_LOG = (
    b"[2025-11-25 11:58:01 +0000] [4105] [INFO] Starting gunicorn 23.0.0\n"
    b"[2025-11-25 11:58:01 +0000] [4105] [INFO] Listening at: http://127.0.0.1:8001 (4105)\n"
    b"[2025-11-25 11:58:01 +0000] [4210] [INFO] Booting worker with pid: 4210\n"
    b"[2025-11-25 11:59:12 +0000] [4211] [ERROR] Error handling request /orders/17\n"
    b"Traceback (most recent call last):\n"
    b'  File "/srv/demo/demoapp.py", line 42, in orders\n'
    b"    total = sum(item.price for item in order.items)\n"
    b"AttributeError: 'NoneType' object has no attribute 'items'\n"
    b"order=[bold red]x[/] \x1b[31mred\x1b[0m \x00 (printed by the app)\n"
    b"[2025-11-25 11:59:40 +0000] [4105] [CRITICAL] WORKER TIMEOUT (pid:4211)\n"
    b"[2025-11-25 11:59:41 +0000] [4105] [INFO] Booting worker with pid: 4240\n"
)

#: The matching access log: a 200, the 500 of the failing request, a 404.
ACCESS_LOG = (
    b'127.0.0.1 - - [25/Nov/2025:11:59:05 +0000] "GET /health HTTP/1.1" 200 2 "-" "curl/8.5.0"\n'
    b'127.0.0.1 - - [25/Nov/2025:11:59:12 +0000] "GET /orders/17 HTTP/1.1" 500 141 "-" '
    b'"Mozilla/5.0"\n'
    b'127.0.0.1 - - [25/Nov/2025:11:59:30 +0000] "GET /missing HTTP/1.1" 404 9 "-" '
    b'"curl/8.5.0"\n'
)


FAKE_LOG = (
    "2025-11-25 11:59:58,100 [4105] [INFO] demo.app: GET / 200\n"
    "2025-11-25 11:59:59,200 [4105] [ERROR] demo.app: database connection pool exhausted\n"
)


def _fake_answer(method: str | None) -> object:
    if method == "supervisor.getProcessInfo":  # no log file here: logs are read over XML-RPC
        return {"name": "api", "group": "api", "statename": "RUNNING", "stdout_logfile": ""}
    if method and method.startswith("supervisor.tail"):
        return [FAKE_LOG, len(FAKE_LOG), False]
    if method and method.startswith("supervisor.read"):
        return FAKE_LOG
    return ""


def _fake_rpc(request: httpx.Request) -> httpx.Response:
    """Answers a log tail with two fixed lines (also inside ``system.multicall``, which the
    log source batches its reads in), a process's info with no log file (so the log is read
    over XML-RPC); anything else with an empty string."""
    params, method = xmlrpc.client.loads(request.content)
    value: object = _fake_answer(method)
    if method == "system.multicall":
        calls: list[dict[str, object]] = list(params[0]) if params else []
        value = [[_fake_answer(str(call.get("methodName")))] for call in calls]
    body = xmlrpc.client.dumps((value,), methodresponse=True)
    return httpx.Response(200, content=body.encode())
