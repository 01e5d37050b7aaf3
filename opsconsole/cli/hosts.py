"""Commands over several hosts (``--host DEST --host DEST ...``, or ``[[host]]`` entries).

A host is this machine (``local``: a :class:`~opsconsole.core.local.LocalHost`) or a machine
reached with the operator's own ``ssh`` running ``opsconsole agent`` there (a RemoteHost whose
failures :mod:`opsconsole.core.ssh` explains). Reads go to every host at once; one host that
cannot be reached is reported in words, labelled with its name, and the others still answer.
Mutating commands go one host at a time and stop at the first failure, saying why and which
hosts were not touched; between hosts a health gate waits until the named programs are
RUNNING and the host's probes answer (``--parallel``: all at once, no gate).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from opsconsole.core.actions import ActionGate
from opsconsole.core.config import (
    AppConfig,
    HostSettings,
    NginxSettings,
    SupervisorTarget,
    load_supervisor_config,
)
from opsconsole.core.errors import ConfigError, OpsError
from opsconsole.core.host import Host
from opsconsole.core.local import LocalHost
from opsconsole.core.ssh import LOCAL, agent_words, exit_explainer, parse_destination, ssh_argv

T = TypeVar("T")

#: Health gate between hosts: how long programs and probes must stay good, and at most how
#: long to wait for that.
GATE_STEADY = 3.0
GATE_TIMEOUT = 60.0


def is_fleet(config: AppConfig) -> bool:
    """Does the command run over hosts (``--host`` or ``[[host]]``)?"""
    return bool(config.hosts)


#: The commands that work over hosts (the rest would act on this machine only).
OVER_HOSTS = frozenset(
    {
        "status",
        "start",
        "stop",
        "restart",
        "signal",
        "tree",
        "scale",
        "stack",
        "tail",
        "topology",
        "update",
        "nginx test",
        "nginx reload",
        "nginx status",
        "nginx config",
        "nginx diff",
        "nginx rollback",
        "exporter",
        "watch",
    }
)
#: Commands that are never about the fleet (the agent serves this machine to a console).
NOT_FLEET = frozenset({"agent", "tui", "demo"})


def refuse_unless_over_hosts(command: str, config: AppConfig) -> None:
    """A command that does not work over hosts is refused when hosts are given, rather than
    run on this machine as if it were them."""
    if not config.hosts or command in OVER_HOSTS or command.split()[0] in NOT_FLEET:
        return
    names = ", ".join(h.name for h in config.hosts)
    raise ConfigError(
        f"'{command}' does not work over hosts yet, and hosts are given ({names})",
        f"run it on the host itself (ssh HOST opsconsole {command} ...); works over hosts: "
        + ", ".join(sorted(OVER_HOSTS)),
    )


def agent_argv(settings: HostSettings, config: AppConfig) -> list[str]:
    """The words run on the host: the agent command and the settings it is given. Never a
    password (it travels over the channel after the handshake)."""
    words = agent_words(settings.agent)
    if settings.supervisor_config:
        words += ["-c", settings.supervisor_config]
    for url in settings.supervisor_urls:
        if _carries_password(url):  # the URL itself is never quoted: it holds the secret
            raise ConfigError(
                f"a supervisor URL of host {settings.name} carries a password: it would be "
                "on the ssh command line (and in the agent's argv there)",
                "drop it from the URL and give it as password = ... in the [[host]] entry "
                "(or --password / OPSCONSOLE_SUPERVISOR_PASSWORD): it travels over the ssh "
                "channel, never on a command line",
            )
        words += ["--supervisor-url", url]
    if settings.user:
        words += ["--user", settings.user]
    if settings.nginx.binary:
        words += ["--nginx-bin", settings.nginx.binary]
    if settings.nginx.config:
        words += ["--nginx-conf", settings.nginx.config]
    if config.read_only:
        words.append("--read-only")
    words += ["--timeout", f"{config.timeout:g}"]
    return words


def _carries_password(url: str) -> bool:
    """Whether ``url`` has a ``user:password@`` part."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password is not None
    except ValueError:
        return ":" in url.partition("@")[0] and "@" in url


def ssh_command(settings: HostSettings, config: AppConfig) -> list[str]:
    """``ssh -T -o BatchMode=yes ... -- DEST <agent words>`` for one host."""
    return ssh_argv(
        parse_destination(settings.ssh),
        agent_argv(settings, config),
        ssh_config=config.ssh_config,
    )


