"""contrib/: the Prometheus alert rules pass ``promtool check rules`` and their own
``promtool test rules``, the scrape job passes ``promtool check config``, the Grafana
dashboard is valid JSON whose every query names only series the exporter writes, and the
rules name only such series too. A missing promtool is a failure, never a skip."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from opsconsole.core.metrics import metric_names

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
PROMETHEUS = CONTRIB / "prometheus"
DASHBOARD = CONTRIB / "grafana" / "opsconsole-dashboard.json"
SERIES = re.compile(r"\bopsconsole_[a-z0-9_]+")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        raise pytest.UsageError(
            "promtool is not installed: run `make test` as root (it installs Debian's "
            "prometheus) or `sudo apt-get install prometheus`"
        )
    return subprocess.run(
        [binary, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )


@pytest.mark.integration
def test_alert_rules_pass_promtool_check_and_their_tests() -> None:
    checked = promtool("check", "rules", "opsconsole-alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 10 rules found" in checked.stdout + checked.stderr
    tested = promtool("test", "rules", "opsconsole-alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.integration
def test_scrape_job_passes_promtool_check_config() -> None:
    checked = promtool("check", "config", "scrape.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _exprs(panel: dict[str, Any]) -> list[str]:
    return [str(t["expr"]) for t in panel.get("targets", [])]


def test_dashboard_is_valid_and_queries_only_exported_series() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "opsconsole" and dashboard["title"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    exported = set(metric_names())
    used: set[str] = set()
    for panel in panels:
        assert panel["type"] in ("timeseries", "stat") and panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        exprs = _exprs(panel)
        assert exprs, f"panel {panel['title']} has no query"
        for expr in exprs:
            names = set(SERIES.findall(expr))
            assert names, f"{panel['title']}: {expr} names no opsconsole series"
            assert names <= exported, f"{panel['title']}: {sorted(names - exported)}"
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
            used |= names
    # the dashboard covers each part: supervisor, gunicorn, nginx, probes, the console
    for part in ("program_", "gunicorn_", "nginx_", "probe_", "collect_"):
        assert any(part in n for n in used), part
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "host"}


def test_alert_rules_name_only_exported_series() -> None:
    text = (PROMETHEUS / "opsconsole-alerts.yml").read_text()
    exprs = [line.split("expr:", 1)[1] for line in text.splitlines() if "expr:" in line]
    assert len(exprs) == 10
    exported = set(metric_names())
    for expr in exprs:
        names = set(SERIES.findall(expr))
        assert names and names <= exported, expr
    for alert in ("SupervisorProgramFatal", "SupervisorProgramFlapping", "GunicornWorkerStuck"):
        assert f"alert: {alert}" in text
    for alert in ("GunicornWorkersBelowTarget", "NginxConfigTestFailing", "NginxReloadNotApplied"):
        assert f"alert: {alert}" in text
    assert "alert: ProbeFailing" in text


def test_service_examples_run_watch_and_exporter() -> None:
    unit = (CONTRIB / "systemd" / "opsconsole-watch.service").read_text()
    assert re.search(r"^ExecStart=\S*opsconsole .*\bwatch$", unit, re.M)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(CONTRIB / "supervisor" / "opsconsole.conf")
    assert parser.get("program:opsconsole-watch", "command").endswith(" watch")
    assert parser.get("program:opsconsole-watch", "stopsignal") == "TERM"
    assert "exporter --listen 127.0.0.1:" in parser.get("program:opsconsole-exporter", "command")
