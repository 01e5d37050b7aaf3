"""Config files are outside text: any content gives a target or a ConfigError, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from opsconsole.core.config import parse_supervisor_ini, parse_toml_config
from opsconsole.core.errors import ConfigError

SECTIONS = [
    "[supervisorctl]",
    "[unix_http_server]",
    "[inet_http_server]",
    "[ctlplugin:x]",
    "[include]",
    "[",
]
KEYS = [
    "serverurl",
    "username",
    "password",
    "file",
    "port",
    "%(here)s",
    "%(ENV_HOME)s",
    "%(ENV_X",
    "=",
    ":",
    ";",
    " ;",
    "*:",
    "unix://",
    "~",
    "{SHA}",
    "supervisor.ctl_factory",
]
SECRET = "Pw%q3cr"  # a password supervisor cannot expand: its error would quote it


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SECTIONS + KEYS), st.text(max_size=20)), max_size=30))
def test_supervisor_ini_any_text(parts: list[str]) -> None:
    text = "\n".join([*parts, f"password={SECRET}"])
    try:
        target = parse_supervisor_ini(text, Path("/etc/supervisord.conf"), {"HOME": "/root"})
    except ConfigError as exc:
        assert exc.message
        assert SECRET not in str(exc)
    else:
        assert target.url
        assert SECRET not in repr(target)


toml_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "read_only",
                "theme",
                "refresh",
                "timeout",
                "supervisor",
                "nginx",
                "logs",
                "probes",
                "x",
            ]
        ),
        toml_values,
        max_size=5,
    )
)
def test_toml_config_any_document(data: dict[str, Any]) -> None:
    try:
        parse_toml_config(data, "config.toml")
    except ConfigError as exc:
        assert exc.message
