"""Alerts from the console itself, for teams without Prometheus.

``[[alert]]`` tables in the config say on which events to alert and where::

    [[alert]]
    name = "oncall"                       # how the timeline and stderr name it
    on = ["fatal", "flapping", "probe_failing", "workers_below_target",
          "nginx_reload_rejected"]        # default: all of them
    command = ["/usr/local/bin/page", "--team", "web"]   # argv (no shell), event JSON on stdin
    # webhook = "https://hooks.example.com/services/T0KEN"  # or: POST the event JSON
    timeout = 10                          # seconds a command or webhook may take
    rate_limit = 10                       # alerts a minute to this destination, at most
    log_lines = 20                        # lines of the program's log carried by the event

Events (``kind``): ``fatal`` (a program is FATAL), ``flapping`` (a program exited
unexpectedly 3 times in 5 minutes), ``probe_failing`` (an HTTP probe fails),
``workers_below_target`` (a gunicorn master runs fewer workers than its target for more than
``after`` seconds, default 15: a scale in progress is not an incident) and
``nginx_reload_rejected`` (``nginx -t`` fails on the config on disk, or the config changed
and no reload took effect within ``after`` seconds, default 120). Each rule may set ``after``.

An incident is keyed by (kind, host, subject): one alert when it opens, one when it recovers,
nothing in between. Each destination is rate-limited (``rate_limit`` a minute; what is over
is not sent and said so). A command runs without a shell with the event JSON on stdin and a
timeout; a webhook is an HTTP POST with a timeout. Delivery runs in tasks of its own, so a
slow destination never delays the console; a failure is reported in words (the timeline in
the TUI, stderr in ``opsconsole watch``) and never raised. A webhook URL is shown by its host
only (its path often holds a token).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shlex
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from opsconsole import __version__
from opsconsole.core.errors import ConfigError, OpsError
from opsconsole.core.host import Host, LogRef, ProgramsSnapshot, Supervisord
from opsconsole.core.metrics.poll import Poller
from opsconsole.core.metrics.track import master_key

KINDS = (
    "fatal",
    "flapping",
    "probe_failing",
    "workers_below_target",
    "nginx_reload_rejected",
)
_ALIASES = {
    "probe": "probe_failing",
    "probes": "probe_failing",
    "workers": "workers_below_target",
    "nginx": "nginx_reload_rejected",
    "nginx_reload": "nginx_reload_rejected",
    "reload_rejected": "nginx_reload_rejected",
}
#: seconds a condition must hold before its incident opens (a rule's ``after`` overrides)
DEFAULT_AFTER = {"workers_below_target": 15.0, "nginx_reload_rejected": 120.0}
_KEYS = {"name", "on", "command", "webhook", "timeout", "rate_limit", "log_lines", "after"}
MAX_LOG_LINES = 200

#: (level, subject, text): where the alerts' own news goes (the timeline, stderr)
Reporter = Callable[[str, str, str], object]


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class AlertRule:
    """One ``[[alert]]``: which events go where."""

    name: str
    kinds: frozenset[str]
    command: tuple[str, ...] = ()
    #: never in a repr, a log or on screen: its path often holds a token (see ``where``)
    webhook: str = field(default="", repr=False)
    timeout: float = 10.0
    rate_limit: int = 10
    log_lines: int = 20
    after: float | None = None

    @property
    def where(self) -> str:
        """The destination in words, without secrets (a webhook by its host only)."""
        if self.webhook:
            return f"webhook {safe_url(self.webhook)}"
        return f"command {os.path.basename(self.command[0])}"


def safe_url(url: str) -> str:
    """``scheme://host[:port]``: a webhook's path and query often hold its token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}"


def _kind(value: Any, where: str) -> str:
    word = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    word = _ALIASES.get(word, word)
    if word not in KINDS:
        raise ConfigError(f"{where}: unknown event {value!r}", f"events: {', '.join(KINDS)}")
    return word


