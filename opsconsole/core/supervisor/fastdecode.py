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
from itertools import chain
from typing import Any

from opsconsole.core.supervisor.model import ProcessInfo, ProcessState

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


def _middle(body: bytes) -> str | None:
    """The structs of a ``getAllProcessInfo`` answer (between its fixed head and tail), or
    None when the answer is not that shape (not UTF-8, another envelope, a CR or CDATA end)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not (text.startswith(_HEAD) and text.endswith(_TAIL)):
        return None
    middle = text[len(_HEAD) : len(text) - len(_TAIL)]
    return None if "\r" in middle or "]]>" in middle else middle


def decode_process_list(body: bytes) -> list[dict[str, Any]] | None:
    """The list of structs in a ``getAllProcessInfo`` answer, or None when ``body`` is not
    exactly the shape this decoder knows (the caller then decodes it the generic way)."""
    middle = _middle(body)
    if middle is None or _STRUCTS.fullmatch(middle) is None:
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


# ----------------------------------------------------------------- getAllProcessInfo rows

#: The members of a ``getProcessInfo`` struct as supervisord 3 and 4 send them (in
#: ``rpcinterface.getProcessInfo``'s order), with their XML-RPC types.
_SUPERVISOR_FIELDS = (
    ("name", "string"),
    ("group", "string"),
    ("start", "int"),
    ("stop", "int"),
    ("now", "int"),
    ("state", "int"),
    ("statename", "string"),
    ("spawnerr", "string"),
    ("exitstatus", "int"),
    ("logfile", "string"),
    ("stdout_logfile", "string"),
    ("stderr_logfile", "string"),
    ("pid", "int"),
    ("description", "string"),
)


def _row_pattern() -> tuple[re.Pattern[str], int]:
    """One struct of exactly that shape (a group per value), and the length of its markup."""
    parts = ["<value><struct>\n"]
    regex = [re.escape(parts[0])]
    for name, kind in _SUPERVISOR_FIELDS:
        before = f"<member>\n<name>{name}</name>\n<value><{kind}>"
        after = f"</{kind}></value>\n</member>\n"
        parts += [before, after]
        value = _INT if kind == "int" else _TEXT
        regex += [re.escape(before), f"({value})", re.escape(after)]
    parts.append(_STRUCT_END)
    regex.append(re.escape(_STRUCT_END))
    return re.compile("".join(regex)), sum(len(p) for p in parts)


_ROW, _ROW_MARKUP = _row_pattern()
_STATES = {int(s): s for s in ProcessState}


def decode_process_infos(body: bytes, server: str) -> list[ProcessInfo] | None:
    """A ``getAllProcessInfo`` answer straight to :class:`ProcessInfo` objects (what
    ``ProcessInfo.from_rpc`` makes of the generic decoder's dicts, field for field), or None
    when ``body`` is not exactly supervisord's usual answer: every struct with its 14 members
    in supervisord's order and types. The caller then uses :func:`decode_process_list`, or
    the generic decoder.

    One regular expression reads every struct; the structs must tile the answer (the
    lengths of what they matched add up to all of it), so nothing between them is skipped."""
    middle = _middle(body)
    if middle is None:
        return None
    rows: list[tuple[str, ...]] = _ROW.findall(middle)
    if len(rows) * _ROW_MARKUP + sum(map(len, chain.from_iterable(rows))) != len(middle):
        return None  # something else between or inside the structs: not this shape
    escaped = "&" in middle
    out: list[ProcessInfo] = []
    append = out.append
    states = _STATES
    unknown = ProcessState.UNKNOWN
    for row in rows:
        if escaped:
            row = tuple(_unescape(v) for v in row)
        (name, group, start, stop, now, state, statename, spawnerr, exitstatus, logfile,
         stdout_logfile, stderr_logfile, pid, description) = row  # fmt: skip
        append(
            ProcessInfo(
                name,
                group,
                states.get(int(state), unknown),
                statename,
                int(pid),
                description,
                int(start),
                int(stop),
                int(now),
                spawnerr,
                int(exitstatus),
                stdout_logfile or logfile,
                stderr_logfile,
                server,
            )
        )
    return out
