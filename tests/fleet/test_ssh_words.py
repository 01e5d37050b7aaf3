"""The SSH transport's words (no process): destinations, the argv, and failures explained."""

from __future__ import annotations

import shlex

import pytest

from opsconsole.core.config import ConfigError, build_config, parse_toml_config
from opsconsole.core.ssh import (
    AgentNotInstalled,
    BadDestination,
    SshAuthFailed,
    SshConnectionLost,
    SshConnectionRefused,
    SshHostKeyChanged,
    SshHostKeyUnknown,
    SshHostUnknown,
    SshTimeout,
    agent_words,
    explain_exit,
    parse_destination,
    remote_command,
    ssh_argv,
)


@pytest.mark.parametrize(
    ("text", "target", "port"),
    [
        ("web1", "web1", None),
        ("deploy@web1.example.com", "deploy@web1.example.com", None),
        ("ssh://deploy@web1.example.com:2222", "deploy@web1.example.com", 2222),
        ("ssh://web1", "web1", None),
        ("root@10.0.0.5", "root@10.0.0.5", None),
        ("ssh://admin@[::1]:22", "admin@::1", 22),
    ],
)
def test_destinations_ssh_accepts(text: str, target: str, port: int | None) -> None:
    dest = parse_destination(text)
    assert (dest.target, dest.port) == (target, port)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("web 1", "space"),
        ("-oProxyCommand=x", "starts with '-'"),
        ("@web1", "no user"),
        ("deploy@", "no host"),
        ("web1;reboot", "not a host name"),
        ("http://web1", "only ssh://"),
        ("ssh://web1:99999", "port"),
        ("ssh://web1/path", "path"),
        ("ssh://deploy:secret@web1", "password"),
    ],
)
def test_bad_destinations_are_refused_in_words(text: str, words: str) -> None:
    with pytest.raises(BadDestination) as caught:
        parse_destination(text)
    assert words in caught.value.message
    assert "secret" not in str(caught.value)


def test_argv_is_batch_mode_with_our_words_quoted_and_never_relaxes_host_keys() -> None:
    agent = agent_words("'/opt/my venv/bin/opsconsole' agent")
    argv = ssh_argv(
        parse_destination("ssh://deploy@web1:2222"),
        [*agent, "--user", "a$b"],
        ssh_config="/etc/fleet ssh.conf",
    )
    assert argv[:4] == ["ssh", "-T", "-o", "BatchMode=yes"]
    assert argv[argv.index("-F") + 1] == "/etc/fleet ssh.conf"
    assert argv[argv.index("-p") + 1] == "2222"
    dash = argv.index("--")
    assert argv[dash + 1] == "deploy@web1"
    # One string the remote shell splits back into exactly our words.
    assert shlex.split(argv[dash + 2]) == ["/opt/my venv/bin/opsconsole", "agent", "--user", "a$b"]
    assert not any("StrictHostKeyChecking" in word for word in argv)
    assert remote_command(["a b", "$HOME", "'"]) == "'a b' '$HOME' ''\"'\"''"


def test_local_is_not_reached_over_ssh() -> None:
    assert parse_destination("local").is_local


@pytest.mark.parametrize(
    ("code", "stderr", "kind", "hint_words"),
    [
        (255, "ssh: Could not resolve hostname nohost: Name or service not known",
         SshHostUnknown, "Host alias"),
        (255, "ssh: connect to host 127.0.0.1 port 1: Connection refused",
         SshConnectionRefused, "sshd running"),
        (255, "Connection timed out during banner exchange", SshTimeout, "reachable"),
        (255, "@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
              "The fingerprint for the ED25519 key sent by the remote host is\nSHA256:abc.\n"
              "Host key verification failed.", SshHostKeyChanged, "before trusting"),
        (255, "Host key verification failed.", SshHostKeyUnknown, "fingerprint"),
        (255, "root@127.0.0.1: Permission denied (publickey).", SshAuthFailed, "ControlMaster"),
        (127, "bash: line 1: opsconsole: command not found", AgentNotInstalled, "pip install"),
        (255, "Connection to 127.0.0.1 closed by remote host.", SshConnectionLost, "retried"),
        (255, "", SshConnectionLost, "retried"),
    ],
)  # fmt: skip
def test_ssh_failures_are_typed_errors_in_words(
    code: int, stderr: str, kind: type, hint_words: str
) -> None:
    error = explain_exit("web1", code, stderr)
    assert type(error) is kind
    assert "web1" in error.message
    assert hint_words in error.hint


def test_a_changed_host_key_quotes_what_ssh_said() -> None:
    stderr = (
        "@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@\n"
        "The fingerprint for the ED25519 key sent by the remote host is\nSHA256:6IEPtG6N.\n"
        "Host key for [127.0.0.1]:2222 has changed and you have requested strict checking.\n"
        "Host key verification failed.\n"
    )
    error = explain_exit("web1", 255, stderr)
    assert "CHANGED" in error.message and "refused" in error.message
    assert "SHA256:6IEPtG6N" in error.message
    assert "@@@" not in error.message