def parse_rules(entries: Sequence[Any], source: str = "config") -> list[AlertRule]:
    """``[[alert]]`` tables → rules. Raises ConfigError in words (nothing is half-read)."""
    rules: list[AlertRule] = []
    for index, entry in enumerate(entries):
        where = f"[[alert]] {index + 1} in {source}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} is not a table")
        unknown = set(entry) - _KEYS
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
                f"valid keys: {', '.join(sorted(_KEYS))}",
            )
        command, webhook = entry.get("command"), entry.get("webhook")
        if (command is None) == (webhook is None):
            raise ConfigError(
                f"{where} needs exactly one of command or webhook",
                'command = ["/path/to/notify"] (event JSON on stdin) or '
                'webhook = "https://host/path"',
            )
        argv: tuple[str, ...] = ()
        if command is not None:
            if isinstance(command, str):
                try:
                    argv = tuple(shlex.split(command))
                except ValueError as exc:  # an unbalanced quote: in words, not a traceback
                    raise ConfigError(
                        f"{where}: command {command!r} cannot be read: {exc}",
                        'balance the quotes, or give a list: command = ["/path/to/notify"]',
                    ) from None
            elif isinstance(command, list) and all(isinstance(a, str) for a in command):
                argv = tuple(command)
            if not argv:
                raise ConfigError(
                    f"{where}: command must be a list of words or a command line",
                    'command = ["/usr/local/bin/notify", "--team", "web"]',
                )
        url = ""
        if webhook is not None:
            url = str(webhook)
            try:
                parts = urlsplit(url)
                usable = parts.scheme in ("http", "https") and bool(parts.hostname)
                usable = usable and parts.port != 0 and url.isprintable()
            except ValueError:  # a bad port or IPv6 address (the URL is never quoted)
                usable = False
            if not usable:
                raise ConfigError(
                    f"{where}: webhook must be an http:// or https:// URL",
                    'webhook = "https://hooks.example.com/..."',
                )
        on = entry.get("on", list(KINDS))
        if isinstance(on, str):
            on = [on]
        if not isinstance(on, list) or not on:
            raise ConfigError(
                f"{where}: on must be a list of events", f"events: {', '.join(KINDS)}"
            )
        rules.append(
            AlertRule(
                name=str(entry.get("name") or f"alert{index + 1}"),
                kinds=frozenset(_kind(k, where) for k in on),
                command=argv,
                webhook=url,
                timeout=_number(entry, "timeout", 10.0, where),
                rate_limit=int(_number(entry, "rate_limit", 10, where)),
                log_lines=min(
                    MAX_LOG_LINES, int(_number(entry, "log_lines", 20, where, zero=True))
                ),
                after=_number(entry, "after", None, where, zero=True),
            )
        )
    return rules


def _number(entry: dict[str, Any], key: str, default: Any, where: str, zero: bool = False) -> Any:
    if key not in entry:
        return default
    value = entry[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)  # TOML's inf and nan: no count, no timeout
        or value < 0
    ):
        raise ConfigError(f"{where}: {key} must be a number of 0 or more, got {value!r}")
    if value == 0 and not zero:
        raise ConfigError(f"{where}: {key} must be more than 0")
    return value


# --------------------------------------------------------------------------- incidents


@dataclass(frozen=True)
class Condition:
    """Something wrong now: ``kind`` and ``subject`` key the incident."""

    kind: str
    subject: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    log: LogRef | None = None


@dataclass
class Incident:
    condition: Condition
    first_seen: float
    opened: float | None = None  # when its alert was raised (None: not yet: ``after``)
    #: the rules whose destination got the opening alert (only those get the recovery)
    sent_to: set[str] = field(default_factory=set)


def conditions(poller: Poller) -> tuple[list[Condition], set[str]]:
    """What is wrong now, from the poller's latest values, and the kinds that could be
    judged (a part that was not read this round leaves its incidents as they are)."""
    found: list[Condition] = []
    judged: set[str] = set()
    tracker = poller.tracker
    programs = poller.programs.value
    if programs is not None and poller.programs.ok:
        judged |= {"fatal", "flapping"}
        for server in programs.servers:
            if not server.reachable or server.stale:
                continue
            for p in server.programs:
                subject = f"{server.name}/{p.fullname}" if len(programs.servers) > 1 else p.fullname
                log: LogRef | None = LogRef("program", server.name, p.fullname, "stderr")
                details = {"server": server.name, "program": p.fullname, "state": p.state}
                if p.state == "FATAL":
                    why = f": {p.spawnerr}" if p.spawnerr else ""
                    found.append(
                        Condition("fatal", subject, f"{p.fullname} is FATAL{why}", details, log)
                    )
                if tracker.flapping(p.key):
                    track = tracker.program(p.key)
                    flaps = track.flaps if track else 0
                    found.append(
                        Condition(
                            "flapping",
                            subject,
                            f"{p.fullname} is flapping: {flaps} unexpected exits seen, "
                            f"{tracker.flap_count}+ within {tracker.flap_window:.0f} s",
                            {**details, "flaps_seen": flaps},
                            log,
                        )
                    )
    probes = poller.probes.value
    if probes is not None and poller.probes.ok:
        judged.add("probe_failing")
        for r in probes.results:
            if not r.ok:
                answer = f"HTTP {r.status}" if r.status is not None else (r.error or "no answer")
                found.append(
                    Condition(
                        "probe_failing",
                        r.name,
                        f"probe {r.name} failing: {answer}",
                        {"probe": r.name, "status": r.status, "error": r.error},
                    )
                )
    gunicorn = poller.gunicorn.value
    if gunicorn is not None and poller.gunicorn.ok:
        judged.add("workers_below_target")
        for m in gunicorn.masters:
            if m.target is not None and m.live < m.target:
                key = master_key(m.program, m.name, m.pid)
                log = LogRef("program", m.server or "", m.program, "stderr") if m.program else None
                found.append(
                    Condition(
                        "workers_below_target",
                        key,
                        f"gunicorn {key}: {m.live} live workers, target {m.target}",
                        {"master": key, "live": m.live, "target": m.target},
                        log,
                    )
                )
    cfg = tracker.nginx_config
    nginx = poller.nginx.value
    if cfg is not None and nginx is not None and nginx.running:
        judged.add("nginx_reload_rejected")
        log = LogRef("file", path=nginx.log_files[0]) if nginx.log_files else None
        if not cfg.test_ok:
            summary = f"nginx -t fails: {cfg.summary} (a reload would be rejected)"
        elif cfg.applied is False:
            summary = "nginx config changed and no reload took effect (rejected or not done)"
        else:
            summary = ""
        if summary:
            found.append(
                Condition(
                    "nginx_reload_rejected",
                    "nginx",
                    summary,
                    {"test_ok": cfg.test_ok, "applied": cfg.applied},
                    log,
                )
            )
    return found, judged


