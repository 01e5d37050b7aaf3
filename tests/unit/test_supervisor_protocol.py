"""Pure XML-RPC decoding: typed errors with operator words; hostile bodies stay bounded."""

from __future__ import annotations

import xmlrpc.client

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsconsole.core.supervisor import (
    AlreadyStarted,
    NoSuchProcess,
    NotRunning,
    ProcessInfo,
    ProcessState,
    ProtocolError,
    RPCFault,
    SpawnError,
    SupervisorError,
    decode_response,
    fault_to_error,
    parse_spec,
    state_counts,
)


def fault_body(code: int, text: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, text), methodresponse=True).encode()


@pytest.mark.parametrize(
    ("code", "text", "cls", "words"),
    [
        (10, "BAD_NAME: nope", NoSuchProcess, "no such program: nope"),
        (60, "ALREADY_STARTED: web", AlreadyStarted, "web is already running"),
        (70, "NOT_RUNNING: idle", NotRunning, "idle is not running"),
        (50, "SPAWN_ERROR: broken", SpawnError, "broken could not be spawned"),
    ],
)
def test_faults_become_typed_errors(code: int, text: str, cls: type, words: str) -> None:
    with pytest.raises(cls) as info:
        decode_response(fault_body(code, text), "supervisor.startProcess")
    assert words in info.value.message


def test_success_value_decoded() -> None:
    body = xmlrpc.client.dumps(([{"name": "web"}],), methodresponse=True).encode()
    assert decode_response(body) == [{"name": "web"}]


def test_garbage_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="not valid XML-RPC"):
        decode_response(b"<html>502 Bad Gateway</html>", "supervisor.getState")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_value_or_a_supervisor_error(body: bytes) -> None:
    try:
        decode_response(body)
    except SupervisorError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**31), max_value=2**31 - 1), st.text(max_size=200))
def test_any_fault_maps_to_an_rpcfault_with_words(code: int, text: str) -> None:
    err = fault_to_error(code, text, "supervisor.x")
    assert isinstance(err, RPCFault)
    assert err.message


def test_processinfo_tolerates_missing_fields() -> None:
    p = ProcessInfo.from_rpc({"name": "x", "state": "garbage"})
    assert p.state == ProcessState.UNKNOWN and p.pid == 0 and p.fullname == "x"


def test_group_fullname_and_counts() -> None:
    a = ProcessInfo.from_rpc({"name": "q_00", "group": "q", "statename": "RUNNING", "state": 20})
    b = ProcessInfo.from_rpc({"name": "f", "group": "f", "statename": "FATAL", "state": 200})
    assert a.fullname == "q:q_00"
    assert list(state_counts([a, b, a]).items()) == [("FATAL", 1), ("RUNNING", 2)]


def test_parse_spec() -> None:
    assert parse_spec("all") == ("all", "")
    assert parse_spec("queue:*") == ("group", "queue")
    assert parse_spec("queue:queue_00") == ("process", "queue:queue_00")