def local_config(config: AppConfig, settings: HostSettings) -> AppConfig:
    """The config of the ``local`` host: the host entry's supervisor and nginx settings over
    the console's own."""
    supervisors = config.supervisors
    if settings.supervisor_config:
        from pathlib import Path

        supervisors = [load_supervisor_config(Path(settings.supervisor_config).expanduser())]
    elif settings.supervisor_urls:
        supervisors = [
            SupervisorTarget(f"s{i + 1}", url, source=settings.source)
            for i, url in enumerate(settings.supervisor_urls)
        ]
    supervisors = [replace(t) for t in supervisors]
    for target in supervisors:
        if settings.user is not None:
            target.username = settings.user
        if settings.password is not None:
            target.password = settings.password
    nginx = NginxSettings(
        binary=settings.nginx.binary or config.nginx.binary,
        config=settings.nginx.config or config.nginx.config,
    )
    return replace(config, supervisors=supervisors, nginx=nginx, hosts=[])


def open_one(config: AppConfig, settings: HostSettings, *, gate: ActionGate | None = None) -> Host:
    """The host a ``[[host]]`` / ``--host`` names (not connected yet: the first call
    connects, and a failure to connect is raised there as an SshError in words). ``gate``:
    the console's gate (its audit trail and timeline), else the host's own."""
    if settings.ssh == LOCAL:
        return LocalHost(local_config(config, settings), name=settings.name, gate=gate)
    return remote_host(config, settings, gate=gate)


def remote_host(
    config: AppConfig, settings: HostSettings, *, gate: ActionGate | None = None
) -> Host:
    """A RemoteHost speaking to ``opsconsole agent`` over the operator's ssh."""
    from opsconsole.core.remote import RemoteHost

    argv = ssh_command(settings, config)
    host: Host = RemoteHost(
        settings.name,
        argv,
        gate=gate,
        read_only=config.read_only,
        password=settings.password,
        timeout=max(config.timeout * 2, 10.0),
        explain_exit=exit_explainer(settings.ssh, settings.agent),
    )
    return host


@dataclass
class Answer:
    """What one host answered (``value``) or why it did not (``error``)."""

    name: str
    value: Any = None
    error: OpsError | None = None


@asynccontextmanager
async def opened(config: AppConfig) -> AsyncIterator[list[tuple[str, Host]]]:
    """Every host of the command, closed at the end however it ends."""
    hosts = [(s.name, open_one(config, s)) for s in config.hosts]
    try:
        yield hosts
    finally:
        await asyncio.gather(*(_close(h) for _, h in hosts), return_exceptions=True)


async def _close(host: Host) -> None:
    try:
        await asyncio.wait_for(host.aclose(), 10)
    except (OpsError, OSError, asyncio.TimeoutError):
        pass


async def read_all(config: AppConfig, read: Callable[[Host], Awaitable[T]]) -> list[Answer]:
    """``read`` on every host at once; a host that fails is an Answer with its error."""
    async with opened(config) as hosts:
        return list(await asyncio.gather(*(_answer(name, h, read) for name, h in hosts)))


async def _answer(name: str, host: Host, read: Callable[[Host], Awaitable[Any]]) -> Answer:
    try:
        return Answer(name, await read(host))
    except OpsError as exc:
        return Answer(name, error=exc)


def say_failed(answers: Sequence[Answer]) -> int:
    """Print each host's error on stderr; 2 when any host failed, else 0."""
    worst = 0
    for a in answers:
        if a.error is not None:
            print(f"opsconsole: {a.name}: {a.error.message}", file=sys.stderr)
            if a.error.hint:
                print(f"  {a.error.hint}", file=sys.stderr)
            worst = 2
    return worst


def error_json(error: OpsError) -> dict[str, Any]:
    return {"kind": type(error).__name__, "message": error.message, "hint": error.hint}


# --------------------------------------------------------------------------- one at a time


async def in_turn(
    config: AppConfig,
    act: Callable[[str, Host], Awaitable[int]],
    *,
    parallel: bool = False,
    gate: bool = True,
    gate_programs: Sequence[str] | Callable[[str], Sequence[str]] = (),
    quiet: bool = False,
) -> int:
    """Run ``act(name, host)`` (it prints its own output and returns an exit code) on every
    host: one host at a time, stopping at the first that does not answer 0 (``parallel``:
    all at once). Between hosts, the health gate: ``gate_programs`` RUNNING and the probes
    answering, steadily for a few seconds, on the host just changed (``gate`` False: none,
    e.g. after a stop)."""
    async with opened(config) as hosts:
        return await in_turn_over(
            hosts, act, parallel=parallel, gate=gate, gate_programs=gate_programs, quiet=quiet
        )


