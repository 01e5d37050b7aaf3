"""The specialised getAllProcessInfo decoder agrees with the generic one, or steps aside.

Bodies are made by supervisor's own marshaller (``supervisor.xmlrpc.xmlrpc_marshal``, what
supervisord sends), from real-looking program lists and from fuzzed ones (any text: markup
characters, non-ASCII, control characters, carriage returns, ``]]>``), and from fuzzed bytes
(not UTF-8, cut short). Whatever the body, the fast decoder either returns exactly what the
generic decoder returns, or None (the caller then uses the generic one).
"""

from __future__ import annotations

import xmlrpc.client
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from supervisor.xmlrpc import xmlrpc_marshal

from opsconsole.core.supervisor import ProtocolError, decode_response
from opsconsole.core.supervisor.fastdecode import decode_process_list


def program(i: int, **extra: Any) -> dict[str, Any]:
    """A ``getProcessInfo`` struct as supervisord 4 builds it (rpcinterface.getProcessInfo)."""
    info: dict[str, Any] = {
        "name": f"prog{i}",
        "group": f"grp{i % 3}",
        "start": 1795954540 + i,
        "stop": 0,
        "now": 1795954589,
        "state": 20,
        "statename": "RUNNING",
        "spawnerr": "",
        "exitstatus": 0,
        "logfile": f"/var/log/prog{i}.out.log",
        "stdout_logfile": f"/var/log/prog{i}.out.log",
        "stderr_logfile": f"/var/log/prog{i}.err.log",
        "pid": 1000 + i,
        "description": f"pid {1000 + i}, uptime 0:00:{i % 60:02d}",
    }
    info.update(extra)
    return info


def body_of(value: Any) -> bytes:
    return str(xmlrpc_marshal(value)).encode("utf-8")


def generic(body: bytes) -> Any:
    return decode_response(body, "supervisor.getAllProcessInfo")


def test_real_shaped_answer_of_300_programs_decodes_the_same() -> None:
    programs = [program(i) for i in range(300)]
    programs[7].update(state=200, statename="FATAL", pid=0, spawnerr="can't find command 'x'")
    programs[8].update(description="Exited too quickly (process log may have details)")
    body = body_of(programs)
    fast = decode_process_list(body)
    assert fast is not None, "the usual shape must take the fast path"
    assert fast == generic(body) == programs


def test_markup_and_non_ascii_text_round_trips() -> None:
    tricky = "a&b <c> \"d\" 'e' é 雪 \t tab\nnewline \x7f \u2028 & &amp; [bold]x[/]"
    body = body_of([program(1, description=tricky, spawnerr="<&>")])
    fast = decode_process_list(body)
    assert fast is not None
    assert fast == generic(body)
    assert fast[0]["description"] == tricky


def test_empty_list_decodes_to_empty_list() -> None:
    body = body_of([])
    assert decode_process_list(body) == [] == generic(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        # a fault is not a list of programs: the generic decoder raises the right error
        body_of(xmlrpc.client.Fault(10, "BAD_NAME: web")),
        # a carriage return is rewritten by XML parsers: left to the generic decoder
        body_of([program(1, description="a\rb")]),
        # a raw "]]>" in text makes XML not well-formed: the generic decoder says so
        body_of([program(1, description="x]]>y")]).replace(b"]]&gt;", b"]]>"),
        # another type than int and string (a boolean, a double)
        body_of([program(1, extra=True)]),
        body_of([program(1, extra=1.5)]),
        # a character reference
        body_of([program(1)]).replace(b"<string>prog1</string>", b"<string>&#65;</string>"),
        # not UTF-8
        body_of([program(1)]).replace(b"prog1", b"prog\xff1"),
        # cut short
        body_of([program(1)])[:-40],
        # indented (another writer's layout)
        body_of([program(1)]).replace(b"<member>\n", b"<member>\n  "),
    ],
)
def test_unusual_bodies_are_left_to_the_generic_decoder(body: bytes) -> None:
    assert decode_process_list(body) is None


def test_carriage_return_is_normalised_by_the_generic_decoder_it_is_left_to() -> None:
    body = body_of([program(1, description="a\r\nb")])
    assert decode_process_list(body) is None
    assert generic(body)[0]["description"] == "a\nb"


@pytest.mark.parametrize("text", ["nul \x00 byte", "bell \x07", "nonchar \ufffe"])
def test_text_expat_rejects_is_rejected_by_both(text: str) -> None:
    body = body_of([program(1, description=text)])
    assert decode_process_list(body) is None
    with pytest.raises(ProtocolError):
        generic(body)


def test_a_raw_cdata_end_is_rejected_by_both() -> None:
    body = body_of([program(1, description="x]]>y")]).replace(b"]]&gt;", b"]]>")
    assert decode_process_list(body) is None
    with pytest.raises(ProtocolError):
        generic(body)


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),  # no lone surrogates (not encodable)
    max_size=40,
)
_struct = st.dictionaries(
    keys=_text,
    values=st.one_of(st.integers(min_value=-(2**31), max_value=2**31 - 1), _text),
    max_size=6,
)


def agree(body: bytes) -> None:
    fast = decode_process_list(body)
    try:
        expected: Any = generic(body)
    except ProtocolError:
        assert fast is None, "the fast decoder accepted a body the generic one rejects"
        return
    assert fast is None or fast == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(_struct, max_size=5))
def test_fuzzed_program_lists_agree(structs: list[dict[str, Any]]) -> None:
    agree(body_of(structs))


@settings(max_examples=300, deadline=None)
@given(st.lists(_struct, min_size=1, max_size=3), st.data())
def test_fuzzed_bytes_agree(structs: list[dict[str, Any]], data: st.DataObject) -> None:
    body = bytearray(body_of(structs))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
        body[at] = data.draw(st.integers(min_value=0, max_value=255))
    agree(bytes(body))


def test_plain_ascii_structs_take_the_fast_path() -> None:
    body = body_of([{"name": "web", "pid": 12, "description": "pid 12, uptime 1:02:03"}])
    assert decode_process_list(body) == [
        {"name": "web", "pid": 12, "description": "pid 12, uptime 1:02:03"}
    ]
