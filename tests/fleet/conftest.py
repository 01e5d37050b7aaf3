"""Fleet fixtures: a real Debian sshd on a free loopback port, private to the test session.

It has its own host key, an authorized key for the current user, its own known_hosts and an
ssh_config with the aliases the tests use (the console is given it with ``--ssh-config``; the
machine's own ssh setup is never read or changed). ``web1`` and ``web2`` are two names for the
same loopback sshd, each reaching the session's demo stack through ``opsconsole agent``; the
other aliases each make one ssh failure for real:

* ``stranger``: a key the server does not know (authentication failed),
* ``closed``: a port nothing listens on (connection refused),
* ``unknownkey``: an empty known_hosts (host key not known),
* ``nohost``: a host name that does not resolve.

In CI a missing sshd is a failure, never a silent skip (as for nginx in tests/conftest.py).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsconsole.demo.sshd import LocalSshd, find_sshd
from opsconsole.demo.stack import free_port
from opsconsole.demo.watchdog import guarding

#: The agent command on the "remote" hosts: this interpreter's opsconsole, by absolute path
#: (an sshd session's PATH is the system default).
AGENT = f"{shlex.quote(sys.executable)} -m opsconsole agent"

# Fixtures of this directory that start processes (their tests are integration tests).
STARTS_PROCESSES = frozenset({"fleet_sshd", "own_sshd", "demo_fleet"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    fleet = [i for i in items if STARTS_PROCESSES.intersection(getattr(i, "fixturenames", ()))]
    for item in fleet:
        item.add_marker(pytest.mark.integration)
    markexpr = str(config.getoption("markexpr", "") or "")
    if fleet and "not integration" not in markexpr and find_sshd() is None:
        raise pytest.UsageError(
            "sshd is not installed: run `make test` as root (it installs openssh-server) "
            "or `sudo apt-get install openssh-server`"
        )


def session_env(base: Path) -> dict[str, str]:
    """The environment of every ssh session: the agent's config and audit trail stay in the
    test's directory."""
    (base / "config").mkdir(exist_ok=True)
    (base / "state").mkdir(exist_ok=True)
    return {"XDG_CONFIG_HOME": str(base / "config"), "XDG_STATE_HOME": str(base / "state")}


def _with_failure_aliases(sshd: LocalSshd, base: Path) -> None:
    from opsconsole.demo.sshd import _keygen

    stranger_key = base / "stranger_key"
    _keygen(stranger_key, "a key the server does not know")
    empty = base / "empty_known_hosts"
    empty.write_text("")
    sshd.add_alias("stranger", IdentityFile=str(stranger_key))
    sshd.add_alias("closed", Port=str(free_port()))
    sshd.add_alias("unknownkey", UserKnownHostsFile=str(empty))
    sshd.add_alias("nohost", HostName="no-such-host.invalid")


@pytest.fixture(scope="session")
def fleet_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSshd]:
    """The session's sshd (web1, web2 and the failure aliases). Tests must not kill it."""
    base = tmp_path_factory.mktemp("fleet")
    sshd = LocalSshd(aliases=("web1", "web2"), session_env=session_env(base), base_dir=base)
    with guarding(base):  # a killed test process leaves no sshd behind
        sshd.start()
        _with_failure_aliases(sshd, base)
        try:
            yield sshd
        finally:
            sshd.stop()


@pytest.fixture(scope="module")
def own_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSshd]:
    """An sshd of the module's own, for tests that kill, restart or re-key it (alias web3)."""
    base = tmp_path_factory.mktemp("fleet-own")
    sshd = LocalSshd(aliases=("web3",), session_env=session_env(base), base_dir=base)
    with guarding(base):
        sshd.start()
        try:
            yield sshd
        finally:
            sshd.stop()
