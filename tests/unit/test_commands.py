from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsconsole.core.commands import COMMANDS, CommandError, complete, parse, parse_scale


def test_parses_the_incident_commands() -> None:
    assert parse(":scale web 4").args == ("web", "4")
    assert parse("restart api").name == "restart"
    assert parse(":nginx reload").args == ("reload",)
    assert parse(":logs web api").args == ("web", "api")
    assert parse(":q").name == "q"
    assert parse(':filter "queue 0"').args == ("queue 0",)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (":", "empty command"),
        (":restat web", "unknown command :restat"),
        (":scale web", "usage: :scale PROGRAM N|+N|-N"),
        (":scale web 0", "at least 1 worker"),
        (":scale web many", "not a worker count"),
        (":nginx restart", "usage: :nginx"),
        (":view nope", "no view"),
        (':filter "open', "cannot parse"),
    ],
)
def test_bad_commands_say_why(line: str, words: str) -> None:
    with pytest.raises(CommandError) as info:
        parse(line)
    assert words in info.value.message


def test_unknown_command_suggests_close_ones() -> None:
    with pytest.raises(CommandError) as info:
        parse(":res web")
    assert ":restart" in info.value.hint


def test_scale_forms() -> None:
    assert parse_scale("4") == ("set", 4)
    assert parse_scale("+2") == ("add", 2)
    assert parse_scale("-1") == ("add", -1)


def test_completion() -> None:
    programs = ["web", "api", "queue:queue_00", "queue:queue_01"]
    assert complete(":res", programs, []) == ":restart"
    assert complete(":restart w", programs, []) == ":restart web"
    assert complete(":restart qu", programs, []) == ":restart queue:*"
    assert complete(":theme opsconsole-m", [], ["opsconsole-mono", "opsconsole-dark"]) == (
        ":theme opsconsole-mono"
    )
    assert complete(":nginx re", [], []) == ":nginx reload"
    assert complete(":zzz", programs, []) is None


@given(st.text(max_size=80))
def test_parse_never_fails_unexpectedly(line: str) -> None:
    try:
        cmd = parse(line)
    except CommandError as exc:
        assert exc.message
    else:
        assert cmd.name in COMMANDS