async def in_turn_over(
    hosts: Sequence[tuple[str, Host]],
    act: Callable[[str, Host], Awaitable[int]],
    *,
    parallel: bool = False,
    gate: bool = True,
    gate_programs: Sequence[str] | Callable[[str], Sequence[str]] = (),
    quiet: bool = False,
    on_gate: Callable[[str, str], None] | None = None,
) -> int:
    """:func:`in_turn` over hosts already opened (a command that read them all first, e.g.
    to ask one confirmation for every host's plan). ``gate_programs`` may be a function of
    the host's name (what ``act`` changed there); ``on_gate(name, words)`` is told when a
    host passed the health gate and the next one starts."""
    quiet = quiet or len(hosts) == 1
    if parallel:
        codes = await asyncio.gather(*(_act(name, h, act, quiet) for name, h in hosts))
        return max(codes, default=0)
    for index, (name, host) in enumerate(hosts):
        code = await _act(name, host, act, quiet)
        rest = [n for n, _ in hosts[index + 1 :]]
        if code != 0:
            if rest:
                print(
                    f"opsconsole: stopped at {name} (exit {code}); not run on: {', '.join(rest)}",
                    file=sys.stderr,
                )
            return code
        if rest and gate:
            programs = gate_programs(name) if callable(gate_programs) else gate_programs
            try:
                await health_gate(host, programs)
            except OpsError as exc:
                print(f"opsconsole: {name}: {exc.message}", file=sys.stderr)
                if exc.hint:
                    print(f"  {exc.hint}", file=sys.stderr)
                print(f"opsconsole: not run on: {', '.join(rest)}", file=sys.stderr)
                return 1
            if on_gate is not None:
                on_gate(name, f"{name} healthy for {GATE_STEADY:g} s; next: {rest[0]}")
    return 0


async def _act(
    name: str, host: Host, act: Callable[[str, Host], Awaitable[int]], quiet: bool
) -> int:
    if not quiet:
        print(f"== {name}", flush=True)
    try:
        return await act(name, host)
    except OpsError as exc:
        print(f"opsconsole: {name}: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  {exc.hint}", file=sys.stderr)
        return 2


class HealthGateFailed(OpsError):
    """A host did not come back healthy after a change; the next host is not touched."""


async def health_gate(
    host: Host,
    programs: Sequence[str] = (),
    *,
    steady: float = GATE_STEADY,
    timeout: float = GATE_TIMEOUT,
    interval: float = 0.5,
) -> None:
    """Wait until ``programs`` (names or ``group:*``) are RUNNING on ``host`` and their probes
    answer (every probe when none is named), without a break for ``steady`` seconds. Raises
    HealthGateFailed in words after ``timeout``."""
    deadline = time.monotonic() + timeout
    good_since: float | None = None
    why = "not checked yet"
    while True:
        why = await _unhealthy(host, programs)
        now = time.monotonic()
        if why:
            good_since = None
        elif good_since is None:
            good_since = now
        if good_since is not None and now - good_since >= steady:
            return
        if now >= deadline:
            raise HealthGateFailed(
                f"{host.name} is not healthy after the change: {why or 'it did not stay up'}",
                "look at it (opsconsole --host NAME status) before going on with the others",
            )
        await asyncio.sleep(interval)


async def _unhealthy(host: Host, programs: Sequence[str]) -> str:
    """Why the host is not healthy now ('' when it is)."""
    snapshot = await host.programs()
    wanted = set(programs)
    for server in snapshot.servers:
        if not server.reachable:
            return f"supervisord {server.name} is unreachable"
        for p in server.programs:
            if not _named(p.fullname, p.group, wanted):
                continue
            if p.state != "RUNNING":
                return f"{p.fullname} is {p.state}"
    probes = await host.probes()
    for result in probes.results:
        if not result.ok and (not wanted or "all" in wanted or _probe_of(result.name, wanted)):
            return f"probe {result.name} ({result.url}) fails: {result.error or result.status}"
    return ""


def _probe_of(probe: str, wanted: set[str]) -> bool:
    """Is this probe one of the named programs' (``web``, ``nginx:8080``)? With programs
    named, only their probes hold the gate: another service's trouble is not this change's."""
    shorts = {name.split(":")[-1] for name in wanted} | wanted
    return probe.split(":")[0] in shorts or probe in shorts


def _named(fullname: str, group: str, wanted: set[str]) -> bool:
    """Is this program one the operator named? (``all`` names none here: a program meant to
    be stopped must not hold the gate; the probes speak for the whole host.)"""
    short = fullname.split(":")[-1]
    return fullname in wanted or short in wanted or f"{group}:*" in wanted
