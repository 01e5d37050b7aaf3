"""Shared fixtures: one real demo stack (supervisord, gunicorn, nginx) per test session."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.core import actions
from opsconsole.core.config import SupervisorTarget
from opsconsole.demo.stack import DemoStack, find_nginx
from opsconsole.demo.watchdog import guarding


def pytest_sessionstart(session: pytest.Session) -> None:
    # In CI a missing nginx is a failure, never a silent skip.
    if find_nginx() is None:
        raise pytest.UsageError(
            "nginx is not installed: run `make test` as root (it installs nginx-light) "
            "or `sudo apt-get install nginx-light`"
        )
    # A run stopped by SIGTERM (`timeout`, CI) tears its fixtures down like Ctrl-C does:
    # without this the session's demo stack (and each xdist worker's) outlives the run.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the run at once
    raise KeyboardInterrupt(f"stopped by signal {signum}")


# Fixtures that start real processes (the session's supervisord, gunicorn and nginx).
STARTS_PROCESSES = frozenset({"demo_stack"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`pytest -m "not integration"` is the fast loop: no real process starts in it. Any test
    that uses the demo stack (directly or through another fixture) is marked here, so it cannot
    be forgotten; tests that start processes of their own are marked in their module."""
    for item in items:
        if STARTS_PROCESSES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _isolate(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """No test reads the developer's config or writes the real audit log. A read-only gate
    governs only the context it is built in: async tests run in their own context already;
    a sync test's gate is scoped to it here, like any other context variable."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.delenv("OPSCONSOLE_SUPERVISOR_PASSWORD", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    scope = actions._READ_ONLY_GATE.set(None)
    yield
    actions._READ_ONLY_GATE.reset(scope)


@pytest.fixture(scope="session")
def demo_stack() -> Iterator[DemoStack]:
    """The shared real stack. Tests must leave it as they found it (restart what they stop).

    One per test process (each xdist worker has its own: free ports, its own temp dir). A
    watchdog stops it if this process dies without tearing down (a killed worker, a run
    stopped by a timeout): nothing of a run outlives it."""
    stack = DemoStack().start()
    # dismissed only once the stack is down: if stop() was interrupted, it finishes the job
    with guarding(stack.dir):
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture
def stack_target(demo_stack: DemoStack) -> SupervisorTarget:
    return SupervisorTarget(
        name="demo",
        url=demo_stack.socket_url,
        username=demo_stack.username,
        password=demo_stack.password,
        source=f"[supervisorctl] in {demo_stack.conf_path}",
    )


@pytest.fixture
def stack_env(demo_stack: DemoStack) -> dict[str, str]:
    env = dict(os.environ)
    env["OPSCONSOLE_SUPERVISOR_PASSWORD"] = demo_stack.password
    return env


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value; return it, or fail the test."""
    import time

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s (last value {last!r})")


__all__ = ["Path", "wait_for"]
