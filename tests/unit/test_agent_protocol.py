"""The agent protocol without processes: changes (diff/apply) rebuild any JSON value exactly,
a change names only what moved, version skew names the side to upgrade, the agent answers
protocol mistakes in words over an in-memory socket pair, and a pushed change that does not
rebuild the agent's value (its CRC) is never shown: the subscription starts again."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsconsole.core.agent import MAX_IN_FLIGHT, PROTOCOL, Agent, skew_words
from opsconsole.core.config import AppConfig
from opsconsole.core.host import Program, ProgramsSnapshot, Supervisord
from opsconsole.core.host.diff import apply, checksum, diff, same
from opsconsole.core.remote import RemoteHost, Subscription
from opsconsole.core.remote.subscription import PROVE_EVERY

SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
MEMBER = st.fixed_dictionaries(
    {"name": st.sampled_from("abcdefgh"), "state": st.sampled_from(["RUNNING", "STOPPED"])},
    optional={"pid": st.integers(0, 5), "tags": st.lists(st.integers(), max_size=2)},
)
MEMBERS = st.lists(MEMBER, max_size=6, unique_by=lambda m: m["name"]).map(lambda v: {"items": v})


def check(old: Any, new: Any) -> None:
    change = diff(old, new)
    rebuilt = apply(old, change)
    assert same(rebuilt, new)
    assert checksum(rebuilt) == checksum(new)
    # the change travels as JSON
    assert same(apply(old, json.loads(json.dumps(change))), new)


@settings(max_examples=300, deadline=None)
@given(JSON, JSON)
def test_any_change_rebuilds_the_new_value(old: Any, new: Any) -> None:
    check(old, new)


@settings(max_examples=300, deadline=None)
@given(MEMBERS, MEMBERS)
def test_keyed_lists_rebuild_with_additions_removals_and_moves(old: Any, new: Any) -> None:
    check(old, new)


def test_equal_values_have_no_change_and_types_count() -> None:
    assert diff({"a": [1, {"b": 2.5}]}, {"a": [1, {"b": 2.5}]}) is None
    assert not same(1, 1.0) and not same(1, True) and not same(0.0, -0.0)
    assert apply({"n": 1}, diff({"n": 1}, {"n": 1.0})) == {"n": 1.0}
    assert isinstance(apply({"n": 1}, diff({"n": 1}, {"n": 1.0}))["n"], float)


def snapshot(*programs: Program, at: float = 1.0) -> ProgramsSnapshot:
    return ProgramsSnapshot("web2", at, (Supervisord("main", "unix:///s", programs=programs),))


def test_a_change_names_the_program_that_moved_field_by_field() -> None:
    web = Program("main", "web", "web", "RUNNING", pid=10, now=100)
    api = Program("main", "api", "api", "RUNNING", pid=11, now=100)
    before = snapshot(web, api).to_json()
    after = snapshot(
        Program("main", "web", "web", "STOPPED", pid=0, now=101), api, at=2.0
    ).to_json()
    change = diff(before, after)
    assert set(change["o"]) == {"at", "servers"}
    (server,) = change["o"]["servers"]["o"].values()
    programs = server["o"]["programs"]
    assert programs["k"] == ["server", "group", "name"]
    (key,) = programs["o"]
    assert json.loads(key) == ["main", "web", "web"]
    assert set(programs["o"][key]["o"]) == {"state", "pid", "now"}
    assert "order" not in programs and "-" not in programs
    assert ProgramsSnapshot.from_json(apply(before, change)) == ProgramsSnapshot.from_json(after)
    # a program removed and one added: named by key, the new order sent
    gone = diff(after, snapshot(api, Program("main", "new", "new", "STARTING")).to_json())
    (server,) = gone["o"]["servers"]["o"].values()
    assert server["o"]["programs"]["-"] == [key]
    assert len(server["o"]["programs"]["order"]) == 2


def test_a_change_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValueError):
        apply([1, 2], {"o": {"a": {"=": 1}}})
    with pytest.raises(ValueError):
        apply({"a": 1}, {"-": ["b"]})
    with pytest.raises(ValueError):
        apply([{"name": "a"}], {"k": ["name"], "-": ['["zz"]']})


def test_version_skew_names_the_side_to_upgrade() -> None:
    assert skew_words("web2", 2, 1, agent_side=False) == (
        "the agent on web2 speaks protocol 2, this console 1",
        "upgrade opsconsole on this console's machine (pip install -U opsconsole)",
    )
    assert skew_words("web2", 1, 2, agent_side=False)[1] == (
        "upgrade opsconsole on web2 (pip install -U opsconsole)"
    )
    # the agent's own words for a console of another protocol say the same
    assert skew_words("web2", 2, 1, agent_side=True) == skew_words("web2", 1, 2, agent_side=False)


# --------------------------------------------------------------------------- the agent


class Console:
    """The console's end of an in-memory socket pair to an :class:`Agent`."""

    agent: Agent

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def say(self, message: Any) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.writer.write(data + b"\n")
        await self.writer.drain()

    async def hear(self) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), 10)
        assert line, "the agent ended"
        message: dict[str, Any] = json.loads(line)
        return message


