"""``opsconsole --host web1 --host web2 exporter`` through a real sshd to the real demo stack:
one endpoint serves both hosts, every series labelled with its host, the text still passes
``promtool check metrics``, and SIGTERM ends it cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opsconsole.demo.sshd import LocalSshd
from opsconsole.demo.stack import DemoStack, free_port
from tests.conftest import wait_for
from tests.fleet.conftest import AGENT

pytestmark = pytest.mark.integration


def test_exporter_over_two_hosts_labels_each_series(
    fleet_sshd: LocalSshd, demo_stack: DemoStack
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:  # a missing promtool is a failure, never a skip
        raise pytest.UsageError("promtool is not installed: sudo apt-get install prometheus")
    port = free_port()
    argv = [
        sys.executable, "-m", "opsconsole", "--ssh-config", str(fleet_sshd.ssh_config),
        "--agent", AGENT, "-c", str(demo_stack.conf_path), "--host", "web1", "--host", "web2",
        "exporter", "--listen", f"127.0.0.1:{port}",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ),
    )
    url = f"http://127.0.0.1:{port}/metrics"

    def both_hosts() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                text = str(response.read().decode())
        except (urllib.error.URLError, OSError):
            return None
        hosts = {
            s.labels.get("host")
            for f in text_string_to_metric_families(text)
            if f.name == "opsconsole_program_state"
            for s in f.samples
        }
        return text if hosts == {"web1", "web2"} else None

    try:
        text = str(wait_for(both_hosts, timeout=90, interval=0.5))
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        states = {
            (s.labels["host"], s.labels["program"]): s.value
            for f in text_string_to_metric_families(text)
            if f.name == "opsconsole_program_state"
            for s in f.samples
            if s.labels["state"] == "RUNNING"
        }
        assert states[("web1", "web")] == 1 and states[("web2", "web")] == 1
        assert states[("web1", "flaky")] == 0 and states[("web2", "flaky")] == 0
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "exporter serving http://127.0.0.1:" in err