# --------------------------------------------------------------------------- delivery


class RateLimit:
    """At most ``per_minute`` sends in any 60 seconds."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.sent: deque[float] = deque()

    def allow(self) -> bool:
        now = self.clock()
        while self.sent and now - self.sent[0] >= 60.0:
            self.sent.popleft()
        if len(self.sent) >= self.per_minute:
            return False
        self.sent.append(now)
        return True


async def deliver(rule: AlertRule, event: dict[str, Any]) -> str:
    """Send ``event`` to the rule's destination. Returns "" when delivered, else what went
    wrong in words (never raises)."""
    body = json.dumps(event).encode()
    try:
        if rule.webhook:
            async with httpx.AsyncClient(timeout=rule.timeout, trust_env=False) as client:
                response = await client.post(
                    rule.webhook,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": f"opsconsole/{__version__}",
                    },
                )
            if response.status_code >= 300:
                return f"answered HTTP {response.status_code}"
            return ""
        return await _run_command(rule, body)
    except httpx.TimeoutException:
        return f"no answer within {rule.timeout:g} s"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__.replace('Error', ' error').lower()}"
    except Exception as exc:  # a destination must never break the console
        return f"{type(exc).__name__}: {exc}"


async def _run_command(rule: AlertRule, body: bytes) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            *rule.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return f"cannot run it: {exc.strerror or exc}"
    try:
        _, err = await asyncio.wait_for(proc.communicate(body), timeout=rule.timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return f"killed after {rule.timeout:g} s"
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
        said = f": {tail[0][:200]}" if tail else ""
        return f"exited with status {proc.returncode}{said}"
    return ""


# --------------------------------------------------------------------------- the manager


class AlertManager:
    """Evaluates the rules on each round of a poller and sends what opened or recovered.

    ``report(level, subject, text)`` receives one line per alert sent, refused by the rate
    limit or failed (the TUI's timeline, ``opsconsole watch``'s stderr)."""

    def __init__(
        self,
        rules: Sequence[AlertRule],
        report: Reporter,
        *,
        clock: Callable[[], float] = time.time,
        qualify: bool = False,
    ) -> None:
        self.rules = list(rules)
        self.report = report
        self.clock = clock
        #: name the host in what is reported (several hosts)
        self.qualify = qualify
        #: (kind, host, subject) → the incident open (or waiting for ``after``)
        self.incidents: dict[tuple[str, str, str], Incident] = {}
        self.limits = {r.name: RateLimit(r.rate_limit) for r in self.rules}
        self.tasks: set[asyncio.Task[None]] = set()
        #: every event handed to a destination: (rule name, event), newest last (bounded)
        self.sent: deque[tuple[str, dict[str, Any]]] = deque(maxlen=500)

    def _after(self, kind: str) -> float:
        waits = [r.after for r in self.rules if kind in r.kinds and r.after is not None]
        return min(waits) if waits else DEFAULT_AFTER.get(kind, 0.0)

    def evaluate(self, poller: Poller) -> list[dict[str, Any]]:
        """Compare what is wrong now with the open incidents; send (in tasks of their own)
        one alert per incident that opened and one per incident that recovered. Returns the
        events raised."""
        now = self.clock()
        found, judged = conditions(poller)
        host = poller.host.name
        current = {(c.kind, host, c.subject): c for c in found}
        events: list[dict[str, Any]] = []
        for key, cond in current.items():
            incident = self.incidents.get(key)
            if incident is None:
                incident = self.incidents[key] = Incident(cond, now)
            incident.condition = cond
            if incident.opened is None and now - incident.first_seen >= self._after(cond.kind):
                incident.opened = now
                events.append(self._raise(poller.host, incident, "open"))
        for key, incident in list(self.incidents.items()):
            if key[1] != host or key in current or key[0] not in judged:
                continue
            del self.incidents[key]
            if incident.opened is not None:
                events.append(self._raise(poller.host, incident, "recovered"))
        return events

    def _raise(self, host: Host, incident: Incident, state: str) -> dict[str, Any]:
        cond = incident.condition
        text = cond.summary if state == "open" else f"recovered: {cond.summary}"
        event: dict[str, Any] = {
            "kind": cond.kind,
            "state": state,
            "subject": cond.subject,
            "summary": text,
            "host": host.name,
            "at": self.clock(),
            "opened_at": incident.opened,
            "details": cond.details,
            "log": None,
            "source": {"opsconsole": __version__, "hostname": socket.gethostname()},
        }
        for rule in self.rules:
            if cond.kind not in rule.kinds:
                continue
            if state == "recovered" and rule.name not in incident.sent_to:
                continue  # its opening alert was not sent there: no lone recovery
            if not self.limits[rule.name].allow():
                self.report(
                    "warning",
                    f"{host.name}/{cond.subject}" if self.qualify else cond.subject,
                    f"alert {rule.name} ({rule.where}) not sent: rate limit of "
                    f"{rule.rate_limit} a minute reached ({text})",
                )
                continue
            if state == "open":
                incident.sent_to.add(rule.name)
            self._spawn(self._send(host, rule, cond, event))
        return event

    def _spawn(self, job: Any) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(
        self, host: Host, rule: AlertRule, cond: Condition, event: dict[str, Any]
    ) -> None:
        event = dict(event)
        if cond.log is not None and rule.log_lines > 0:
            event["log"] = await _log_tail(host, cond.log, rule.log_lines, rule.timeout)
        self.sent.append((rule.name, event))
        problem = await deliver(rule, event)
        what = f"{event['kind']} {event['state']}"
        who = f"{host.name}/{cond.subject}" if self.qualify else cond.subject
        if problem:
            self.report(
                "error",
                who,
                f"alert {rule.name} ({rule.where}) failed: {problem} ({what}: {event['summary']})",
            )
        else:
            level = "info" if event["state"] == "recovered" else "warning"
            self.report(level, who, f"alert {rule.name} sent to {rule.where}: {event['summary']}")

    async def drain(self, timeout: float = 15.0) -> None:
        """Wait for the deliveries under way (at most ``timeout`` seconds)."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)


