from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from supervisor.options import ClientOptions

from opsconsole.core.config import (
    PASSWORD_ENV,
    build_config,
    load_supervisor_config,
    parse_supervisor_ini,
    parse_toml_config,
    supervisor_config_candidates,
)
from opsconsole.core.errors import ConfigError

INI = """
[unix_http_server]
file=%(here)s/run/supervisor.sock
username=ops
password=s3cret

[supervisorctl]
serverurl=unix://%(here)s/run/supervisor.sock
username=ops
password=s3cret
"""


def test_supervisorctl_section_with_here(tmp_path: Path) -> None:
    target = parse_supervisor_ini(INI, tmp_path / "supervisord.conf")
    assert target.url == f"unix://{tmp_path.resolve()}/run/supervisor.sock"
    assert target.username == "ops"
    assert target.password == "s3cret"
    assert str(tmp_path / "supervisord.conf") in target.source
    assert "s3cret" not in repr(target)


CORPUS = Path(__file__).parent.parent / "configs" / "supervisor"
CORPUS_ENV = {
    "SUPERVISOR_RUN_DIR": "/srv/run",
    "SUPERVISOR_USER": "envuser",
    "SUPERVISOR_PASSWORD": "envpw",
    "HOME": "/home/ops",
}


def supervisorctl_reads(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """What supervisorctl itself makes of a file: its own ``realize`` (the ``-c`` path)."""
    for key, value in CORPUS_ENV.items():
        monkeypatch.setenv(key, value)
    options = ClientOptions()
    options.stderr = io.StringIO()
    try:
        options.realize(args=["-c", str(path), "status"])
    except SystemExit:
        return ("refused", options.stderr.getvalue())
    return (options.serverurl, options.username, options.password)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.conf")))
def test_corpus_read_as_supervisorctl_reads_it(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # relative socket paths resolve against the working directory
    path = CORPUS / name
    theirs = supervisorctl_reads(path, monkeypatch)
    target = load_supervisor_config(path, CORPUS_ENV)
    if theirs[0] == "refused":  # only where supervisorctl fails: a fallback, and it says so
        assert "fallback" in target.source, theirs
    elif "fallback" in target.source:  # supervisorctl reads no credentials, the server wants some
        assert theirs[1:] == (None, None) and target.url == theirs[0]
    else:
        assert (target.url, target.username, target.password) == theirs


def test_inline_comments_are_not_part_of_the_value(tmp_path: Path) -> None:
    text = (CORPUS / "debian_ubuntu.conf").read_text()
    target = parse_supervisor_ini(text, tmp_path / "supervisord.conf", {})
    assert target.url == "unix:///var/run/supervisor.sock"


def test_env_expansion_in_url_and_credentials(tmp_path: Path) -> None:
    text = (CORPUS / "env_expanded.conf").read_text()
    target = parse_supervisor_ini(text, tmp_path / "s.conf", CORPUS_ENV)
    assert target.url == "unix:///srv/run/supervisor.sock"
    assert (target.username, target.password) == ("envuser", "envpw")
    assert "envpw" not in repr(target)


def test_unset_env_variable_is_a_clear_error_without_secrets(tmp_path: Path) -> None:
    text = "[supervisorctl]\nserverurl=unix://%(ENV_NOPE)s/s.sock\npassword=pw%(ENV_NOPE2)s\n"
    with pytest.raises(ConfigError) as info:
        parse_supervisor_ini(text, tmp_path / "s.conf", {"SECRET_TOKEN": "x"})
    assert "ENV_NOPE" in info.value.message
    assert "SECRET_TOKEN" not in str(info.value)  # not the list of every variable name


def test_badly_formatted_password_never_shown(tmp_path: Path) -> None:
    text = "[supervisorctl]\nserverurl=unix:///x.sock\nusername=u\npassword=50%off\n"
    with pytest.raises(ConfigError) as info:
        parse_supervisor_ini(text, tmp_path / "s.conf", {})
    assert "50%off" not in str(info.value)
    assert "supervisorctl.password" in info.value.message


def test_relative_and_home_socket_paths_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/ops")
    rel = parse_supervisor_ini("[supervisorctl]\nserverurl=unix://run/s.sock\n", Path("x"), {})
    assert rel.url == f"unix://{os.path.realpath(tmp_path)}/run/s.sock"
    home = parse_supervisor_ini("[supervisorctl]\nserverurl=unix://~/s.sock\n", Path("x"), {})
    assert home.url == "unix:///home/ops/s.sock"


def test_any_interface_port_without_serverurl_is_supervisorctl_default(tmp_path: Path) -> None:
    text = "[inet_http_server]\nport=*:9111\n[supervisorctl]\n"
    assert parse_supervisor_ini(text, tmp_path / "s.conf", {}).url == "http://localhost:9001"


def test_no_supervisorctl_section_falls_back_and_says_so(tmp_path: Path) -> None:
    text = "[inet_http_server]\nport=*:9101\nusername=a\npassword=pw\n"
    target = parse_supervisor_ini(text, tmp_path / "x.conf", {})
    assert target.url == "http://localhost:9101"
    assert (target.username, target.password) == ("a", "pw")
    assert "fallback" in target.source and "[inet_http_server]" in target.source


def test_fallback_socket_file_expands_env_and_here(tmp_path: Path) -> None:
    text = "[unix_http_server]\nfile=%(ENV_RUN)s/%(here)s.sock ; comment\n"
    target = parse_supervisor_ini(text, Path("/etc/x/s.conf"), {"RUN": "/run"})
    assert target.url == "unix:///run/etc/x.sock"  # /run + /etc/x, normalised
    assert "fallback" in target.source


def test_sha_password_sends_no_user(tmp_path: Path) -> None:
    text = "[inet_http_server]\nport=127.0.0.1:9101\nusername=a\npassword={SHA}abc\n"
    target = parse_supervisor_ini(text, tmp_path / "x.conf", {})
    assert target.url == "http://127.0.0.1:9101"
    assert (target.username, target.password) == (None, None)  # never a user without a password
    partial = text + "[supervisorctl]\nserverurl=http://localhost:9101\n"
    target = parse_supervisor_ini(partial, tmp_path / "x.conf", {})
    assert (target.username, target.password) == (None, None)
    assert "fallback" not in target.source


def test_server_credentials_only_for_that_server(tmp_path: Path) -> None:
    server = "[unix_http_server]\nfile=%(here)s/s.sock\nusername=ops\npassword=pw\n"
    same = parse_supervisor_ini(
        server + "[supervisorctl]\nserverurl=unix://%(here)s/s.sock\n", tmp_path / "a.conf", {}
    )
    assert (same.username, same.password) == ("ops", "pw") and "fallback" in same.source
    other = parse_supervisor_ini(
        server + "[supervisorctl]\nserverurl=http://db1:9001\n", tmp_path / "a.conf", {}
    )
    assert (other.username, other.password) == (None, None)  # never sent to another server


def test_no_way_to_reach_supervisord_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no \\[supervisorctl\\] section"):
        parse_supervisor_ini("[supervisord]\n", tmp_path / "s.conf", {})


def test_supervisorctl_default_url(tmp_path: Path) -> None:
    assert parse_supervisor_ini("[supervisorctl]\n", tmp_path / "s.conf", {}).url == (
        "http://localhost:9001"
    )


def test_broken_ini_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a valid supervisord config") as info:
        parse_supervisor_ini("password=hunter2\n[supervisorctl]\n", tmp_path / "s.conf", {})
    assert "line 1" in info.value.message and "hunter2" not in str(info.value)


def test_ctlplugin_sections_import_nothing(tmp_path: Path) -> None:
    text = "[supervisorctl]\n[ctlplugin:x]\nsupervisor.ctl_factory = no_such_module:make\n"
    assert parse_supervisor_ini(text, tmp_path / "s.conf", {}).url == "http://localhost:9001"


def test_search_paths_are_supervisorctls() -> None:
    ours = [str(p) for p in supervisor_config_candidates(sys.argv[0])]
    assert ours == ClientOptions().searchpaths


def test_toml_unknown_key_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        parse_toml_config({"refesh": 1}, "config.toml")


def test_toml_several_supervisors() -> None:
    cfg = parse_toml_config(
        {
            "refresh": 2,
            "read_only": True,
            "supervisor": [
                {"name": "a", "url": "unix:///run/a.sock"},
                {"name": "b", "url": "http://127.0.0.1:9001", "username": "u", "password": "p"},
            ],
        },
        "c.toml",
    )
    assert [t.name for t in cfg.supervisors] == ["a", "b"]
    assert cfg.supervisors[1].password == "p"
    assert cfg.read_only and cfg.refresh == 2


def test_flags_override_file_and_env_password(tmp_path: Path) -> None:
    conf = tmp_path / "config.toml"
    conf.write_text('theme = "light"\nrefresh = 3\n[[supervisor]]\nurl = "unix:///x.sock"\n')
    cfg = build_config(
        config_file=str(conf),
        supervisor_urls=["http://127.0.0.1:9"],
        user="bob",
        refresh=0.5,
        read_only=True,
        environ={PASSWORD_ENV: "envpw"},
    )
    assert cfg.supervisors[0].url == "http://127.0.0.1:9"
    assert cfg.supervisors[0].username == "bob"
    assert cfg.supervisors[0].password == "envpw"
    assert cfg.refresh == 0.5
    assert cfg.theme == "light"
    assert cfg.read_only


def test_invalid_refresh_rejected() -> None:
    with pytest.raises(ConfigError, match="greater than 0"):
        build_config(supervisor_urls=["http://x:1"], refresh=0)


def test_discovers_supervisord_conf_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "supervisord.conf").write_text(INI)
    monkeypatch.chdir(tmp_path)
    cfg = build_config(environ={})
    assert cfg.supervisors[0].url == f"unix://{os.getcwd()}/run/supervisor.sock"
    assert f"in {os.getcwd()}/supervisord.conf" in cfg.supervisors[0].source


def test_a_supervisor_url_with_a_password_is_refused_without_showing_it() -> None:
    from opsconsole.core.config import build_config, parse_toml_config

    with pytest.raises(ConfigError) as err:
        build_config(supervisor_urls=["http://ops:S3CRET@127.0.0.1:9001"], environ={})
    assert "carries a password" in err.value.message and "S3CRET" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_toml_config({"supervisor": [{"url": "http://ops:S3CRET@h:9001"}]}, "t.toml")
    assert "S3CRET" not in str(err.value) + err.value.hint
    ok = build_config(supervisor_urls=["http://ops@127.0.0.1:9001"], environ={})
    assert ok.supervisors[0].url == "http://ops@127.0.0.1:9001"  # a user alone is fine
