"""The pure parts of rolling restarts and the update preview: which probes depend on a
program (from a topology), settle times, the plan's words, and what update restarts.

The real-process behaviour is in tests/integration/test_rolling.py; here the inputs are
snapshots as a host returns them (a topology cannot be made to take an arbitrary shape on
demand), so every branch of the dependency walk is reached."""

from __future__ import annotations

import pytest

from opsconsole.core.host import (
    NginxInstance,
    ProbeOutcome,
    ProbesSnapshot,
    Program,
    Supervisord,
    TopologySnapshot,
    TopoNode,
)
from opsconsole.core.rolling import RollError, RollPlan, dependent_probes, plan_roll
from opsconsole.core.update_preview import preview_update


def prog(
    name: str, group: str = "", state: str = "RUNNING", pid: int = 10, **kw: object
) -> Program:
    return Program("s", name, group or name, state, pid, **kw)  # type: ignore[arg-type]


def node(kind: str, label: str, *children: TopoNode) -> TopoNode:
    return TopoNode(kind, label, children=children)


TOPO = TopologySnapshot(
    "h",
    0.0,
    NginxInstance("nginx", "/etc/nginx/nginx.conf", "/etc/nginx"),
    "/etc/nginx/nginx.conf",
    node(
        "nginx",
        "nginx /etc/nginx/nginx.conf",
        node(
            "server",
            "server shop (127.0.0.1:8080)",
            node(
                "location",
                "location /",
                node(
                    "upstream",
                    "upstream app",
                    node(
                        "target",
                        "127.0.0.1:8001",
                        node(
                            "gunicorn",
                            "gunicorn master 5",
                            node("program", "supervisor program web:web-1"),
                        ),
                    ),
                    node(
                        "target",
                        "127.0.0.1:8002",
                        node(
                            "gunicorn",
                            "gunicorn master 6",
                            node("program", "supervisor program web:web-2"),
                        ),
                    ),
                ),
            ),
        ),
        node(
            "server",
            "server admin (127.0.0.1:9090)",
            node("location", "location /", node("static", "root")),
        ),
    ),
)


def probe(name: str, port: int, ok: bool = True) -> ProbeOutcome:
    return ProbeOutcome(name, f"http://127.0.0.1:{port}/", ok, 200 if ok else 502, 0.01, 0.0)


PROBES = (
    probe("front", 8080),
    probe("admin", 9090),
    probe("web:web-1", 8001),
    probe("b2", 8002, ok=False),
    probe("queue:q:8123", 8123),
)


def test_a_program_is_gated_by_its_own_probe_and_the_nginx_server_in_front_of_it() -> None:
    assert dependent_probes("web:web-1", TOPO, PROBES) == ("front", "web:web-1")
    assert dependent_probes("web:web-2", TOPO, PROBES) == ("front", "b2")
    # a probe named after the program counts even with no topology
    assert dependent_probes("queue:q", None, PROBES) == ("queue:q:8123",)
    # nothing in front of it, nothing named after it: no probe gates it
    assert dependent_probes("worker", TOPO, PROBES) == ()


def test_the_plan_orders_settles_and_says_what_each_step_must_pass() -> None:
    server = Supervisord(
        "s",
        "unix:///x",
        programs=(
            prog("web-1", "web", startsecs=5),
            prog("web-2", "web", startsecs=0),
            prog("worker", startsecs=None),
        ),
    )
    plan = plan_roll(
        "h",
        "web:* worker",
        server,
        ["web:*", "worker", "web:web-1"],
        TOPO,
        ProbesSnapshot("h", 0.0, PROBES),
    )
    assert plan.programs == ("web:web-1", "web:web-2", "worker")  # named once, in order
    assert [s.settle for s in plan.steps] == [5.0, 2.0, 2.0]  # startsecs, at least 2 s
    assert plan.question == "Restart web:web-1, web:web-2, worker one at a time?"
    assert (
        "1. web:web-1 (RUNNING pid 10): must stay RUNNING 5 s and probes front, web:web-1 green"
        in plan.detail
    )
    assert "3. worker (RUNNING pid 10): must stay RUNNING 2 s" in plan.detail
    assert "probe(s) failing now: b2" in plan.detail  # web-2's probe is red before the roll
    assert "startsecs unknown" in plan.detail
    assert RollPlan.from_json(plan.to_json()) == plan  # crosses the wire (the fleet)
    long = plan_roll(
        "h",
        "group web",
        Supervisord("s", "u", programs=tuple(prog(f"web-{i:02d}", "web") for i in range(6))),
        ["web:*"],
    )
    assert long.question == "Restart group web (6 programs) one at a time?"


def test_naming_what_is_not_there_plans_nothing() -> None:
    server = Supervisord("s", "u", programs=(prog("web"),))
    with pytest.raises(RollError, match="no program nope on supervisord s"):
        plan_roll("h", "nope", server, ["web", "nope"])
    with pytest.raises(RollError, match="cannot be read"):
        plan_roll("h", "web", Supervisord("s", "u", status="unreachable"), ["web"])


def test_update_preview_restarts_the_whole_changed_group_and_stops_the_removed() -> None:
    server = Supervisord(
        "s",
        "u",
        programs=(
            prog("a", "web", pid=1),
            prog("b", "web", pid=2),
            prog("c", "web", state="STOPPED", pid=0),
            prog("old", pid=3),
            prog("keep", pid=4),
        ),
    )
    preview = preview_update({"changed": ["web"], "removed": ["old"], "added": ["new"]}, server)
    assert [(g.group, g.change) for g in preview.groups] == [
        ("old", "removed"),
        ("web", "changed"),
        ("new", "added"),
    ]
    assert preview.restarts == ("web:a", "web:b")  # running ones; keep is untouched
    assert preview.stops == ("old", "web:a", "web:b")
    removed, changed, added = preview.groups
    assert changed.parameters == {"removed": [], "changed": ["web"], "added": []}
    assert changed.question == "Update group web: stop and start web:a, web:b?"
    assert "web:c (STOPPED)" in changed.words
    assert removed.question == "Remove group old: stop old?"
    assert added.question == "Add group new?"
