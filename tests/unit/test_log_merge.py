"""The merge of one log over several hosts, without processes: order by the lines' own time
(else arrival), stability, the per-host budget, a host that does not answer in time (marked,
the others not held up, its lines later) and a host that fails (said, the others go on).

The hosts' logs here are in-memory sources (the real hosts are in
tests/fleet/test_fleet_logs.py)."""

from __future__ import annotations

import asyncio

from opsconsole.core.logs.merge import MARK, MergedSource
from opsconsole.core.logs.model import LogError
from opsconsole.core.logs.parse import LogLine, annotate_lines, line_matches


class Memory:
    """A log whose next read returns what was put in it; ``gate`` holds reads back."""

    def __init__(self, name: str) -> None:
        self.key = name
        self.label = name
        self.pending: list[LogLine] = []
        self.gate: asyncio.Event | None = None
        self.fail: LogError | None = None
        self.closed = False

    def put(self, *texts: str, now: float = 0.0) -> None:
        self.pending += annotate_lines(((-1, t) for t in texts), self.label, now=now)

    async def _take(self) -> list[LogLine]:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        lines, self.pending = self.pending, []
        return lines

    async def open_tail(self, n: int) -> list[LogLine]:
        return (await self._take())[-n:] if n else []

    async def poll(self) -> list[LogLine]:
        return await self._take()

    async def before(self, offset: int, n: int, gen: int | None = None) -> list[LogLine]:
        return []

    async def aclose(self) -> None:
        self.closed = True


def ts(second: int) -> str:
    return f"2026-11-29 10:00:{second:02d},000 INFO"


def texts(lines: list[LogLine]) -> list[str]:
    return [line.text for line in lines]


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_lines_of_two_hosts_merge_by_their_own_time_each_with_its_host() -> None:
    a, b = Memory("a"), Memory("b")
    a.put(f"{ts(1)} a1", f"{ts(4)} a4", "  continuation of a4", f"{ts(5)} a5")
    b.put(f"{ts(2)} b2", f"{ts(3)} b3", f"{ts(6)} b6")

    async def go() -> list[LogLine]:
        merged = MergedSource([("web1", a), ("web2", b)], key="k", label="web")
        lines = await merged.open_tail(100)
        await merged.aclose()
        return lines

    lines = run(go())
    assert texts(lines) == [  # type: ignore[arg-type]
        f"[web1] {ts(1)} a1",
        f"[web2] {ts(2)} b2",
        f"[web2] {ts(3)} b3",
        f"[web1] {ts(4)} a4",
        "[web1]   continuation of a4",  # stays under its line (inherits its time)
        f"[web1] {ts(5)} a5",
        f"[web2] {ts(6)} b6",
    ]
    assert a.closed and b.closed


def test_equal_times_keep_the_hosts_order_and_lines_without_time_go_by_arrival() -> None:
    a, b = Memory("a"), Memory("b")
    a.put(f"{ts(3)} a-same")
    b.put(f"{ts(3)} b-same")
    clock = [1_800_000_000.0]  # later than the lines' own times

    async def go() -> tuple[list[LogLine], list[LogLine]]:
        merged = MergedSource([("h1", a), ("h2", b)], key="k", label="x", clock=lambda: clock[0])
        first = await merged.open_tail(10)
        b.put("no time here")  # arrives now: after every line with an older own time
        a.put(f"{ts(9)} a9")
        second = await merged.poll()
        return first, second

    first, second = run(go())  # type: ignore[misc]
    assert texts(first) == [f"[h1] {ts(3)} a-same", f"[h2] {ts(3)} b-same"]
    assert texts(second) == [f"[h1] {ts(9)} a9", "[h2] no time here"]
    assert second[1].order_ts == clock[0]


def test_a_filter_on_the_merged_lines_matches_across_hosts_and_by_host_name() -> None:
    import re

    a, b = Memory("a"), Memory("b")
    a.put(f"{ts(1)} GET /health 200", f"{ts(2)} GET /slow 500")
    b.put(f"{ts(3)} GET /slow 500", f"{ts(4)} GET /health 200")
    lines = run(MergedSource([("web1", a), ("web2", b)], key="k", label="web").open_tail(10))
    slow = [line.text for line in lines if line_matches(line, re.compile("/slow"))]  # type: ignore[attr-defined]
    assert slow == [f"[web1] {ts(2)} GET /slow 500", f"[web2] {ts(3)} GET /slow 500"]
    on_web2 = [line for line in lines if line_matches(line, re.compile(r"^\[web2\]"))]  # type: ignore[attr-defined]
    assert len(on_web2) == 2


