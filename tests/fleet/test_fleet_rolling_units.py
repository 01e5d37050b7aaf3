"""The fleet roll's words, without processes: the one confirmation (every host's plan, the
order) and how a roll over hosts ends (the host, the program, the reason, what is left there,
the hosts done and not touched; a cancel; a host that did not stay healthy)."""

from __future__ import annotations

import json

import pytest

from opsconsole.cli.fleet_rolling import _ending, plans_text
from opsconsole.core.rolling import CANCELLED, DONE, FAILED, RollOutcome, RollPlan, RollStep


def plan(host: str) -> RollPlan:
    steps = tuple(
        RollStep("s1", f"svc:{name}", 2.0, startsecs=1, pid=100 + i, state="RUNNING")
        for i, name in enumerate("ab")
    )
    return RollPlan(host, "svc:*", steps)


PLANS = {name: plan(name) for name in ("web1", "web2", "web3")}
NAMES = list(PLANS)
OK = RollOutcome(DONE, "all 2 restarted", ("svc:a", "svc:b"))


def test_the_confirmation_shows_every_hosts_plan_in_order() -> None:
    text = plans_text(PLANS, parallel=False)
    heads = [line for line in text.splitlines() if line.startswith("== ")]
    assert heads == [f"== {n}: Restart svc:a, svc:b one at a time?" for n in NAMES]
    assert "1. svc:a (RUNNING pid 100): must stay RUNNING 2 s" in text
    assert "Hosts one at a time: web1 then web2 then web3" in text
    assert "--parallel: every host at once (web1, web2, web3)" in plans_text(PLANS, parallel=True)


def test_a_stop_names_the_host_program_reason_what_is_left_and_the_hosts_not_touched(
    capsys: pytest.CaptureFixture[str],
) -> None:
    failed = RollOutcome(
        FAILED, "stopped at svc:a: ...", (), "svc:a", "left RUNNING: now EXITED", ("svc:b",)
    )
    assert _ending(NAMES, PLANS, {"web1": OK, "web2": failed}, 1, as_json=False) == 1
    said = capsys.readouterr().err.strip()
    assert said == (
        "opsconsole: rolling restart stopped on web2 at svc:a: left RUNNING: now EXITED; "
        "not restarted on web2: svc:b; done on: web1; hosts not touched: web3 (svc:a, svc:b)"
    )
    assert _ending(NAMES, PLANS, {"web1": OK, "web2": failed}, 1, as_json=True) == 1
    line = json.loads(capsys.readouterr().out)
    assert (line["kind"], line["status"], line["host"]) == ("fleet", "stopped", "web2")
    assert (line["program"], line["left"]) == ("svc:a", ["svc:b"])
    assert (line["done_hosts"], line["not_touched"]) == (["web1"], ["web3"])


def test_a_host_that_did_not_stay_healthy_and_a_cancel_are_said(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # web1's roll was done, then the health gate failed: web2 and web3 not touched.
    assert _ending(NAMES, PLANS, {"web1": OK}, 1, as_json=False) == 1
    said = capsys.readouterr().err
    assert "stopped after web1: it did not stay healthy" in said
    assert "hosts not touched: web2 (svc:a, svc:b), web3 (svc:a, svc:b)" in said
    cancelled = RollOutcome(CANCELLED, "cancelled by the operator; not restarted: svc:b")
    assert _ending(NAMES, PLANS, {"web1": OK, "web2": cancelled}, 1, as_json=False) == 1
    assert "web2: cancelled by the operator; not restarted: svc:b" in capsys.readouterr().err
    # Every host done: exit 0, said on stdout.
    everyone = dict.fromkeys(NAMES, OK)
    assert _ending(NAMES, PLANS, everyone, 0, as_json=False) == 0
    assert capsys.readouterr().out.strip() == (
        "rolling restart done on every host: web1, web2, web3"
    )
