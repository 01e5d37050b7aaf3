"""Metrics and alerts without processes: what the tracker counts across snapshots (starts,
unexpected exits, flapping, worker deaths vs reloads vs scaling, nginx config applied), the
[[alert]] config in words, incidents (one alert on open, none while open, one on recovery,
``after``, a part not read keeps its incidents), the rate limit, a webhook shown without its
token, and a scrape that cannot reach supervisord in time (a hung supervisord is what a real
one cannot be made to do on demand: a fake host here) serving the last values marked stale."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opsconsole.core.alerts import AlertManager, RateLimit, parse_rules, safe_url
from opsconsole.core.config import parse_toml_config
from opsconsole.core.errors import ConfigError, OpsError
from opsconsole.core.host import (
    GunicornMaster,
    GunicornSnapshot,
    GunicornWorker,
    NginxConfigDump,
    NginxFile,
    NginxInstance,
    NginxSnapshot,
    NginxTest,
    ProbeOutcome,
    ProbesSnapshot,
    Program,
    ProgramsSnapshot,
    Supervisord,
)
from opsconsole.core.metrics import Poller, Tracker
from opsconsole.core.metrics.exporter import Exporter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def programs(*progs: Program, reachable: bool = True) -> ProgramsSnapshot:
    server = Supervisord(
        "main", "unix:///x", status="connected" if reachable else "unreachable", programs=progs
    )
    return ProgramsSnapshot("h", time.time(), (server,))


def prog(state: str, start: int = 100, exitstatus: int = 0) -> Program:
    return Program("main", "app", "app", state, pid=10, start=start, now=start + 5,
                   exitstatus=exitstatus, exitcodes=(0,))  # fmt: skip


# --------------------------------------------------------------------------- tracker


def test_tracker_counts_starts_and_unexpected_exits_and_says_flapping() -> None:
    clock = Clock()
    t = Tracker(clock=clock)
    key = ("main", "app")
    t.observe_programs(programs(prog("RUNNING", 100)))
    assert t.programs[key].starts == 0  # what was there when the console started: not seen
    t.observe_programs(programs(prog("STOPPED", 100)))  # asked to stop: no flap
    t.observe_programs(programs(prog("RUNNING", 200)))
    assert (t.programs[key].starts, t.programs[key].flaps) == (1, 0)
    t.observe_programs(programs(prog("RUNNING", 300)))  # exited and restarted between polls
    t.observe_programs(programs(prog("EXITED", 300, exitstatus=3)))  # crashed
    assert (t.programs[key].starts, t.programs[key].flaps) == (2, 2)
    assert not t.flapping(key)
    t.observe_programs(programs(prog("STARTING", 400)))
    t.observe_programs(programs(prog("BACKOFF", 400)))
    assert t.programs[key].flaps == 3 and t.flapping(key)
    t.observe_programs(programs(prog("RUNNING", 500), reachable=False))  # nothing read: no change
    assert t.programs[key].starts == 3
    clock.now += 301  # out of the window
    assert not t.flapping(key)


def master(pid: int, workers: list[int], program: str | None = "web") -> GunicornSnapshot:
    ws = tuple(GunicornWorker(w, float(w), 1.0) for w in workers)
    m = GunicornMaster(pid, 1.0, "web", program=program, live=len(ws), target=len(ws), workers=ws)
    return GunicornSnapshot("h", time.time(), (m,))


def test_tracker_tells_worker_deaths_from_reloads_and_scaling() -> None:
    t = Tracker()
    t.observe_gunicorn(master(1, [11, 12, 13]))
    t.observe_gunicorn(master(1, [11, 12, 14]))  # 13 died, replaced by 14
    t.observe_gunicorn(master(1, [11, 12, 14, 15]))  # scaled up: no death
    t.observe_gunicorn(master(1, [11, 12]))  # scaled down: no death
    assert (t.masters["web"].deaths, t.masters["web"].reloads) == (1, 0)
    t.observe_gunicorn(master(1, [21, 22]))  # every worker replaced at once: a reload
    assert (t.masters["web"].deaths, t.masters["web"].reloads) == (1, 1)
    t.observe_gunicorn(master(2, [31, 32]))  # the master restarted: counts carry on
    assert (t.masters["web"].deaths, t.masters["web"].reloads) == (1, 1)
    t.observe_gunicorn(master(3, [41], program=None))
    assert "web@3" in t.masters  # a master no supervisord runs is named by its pid


def nginx(master_pid: int, reloads: int) -> NginxSnapshot:
    inst = NginxInstance(
        "/usr/sbin/nginx", "/etc/nginx/nginx.conf", "/etc/nginx", master_pid=master_pid
    )
    return NginxSnapshot("h", time.time(), inst, reloads_seen=reloads)


def dump(text: str, ok: bool = True) -> NginxConfigDump:
    inst = NginxInstance("/usr/sbin/nginx", "/etc/nginx/nginx.conf", "/etc/nginx", master_pid=1)
    test = NginxTest(ok, "ok" if ok else "failed", "/etc/nginx/nginx.conf")
    files = (NginxFile("/etc/nginx/nginx.conf", text),)
    return NginxConfigDump(
        "h", time.time(), inst, test, files=files if ok else (), on_disk=() if ok else files
    )


def test_tracker_says_whether_nginx_serves_the_config_on_disk() -> None:
    t = Tracker()
    t.observe_nginx(nginx(1, 0))
    assert t.observe_nginx_config(dump("a")).applied is True  # first look: assumed serving
    state = t.observe_nginx_config(dump("b"))  # edited, no reload
    assert state.applied is False and state.test_ok
    state = t.observe_nginx_config(dump("c", ok=False))  # broken: a reload would be rejected
    assert state.applied is False and not state.test_ok
    t.observe_nginx(nginx(1, 0))  # the same workers serve: the reload was rejected
    assert t.observe_nginx_config(dump("c", ok=False)).applied is False
    t.observe_nginx_config(dump("d"))
    t.observe_nginx(nginx(1, 1))  # a reload took effect
    assert t.nginx_changed
    assert t.observe_nginx_config(dump("d")).applied is True
    assert not t.nginx_changed


# --------------------------------------------------------------------------- config


def test_alert_config_is_checked_in_words() -> None:
    rules = parse_rules(
        [
            {"on": ["FATAL", "probe", "workers"], "command": "/bin/notify --team web"},
            {"name": "hook", "webhook": "https://hooks.example.com/T0K3N", "rate_limit": 2},
        ]
    )
    assert rules[0].kinds == {"fatal", "probe_failing", "workers_below_target"}
    assert rules[0].command == ("/bin/notify", "--team", "web") and rules[0].name == "alert1"
    assert len(rules[1].kinds) == 5 and rules[1].rate_limit == 2
    assert rules[1].where == "webhook https://hooks.example.com"  # no token
    assert "T0K3N" not in repr(rules[1])
    bad: list[tuple[dict[str, Any], str]] = [
        ({}, "exactly one of command or webhook"),
        ({"command": ["x"], "webhook": "http://h/"}, "exactly one of command or webhook"),
        ({"command": ["x"], "on": ["fatl"]}, "unknown event 'fatl'"),
        ({"command": ["x"], "colour": "red"}, "unknown key(s) colour"),
        ({"webhook": "ftp://h/x"}, "must be an http:// or https:// URL"),
        ({"command": []}, "command must be a list of words"),
        ({"command": '"/bin/notify --team'}, "cannot be read: No closing quotation"),
        ({"command": ["x"], "rate_limit": float("inf")}, "rate_limit must be a number"),
        ({"command": ["x"], "timeout": float("nan")}, "timeout must be a number"),
        ({"command": ["x"], "timeout": -1}, "timeout must be a number of 0 or more"),
        # a port or an address urlsplit cannot read: refused in words (not a ValueError
        # at load, nor a webhook that can never be reached), the token never quoted
        ({"webhook": "https://h:99999/T0K3N"}, "must be an http:// or https:// URL"),
        ({"webhook": "https://[::1/T0K3N"}, "must be an http:// or https:// URL"),
        ({"webhook": "https://h/T0K3N\n"}, "must be an http:// or https:// URL"),
    ]
    for entry, words in bad:
        with pytest.raises(ConfigError) as err:
            parse_rules([entry])
        assert words in err.value.message, entry
        assert "T0K3N" not in str(err.value), entry


def test_the_config_file_reads_alert_tables_and_refuses_a_typo_at_load() -> None:
    cfg = parse_toml_config({"alert": [{"on": ["fatal"], "command": ["/bin/true"]}]}, "c.toml")
    assert cfg.alerts == [{"on": ["fatal"], "command": ["/bin/true"]}]
    with pytest.raises(ConfigError) as err:
        parse_toml_config({"alert": [{"on": ["fatal"], "comand": ["/bin/true"]}]}, "c.toml")
    assert "[[alert]] 1 in c.toml" in err.value.message


def test_a_webhook_is_shown_by_its_host_only() -> None:
    assert safe_url("https://user:pw@hooks.example.com:8443/services/T0K3N?x=1") == (
        "https://hooks.example.com:8443"
    )


def test_rate_limit_per_minute() -> None:
    clock = Clock()
    limit = RateLimit(2, clock=clock)
    assert limit.allow() and limit.allow() and not limit.allow()
    clock.now += 60
    assert limit.allow()


# --------------------------------------------------------------------------- incidents


class NamedHost:
    name = "h"


def poller_with(progs: ProgramsSnapshot, probes: ProbesSnapshot | None = None) -> Poller:
    p = Poller(NamedHost())  # type: ignore[arg-type]
    p.feed_programs(progs)
    if probes is not None:
        p.probes.value = probes
    return p


def test_one_alert_per_incident_and_one_recovery() -> None:
    clock = Clock()
    lines: list[tuple[str, str, str]] = []
    manager = AlertManager([], lambda *line: lines.append(line), clock=clock)
    fatal = programs(prog("FATAL"))
    assert [(e["kind"], e["state"]) for e in manager.evaluate(poller_with(fatal))] == [
        ("fatal", "open")
    ]
    for _ in range(3):  # still FATAL: nothing new
        assert manager.evaluate(poller_with(fatal)) == []
    broken = poller_with(fatal)
    broken.programs.error = "supervisord did not answer"  # not read: the incident stays open
    assert manager.evaluate(broken) == [] and manager.incidents
    events = manager.evaluate(poller_with(programs(prog("RUNNING"))))
    assert [(e["kind"], e["state"], e["subject"]) for e in events] == [
        ("fatal", "recovered", "app")
    ]
    assert manager.evaluate(poller_with(programs(prog("RUNNING")))) == []


def test_a_condition_must_hold_for_after_seconds() -> None:
    clock = Clock()
    manager = AlertManager(parse_rules([{"command": ["x"], "after": 10}]), print, clock=clock)
    sends: list[Any] = []

    def spawn(job: Any) -> None:  # count deliveries, run none (no process in a unit test)
        sends.append(job)
        job.close()

    manager._spawn = spawn  # type: ignore[method-assign]
    failing = ProbesSnapshot("h", 0.0, (ProbeOutcome("web", "http://x/", False, 502, 0.1, 0.0),))
    progs = programs(prog("RUNNING"))
    assert manager.evaluate(poller_with(progs, failing)) == []
    clock.now += 5
    assert manager.evaluate(poller_with(progs, failing)) == []
    clock.now += 5
    opened = manager.evaluate(poller_with(progs, failing))
    assert [(e["kind"], e["subject"]) for e in opened] == [("probe_failing", "web")]
    assert "HTTP 502" in opened[0]["summary"] and len(sends) == 1  # one delivery
    good = ProbesSnapshot("h", 0.0, (ProbeOutcome("web", "http://x/", True, 200, 0.1, 0.0),))
    assert [e["state"] for e in manager.evaluate(poller_with(progs, good))] == ["recovered"]
    assert len(sends) == 2


# --------------------------------------------------------------------------- stale scrape


class HungSupervisordHost:
    """A host whose supervisord answers once, then never again (what a real one cannot be
    made to do on demand); everything else is absent."""

    name = "hung"

    def __init__(self) -> None:
        self.calls = 0

    async def programs(self) -> ProgramsSnapshot:
        self.calls += 1
        if self.calls > 1:
            await asyncio.sleep(3600)
        return programs(prog("RUNNING"))

    async def _absent(self) -> Any:
        raise OpsError("not on this host")

    gunicorn = nginx = probes = topology = nginx_config = _absent

    async def aclose(self) -> None:
        pass


def test_a_scrape_never_waits_past_its_timeout_and_serves_the_last_values_stale() -> None:
    exporter = Exporter(lambda: [HungSupervisordHost()], scrape_timeout=0.5)  # type: ignore[list-item]
    exporter.start()
    try:
        started = time.monotonic()
        text = exporter.scrape().decode()
        took = time.monotonic() - started
    finally:
        exporter.stop()
    assert took < 30  # bounded (the timeout is 0.5 s; generous for a loaded machine)
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert found[("opsconsole_scrape_stale", (("host", "hung"),))] == 1
    key = ("opsconsole_program_state", (("group", "app"), ("host", "hung"), ("program", "app"),
                                        ("server", "main"), ("state", "RUNNING")))  # fmt: skip
    assert found[key] == 1  # the last good values
    assert found[("opsconsole_collect_ok", (("host", "hung"), ("part", "gunicorn")))] == 0
