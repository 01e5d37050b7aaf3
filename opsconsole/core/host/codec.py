"""The JSON codec of the wire types: ``to_json`` / ``from_json`` by type hints, lossless.

A type declared in another module of this package must import at run time every type
its fields name (``typing.get_type_hints`` resolves them in its module).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
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
    if tp is Any:
        return data
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if data is None and type(None) in options:
            return None
        last: Exception | None = None
        for option in options:
            if option is type(None):
                continue
            try:
                return _decode(option, data)
            except (TypeError, ValueError, KeyError) as exc:
                last = exc
        raise last or TypeError(f"{data!r} fits none of {tp}")
    if origin is tuple:
        if not isinstance(data, list):
            raise TypeError(f"expected a list, got {type(data).__name__}")
        (item, *_) = typing.get_args(tp)
        return tuple(_decode(item, v) for v in data)
    if origin is list:
        if not isinstance(data, list):
            raise TypeError(f"expected a list, got {type(data).__name__}")
        (item,) = typing.get_args(tp)
        return [_decode(item, v) for v in data]
    if origin is dict:
        if not isinstance(data, dict):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        _, item = typing.get_args(tp)
        return {str(k): _decode(item, v) for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object for {tp.__name__}, got {type(data).__name__}")
        hints = _hints(tp)
        kwargs = {
            f.name: _decode(hints[f.name], data[f.name])
            for f in dataclasses.fields(tp)
            if f.init and f.name in data
        }
        return tp(**kwargs)
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise TypeError(f"expected a number, got {data!r}")
        return float(data)
    if tp is bool:
        if not isinstance(data, bool):
            raise TypeError(f"expected true or false, got {data!r}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise TypeError(f"expected an integer, got {data!r}")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise TypeError(f"expected a string, got {data!r}")
        return data
    raise TypeError(f"cannot decode {tp}")