@pytest.fixture
async def agent() -> AsyncIterator[tuple[Console, asyncio.Task[int]]]:
    ours, theirs = socket.socketpair()
    a_reader, a_writer = await asyncio.open_connection(sock=theirs)
    c_reader, c_writer = await asyncio.open_connection(sock=ours)
    served = Agent(AppConfig(), a_reader, a_writer, audit=False)
    task = asyncio.create_task(served.serve())
    console = Console(c_reader, c_writer)
    console.agent = served
    hello = await console.hear()
    assert hello["hello"] == "opsconsole-agent" and hello["protocol"] == PROTOCOL
    assert "perform" in hello["capabilities"] and "programs" in hello["topics"]
    yield console, task
    c_writer.close()
    await asyncio.wait_for(task, 10)
    a_writer.close()


async def test_requests_before_open_and_unknown_methods_are_answered_in_words(
    agent: tuple[Console, asyncio.Task[int]],
) -> None:
    console, task = agent
    await console.say({"id": 1, "method": "programs", "params": {}})
    answer = await console.hear()
    assert answer["id"] == 1 and not answer["ok"]
    assert answer["error"]["message"] == "the console sent a request before open"
    await console.say({"id": 2, "method": "open", "params": {"protocol": PROTOCOL}})
    assert (await console.hear())["ok"]
    await console.say({"id": 3, "method": "reboot", "params": {}})
    answer = await console.hear()
    assert answer["error"]["message"] == "the agent has no method 'reboot'"
    await console.say({"id": 4, "method": "ping", "params": {}})
    assert await console.hear() == {"id": 4, "ok": True, "result": {}}
    assert not task.done()  # a wrong request is answered, the connection stays


async def test_requests_over_the_in_flight_bound_are_refused_one_by_one(
    agent: tuple[Console, asyncio.Task[int]],
) -> None:
    console, task = agent
    await console.say({"id": 1, "method": "open", "params": {"protocol": PROTOCOL}})
    assert (await console.hear())["ok"]
    release = asyncio.Event()

    async def slow() -> ProgramsSnapshot:  # a read that takes as long as the test wants
        await release.wait()
        return snapshot()

    console.agent.host.programs = slow  # type: ignore[method-assign]
    for rid in range(10, 10 + MAX_IN_FLIGHT + 1):
        await console.say({"id": rid, "method": "programs", "params": {}})
    refused = await console.hear()
    assert refused["id"] == 10 + MAX_IN_FLIGHT and not refused["ok"]
    assert (
        refused["error"]["message"] == f"{MAX_IN_FLIGHT} requests are already running on this agent"
    )
    release.set()
    answered = {(await console.hear())["id"] for _ in range(MAX_IN_FLIGHT)}
    assert answered == set(range(10, 10 + MAX_IN_FLIGHT))
    assert not task.done()


async def test_a_console_of_another_protocol_is_told_which_side_to_upgrade(
    agent: tuple[Console, asyncio.Task[int]],
) -> None:
    console, _ = agent
    await console.say({"id": 1, "method": "open", "params": {"protocol": PROTOCOL + 1}})
    answer = await console.hear()
    assert answer["error"]["kind"] == "ProtocolMismatch"
    assert f"speaks protocol {PROTOCOL}, this console {PROTOCOL + 1}" in answer["error"]["message"]
    assert answer["error"]["hint"].startswith("upgrade opsconsole on ")


