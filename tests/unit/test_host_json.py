"""Every snapshot, request, result and error of the host interface round-trips through JSON
losslessly (``T.from_json(json.loads(json.dumps(x.to_json()))) == x``): the fleet issue
carries them over SSH as JSON lines. Strategies are built from each type's own fields, so a
field added later is covered without touching this file."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsconsole.core import host
from opsconsole.core.errors import ConfirmationRequired, OpsError, ProcessChanged, ReadOnlyError
from opsconsole.core.gunicorn import MasterNotFound
from opsconsole.core.supervisor import NoSuchProcess, Unreachable

#: Every dataclass the host module defines (the wire types).
WIRE_TYPES = sorted(
    (
        obj
        for obj in vars(host).values()
        if isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and obj.__module__.startswith(host.__name__ + ".")
    ),
    key=lambda t: t.__name__,
)

# Floats as JSON carries them: NaN is never equal to itself and Infinity is not JSON.
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=12)  # any code point, lone surrogates and control bytes included
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | FLOATS | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def strategy(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy for any value of type ``tp`` as the host module's hints spell it
    (recursive types, such as a topology tree, stop growing a few levels down)."""
    if tp is Any:
        return JSON_VALUES
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, __import__("types").UnionType):
        return st.one_of(*(strategy(a, depth) for a in args))
    if origin in (tuple, list):
        if depth > 3:
            return st.just(()) if origin is tuple else st.just([])
        items = st.lists(strategy(args[0], depth), max_size=3)
        return items.map(tuple) if origin is tuple else items
    if origin is dict:
        return st.dictionaries(TEXT, strategy(args[1], depth), max_size=3)
    if tp is type(None):
        return st.none()
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers()
    if tp is float:
        return FLOATS
    if tp is str:
        return TEXT
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = {f.name: strategy(hints[f.name], depth + 1) for f in dataclasses.fields(tp)}
        return st.builds(tp, **fields)
    raise AssertionError(f"no strategy for {tp}")


def through_json(value: Any) -> Any:
    text = json.dumps(value.to_json(), allow_nan=False)
    return type(value).from_json(json.loads(text))


@pytest.mark.parametrize("tp", WIRE_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_wire_type_round_trips(tp: type, data: st.DataObject) -> None:
    value = data.draw(strategy(tp))
    assert through_json(value) == value


def test_the_wire_types_are_the_ones_the_protocol_names() -> None:
    """Each return type of the Host protocol (and its request) is among the tested types."""
    methods = [m for n, m in vars(host.Host).items() if callable(m) and not n.startswith("_")]
    hints = [typing.get_type_hints(m) for m in methods]
    named = {h["return"] for h in hints if "return" in h} | {host.OperationRequest}
    named.discard(type(None))
    assert named <= set(WIRE_TYPES)
    assert len(WIRE_TYPES) >= 25


@pytest.mark.parametrize(
    "exc",
    [
        Unreachable("supervisord socket /x does not exist", "is supervisord running?"),
        ReadOnlyError("read-only mode: stop web refused", "restart without --read-only"),
        ConfirmationRequired("stop web needs confirmation", "confirm with y (CLI: --yes)"),
        ProcessChanged("pid 12 now belongs to another process", "refresh"),
        MasterNotFound("no gunicorn master matches 'x'", "masters found: web"),
        NoSuchProcess(10, "BAD_NAME: nope", "no such program: nope", "check the name"),
        OpsError("something else"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_come_back_as_the_same_typed_error(exc: OpsError) -> None:
    error = through_json(host.HostError.of(exc))
    again = error.exception()
    assert type(again) is type(exc)
    assert (again.message, again.hint) == (exc.message, exc.hint)
    if isinstance(exc, NoSuchProcess):
        assert again.code == 10  # type: ignore[attr-defined]


def test_a_result_raises_its_error_and_a_done_result_does_not() -> None:
    refused = host.OperationResult(
        "h",
        "supervisor.stop",
        "web",
        host.REFUSED,
        "refused",
        1.0,
        error=host.HostError.of(ReadOnlyError("read-only mode: stop web refused")),
    )
    with pytest.raises(ReadOnlyError, match="stop web refused"):
        through_json(refused).raise_error()
    through_json(dataclasses.replace(refused, outcome=host.DONE)).raise_error()


def test_a_shape_that_does_not_fit_is_an_error_in_words() -> None:
    with pytest.raises(host.HostProtocolError, match=r"ProgramsSnapshot .* expected shape"):
        host.ProgramsSnapshot.from_json({"host": "h", "at": "yesterday"})
    # unknown keys are ignored, missing ones take their defaults (versions may differ)
    snap = host.ProgramsSnapshot.from_json({"host": "h", "at": 1, "new_field": [1]})
    assert snap == host.ProgramsSnapshot("h", 1.0)
