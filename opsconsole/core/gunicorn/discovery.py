"""Finding gunicorn masters and their workers on this machine (blocking).

Over 600 lines on purpose: :class:`GunicornScanner` is one class whose caches (CPU samples,
known masters, listening sockets, control-socket answers) carry discovery, settings and
worker sampling from one refresh to the next; cut apart, they would share that state.

Discovery (:meth:`GunicornScanner.scan`) combines three sources: the pids supervisord reports
for its programs (a master below a shell wrapper is found by walking down), the pidfiles named
with ``--pid``/``-p``, and a scan of every process for gunicorn masters not under supervisor.
It works with and without ``setproctitle`` (titles ``gunicorn: master [name]`` /
``gunicorn: worker [name]``, else the launch command line, also ``python -m gunicorn``).

Everything here blocks (psutil, /proc, the control socket): the TUI runs it in a thread
worker, the CLI calls it directly.
"""

from __future__ import annotations

import os
import shlex
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psutil

from opsconsole.core.gunicorn.control import (
    ControlClient,
    ControlSocketError,
    NotTheMaster,
    parse_stats,
    parse_workers,
)
from opsconsole.core.gunicorn.model import (
    DEFAULT_BIND,
    DEFAULT_TIMEOUT,
    UNDER_TARGET_GRACE,
    UNKNOWN,
    Master,
    Worker,
    worker_flags,
)
from opsconsole.core.gunicorn.parse import (
    FILE_SETTINGS,
    LaunchArgs,
    effective_worker_class,
    merge_args,
    parse_argv,
    parse_config_py,
    parse_options,
    short_worker_class,
    title_of,
    to_int,
    unreadable_settings,
)
from opsconsole.core.gunicorn.processes import (
    ProcRow,
    child_pids,
    children_of,
    classify,
    fd_facts,
    format_addr,
    is_newborn,
    open_tcp_inodes,
    process_table,
    read_pidfile,
    read_proc,
    resolve_path,
    role_of,
)
from opsconsole.core.procs import ProcIdentity, read_stat, start_time
from opsconsole.core.supervisor import ProcessInfo, ProcessState


@dataclass
class _Known:
    """A master as the last discovery described it, without its workers."""

    template: Master
    argv: tuple[str, ...]
    ctl_workers: Mapping[int, Any]


