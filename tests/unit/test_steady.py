"""What a programs subscription sends at idle (core.host.steady), without processes.

Supervisord's clock and a running program's description move every second: an idle push
carries neither (only the snapshot's time), a program whose state or pid moved is sent at
once, an uptime that only grew never (the console shows it at the snapshot's clock), and the
console's rebuilt value is proven equal to the agent's (the CRC worked out by parts is the
CRC of the whole) and decoded into the same Program objects for what did not change.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from opsconsole.core.host import HostProtocolError, Program, ProgramsSnapshot, Supervisord
from opsconsole.core.host.diff import apply, checksum, diff
from opsconsole.core.host.steady import (
    LATENCY_EVERY,
    LATENCY_STEP,
    Canon,
    ProgramsDecoder,
    SteadyPrograms,
    program_from_json,
)


def program(i: int, now: int, state: str = "RUNNING") -> Program:
    running = state == "RUNNING"
    return Program(
        "main",
        f"p{i:03}",
        f"p{i:03}",
        state,
        pid=1000 + i if running else 0,
        description=f"pid {1000 + i}, uptime 0:{(now - 1000) // 60:02}:{now % 60:02}"
        if running
        else "Not started",
        start=1000,
        now=now,
        stdout_logfile="/var/log/é.log",  # not ASCII: the CRC is of the UTF-8 text
        exitcodes=(0, 2),
    )


def snapshot(now: int, **states: str) -> ProgramsSnapshot:
    programs = tuple(program(i, now, states.get(f"p{i:03}", "RUNNING")) for i in range(300))
    server = Supervisord("main", "unix:///s", latency=0.001 * (now % 7), programs=programs)
    return ProgramsSnapshot("web1", now + 0.25, (server,))


def size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def written_out(monkeypatch: pytest.MonkeyPatch, canon: Canon, value: Any) -> tuple[int, list[Any]]:
    """``canon``'s CRC of ``value``, and the objects json.dumps wrote out for it."""
    dumped: list[Any] = []
    real = json.dumps

    def counting(obj: Any, **kw: Any) -> str:
        if isinstance(obj, dict):
            dumped.append(obj)
        return real(obj, **kw)

    monkeypatch.setattr(json, "dumps", counting)
    try:
        return canon.checksum(value), dumped
    finally:
        monkeypatch.undo()


def test_an_idle_push_is_the_snapshots_time_not_its_300_programs() -> None:
    steady = SteadyPrograms()
    first = steady.encode(snapshot(1000 + 125))  # every program up 2m05s
    second = steady.encode(snapshot(1000 + 126))  # supervisord's clock moved, nothing else
    change = diff(first, second)
    assert "programs" not in json.dumps(change)
    assert size(change) * 100 < size(first)  # the whole is ~100 times bigger
    # a running program's description (its pid and uptime again) is not sent; others are
    listed = first["servers"][0]["programs"]
    assert {p["description"] for p in listed} == {""}
    stopped = steady.encode(snapshot(1000 + 127, p007="STOPPED"))["servers"][0]["programs"]
    assert stopped[7]["description"] == "Not started"
    # the plain encoding of the same two answers changes every program
    plain = diff(snapshot(1125).to_json(), snapshot(1126).to_json())
    assert size(plain) > 300 * 40


def test_a_state_change_is_sent_at_once_and_an_uptime_that_only_grew_never() -> None:
    steady, decoder = SteadyPrograms(), ProgramsDecoder()
    first = steady.encode(snapshot(1000 + 125))
    stopped = steady.encode(snapshot(1000 + 126, p007="STOPPED"))
    change = json.dumps(diff(first, stopped))
    assert "p007" in change and "STOPPED" in change
    assert '"p008"' not in change
    # 2m59s to 3m00s and on to an hour: the program list's uptimes move, nothing is sent
    held = stopped
    for now in (1000 + 179, 1000 + 180, 1000 + 3600):
        value = steady.encode(snapshot(now, p007="STOPPED"))
        assert '"p0' not in json.dumps(diff(held, value))
        held = value
    # the console shows them at the snapshot's clock: an hour, as the agent's own answer says
    shown = decoder.decode(held)
    p008 = shown.servers[0].programs[8]
    assert p008.now == 1000 + 125  # its clock when it was last sent
    assert p008.uptime_at(shown.at) == snapshot(1000 + 3600).servers[0].programs[8].uptime + 0.25
    # a state change meanwhile is sent at once, alone
    failed = steady.encode(snapshot(1000 + 3601, p007="FATAL"))
    change = json.dumps(diff(held, failed))
    assert "FATAL" in change and '"p008"' not in change


