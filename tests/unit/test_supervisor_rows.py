"""The getAllProcessInfo answer straight to ProcessInfo rows (``decode_process_infos``) gives
exactly what the generic path gives (``xmlrpc.client.loads`` then ``ProcessInfo.from_rpc``),
or steps aside (None) for anything that is not supervisord's usual answer.

Bodies come from supervisor's own marshaller (what supervisord sends): real-looking program
lists, fuzzed text in every string (markup, entities, non-ASCII, controls, empty), fuzzed ints,
faults, other layouts, and fuzzed bytes.
"""

from __future__ import annotations

import xmlrpc.client
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsconsole.core.supervisor import ProcessInfo
from opsconsole.core.supervisor.fastdecode import decode_process_infos
from tests.unit.test_supervisor_fastdecode import body_of, program

STRINGS = ("name", "group", "statename", "spawnerr", "logfile")
STRINGS += ("stdout_logfile", "stderr_logfile", "description")
INTS = ("start", "stop", "now", "state", "exitstatus", "pid")


def generic(body: bytes, server: str = "s") -> list[ProcessInfo]:
    (raw,), _ = xmlrpc.client.loads(body, use_builtin_types=True)
    return [ProcessInfo.from_rpc(d, server) for d in raw]


def agree(body: bytes) -> list[ProcessInfo] | None:
    fast = decode_process_infos(body, "s")
    try:
        expected = generic(body)
    except Exception:  # the generic path rejects it (a fault, bad XML, a bad field)
        assert fast is None, "the row decoder accepted a body the generic path rejects"
        return None
    assert fast is None or fast == expected
    return fast


def test_300_real_shaped_programs_decode_to_the_same_rows() -> None:
    programs = [program(i) for i in range(300)]
    programs[7].update(state=200, statename="FATAL", pid=0, spawnerr="can't find command 'x'")
    programs[8].update(description="Exited too quickly (process log may have details)")
    programs[9].update(stdout_logfile="", logfile="/var/log/old-style.log")  # from_rpc's fallback
    programs[10].update(state=5, statename="ODD")  # a state code we do not know: UNKNOWN
    body = body_of(programs)
    fast = agree(body)
    assert fast is not None, "supervisord's usual answer must take the row decoder"
    assert len(fast) == 300 and fast[9].stdout_logfile == "/var/log/old-style.log"
    assert fast[10].state.name == "UNKNOWN" and fast[0].server == "s"


def test_escaped_unicode_and_empty_text_round_trips() -> None:
    tricky = "a&b <c> \"d\" 'e' é 雪 \t tab\nnewline \x7f \u2028 &amp; &lt; [bold]x[/]"
    body = body_of([program(1, description=tricky, spawnerr="<&>", group=""), program(2)])
    assert b"&amp;" in body and b"&lt;" in body
    fast = agree(body)
    assert fast is not None
    assert fast[0].description == tricky and fast[0].spawnerr == "<&>" and fast[0].group == ""


def test_empty_list_gives_no_rows() -> None:
    assert agree(body_of([])) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\xff binary junk \x89PNG",
        body_of(xmlrpc.client.Fault(10, "BAD_NAME: web")),  # a fault: the generic path says so
        body_of([program(1, description="a\rb")]),  # XML parsers rewrite a carriage return
        body_of([program(1, description="bell \x07")]),  # expat rejects it
        body_of([program(1, description="binary \x00\x1b[31m junk")]),
        body_of([program(1)]).replace(b"prog1", b"prog\xff1"),  # not UTF-8
        body_of([program(1)])[:-40],  # cut short
        body_of([program(1)]).replace(b"<member>\n", b"<member>\n  "),  # another layout
        body_of([{k: v for k, v in program(1).items() if k != "logfile"}]),  # supervisor 3.0
        body_of([dict(program(1), extra=1)]),  # one member more
        body_of([program(1, pid="12")]),  # a string where an int belongs
        body_of([program(1, pid=True)]),  # a boolean
        body_of([program(1)]).replace(b"<string>prog1</string>", b"<string>&#65;</string>"),
        body_of([program(1)]).replace(b"</struct></value>\n", b"</struct></value>\nx", 1),
    ],
    ids=[
        "empty",
        "junk",
        "fault",
        "cr",
        "bell",
        "nul",
        "not-utf8",
        "cut",
        "indented",
        "no-logfile",
        "extra-member",
        "pid-string",
        "pid-bool",
        "char-ref",
        "text-between",
    ],
)
def test_anything_else_is_left_to_the_generic_path(body: bytes) -> None:
    assert decode_process_infos(body, "s") is None
    agree(body)


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
_int = st.integers(min_value=-(2**31), max_value=2**31 - 1)


@st.composite
def programs(draw: st.DrawFn) -> dict[str, Any]:
    info = program(draw(st.integers(min_value=0, max_value=999)))
    for key in draw(st.sets(st.sampled_from(STRINGS + INTS))):
        info[key] = draw(_text if key in STRINGS else _int)
    return info


@settings(max_examples=150, deadline=None)
@given(st.lists(programs(), max_size=5))
def test_fuzzed_program_lists_agree(structs: list[dict[str, Any]]) -> None:
    body = body_of(structs)
    fast = agree(body)
    text = body.decode()
    if "\r" not in text and all(
        (c >= " " or c in "\t\n") and c not in "\ufffe\uffff" for c in text
    ):
        assert fast is not None, "a plain answer of the usual shape must take the row decoder"


@settings(max_examples=150, deadline=None)
@given(st.lists(programs(), min_size=1, max_size=3), st.data())
def test_fuzzed_bytes_agree(structs: list[dict[str, Any]], data: st.DataObject) -> None:
    body = bytearray(body_of(structs))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
        body[at] = data.draw(st.integers(min_value=0, max_value=255))
    agree(bytes(body))