async def _log_tail(host: Host, ref: LogRef, lines: int, timeout: float) -> dict[str, Any]:
    """The last ``lines`` of the log (its stdout when its stderr is empty), bounded in time."""
    refs: Iterable[LogRef] = [ref]
    if ref.kind == "program" and ref.stream == "stderr":
        refs = [ref, LogRef("program", ref.server, ref.name, "stdout")]
    out: dict[str, Any] = {"source": "", "lines": [], "error": ""}
    for r in refs:
        try:
            chunk = await asyncio.wait_for(host.log(r, lines=lines), timeout=timeout)
        except (OpsError, asyncio.TimeoutError) as exc:
            out["error"] = exc.message if isinstance(exc, OpsError) else "timed out"
            continue
        if chunk.cursor is not None:
            try:
                await host.close_log(chunk.cursor)
            except OpsError:
                pass
        label = r.path or f"{r.name} {r.stream}"
        if chunk.lines:
            return {"source": label, "lines": [e.text for e in chunk.lines], "error": ""}
        out["source"] = out["source"] or label
    return out


async def run_alerts(
    host: Host,
    entries: Sequence[Any],
    report: Reporter,
    *,
    interval: float = 1.0,
    servers: Callable[[], Iterable[Supervisord]] | None = None,
) -> None:
    """Evaluate the ``[[alert]]`` rules ``entries`` on ``host`` every ``interval`` seconds,
    forever (the console's session runs this as a worker). ``servers`` gives the supervisords
    as the caller last read them (the session's refresh loops): they are not read twice."""
    manager = AlertManager(parse_rules(entries), report)
    poller = Poller(host, interval=interval)
    while True:
        try:
            if servers is not None:
                poller.feed_programs(ProgramsSnapshot(host.name, time.time(), tuple(servers())))
            await poller.refresh(programs=servers is None)
            manager.evaluate(poller)
        except Exception as exc:  # keep watching: an incident console must not go blind
            report("error", "alerts", f"evaluating the alert rules failed: {exc!r}")
        await asyncio.sleep(interval)