def test_a_latency_is_sent_when_it_moved_with_a_change_or_every_half_minute() -> None:
    steady = SteadyPrograms()
    first = steady.encode(snapshot(1000))
    assert first["servers"][0]["latency"] == 0.001 * (1000 % 7)
    # 1 to 6 ms, every second: nothing sent
    held = first
    for now in range(1001, 1014):
        value = steady.encode(snapshot(now))
        assert "latency" not in json.dumps(diff(held, value))
        held = value

    def slow(now: int, latency: float, **states: str) -> ProgramsSnapshot:
        snap = snapshot(now, **states)
        return replace(snap, servers=(replace(snap.servers[0], latency=latency),))

    # a supervisord gone slow: not a push of its own before LATENCY_EVERY has passed...
    gone = 0.003 + 2 * LATENCY_STEP
    value = steady.encode(slow(1014, gone))
    assert value["servers"][0]["latency"] == held["servers"][0]["latency"]
    # ... but sent with the next change of its programs
    value = steady.encode(slow(1015, gone, p007="FATAL"))
    assert value["servers"][0]["latency"] == gone
    # and alone once LATENCY_EVERY has passed since the one sent
    value = steady.encode(slow(1016, 0.5, p007="FATAL"))
    assert value["servers"][0]["latency"] == gone
    value = steady.encode(slow(1015 + int(LATENCY_EVERY), 0.5, p007="FATAL"))
    assert value["servers"][0]["latency"] == 0.5


def test_the_crc_worked_out_by_parts_is_the_crc_of_the_whole() -> None:
    steady, console, agent = SteadyPrograms(), Canon(), Canon()
    sent = steady.encode(snapshot(1100))
    held = sent
    assert console.checksum(held) == checksum(sent)
    for now, states in ((1101, {}), (1102, {"p003": "FATAL"}), (1160, {"p003": "FATAL"})):
        value = steady.encode(snapshot(now, **states))
        crc = agent.checksum(value)
        assert crc == checksum(value)
        held = apply(held, diff(sent, value))
        assert console.checksum(held) == crc  # the console's copy is the agent's
        sent = value
    # a rebuilt value that is not the agent's has another CRC
    wrong = {**held, "at": 0.5}
    assert console.checksum(wrong) != checksum(sent)


def test_what_did_not_change_decodes_to_the_same_program_objects() -> None:
    steady, decoder = SteadyPrograms(), ProgramsDecoder()
    sent = steady.encode(snapshot(1100))
    first = decoder.decode(sent)
    assert first == ProgramsSnapshot.from_json(sent)
    value = steady.encode(snapshot(1101, p003="FATAL"))
    held = apply(sent, diff(sent, value))  # the console's copy
    second = decoder.decode(held)
    assert second == ProgramsSnapshot.from_json(value)
    before, after = first.servers[0].programs, second.servers[0].programs
    moved = [i for i, (a, b) in enumerate(zip(before, after)) if a is not b]
    assert moved == [3] and after[3].state == "FATAL"
    # an idle push keeps the very tuple: a view sees nothing to redraw
    idle = steady.encode(snapshot(1102, p003="FATAL"))
    held = apply(held, diff(value, idle))
    third = decoder.decode(held)
    assert third.servers[0].programs is after and third.at == 1102.25
    # only the snapshot's time moved (the same supervisords list): the same supervisords
    later = decoder.decode({**held, "at": 1103.25})
    assert later.servers is third.servers and later.at == 1103.25
    assert later == ProgramsSnapshot.from_json({**held, "at": 1103.25})
    # ... and anything else that moved at the top is read as from_json reads it
    renamed = decoder.decode({**held, "at": 1104.25, "host": "web9"})
    assert renamed.host == "web9" and renamed.servers is third.servers
    with pytest.raises(HostProtocolError):
        decoder.decode({**held, "at": "soon"})
    # a full snapshot of other objects (a new subscription) decodes whole, equal
    again = decoder.decode(json.loads(json.dumps(idle)))
    assert again == replace(third)