class GunicornScanner:
    """Finds masters and keeps what must survive between refreshes: CPU samples, since when a
    master is below target, and the target opsconsole asked for last (per master identity).

    Not thread-safe: use one scanner from one thread at a time (the actions only touch the
    small ``requested`` dict, which is safe enough under the GIL).
    """

    def __init__(self, *, use_control_socket: bool = True) -> None:
        self.use_control_socket = use_control_socket
        #: worker key → (CPU seconds, when read): CPU% is the change between two refreshes
        self._cpu: dict[tuple[int, float], tuple[float, float]] = {}
        #: per worker key, its fds that are not sockets (fd → link target); per master key,
        #: the socket inodes its workers inherit. Both are dropped at every full discovery.
        self._fds: dict[tuple[int, float], dict[str, str]] = {}
        self._inherited: dict[tuple[int, float], set[int]] = {}
        #: open TCP socket inodes, read at most once per scan and only when needed
        self._open_tcp: set[int] | None = None
        self._tcp_read = False
        #: socket inode → (an open TCP connection?, when that was read)
        self._sockets: dict[int, tuple[bool, float]] = {}
        #: what the last discovery learnt, per master: reused by the refreshes in between
        self._known: dict[tuple[int, float], _Known] = {}
        self._worker_procs: dict[int, ProcRow] = {}
        self._discovered_at = 0.0
        #: scans since the last full discovery (see DISCOVERY_SCANS)
        self._scans_since = 0
        self._programs_seen: frozenset[tuple[str | None, str, str, int]] | None = None
        self.discoveries = 0
        #: master key → (when read, TCP listen addresses, unix socket paths)
        self._listen_cache: dict[Any, tuple[float, list[str], list[str]]] = {}
        self._under_since: dict[tuple[int, float], float] = {}
        self.requested: dict[tuple[int, float], int] = {}
        self._ctl_config: dict[tuple[int, float], tuple[int | None, dict[str, Any]]] = {}
        self._ctl_failures: dict[tuple[int, float], int] = {}

    @staticmethod
    def key(identity: ProcIdentity) -> tuple[int, float]:
        """``(pid, start time)``: one master, never a later process that reuses its pid."""
        return (identity.pid, round(identity.create_time, 2))

    def remember_target(self, master: Master, target: int) -> None:
        """Keep the worker count opsconsole asked ``master`` for (shown as its target)."""
        self.requested[self.key(master.identity)] = target
        self.rediscover()

    def forget_target(self, master: Master) -> None:
        """Drop the asked-for count (a reload returns the master to its configured one)."""
        self.requested.pop(self.key(master.identity), None)
        self.rediscover()

    def rediscover(self) -> None:
        """Make the next :meth:`scan` a full discovery (after an action changed a master)."""
        self._discovered_at = 0.0

    # -- scan ----------------------------------------------------------------

    def scan(
        self,
        programs: Sequence[ProcessInfo] = (),
        commands: Mapping[str, str] | None = None,
        *,
        full: bool = False,
    ) -> list[Master]:
        """Every gunicorn master on this machine, each tied to its supervisor program when
        there is one. ``programs`` must come from supervisords on this machine; ``commands``
        (program fullname → command=) helps when setproctitle hid the launch command.

        A full discovery (every process on the machine, each master's environment, config
        file, sockets and control socket) runs every ``DISCOVERY_SECONDS`` (and no more often
        than every ``DISCOVERY_SCANS`` scans: a hidden view scanning every 30 s does one every
        90 s), when the programs
        changed, when a known master is gone or forked a new master, after an action, or with
        ``full``. The scans in between only re-read the known masters' children and each
        worker's usage, heartbeat and connections: the cost of a refresh is then close to one
        psutil pass over the same pids. A master started by hand outside supervisor shows up
        at the next discovery.

        Raises nothing for a process that vanishes or belongs to another user: what cannot
        be read is left out or shown as unknown.
        """
        live = (ProcessState.RUNNING, ProcessState.STARTING)
        running = frozenset(
            (info.server, info.group, info.name, info.pid)
            for info in programs
            if info.pid > 0 and info.state in live
        )
        # due by time AND by count: a view that scans rarely (hidden: every 30 s) does not
        # make every scan a walk of the machine's processes
        due = (
            time.monotonic() - self._discovered_at >= DISCOVERY_SECONDS
            and self._scans_since >= DISCOVERY_SCANS
        ) or not self._discovered_at
        if not (full or due or running != self._programs_seen):
            refreshed = self._refresh()
            if refreshed is not None:
                self._scans_since += 1
                return refreshed
        masters = self._discover(programs, commands)
        self._programs_seen = running
        self._discovered_at = time.monotonic()
        self._scans_since = 0
        self.discoveries += 1
        return masters

    def _refresh(self) -> list[Master] | None:
        """The known masters with fresh workers, or None when a full discovery is needed."""
        now = time.time()
        self._tcp_read = False
        out: list[Master] = []
        seen: set[int] = set()
        boot = psutil.boot_time()
        for key, known in self._known.items():
            template = known.template
            pid = template.pid
            facts = read_stat(pid)
            if facts is None or abs(start_time(facts, boot) - template.identity.create_time) > 0.01:
                return None  # gone, or the pid is another process now
            kids = child_pids(pid)
            if kids is None:
                return None
            workers: list[ProcRow] = []
            for kid in kids:
                proc = self._worker_procs.get(kid)
                if proc is None:
                    proc = read_proc(kid)
                    if proc is None:
                        continue
                    role = classify(proc.argv, known.argv)
                    if role == "master" and is_newborn(proc, known.argv):
                        continue  # a worker not yet renamed: look again next time
                    if role == "master":
                        return None  # USR2 forked a new master: discover it
                    if role != "worker":
                        continue
                    self._worker_procs[kid] = proc
                seen.add(kid)
                workers.append(proc)
            master = replace(
                template,
                binds=list(template.binds),
                flags=list(template.flags),
                notes=list(template.notes),
                workers=[],
                uptime=max(0.0, now - template.identity.create_time),
            )
            self._finish(master, workers, known.ctl_workers, now, key)
            out.append(master)
        for pid in list(self._worker_procs):
            if pid not in seen:
                del self._worker_procs[pid]
        return out

    def _discover(
        self, programs: Sequence[ProcessInfo], commands: Mapping[str, str] | None
    ) -> list[Master]:
        table = process_table()
        kids = children_of(table)
        roles = {pid: role_of(pid, table, kids) for pid in table}
        self._tcp_read = False
        self._known = {}
        self._worker_procs = {}
        self._fds = {}
        self._inherited = {}
        by_pid: dict[int, ProcessInfo] = {}
        for info in programs:
            if info.pid > 0 and info.state in (ProcessState.RUNNING, ProcessState.STARTING):
                by_pid[info.pid] = info
        found: dict[int, str] = {}
        owner: dict[int, ProcessInfo] = {}
        # 1. Supervisor: walk down from each program's pid (a shell wrapper, a venv launcher).
        for pid, info in by_pid.items():
            for master_pid in self._masters_below(pid, table, kids, roles):
                found.setdefault(master_pid, "supervisor")
                owner.setdefault(master_pid, info)
        # 2. Every master by role; 3. pidfiles named on the command lines.
        for pid, role in roles.items():
            if role == "master":
                found.setdefault(pid, "scan")
        for pid in list(found):
            args = parse_argv(table[pid].argv)
            if args is None or not args.pidfile:
                continue
            named = read_pidfile(resolve_path(args.pidfile, _cwd(pid)) or args.pidfile)
            if named and named in table and named not in found and roles.get(named) is not None:
                found[named] = "pidfile"
        # A master found by scan may still be under a program (deeper wrapper chains).
        for pid in found:
            if pid in owner:
                continue
            walker = table[pid].ppid
            for _ in range(8):
                if walker in by_pid:
                    owner[pid] = by_pid[walker]
                    break
                parent = table.get(walker)
                if parent is None:
                    break
                walker = parent.ppid
        masters = []
        for pid, how in sorted(found.items()):
            try:
                masters.append(
                    self._describe(pid, how, table, kids, roles, owner.get(pid), commands or {})
                )
            except psutil.NoSuchProcess:
                continue
        live_keys = {self.key(m.identity) for m in masters}
        for d in (
            self._under_since,
            self.requested,
            self._ctl_config,
            self._ctl_failures,
            self._listen_cache,
        ):
            for k in list(d):
                if k not in live_keys:
                    del d[k]
        return masters

    def _listening(self, ps: psutil.Process, identity: ProcIdentity) -> tuple[list[str], list[str]]:
        """(TCP listen addresses, unix socket paths) of a master, cached for a while: parsing
        /proc/net for every master on every refresh was most of a scan's cost."""
        key = self.key(identity)
        cached = self._listen_cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < LISTEN_CACHE_SECONDS:
            return list(cached[1]), list(cached[2])
        inet: list[str] = []
        unix: list[str] = []
        for conn in ps.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr:
                inet.append(format_addr(conn.laddr))
        for conn in ps.net_connections(kind="unix"):
            path = conn.laddr if isinstance(conn.laddr, str) else ""
            if path and not conn.raddr:
                unix.append(path)
        self._listen_cache[key] = (now, inet, unix)
        return list(inet), list(unix)

    @staticmethod
    def _masters_below(
        pid: int,
        table: Mapping[int, ProcRow],
        kids: Mapping[int, list[int]],
        roles: Mapping[int, str | None],
        depth: int = 4,
    ) -> list[int]:
        if pid not in table:
            return []
        if roles.get(pid) == "master":
            return [pid]
        out: list[int] = []
        frontier = [pid]
        for _ in range(depth):
            nxt: list[int] = []
            for parent in frontier:
                for child in kids.get(parent, []):
                    if roles.get(child) == "master":
                        out.append(child)
                    elif roles.get(child) is None:
                        nxt.append(child)  # keep walking through wrappers, not into workers
            if out:
                return out
            frontier = nxt
        return out

    def _describe(
        self,
        pid: int,
        how: str,
        table: Mapping[int, ProcRow],
        kids: Mapping[int, list[int]],
        roles: Mapping[int, str | None],
        program: ProcessInfo | None,
        commands: Mapping[str, str],
    ) -> Master:
        proc = table[pid]
        now = time.time()
        identity = ProcIdentity(pid, proc.create_time, proc.argv)
        ps = psutil.Process(pid)
        cwd = _cwd(pid)
        cmd_args = parse_argv(proc.argv)
        if cmd_args is None and program is not None and program.fullname in commands:
            try:
                cmd_args = parse_argv(shlex.split(commands[program.fullname]))
            except ValueError:
                cmd_args = None
        env_args: LaunchArgs | None = None
        web_concurrency: int | None = None
        env_read = False
        try:
            env = ps.environ()
            env_read = True
            if env.get("GUNICORN_CMD_ARGS"):
                env_args = parse_options(shlex.split(env["GUNICORN_CMD_ARGS"]))
            web_concurrency = to_int(env.get("WEB_CONCURRENCY", "1"))  # gunicorn's default -w
        except (psutil.Error, ValueError, OSError):
            pass
        file_args = self._config_file(cmd_args, env_args, cwd)
        args = merge_args(file_args, env_args, cmd_args)
        unknown = unreadable_settings(args, cmd_args is not None)
        titled = title_of(proc.argv)
        name = args.name or (titled[1] if titled else "") or (program.name if program else "")
        master = Master(
            pid=pid,
            identity=identity,
            name=name or "gunicorn",
            program=program.fullname if program else None,
            server=program.server if program else None,
            worker_class=effective_worker_class(args) or UNKNOWN,
            configured=args.workers,
            uptime=max(0.0, now - proc.create_time),
            timeout=args.timeout if args.timeout is not None else DEFAULT_TIMEOUT,
            unknown=[u for u in unknown if u != "workers"],
            pidfile=resolve_path(args.pidfile, cwd),
            cwd=cwd,
            found_by=how,
        )
        if "workers" in unknown:
            master.configured = None  # computed, or from a command line we cannot see
        elif master.configured is None and env_read:
            master.configured = web_concurrency  # set nowhere: $WEB_CONCURRENCY, else 1
        # Listening sockets.
        unix_binds = {b[len("unix:") :] for b in args.binds if b.startswith("unix:")}
        unix_listen: list[str] = []
        try:
            inet, unix_listen = self._listening(ps, identity)
            master.binds += inet
        except (psutil.AccessDenied, OSError):
            master.binds = list(args.binds)
        master.binds += [f"unix:{p}" for p in unix_listen if p in unix_binds]
        if not master.binds:
            master.binds = list(args.binds) or [DEFAULT_BIND]
        # Control socket: a unix socket the master listens on that is not one of its binds.
        if not args.control_socket_disabled:
            candidates = [p for p in unix_listen if p not in unix_binds]
            if args.control_socket and resolve_path(args.control_socket, cwd) in candidates:
                master.control_socket = resolve_path(args.control_socket, cwd)
            elif candidates:
                ctl = [p for p in candidates if p.endswith(".ctl")]
                master.control_socket = (ctl or candidates)[0]
            if master.control_socket is None:
                # Gunicorn starts its control server only once the first workers are up,
                # and stops it around every fork: a master read at such a moment listens
                # on no control socket yet. Keeping that for LISTEN_CACHE_SECONDS would hide
                # the socket (and the master's own answers) for half a minute; look again
                # at the next discovery.
                self._listen_cache.pop(self.key(identity), None)
        ctl_workers: dict[int, Any] = {}
        key = self.key(identity)
        failed_before = self._ctl_failures.get(key, 0)
        # A socket that failed several scans in a row is retried only every 10th scan, so a
        # dead control server does not cost every refresh its connect timeout.
        skip_ctl = failed_before >= 2 and failed_before % 10 != 0
        if skip_ctl:
            self._ctl_failures[key] = failed_before + 1
            master.flags.append("ctl-down")
        if master.control_socket and self.use_control_socket and not skip_ctl:
            try:
                # The client checks that this master is the one listening before each
                # command: another master may have bound the same path (NotTheMaster).
                client = ControlClient(
                    master.control_socket, expect=identity, timeout=1.0, retry_for=0.3
                )
                master.stats = parse_stats(client.command("show", ["stats"]))
                ctl_workers = {w.pid: w for w in parse_workers(client.command("show", ["workers"]))}
                # The configuration only changes on reload: ask again when reloads moves.
                cached = self._ctl_config.get(key)
                if cached is None or cached[0] != master.stats.reloads:
                    cached = (master.stats.reloads, client.command("show", ["config"]))
                    self._ctl_config[key] = cached
                cfg = cached[1]
                self._ctl_failures.pop(key, None)
                if isinstance(cfg.get("workers"), int) and not isinstance(cfg["workers"], bool):
                    master.configured = cfg["workers"]
                if isinstance(cfg.get("timeout"), int) and args.timeout is None:
                    master.timeout = int(cfg["timeout"])
                if isinstance(cfg.get("worker_class"), str) and args.worker_class is None:
                    master.worker_class = short_worker_class(cfg["worker_class"])
                if isinstance(cfg.get("proc_name"), str) and not args.name and not titled:
                    master.name = cfg["proc_name"] or master.name
            except NotTheMaster as exc:
                # Another master answers on this path: nothing of its answers is this
                # master's. Stats come from /proc, scaling uses signals; said so.
                master.stats, ctl_workers = None, {}
                self._ctl_failures.pop(key, None)
                master.flags.append("ctl-shared")
                master.notes.append(exc.message)
            except ControlSocketError as exc:
                # Gunicorn restarts its control server around every fork, so one miss
                # while workers spawn is normal; two in a row is not.
                failures = self._ctl_failures.get(key, 0) + 1
                self._ctl_failures[key] = failures
                if failures >= 2:
                    master.flags.append("ctl-down")
                    master.notes.append(exc.message)
        # What the master itself said on its control socket is no longer unknown.
        answered = self._ctl_config.get(key) if master.stats is not None else None
        if answered is not None and master.unknown:
            said = answered[1]
            if isinstance(said.get("worker_class"), str):
                master.worker_class = short_worker_class(said["worker_class"])
                master.unknown = [u for u in master.unknown if u != "worker_class"]
            if isinstance(said.get("timeout"), int) and not isinstance(said["timeout"], bool):
                master.timeout = said["timeout"]
                master.unknown = [u for u in master.unknown if u != "timeout"]
        # Error log.
        err = args.error_log
        if err and err != "-":
            master.error_log = resolve_path(err, cwd)
        elif program is not None and program.stderr_logfile:
            master.error_log = program.stderr_logfile
        # Pidfile agreement.
        if master.pidfile:
            named = read_pidfile(master.pidfile)
            if named != pid and not (named is not None and roles.get(named) == "master"):
                master.flags.append("pidfile-stale")
                master.notes.append(
                    f"pidfile {master.pidfile} names {named or 'nothing'}, not {pid}"
                )
        # What the refreshes until the next discovery reuse.
        self._known[key] = _Known(
            replace(
                master, binds=list(master.binds), flags=list(master.flags), notes=list(master.notes)
            ),
            proc.argv,
            ctl_workers,
        )
        workers = [table[k] for k in kids.get(pid, []) if k in table and roles.get(k) == "worker"]
        self._worker_procs.update((w.pid, w) for w in workers)
        self._finish(master, workers, ctl_workers, now, key)
        return master

    def _finish(
        self,
        master: Master,
        workers: Sequence[ProcRow],
        ctl_workers: Mapping[int, Any],
        now: float,
        key: tuple[int, float],
    ) -> None:
        """Workers, their flags, the live and target counts, and the notes that follow."""
        inherited = self._inherited.get(key)
        if inherited is None:
            inherited = self._inherited[key] = fd_facts(master.pid)[1] or set()
        facts = [
            self._worker(p, master.timeout, now, ctl_workers.get(p.pid), inherited) for p in workers
        ]
        # Connections: a worker's sockets that its master does not hold too (the listening
        # sockets are inherited) and that the kernel's TCP table lists as not listening.
        for worker, sockets in facts:
            own = sockets - inherited if sockets is not None else None
            worker.connections = None if own is None else self._count_tcp(own)
        master.workers = [
            w for w, _ in facts if w.status not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
        ]
        rss = [w.rss for w in master.workers if w.rss is not None]
        median_rss = statistics.median(rss) if len(rss) >= 2 else None
        for w in master.workers:
            # a timeout we cannot read cannot say a heartbeat is late
            timeout = float("inf") if "timeout" in master.unknown else master.timeout
            w.flags = worker_flags(w.heartbeat_age, timeout, w.rss, median_rss, w.status)
            cw = ctl_workers.get(w.pid)
            if cw is not None and cw.aborted:
                w.flags.append("aborted")
        master.live = len(master.workers)
        # Target and "below target for a while".
        if master.stats is not None and master.stats.workers_target is not None:
            master.target, master.target_source = master.stats.workers_target, "control socket"
        elif key in self.requested:
            master.target, master.target_source = self.requested[key], "requested"
        elif master.configured is not None:
            master.target, master.target_source = master.configured, "configured"
        else:
            master.target, master.target_source = None, "unknown"
        if master.target is not None and master.live < master.target:
            since = self._under_since.setdefault(key, time.monotonic())
            if time.monotonic() - since > UNDER_TARGET_GRACE:
                master.flags.append("under-target")
                master.notes.append(
                    f"{master.live} of {master.target} workers for "
                    f"{time.monotonic() - since:.0f} s: workers may fail to boot; "
                    f"see {master.error_log or 'the error log'}"
                )
        else:
            self._under_since.pop(key, None)
        drift = master.drift_note
        if drift:
            master.notes.append(drift)

    @staticmethod
    def _config_file(
        cmd_args: LaunchArgs | None, env_args: LaunchArgs | None, cwd: str | None
    ) -> LaunchArgs | None:
        """The settings of the config file gunicorn loaded: ``-c`` on the command line, else
        ``-c`` in ``GUNICORN_CMD_ARGS``, else ``gunicorn.conf.py`` in its directory; read
        statically. A named file that cannot be read leaves every setting unknown."""
        path = (cmd_args.config if cmd_args else None) or (env_args.config if env_args else None)
        unreadable = LaunchArgs(opaque=list(FILE_SETTINGS.values()))
        if path and path.startswith("python:"):
            return unreadable  # a module: found on gunicorn's sys.path, not read here
        path = path.removeprefix("file:") if path else None
        if not cwd and not os.path.isabs(path or "gunicorn.conf.py"):
            return unreadable  # relative to a directory we cannot see
        candidate = resolve_path(path or "gunicorn.conf.py", cwd)
        if not candidate:
            return unreadable if path else None
        try:
            with open(candidate, encoding="utf-8", errors="replace") as fh:
                text = fh.read(256 * 1024 + 1)
        except FileNotFoundError:
            return unreadable if path else None  # no gunicorn.conf.py: nothing set
        except OSError:
            return unreadable
        if len(text) > 256 * 1024:
            return unreadable  # bounded work: a config this large is not read
        return parse_config_py(text)

    def _count_tcp(self, inodes: set[int]) -> int | None:
        """How many of these socket inodes are open TCP connections.

        Reading the kernel's TCP table costs milliseconds on some kernels (it walks the whole
        hash table), so what a socket is gets remembered: it is read at most once per scan, and
        only when a socket is new or was not TCP when last looked at (a socket not yet
        connected is not in the table) more than ``SOCKET_RECHECK`` seconds ago.
        """
        now = time.monotonic()
        known = self._sockets
        if any(
            i not in known or (not known[i][0] and now - known[i][1] > SOCKET_RECHECK)
            for i in inodes
        ):
            if not self._tcp_read:
                self._open_tcp, self._tcp_read = open_tcp_inodes(), True
            if self._open_tcp is None:
                return None
            for i in inodes:
                if i not in known or not known[i][0]:
                    known[i] = (i in self._open_tcp, now)
        if len(known) > 4096:  # forget sockets long closed
            for i in list(known)[:1024]:
                del known[i]
        return sum(1 for i in inodes if i in known and known[i][0])

    def _worker(
        self, proc: ProcRow, timeout: int, now: float, ctl: Any, inherited: set[int]
    ) -> tuple[Worker, set[int] | None]:
        identity = ProcIdentity(proc.pid, proc.create_time, proc.argv)
        worker = Worker(
            pid=proc.pid,
            identity=identity,
            age=max(0.0, now - proc.create_time),
            status=proc.status,
        )
        key = (proc.pid, round(proc.create_time, 2))
        # One read of /proc/PID/stat: CPU time, state, threads and RSS (no Process object).
        facts = read_stat(proc.pid)
        if facts is None:
            self._cpu.pop(key, None)
            worker.status = psutil.STATUS_DEAD
        else:
            at = time.monotonic()
            before = self._cpu.get(key)
            self._cpu[key] = (facts.cpu_seconds, at)
            if before is not None and at > before[1]:
                spent = max(0.0, facts.cpu_seconds - before[0])
                worker.cpu_percent = round(spent / (at - before[1]) * 100, 1)
            worker.rss = facts.rss
            worker.threads = facts.threads
            worker.status = facts.status
        beat, sockets = fd_facts(proc.pid, self._fds.setdefault(key, {}), inherited)
        if beat is not None:
            worker.heartbeat_age = max(0.0, time.time() - beat)
        elif ctl is not None and ctl.last_heartbeat is not None:
            worker.heartbeat_age = float(ctl.last_heartbeat)
        if len(self._cpu) > 4096:  # forget processes long gone
            for k in list(self._cpu)[:1024]:
                del self._cpu[k]
        if len(self._fds) > 4096:
            for k in list(self._fds)[:1024]:
                del self._fds[k]
        return worker, sockets


#: a master's listening sockets are re-read this often (they change only on a reload)
LISTEN_CACHE_SECONDS = 30.0


#: a full discovery of gunicorn masters runs at least this often (seconds) and once at most
#: every DISCOVERY_SCANS scans; refreshes in between re-read only the known masters' workers
DISCOVERY_SECONDS = 5.0
DISCOVERY_SCANS = 3
#: a worker's socket that was not an open TCP connection is looked up again after this long
SOCKET_RECHECK = 10.0


def _cwd(pid: int) -> str | None:
    try:
        return str(psutil.Process(pid).cwd())
    except (psutil.Error, OSError):
        return None
