"""Conversions from the backends' models to the snapshot types of :mod:`opsconsole.core.host`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsconsole.core import supervisor
from opsconsole.core.host import (
    GunicornMaster,
    GunicornStats,
    GunicornWorker,
    NginxDiagnostic,
    NginxInstance,
    NginxSnapshot,
    NginxWorker,
    Program,
    StubCounts,
    TopoNode,
)

if TYPE_CHECKING:  # the backends are imported where used: the first frame needs neither
    from opsconsole.core import gunicorn as gunicorn_backend
    from opsconsole.core import nginx as nginx_backend


def program_of(
    p: supervisor.ProcessInfo,
    exitcodes: tuple[int, ...] | None = None,
    startsecs: int | None = None,
) -> Program:
    """A supervisor ProcessInfo as a snapshot Program (``exitcodes`` and ``startsecs`` from
    its config, when read)."""
    return Program(
        server=p.server,
        name=p.name,
        group=p.group,
        state=p.statename,
        pid=p.pid,
        description=p.description,
        start=p.start,
        stop=p.stop,
        now=p.now,
        spawnerr=p.spawnerr,
        exitstatus=p.exitstatus,
        stdout_logfile=p.stdout_logfile,
        stderr_logfile=p.stderr_logfile,
        exitcodes=exitcodes,
        startsecs=startsecs,
    )


def master_of(m: gunicorn_backend.Master) -> GunicornMaster:
    """A scanned gunicorn Master as a snapshot (no psutil objects)."""
    stats = None
    if m.stats is not None:
        s = m.stats
        stats = GunicornStats(
            s.pid,
            s.uptime,
            s.workers_current,
            s.workers_target,
            s.workers_spawned,
            s.workers_killed,
            s.reloads,
        )
    return GunicornMaster(
        pid=m.pid,
        create_time=m.identity.create_time,
        name=m.name,
        program=m.program,
        server=m.server,
        binds=tuple(m.binds),
        worker_class=m.worker_class,
        configured=m.configured,
        live=m.live,
        target=m.target,
        target_source=m.target_source,
        uptime=m.uptime,
        timeout=m.timeout,
        unknown=tuple(m.unknown),
        control_socket=m.control_socket,
        error_log=m.error_log,
        pidfile=m.pidfile,
        cwd=m.cwd,
        found_by=m.found_by,
        flags=tuple(m.flags),
        notes=tuple(m.notes),
        workers=tuple(
            GunicornWorker(
                pid=w.pid,
                create_time=w.identity.create_time,
                age=w.age,
                cpu_percent=w.cpu_percent,
                rss=w.rss,
                threads=w.threads,
                connections=w.connections,
                heartbeat_age=w.heartbeat_age,
                status=w.status,
                flags=tuple(w.flags),
            )
            for w in m.workers
        ),
        stats=stats,
        log_files=tuple(master_logs(m)),
    )


def master_logs(master: gunicorn_backend.Master) -> list[str]:
    """A gunicorn master's error log, then its access log: the absolute paths among them
    (a relative one is relative to the master's working directory, unknown here)."""
    from opsconsole.core.gunicorn import log_paths

    named = log_paths(master.identity.cmdline)
    error = master.error_log or named.get("error")
    return [path for path in (error, named.get("access")) if path and path.startswith("/")]


def instance_of(inst: nginx_backend.NginxInstance) -> NginxInstance:
    return NginxInstance(
        binary=inst.binary,
        conf_path=inst.conf_path,
        prefix=inst.prefix,
        label=inst.label,
        master_pid=inst.master_pid,
        master_create_time=inst.master.create_time if inst.master else None,
        program=inst.program.fullname if inst.program else None,
        flags=tuple(inst.args.flags()),
        source=inst.source,
        other_masters=tuple(inst.others),
        binary_problem=inst.binary_problem,
    )


def nginx_snapshot(
    host: str, status: nginx_backend.NginxStatus, log_files: list[str] | None = None
) -> NginxSnapshot:
    """A status sample as a snapshot; ``log_files`` the logs its config names."""
    stub = status.stub
    return NginxSnapshot(
        host=host,
        at=status.at,
        instance=instance_of(status.instance),
        version=status.version,
        workers=tuple(
            NginxWorker(w.pid, w.role, w.create_time, w.cpu_percent, w.rss, w.connections)
            for w in status.workers
        ),
        last_reload=status.last_reload,
        reloads_seen=status.reloads_seen,
        stub_url=status.stub_url,
        stub=None
        if stub is None
        else StubCounts(
            stub.active,
            stub.accepts,
            stub.handled,
            stub.requests,
            stub.reading,
            stub.writing,
            stub.waiting,
        ),
        stub_error=status.stub_error,
        rps=status.rps,
        rps_history=tuple(status.rps_history),
        log_files=tuple(log_files or ()),
    )


def _diagnostic(d: Any) -> NginxDiagnostic:
    return NginxDiagnostic(d.level, d.message, d.file, d.line, d.category, d.raw)


def topo_of(node: Any) -> TopoNode:
    return TopoNode(
        node.kind,
        node.label,
        node.status,
        node.detail,
        node.file,
        node.line,
        node.pid,
        tuple(topo_of(c) for c in node.children),
    )
