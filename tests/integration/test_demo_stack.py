"""The demo stack itself: the expected states, and nothing left behind after teardown."""

from __future__ import annotations

import urllib.request

import psutil
import pytest

from opsconsole.demo.stack import DemoStack

pytestmark = pytest.mark.integration  # starts the demo stack


def test_shared_stack_has_every_program_in_its_state(demo_stack: DemoStack) -> None:
    states = {p["name"]: p["statename"] for p in demo_stack.rpc().supervisor.getAllProcessInfo()}
    for name, want in demo_stack.expected_states().items():
        assert states[name] in want, (name, states[name])
    assert demo_stack.nginx_bin, "nginx must be part of the test stack"


def test_app_answers_through_nginx_and_directly(demo_stack: DemoStack) -> None:
    with urllib.request.urlopen(demo_stack.url("nginx", "/"), timeout=5) as r:
        assert b"hello from web" in r.read()
    with urllib.request.urlopen(demo_stack.url("api", "/health"), timeout=5) as r:
        assert r.read() == b"ok\n"
    with urllib.request.urlopen(demo_stack.url("nginx", "/static/index.html"), timeout=5) as r:
        assert b"static" in r.read()
    with urllib.request.urlopen(demo_stack.url("nginx", "/nginx_status"), timeout=5) as r:
        assert b"Active connections" in r.read()


def test_teardown_leaves_no_process_and_no_directory() -> None:
    stack = DemoStack().start()
    try:
        pids = [p.pid for p in stack.processes()]
        directory = stack.dir
    finally:
        stack.stop()
    # supervisord + 2 gunicorn masters with 2 workers each + nginx master/2 workers + 3 queue
    assert len(pids) >= 12
    assert not directory.exists()
    alive = [
        pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]
    assert alive == []
