from __future__ import annotations

from pathlib import Path

import pytest

from opsconsole.core.config import (
    PASSWORD_ENV,
    build_config,
    parse_supervisor_ini,
    parse_toml_config,
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


def test_falls_back_to_server_sections(tmp_path: Path) -> None:
    text = "[inet_http_server]\nport=127.0.0.1:9101\nusername=a\npassword={SHA}abc\n"
    target = parse_supervisor_ini(text, tmp_path / "x.conf")
    assert target.url == "http://127.0.0.1:9101"
    assert target.username == "a"
    assert target.password is None  # a SHA digest is not the password


def test_supervisorctl_default_url(tmp_path: Path) -> None:
    assert parse_supervisor_ini("[supervisord]\n", tmp_path / "s.conf").url == (
        "http://localhost:9001"
    )


def test_broken_ini_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a valid supervisord config"):
        parse_supervisor_ini("no section header\n", tmp_path / "s.conf")


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
    assert cfg.supervisors[0].url.endswith("/run/supervisor.sock")