def test_the_fast_program_decoding_reads_what_from_json_reads_and_refuses_the_rest() -> None:
    for value in (program(1, 1100), program(2, 1100, "STOPPED"), Program("m", "a", "a", "EXITED")):
        data = value.to_json()
        assert program_from_json(data) == Program.from_json(data) == value
    odd = {**program(1, 1100).to_json(), "newer_field": 1, "exitcodes": None}
    assert program_from_json(odd) == Program.from_json(odd)
    for bad in ({**odd, "pid": "12"}, {**odd, "pid": True}, {"name": "a"}, [1]):
        with pytest.raises(HostProtocolError, match="does not have the expected shape"):
            program_from_json(bad)


def test_a_list_that_changes_after_idle_rounds_reuses_the_text_of_its_kept_members(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steady, canon = SteadyPrograms(), Canon()
    value = steady.encode(snapshot(1100))
    canon.checksum(value)
    for now in (1101, 1102):  # idle: the programs list is the same object
        value = steady.encode(snapshot(now))
        assert canon.checksum(value) == checksum(value)
    kept = value["servers"][0]["programs"][5]
    changed = steady.encode(snapshot(1103, p003="FATAL"))
    assert changed["servers"][0]["programs"][5] is kept
    crc, dumped = written_out(monkeypatch, canon, changed)
    assert crc == checksum(changed)
    assert len(dumped) <= 3, "only the changed program (and its supervisord, the top) again"


def test_a_server_that_moves_after_rounds_where_only_the_time_moved_keeps_its_programs_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The console's side: idle pushes move only the snapshot's time (the programs list is
    not looked into), then a push moves only a supervisord's latency: its 300 programs are
    not written out again (they were, every 5 s per host, in a ten-host console's profile)."""
    steady, canon = SteadyPrograms(), Canon()

    def at(now: int, latency: float) -> dict[str, Any]:
        snap = snapshot(1100)
        server = replace(snap.servers[0], latency=latency)
        return steady.encode(replace(snap, at=now + 0.5, servers=(server,)))

    sent = at(1100, 0.001)
    held = sent
    canon.checksum(held)
    for now in (1101, 1102, 1103):  # only the snapshot's time
        value = at(now, 0.001)
        held = apply(held, diff(sent, value))
        assert canon.checksum(held) == checksum(value)
        sent = value
    value = at(1104, 0.004)
    held = apply(held, diff(sent, value))
    crc, dumped = written_out(monkeypatch, canon, held)
    assert crc == checksum(value)
    assert dumped == [], "the server and the top are put together from their parts"


def test_what_the_crc_remembers_stays_bounded_over_a_long_session() -> None:
    """Hours of pushes (each a new top, now and then a program that changed) remember the
    texts of about one value, not of every value seen, and every CRC is still the whole's."""
    steady, canon = SteadyPrograms(), Canon()
    sent = steady.encode(snapshot(1100))
    held = sent
    canon.checksum(held)
    one_value = len(canon._known)
    for now in range(1101, 1701):
        value = steady.encode(snapshot(now, **({"p007": "FATAL"} if now % 50 < 25 else {})))
        held = apply(held, diff(sent, value))
        assert canon.checksum(held) == checksum(value)
        sent = value
        # a trim once the texts made since the last are half of what is remembered: never
        # more than twice one value's texts (and a few)
        assert len(canon._known) <= 2 * one_value + 40
