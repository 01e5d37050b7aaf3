"""nginx config history over hosts, and a worker's stack through one host, for real: the
session's sshd (``web1``, ``web2``), each host's agent given a real nginx of this module's own
(``nginx_conf`` of its ``[[host]]``: the shared demo stack's nginx is not broken on purpose)
and the demo stack's supervisord and gunicorn. The CLI runs in this process.

``nginx diff`` shows each host's change against its own last good config, a section per host;
``nginx rollback`` goes host by host and puts the files back byte for byte, and is refused by
a read-only console; ``nginx config`` prints each host's effective config; ``stack PID``
through one host shows that worker's stack, and with two hosts says the pid is one host's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsconsole.cli import main
from opsconsole.demo.sshd import LocalSshd
from opsconsole.demo.stack import DemoStack
from tests.fleet import test_fleet_rolling as rolling
from tests.integration.test_nginx_history import SITE, OwnNginx, own_nginx

pytestmark = pytest.mark.integration

__all__ = ["own_nginx"]  # the module's own nginx (a fixture of the history tests)


def write_config(path: Path, sshd: LocalSshd, stack: DemoStack, nginx_conf: Path) -> Path:
    """Hosts web1 and web2 on the demo stack's supervisord, each agent given this nginx."""
    conf = str(stack.conf_path)
    rolling.write_config(path, sshd, {"web1": conf, "web2": conf})
    blocks = path.read_text().split("[[host]]")
    blocks[1:] = [b + f"nginx_conf = {json.dumps(str(nginx_conf))}\n" for b in blocks[1:]]
    path.write_text("[[host]]".join(blocks))
    return path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_diff_per_host_then_rollback_host_by_host(
    fleet_sshd: LocalSshd, demo_stack: DemoStack, own_nginx: OwnNginx, tmp_path: Path, cli: Any
) -> None:
    own = own_nginx
    config = str(write_config(tmp_path / "fleet.toml", fleet_sshd, demo_stack, own.conf))
    # without --yes, each host's agent says what it would do there: the master it would HUP
    code, out, err = cli("--config", config, "nginx", "reload")
    assert code == 2 and "needs confirmation: add --yes" in err, out + err
    assert f"sends HUP to master {own.pid}" in err
    code, out, err = cli("--config", config, "--host", "web1", "nginx", "reload", "--yes")
    assert code == 0, out + err  # a verified reload: the last good config, kept by the agent
    good = own.site.read_bytes()
    own.site.write_text(SITE.format(port=own.port, body="v2"))
    try:
        code, out, err = cli("--config", config, "nginx", "diff", "--exit-code")
        assert code == 1, out + err  # changed, on both hosts
        sections = out.split("== ")
        assert [s.split("\n", 1)[0] for s in sections[1:]] == ["web1", "web2"], out
        for section in sections[1:]:
            assert f"--- {own.site}  +1 -1" in section
            assert "return 200 'v1'" in section and "return 200 'v2'" in section
        code, out, err = cli("--config", config, "nginx", "diff", "--json")
        listed = json.loads(out)
        assert [(d["host"], d["changed"]) for d in listed] == [("web1", True), ("web2", True)]

        # read-only: refused before anything is written, on every host
        code, out, err = cli("--config", config, "--read-only", "nginx", "rollback", "--yes")
        assert code == 2 and "read-only" in err, out + err
        assert own.site.read_bytes() != good

        # without --yes: what it would do, on the first host, and nothing done
        code, out, err = cli("--config", config, "nginx", "rollback")
        assert code == 2 and "needs confirmation: add --yes" in err, out + err
        assert f"write back {own.site}" in err and own.site.read_bytes() != good

        code, out, err = cli("--config", config, "--host", "web1", "nginx", "rollback", "--yes")
        assert code == 0, out + err
        assert "rolled back to the config of" in out
        assert own.site.read_bytes() == good
        assert own.get() == "v1"  # the served config is the good one again
        code, out, err = cli("--config", config, "nginx", "diff", "--exit-code")
        assert code == 0 and out.count("no change since the last good config") == 2, out + err
    finally:
        own.site.write_bytes(good)


def test_config_prints_each_hosts_effective_config(
    fleet_sshd: LocalSshd, demo_stack: DemoStack, own_nginx: OwnNginx, tmp_path: Path, cli: Any
) -> None:
    config = str(write_config(tmp_path / "fleet.toml", fleet_sshd, demo_stack, own_nginx.conf))
    code, out, err = cli("--config", config, "nginx", "config", "--file", str(own_nginx.site))
    assert code == 0, out + err
    assert out.count(f"# ---- {own_nginx.site}") == 2 and "== web1" in out and "== web2" in out
    code, out, err = cli("--config", config, "nginx", "config", "--json")
    hosts = {entry["host"] for entry in json.loads(out)}
    assert hosts == {"web1", "web2"}, out + err


def test_stack_through_one_host_and_refused_over_two(
    fleet_sshd: LocalSshd, demo_stack: DemoStack, own_nginx: OwnNginx, tmp_path: Path, cli: Any
) -> None:
    import psutil

    config = str(write_config(tmp_path / "fleet.toml", fleet_sshd, demo_stack, own_nginx.conf))
    master = int(demo_stack.rpc().supervisor.getProcessInfo("web")["pid"])
    worker = psutil.Process(master).children()[0].pid
    code, out, err = cli("--config", config, "--host", "web1", "stack", str(worker))
    assert code == 0, out + err
    first = out.splitlines()[0]
    assert first.startswith(f"worker {worker}  up ") and f"master {master}" in first, out
    assert "Thread" in out  # py-spy's dump of the worker's threads
    assert psutil.pid_exists(worker)  # read, not killed
    code, out, err = cli("--config", config, "stack", str(worker))
    assert code == 2 and "a worker's pid belongs to one host" in err, out + err
    assert "--host HOST" in err
