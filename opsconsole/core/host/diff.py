"""Changes between two JSON values of a snapshot: what the agent pushes instead of a full one.

``diff(old, new)`` is None when they are equal, else a small JSON object that
``apply(old, d)`` turns back into a value equal to ``new`` (``checksum`` of both is the same):

* ``{"=": value}``: replaced whole (a scalar, a list of scalars, a change of type);
* an object: ``{"o": {key: change}, "-": [removed keys]}``: only the changed and added keys
  (an added key's change is ``{"=": value}``);
* a list of objects that each carry a unique key (a program's ``group`` and ``name``, a
  process's ``pid`` and ``create_time``, a ``name``, a ``path``): ``{"k": [fields], "o":
  {key: change}, "-": [removed keys], "order": [keys]}``, so a program whose state changed
  travels as that program's changed fields; ``order`` only when members were added or moved.

Scalars compare by type as well as value (``1``, ``1.0`` and ``true`` differ), so a value
decoded from the applied JSON is the value the agent encoded, field for field.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

JSONValue = Any

#: Fields that name a member of a list of objects, tried in this order.
KEY_FIELDS: tuple[tuple[str, ...], ...] = (
    ("pid", "create_time"),
    ("server", "group", "name"),
    ("group", "name"),
    ("name",),
    ("pid",),
    ("path",),
)


def same(a: JSONValue, b: JSONValue) -> bool:
    """Equal as JSON values, scalars by type as well (``1`` is not ``1.0`` nor ``true``)."""
    if a is b and not isinstance(a, float):  # the same object (NaN is not equal to itself)
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return repr(a) == repr(b)  # 0.0 and -0.0 are written differently
    return bool(a == b)


def _key_fields(old: list[Any], new: list[Any]) -> tuple[str, ...] | None:
    items = old + new
    if not items or not all(isinstance(v, dict) for v in items):
        return None
    for fields in KEY_FIELDS:
        if not all(all(f in v for f in fields) for v in items):
            continue
        if all(len({_key(v, fields) for v in side}) == len(side) for side in (old, new)):
            return fields
    return None


def _key(item: dict[str, Any], fields: tuple[str, ...] | list[str]) -> str:
    return json.dumps([item[f] for f in fields], separators=(",", ":"))


def diff(old: JSONValue, new: JSONValue) -> JSONValue | None:
    """What changed from ``old`` to ``new`` (None: nothing)."""
    if same(old, new):
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        changes = {k: d for k, v in new.items() if (d := diff(old.get(k, _MISSING), v)) is not None}
        out: dict[str, Any] = {}
        if changes:
            out["o"] = changes
        removed = [k for k in old if k not in new]
        if removed:
            out["-"] = removed
        return out
    if isinstance(old, list) and isinstance(new, list):
        fields = _key_fields(old, new)
        if fields is not None:
            return _list_diff(old, new, fields)
    return {"=": new}


class _Missing:
    """A key absent from the old object (compares unequal to every JSON value)."""


_MISSING = _Missing()


def _list_diff(old: list[Any], new: list[Any], fields: tuple[str, ...]) -> JSONValue:
    before = {_key(v, fields): v for v in old}
    after = {_key(v, fields): v for v in new}
    out: dict[str, Any] = {"k": list(fields)}
    changes = {
        k: d for k, v in after.items() if (d := diff(before.get(k, _MISSING), v)) is not None
    }
    if changes:
        out["o"] = changes
    removed = [k for k in before if k not in after]
    if removed:
        out["-"] = removed
    kept = [k for k in before if k in after]
    if list(after) != kept:
        out["order"] = list(after)
    return out


def apply(old: JSONValue, change: JSONValue | None) -> JSONValue:
    """``old`` with ``change`` (from :func:`diff`) applied; ``old`` itself is not modified.
    Raises ValueError when the change does not fit ``old`` (a change of another value)."""
    if change is None:
        return old
    if not isinstance(change, dict):
        raise ValueError(f"a change is an object, not {type(change).__name__}")
    if "=" in change:
        return change["="]
    if "k" in change:
        if not isinstance(old, list):
            raise ValueError("a list change for a value that is not a list")
        fields = [str(f) for f in change["k"]]
        try:
            items = {_key(v, fields): v for v in old}
        except (KeyError, TypeError) as exc:
            raise ValueError(f"a list member lacks its key {fields}") from exc
        for k in change.get("-", ()):
            if items.pop(k, _MISSING) is _MISSING:
                raise ValueError(f"no member {k} to remove")
        for k, sub in change.get("o", {}).items():
            items[k] = apply(items.get(k), sub)
        order = change.get("order")
        if order is None:
            return list(items.values())
        try:
            return [items[k] for k in order]
        except KeyError as exc:
            raise ValueError(f"the order names a member {exc} that is not there") from None
    if not isinstance(old, dict):
        raise ValueError("an object change for a value that is not an object")
    out = dict(old)
    for k in change.get("-", ()):
        if out.pop(k, _MISSING) is _MISSING:
            raise ValueError(f"no key {k!r} to remove")
    for k, sub in change.get("o", {}).items():
        out[k] = apply(out.get(k), sub)
    return out


def checksum(value: JSONValue) -> int:
    """A CRC of the value's canonical JSON: the same for equal values on both sides."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def top_scalars(change: Any) -> bool:
    """Whether a change only sets plain values (not objects or lists) at the top."""
    if not isinstance(change, dict) or set(change) != {"o"} or not isinstance(change["o"], dict):
        return False
    return all(
        isinstance(sub, dict)
        and set(sub) == {"="}
        and (sub["="] is None or isinstance(sub["="], str | int | float | bool))
        for sub in change["o"].values()
    )
