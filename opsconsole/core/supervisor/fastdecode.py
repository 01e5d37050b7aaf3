"""A specialised decoder for ``getAllProcessInfo`` answers (pure, no I/O).

supervisord writes its answers with the stdlib marshaller, so the answer to
``getAllProcessInfo`` always has one shape: an array of structs whose members are ints and
strings, one element per line. The generic decoder (expat plus ``xmlrpc.client``'s
unmarshaller, a Python callback per tag) was most of a refresh's client CPU at 300 programs;
this one checks the whole body against that shape with one regular expression and then
reads the members with another.

Anything else (a fault, another layout, another type, a character reference, a carriage
return, ``]]>``, text that is not UTF-8 or not an XML character) is *not* decoded here:
:func:`decode_process_list` returns None and the caller uses the generic decoder, which
either decodes it or says why it cannot. Both decoders give the same value for every body
this one accepts (tests compare them on real and fuzzed answers).
"""

from __future__ import annotations

import re
from typing import Any

_HEAD = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n"
_TAIL = "</data></array></value>\n</param>\n</params>\n</methodResponse>\n"

# Text of a name or a string: XML characters but ``<``, ``&``, CR and the C0 controls
# (expat would reject or rewrite those), with the five predefined entities allowed.
_CHARS = r"[^<&\x00-\x08\x0b-\x1f\ufffe\uffff]*"
_TEXT = rf"{_CHARS}(?:&(?:amp|lt|gt|quot|apos);{_CHARS})*"
_INT = r"[-+]?[0-9]+"
_MEMBER = (
    rf"<member>\n<name>{_TEXT}</name>\n<value>"
    rf"(?:<int>{_INT}</int>|<i4>{_INT}</i4>|<string>{_TEXT}</string>)</value>\n</member>\n"
)
_STRUCTS = re.compile(rf"(?:<value><struct>\n(?:{_MEMBER})*</struct></value>\n)*")
_READ_MEMBER = re.compile(
    rf"<member>\n<name>({_TEXT})</name>\n<value>"
    rf"(?:<int>({_INT})</int>|<i4>({_INT})</i4>|<string>({_TEXT})</string>)</value>\n"
)
_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_STRUCT_END = "</struct></value>\n"


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def decode_process_list(body: bytes) -> list[dict[str, Any]] | None:
    """The list of structs in a ``getAllProcessInfo`` answer, or None when ``body`` is not
    exactly the shape this decoder knows (the caller then decodes it the generic way)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not (text.startswith(_HEAD) and text.endswith(_TAIL)):
        return None
    middle = text[len(_HEAD) : len(text) - len(_TAIL)]
    if "\r" in middle or "]]>" in middle or _STRUCTS.fullmatch(middle) is None:
        return None
    out: list[dict[str, Any]] = []
    for chunk in middle.split(_STRUCT_END)[:-1]:
        struct: dict[str, Any] = {}
        for name, as_int, as_i4, as_string in _READ_MEMBER.findall(chunk):
            key = _unescape(name)
            if as_int:
                struct[key] = int(as_int)
            elif as_i4:
                struct[key] = int(as_i4)
            else:
                struct[key] = _unescape(as_string)
        out.append(struct)
    return out
