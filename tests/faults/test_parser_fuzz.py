"""Property test for the one parser of outside text without one in tests/unit: an nginx
config of any text (through crossplane, includes and all) gives a model with its problems
listed, a topology and checks — never an exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsconsole.core.nginx import Facts, build_topology, parse_config, run_checks

pytestmark = pytest.mark.integration  # the checks run nginx -V and -v (cached per process)

WORDS = [
    "server",
    "http",
    "events",
    "upstream",
    "location",
    "listen",
    "proxy_pass",
    "alias",
    "root",
    "include",
    "error_log",
    "access_log",
    "stub_status",
    "server_name",
    "return",
    "{",
    "}",
    ";",
    "\n",
    "#",
    "'",
    '"',
    "\\",
    "$host",
    "*.conf",
    "nginx.conf",
    "/",
    "127.0.0.1:8080",
    "[::1]:80",
    "unix:/tmp/x.sock",
    "http://127.0.0.1:1/",
    "http://backend",
    "~ ^/(.*)$",
    "off",
]

text_part = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(WORDS) | text_part, max_size=60))
def test_nginx_config_of_any_text_is_reported_not_raised(parts: list[str]) -> None:
    facts = Facts(listeners=[], unix_listeners={}, proc=lambda pid: None, path_exists=bool)
    with tempfile.TemporaryDirectory() as directory:
        conf = Path(directory) / "nginx.conf"
        conf.write_text(" ".join(parts), encoding="utf-8")
        cfg = parse_config(str(conf), directory)
        assert cfg.files == [] or cfg.files[0] == str(conf)
        topology = build_topology(cfg, master_pid=None, programs=[], facts=facts)
        run_checks(cfg, topology=topology, mode_of=lambda path: None)
        for error in cfg.errors:
            assert error.message  # every problem is said in words