def test_one_host_is_taken_at_most_budget_lines_a_poll_and_the_cut_is_said() -> None:
    a, b = Memory("a"), Memory("b")

    async def go() -> tuple[list[LogLine], MergedSource]:
        merged = MergedSource([("chatty", a), ("quiet", b)], key="k", label="x", budget=5)
        await merged.open_tail(10)
        a.put(*(f"{ts(10)} line {i}" for i in range(50)))
        b.put(f"{ts(11)} quiet one")
        return await merged.poll(), merged

    lines, merged = run(go())  # type: ignore[misc]
    chatty = [t for t in texts(lines) if t.startswith("[chatty] 2026")]
    assert chatty == [f"[chatty] {ts(10)} line {i}" for i in range(45, 50)]  # the newest 5
    assert f"[quiet] {ts(11)} quiet one" in texts(lines)
    assert any(f"{MARK} 45 lines not shown" in t for t in texts(lines))
    assert merged.skipped == {"chatty": 45}


def test_a_host_that_does_not_answer_is_marked_and_does_not_hold_up_the_others() -> None:
    slow, quick = Memory("slow"), Memory("quick")

    async def go() -> list[list[str]]:
        merged = MergedSource([("slow", slow), ("quick", quick)], key="k", label="x", timeout=0.2)
        await merged.open_tail(10)
        slow.gate = asyncio.Event()  # its next read hangs
        rounds: list[list[str]] = []
        for i in range(3):
            quick.put(f"{ts(20 + i)} quick {i}")
            slow.put(f"{ts(20 + i)} slow {i}")
            # once it is stale it is not waited for again: with a timeout of an hour, later
            # polls still come back (the guard only fails a poll that waits for it)
            rounds.append(texts(await asyncio.wait_for(merged.poll(), 60)))
            merged.timeout = 3600.0
        assert "slow" in merged.stale and merged.notice is not None
        assert "slow no answer" in merged.notice.message
        slow.gate.set()  # it answers: its lines come, after a marker
        rounds.append(texts(await merged.poll()))
        assert merged.stale == {} and merged.notice is None
        await merged.aclose()
        return rounds

    rounds = run(go())
    assert rounds[0][0] == f"[quick] {ts(20)} quick 0"  # type: ignore[index]
    assert rounds[0][1].startswith(f"[slow] {MARK} no answer for 0.2 s")  # type: ignore[index]
    assert rounds[1] == [f"[quick] {ts(21)} quick 1"]  # type: ignore[index]
    assert rounds[2] == [f"[quick] {ts(22)} quick 2"]  # marked once  # type: ignore[index]
    last = rounds[3]  # type: ignore[index]
    assert last[0].startswith(f"[slow] {MARK} answering again after")
    assert last[1:] == [f"[slow] {ts(20 + i)} slow {i}" for i in range(3)]


def test_a_host_that_fails_is_said_once_and_the_others_go_on() -> None:
    bad, good = Memory("bad"), Memory("good")
    bad.fail = LogError("no program named web on bad", "check the name")

    async def go() -> tuple[list[str], list[str], list[str], MergedSource]:
        merged = MergedSource([("bad", bad), ("good", good)], key="k", label="x")
        good.put(f"{ts(1)} one")
        first = texts(await merged.open_tail(10))
        good.put(f"{ts(2)} two")
        second = texts(await merged.poll())
        bad.fail = None
        bad.put(f"{ts(3)} back")
        third = texts(await merged.poll())
        return first, second, third, merged

    first, second, third, merged = run(go())  # type: ignore[misc]
    assert first == [
        f"[good] {ts(1)} one",
        f"[bad] {MARK} cannot read: no program named web on bad",
    ]
    assert second == [f"[good] {ts(2)} two"]  # said once
    assert third == [f"[bad] {MARK} read again", f"[bad] {ts(3)} back"]
    assert merged.failing == {} and merged.notice is None


def test_a_host_named_twice_or_none_is_refused_in_words() -> None:
    import pytest

    with pytest.raises(LogError, match="named twice"):
        MergedSource([("a", Memory("a")), ("a", Memory("b"))], key="k", label="x")
    with pytest.raises(LogError, match="no hosts"):
        MergedSource([], key="k", label="x")
