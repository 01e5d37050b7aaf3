"""The JSON codec of the wire types: ``to_json`` / ``from_json`` by type hints, lossless.

A type declared in another module of this package must import at run time every type
its fields name (``typing.get_type_hints`` resolves them in its module).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from opsconsole.core.errors import OpsError

#: A JSON value, as ``json.loads`` returns it.
JSONValue = Any

T = TypeVar("T", bound="Snapshot")


class Snapshot:
    """Mixin for the dataclasses of this module: ``to_json`` / ``from_json`` by type hints."""

    def to_json(self) -> dict[str, JSONValue]:
        """The value as a dict of JSON values (``json.dumps`` accepts it)."""
        out = _encode(self)
        assert isinstance(out, dict)
        return out

    @classmethod
    def from_json(cls: type[T], data: Mapping[str, JSONValue]) -> T:
        """The value ``to_json`` wrote. Raises HostProtocolError when ``data`` does not fit."""
        try:
            value = _decode(cls, data)
        except (TypeError, ValueError, KeyError) as exc:
            raise HostProtocolError(
                f"a {cls.__name__} from the host does not have the expected shape: {exc}",
                "are both sides the same opsconsole version?",
            ) from None
        assert isinstance(value, cls)
        return value


class HostProtocolError(OpsError):
    """A snapshot, request or result read from JSON does not have the expected shape."""


def _encode(value: Any) -> JSONValue:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{type(value).__name__} is not a snapshot value")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _decode(tp: Any, data: JSONValue) -> Any:
    return _decoder(tp)(data)


#: type -> the function that decodes a JSON value into it, made once per type: a pushed
#: snapshot of 32 gunicorn workers every few seconds from every host of a fleet is decoded
#: without asking ``typing`` about each field of each value again
_DECODERS: dict[Any, Callable[[JSONValue], Any]] = {}


def _decoder(tp: Any) -> Callable[[JSONValue], Any]:
    fn = _DECODERS.get(tp)
    if fn is None:
        fn = _DECODERS[tp] = _make_decoder(tp)
    return fn


def _make_decoder(tp: Any) -> Callable[[JSONValue], Any]:
    if tp is Any:
        return lambda data: data
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        optional = type(None) in options
        each = [_decoder(o) for o in options if o is not type(None)]

        def union(data: JSONValue) -> Any:
            if data is None and optional:
                return None
            last: Exception | None = None
            for decode in each:
                try:
                    return decode(data)
                except (TypeError, ValueError, KeyError) as exc:
                    last = exc
            raise last or TypeError(f"{data!r} fits none of {tp}")

        return union
    if origin in (tuple, list):
        item = _decoder(typing.get_args(tp)[0])
        kind = tuple if origin is tuple else list

        def sequence(data: JSONValue) -> Any:
            if not isinstance(data, list):
                raise TypeError(f"expected a list, got {type(data).__name__}")
            return kind(item(v) for v in data)

        return sequence
    if origin is dict:
        value = _decoder(typing.get_args(tp)[1])

        def mapping(data: JSONValue) -> Any:
            if not isinstance(data, dict):
                raise TypeError(f"expected an object, got {type(data).__name__}")
            return {str(k): value(v) for k, v in data.items()}

        return mapping
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        cls: Any = tp
        plan: list[tuple[str, Callable[[JSONValue], Any]]] | None = None

        def record(data: JSONValue) -> Any:
            nonlocal plan
            if not isinstance(data, Mapping):
                raise TypeError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
            if plan is None:  # made at the first value: a type may name itself
                hints = _hints(cls)
                plan = [
                    (f.name, _decoder(hints[f.name])) for f in dataclasses.fields(cls) if f.init
                ]
            return cls(**{name: decode(data[name]) for name, decode in plan if name in data})

        return record
    return _SCALARS.get(tp) or _cannot(tp)


def _float(data: JSONValue) -> float:
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise TypeError(f"expected a number, got {data!r}")
    return float(data)


def _bool(data: JSONValue) -> bool:
    if not isinstance(data, bool):
        raise TypeError(f"expected true or false, got {data!r}")
    return data


def _int(data: JSONValue) -> int:
    if isinstance(data, bool) or not isinstance(data, int):
        raise TypeError(f"expected an integer, got {data!r}")
    return data


def _str(data: JSONValue) -> str:
    if not isinstance(data, str):
        raise TypeError(f"expected a string, got {data!r}")
    return data


_SCALARS: dict[Any, Callable[[JSONValue], Any]] = {float: _float, bool: _bool, int: _int, str: _str}


def _cannot(tp: Any) -> Callable[[JSONValue], Any]:
    def fail(data: JSONValue) -> Any:
        raise TypeError(f"cannot decode {tp}")

    return fail