async def test_garbage_ends_the_connection_with_words(
    agent: tuple[Console, asyncio.Task[int]],
) -> None:
    console, task = agent
    await console.say(b'{"id": "one"}')
    push = await console.hear()
    assert push["push"] == "error" and push["error"]["kind"] == "HostProtocolError"
    assert push["error"]["message"] == "line 1 from the console is not a request"
    assert await asyncio.wait_for(task, 10) == 2


def fed_subscription() -> tuple[RemoteHost, Subscription, ProgramsSnapshot]:
    """A host never started (pushes are fed by hand) with programs subscription 7, fed its
    first whole snapshot (returned)."""
    host = RemoteHost("web2", ["true"])
    sub = Subscription(host, "programs", 1.0)
    sub.sid = 7
    host._by_sid[7] = sub
    first = snapshot(Program("main", "web", "web", "RUNNING", pid=10))
    host._on_push({"push": "snapshot", "sub": 7, "topic": "programs", "data": first.to_json()})
    return host, sub, first


async def test_a_push_that_does_not_rebuild_the_agents_value_is_never_shown() -> None:
    host, sub, first = fed_subscription()
    assert sub.value == first and sub.fulls == 1
    second = snapshot(Program("main", "web", "web", "STOPPED"), at=2.0)
    change = diff(first.to_json(), second.to_json())
    host._on_push({"push": "diff", "sub": 7, "diff": change, "crc": checksum(second.to_json())})
    assert sub.value == second and sub.diffs == 1
    third = snapshot(Program("main", "web", "web", "STARTING"), at=3.0)
    change = diff(second.to_json(), third.to_json())
    host._on_push({"push": "diff", "sub": 7, "diff": change, "crc": 1})
    assert sub.value == second and sub.resyncs == 1  # not shown; subscribed again
    await asyncio.sleep(0)  # the resync finds no agent running, and says nothing
    assert host.pid is None and host.link.state == "connecting"


def idle_push(host: RemoteHost, value: dict[str, Any], at: float) -> dict[str, Any]:
    """Feed ``host`` the agent's push of ``value`` with only its time moved to ``at``
    (subscription 7); returns the agent's new value."""
    value = {**value, "at": at}
    diff_ = {"o": {"at": {"=": at}}}
    host._on_push({"push": "diff", "sub": 7, "diff": diff_, "crc": checksum(value)})
    return value


async def test_idle_pushes_are_proven_at_least_every_30th(monkeypatch: pytest.MonkeyPatch) -> None:
    """A push that only moves the snapshot's time on a proven value is taken without working
    its CRC out (each was a CRC of the whole 300-program text, every second, per host); every
    PROVE_EVERY-th one is proven: a value the console holds that is not the agent's is found
    within that many pushes and the subscription starts again (its first push whole)."""
    host, sub, first = fed_subscription()
    worked: list[int] = []
    real = sub.canon.checksum

    def counted(value: Any) -> int:
        worked.append(1)
        return real(value)

    monkeypatch.setattr(sub.canon, "checksum", counted)
    value = first.to_json()
    for n in range(1, PROVE_EVERY + 1):
        value = idle_push(host, value, 1.0 + n)
        assert sub.value is not None and sub.value.at == 1.0 + n
    assert len(worked) == 1 and sub.resyncs == 0  # the 30th is proven
    # what the console holds is not the agent's value (its base went wrong): the next
    # proven push says so
    sub.data = {**sub.data, "host": "elsewhere"}
    for n in range(PROVE_EVERY + 1, 2 * PROVE_EVERY + 2):
        value = idle_push(host, value, 1.0 + n)
        if sub.resyncs:
            break
    assert sub.resyncs == 1, "found within PROVE_EVERY pushes: subscribed again (whole)"
    await asyncio.sleep(0)  # the resync finds no agent running, and says nothing
    assert host.pid is None and host.link.state == "connecting"


async def test_a_read_timeout_that_is_not_a_positive_number_is_bad_parameters(
    agent: tuple[Console, asyncio.Task[int]],
) -> None:
    console, task = agent
    await console.say({"id": 1, "method": "open", "params": {"protocol": PROTOCOL}})
    assert (await console.hear())["ok"]
    for rid, raw in ((2, b"NaN"), (3, b"-1")):
        await console.say(b'{"id":%d,"method":"programs","params":{"timeout":%s}}' % (rid, raw))
        answer = await console.hear()
        assert answer["id"] == rid and answer["error"]["kind"] == "HostProtocolError"
        assert "timeout must be a number of seconds above 0" in answer["error"]["message"]
    assert not task.done()
