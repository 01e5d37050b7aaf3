"""What a programs subscription sends at idle: nothing but the snapshot's clock.

Supervisord's answer moves every second even when nothing happens: each program's ``now``
(its clock) and a running program's ``description`` (``pid 123, uptime 0:04:12``, the pid
and the uptime again). Diffed as they are, 300 programs make 300 changes a second, and the
console rebuilds 300 programs a second for nothing it shows. :class:`SteadyPrograms` keeps a
program as it was last sent (the very JSON object) while only those moved
(:func:`shown_same`): a state, pid, start, exit status or log file that changes is sent at
once; an uptime that only grew is never sent. A program's ``now`` is then the clock of its
last change, and the console shows its uptime at the host's clock (the snapshot's ``at``,
see :meth:`~opsconsole.core.host.Program.uptime_at`): 300 programs started together cost
nothing at each minute's turn. A running program's description is sent empty. A
supervisord's latency (shown by ``i`` only, in milliseconds) that moved by more than
:data:`LATENCY_STEP` and by half is sent with the next change of its programs, else at most
every :data:`LATENCY_EVERY` seconds: on a loaded machine it moves by tenfold from one read
to the next, and was a push every few seconds from every host.

:class:`Canon` is the CRC of :func:`opsconsole.core.host.diff.checksum` worked out from the
parts that changed only (the JSON text of every object kept as it was is remembered by
identity), so proving a rebuilt snapshot equal to the agent's costs what changed, not 300
programs a second.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import fields, replace
from operator import attrgetter
from typing import Any

from opsconsole.core.host.supervisor import Program, ProgramsSnapshot, Supervisord

#: the fields of a program that show something (not its clock; a running program's
#: description repeats its pid and uptime)
_SHOWN = attrgetter(*(f.name for f in fields(Program) if f.name not in ("now", "description")))


#: a supervisord's latency is sent again when it moved by more than this (seconds) and by
#: more than half: a supervisord answering in 1 to 3 ms is not a change every 5 seconds
LATENCY_STEP = 0.010
#: ... and then with the next change of its programs, or this long (seconds of the
#: snapshot's clock) after the latency last sent, whichever comes first
LATENCY_EVERY = 30.0


def shown_same(old: Program, new: Program) -> bool:
    """True when ``new`` shows nothing that ``old`` does not but, perhaps, its uptime (only
    the clock and a running program's description moved)."""
    if old is new:
        return True
    if _SHOWN(old) != _SHOWN(new):
        return False
    return new.state == "RUNNING" or old.description == new.description


def latency_moved(sent: float, now: float) -> bool:
    """Whether a supervisord's latency ``now`` is worth sending over the one ``sent``."""
    change = abs(now - sent)
    return change > LATENCY_STEP and change > sent / 2


class SteadyPrograms:
    """The JSON of each ProgramsSnapshot of one subscription, with every program that only
    moved its clock since it was last sent kept as it was sent (the very JSON object, not
    encoded again); a supervisord whose every program is kept keeps its programs list, and
    its latency as sent while it moved little (:func:`latency_moved`)."""

    def __init__(self) -> None:
        #: supervisord name -> (program key -> (the program sent, its JSON), the list sent)
        self._sent: dict[str, tuple[dict[tuple[str, str], tuple[Program, Any]], list[Any]]] = {}
        #: supervisord name -> (the latency sent, the snapshot's clock then)
        self._latency: dict[str, tuple[float, float]] = {}

    def encode(self, snapshot: ProgramsSnapshot) -> dict[str, Any]:
        sent: dict[str, tuple[dict[tuple[str, str], tuple[Program, Any]], list[Any]]] = {}
        latencies: dict[str, tuple[float, float]] = {}
        servers = []
        for server in snapshot.servers:
            before, old_list = self._sent.get(server.name, ({}, []))
            now: dict[tuple[str, str], tuple[Program, Any]] = {}
            programs = []
            for program in server.programs:
                key = (program.group, program.name)
                was = before.get(key)
                if was is None or not shown_same(was[0], program):
                    encoded = program.to_json()
                    if program.state == "RUNNING":
                        # its description repeats the pid and the uptime: not shown, and
                        # half of what a change would carry
                        encoded["description"] = ""
                    was = (program, encoded)
                now[key] = was
                programs.append(was[1])
            if len(programs) == len(old_list) and all(a is b for a, b in zip(programs, old_list)):
                programs = old_list
            sent[server.name] = (now, programs)
            kept = self._latency.get(server.name)
            if kept is None or (
                latency_moved(kept[0], server.latency)
                and (programs is not old_list or snapshot.at - kept[1] >= LATENCY_EVERY)
            ):
                kept = (server.latency, snapshot.at)
            latencies[server.name] = kept
            encoded = replace(server, programs=(), latency=kept[0]).to_json()
            encoded["programs"] = programs
            servers.append(encoded)
        self._sent, self._latency = sent, latencies
        out = replace(snapshot, servers=()).to_json()
        out["servers"] = servers
        return out


_CANONICAL: dict[str, Any] = {
    "sort_keys": True,
    "separators": (",", ":"),
    "ensure_ascii": False,
}
_STR = frozenset(f.name for f in fields(Program) if f.type in ("str", str))
_INT = frozenset(f.name for f in fields(Program) if f.type in ("int", int))


def program_from_json(data: Any) -> Program:
    """``Program.from_json(data)``, a few times faster for the usual shape (each field of
    its type); anything else is left to ``from_json`` (which says what does not fit)."""
    if type(data) is not dict:
        return Program.from_json(data)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in _STR:
            fits = type(value) is str
        elif key in _INT:
            fits = type(value) is int
        elif key == "startsecs":
            fits = value is None or type(value) is int
        elif key == "exitcodes":
            fits = value is None or (type(value) is list and all(type(c) is int for c in value))
            value = None if value is None else tuple(value)
        else:
            continue  # as from_json: a field this version does not know is left out
        if not fits:
            return Program.from_json(data)
        kwargs[key] = value
    try:
        return Program(**kwargs)
    except TypeError:  # a field missing
        return Program.from_json(data)


def _nested(items: list[Any]) -> bool:
    """A list with objects or lists in it (their text is remembered apart): not a list of
    scalars such as a program's exit codes."""
    return any(type(v) is dict or type(v) is list for v in items)


class Canon:
    """The canonical JSON text (``sort_keys``, compact, not ASCII-escaped: as
    :func:`~opsconsole.core.host.diff.checksum` writes it) of values whose unchanged objects
    and lists are the same Python objects from one value to the next: their text is
    remembered by identity (the remembered objects are kept alive, so an id names one object).

    Each remembered text comes with the objects and lists inside it whose text is remembered
    apart. What is remembered is trimmed to what the last value holds (a walk from its top
    through those) once the texts made since the last trim are as many as half of what is
    remembered: an idle push (a new top, the rest kept) costs its top, not a walk of 300
    programs, and a change deep down later (a server's latency beside its programs) still
    writes out only what changed."""

    def __init__(self) -> None:
        #: id -> (the object, its text, the ids of what inside it is remembered apart)
        self._known: dict[int, tuple[Any, str, tuple[int, ...]]] = {}
        self._made = 0

    def text(self, value: Any) -> str:
        out = self._text(value)
        if self._made > 16 + len(self._known) // 2:
            self._trim(id(value))
        return out

    def checksum(self, value: Any) -> int:
        """The same number as ``diff.checksum(value)``."""
        return zlib.crc32(self.text(value).encode("utf-8", "surrogatepass"))

    def _trim(self, top: int) -> None:
        """Forget every text but those of the value whose top is ``top``."""
        known = self._known
        kept: dict[int, tuple[Any, str, tuple[int, ...]]] = {}
        stack = [top]
        while stack:
            key = stack.pop()
            entry = known.get(key)
            if entry is not None and key not in kept:
                kept[key] = entry
                stack.extend(entry[2])
        self._known, self._made = kept, 0

    def _text(self, value: Any) -> str:
        if type(value) is dict or type(value) is list:
            key = id(value)
            known = self._known.get(key)
            if known is not None and known[0] is value:
                return known[1]
            if type(value) is dict:
                if any(type(v) is dict or (type(v) is list and _nested(v)) for v in value.values()):
                    parts = [
                        json.dumps(k, ensure_ascii=False) + ":" + self._text(value[k])
                        for k in sorted(value)
                    ]
                    text = "{" + ",".join(parts) + "}"
                    inside = tuple(id(v) for v in value.values() if id(v) in self._known)
                else:  # nothing in it to remember apart (a program): the C encoder, at once
                    text, inside = json.dumps(value, **_CANONICAL), ()
            else:
                text = "[" + ",".join(self._text(v) for v in value) + "]"
                inside = tuple(id(v) for v in value if id(v) in self._known)
            self._known[key] = (value, text, inside)
            self._made += 1
            return text
        if isinstance(value, dict | list):  # a subclass: as json writes it, not remembered
            return json.dumps(value, **_CANONICAL)
        return json.dumps(value, ensure_ascii=False)


class ProgramsDecoder:
    """ProgramsSnapshots read from the JSON values of one subscription, each program's JSON
    object decoded once: a programs list (or a program) that is the same object as in the
    last value (what :func:`~opsconsole.core.host.diff.apply` keeps of what did not change)
    gives the same Program objects (the same tuple), so a view can tell by identity what
    moved. Raises HostProtocolError for a value of another shape, as ``from_json`` does."""

    def __init__(self) -> None:
        #: id of a programs list -> (the list, its programs) for the last value's lists
        self._lists: dict[int, tuple[Any, tuple[Program, ...]]] = {}
        #: the last value's supervisords list (the JSON list) and what it decoded to
        self._servers: tuple[Any, tuple[Supervisord, ...]] | None = None
        #: the last snapshot made (not one of an idle push: that is it at another time)
        self._last: ProgramsSnapshot | None = None

    def decode(self, data: Any) -> ProgramsSnapshot:
        if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
            return ProgramsSnapshot.from_json(data)  # raises, in words
        listed_servers = data["servers"]
        if self._servers is not None and self._servers[0] is listed_servers:
            # an idle push: only the snapshot's own fields moved, its supervisords are kept
            last, at = self._last, data.get("at")
            if (
                last is not None
                and type(at) is float
                and data.get("host") == last.host
                and len(data) == 3  # host, at, servers: nothing this version does not know
            ):
                return replace(last, at=at)  # the usual idle push: its time alone moved
            snapshot = ProgramsSnapshot.from_json({**data, "servers": []})
            self._last = replace(snapshot, servers=self._servers[1])
            return self._last
        lists: dict[int, tuple[Any, tuple[Program, ...]]] = {}
        each: dict[int, tuple[Any, Program]] | None = None
        servers = []
        for raw in listed_servers:
            if not isinstance(raw, dict) or not isinstance(raw.get("programs"), list):
                return ProgramsSnapshot.from_json(data)
            listed = raw["programs"]
            known = self._lists.get(id(listed))
            if known is not None and known[0] is listed:
                programs = known[1]
            else:
                if each is None:  # the last value's programs, by their JSON objects
                    each = {
                        id(j): (j, p) for js, ps in self._lists.values() for j, p in zip(js, ps)
                    }
                decoded = []
                for item in listed:
                    was = each.get(id(item))
                    decoded.append(
                        was[1] if was is not None and was[0] is item else program_from_json(item)
                    )
                programs = tuple(decoded)
            lists[id(listed)] = (listed, programs)
            server = Supervisord.from_json({**raw, "programs": []})
            servers.append(replace(server, programs=programs))
        snapshot = ProgramsSnapshot.from_json({**data, "servers": []})
        self._lists = lists
        self._servers = (listed_servers, tuple(servers))
        self._last = replace(snapshot, servers=self._servers[1])
        return self._last