def test_hosts_config_entries_and_host_flags() -> None:
    cfg = parse_toml_config(
        {
            "ssh_config": "/etc/opsconsole/ssh_config",
            "host": [
                {"name": "web1", "ssh": "deploy@web1", "agent": "/opt/venv/bin/opsconsole agent",
                 "supervisor_config": "/etc/supervisor/supervisord.conf"},
                {"name": "here", "ssh": "local", "nginx_conf": "/etc/nginx/nginx.conf"},
            ],
        },
        "test.toml",
    )  # fmt: skip
    assert [(h.name, h.ssh) for h in cfg.hosts] == [("web1", "deploy@web1"), ("here", "local")]
    assert cfg.hosts[0].agent == "/opt/venv/bin/opsconsole agent"
    assert cfg.hosts[1].agent == "opsconsole agent"
    assert cfg.hosts[1].nginx.config == "/etc/nginx/nginx.conf"
    with pytest.raises(ConfigError, match="unknown key"):
        parse_toml_config({"host": [{"ssh": "web1", "pasword": "x"}]}, "t.toml")
    with pytest.raises(ConfigError, match="needs ssh"):
        parse_toml_config({"host": [{"name": "web1"}]}, "t.toml")


def test_flags_given_with_hosts_go_to_every_host(tmp_path: object) -> None:
    cfg = build_config(
        hosts=["web1", "ops@web2"],
        supervisor_conf="/srv/app/supervisord.conf",  # a path on the hosts, not read here
        user="ops",
        agent="/opt/venv/bin/opsconsole agent",
        environ={"OPSCONSOLE_SUPERVISOR_PASSWORD": "s3cret"},
    )
    assert [h.name for h in cfg.hosts] == ["web1", "ops@web2"]
    for host in cfg.hosts:
        assert host.supervisor_config == "/srv/app/supervisord.conf"
        assert (host.user, host.password) == ("ops", "s3cret")
        assert host.agent == "/opt/venv/bin/opsconsole agent"
    with pytest.raises(BadDestination):
        build_config(hosts=["web 1"])
    with pytest.raises(ConfigError, match="more than once"):
        build_config(hosts=["web1", "web1"])


def test_a_command_that_does_not_work_over_hosts_is_refused_not_run_here(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every command works over hosts today; one added later that does not is refused when
    hosts are given (it would otherwise act on this machine as if it were them)."""
    import argparse

    from opsconsole.cli import build_parser, main
    from opsconsole.cli.hosts import NOT_FLEET, OVER_HOSTS, refuse_unless_over_hosts
    from opsconsole.core.config import AppConfig, HostSettings
    from opsconsole.core.errors import ConfigError

    commands = []
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
                commands += [f"{name} {n}" for n in nested[0].choices] if nested else [name]
    missing = [c for c in commands if c not in OVER_HOSTS and c.split()[0] not in NOT_FLEET]
    assert missing == [], f"commands that do not work over hosts: {missing}"

    config = AppConfig(hosts=[HostSettings(name="web1", ssh="web1")])
    with pytest.raises(ConfigError) as refused:
        refuse_unless_over_hosts("nginx frobnicate", config)
    assert "'nginx frobnicate' does not work over hosts yet" in refused.value.message
    assert "ssh HOST opsconsole" in (refused.value.hint or "")
    assert main(["--host", "web 1", "status"]) == 2
    assert "contains a space" in capsys.readouterr().err


def test_every_ssh_failure_has_its_own_words_in_a_table_cell() -> None:
    """A hosts table or `status` row names the kind of ssh failure, never just "error"."""
    from opsconsole.core import ssh as ssh_module
    from opsconsole.core.host import HostError

    kinds = [ssh_module.SshError, *ssh_module.SshError.__subclasses__()]
    for cls in kinds[1:]:
        words = HostError.of(cls("what happened", "what to do")).words
        assert words != "error", f"{cls.__name__} has no words"


def test_a_supervisor_url_with_a_password_never_goes_on_the_ssh_command_line() -> None:
    from opsconsole.cli.hosts import ssh_command
    from opsconsole.core.config import AppConfig, HostSettings

    plain = HostSettings("web1", "deploy@web1", supervisor_urls=["http://127.0.0.1:9001"])
    assert "http://127.0.0.1:9001" in ssh_command(plain, AppConfig())[-1]
    secret = HostSettings("web1", "deploy@web1", supervisor_urls=["http://ops:S3CRET@h:9001"])
    with pytest.raises(ConfigError) as err:
        ssh_command(secret, AppConfig())
    assert "carries a password" in err.value.message and "[[host]]" in err.value.hint
    assert "S3CRET" not in str(err.value) + err.value.hint
