"""Memory a burst freed goes back to the system (core.memory), bounded in how often."""

from __future__ import annotations

import pytest

from opsconsole.core import memory


def test_a_burst_is_trimmed_at_most_every_min_gap_and_small_batches_never(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: calls.append)
    monkeypatch.setattr(memory, "_last", 0.0)
    clock = [1000.0]
    monkeypatch.setattr(memory.time, "monotonic", lambda: clock[0])
    assert not memory.trim_after_burst(memory.BURST_LINES - 1)  # not a burst
    assert memory.trim_after_burst(5000) and calls == [0]
    clock[0] += memory.MIN_GAP / 2
    assert not memory.trim_after_burst(5000)  # too soon: bounded whatever the input rate
    clock[0] += memory.MIN_GAP
    assert memory.trim_after_burst(5000) and calls == [0, 0]


def test_on_this_machine_the_libc_trim_is_found_and_runs() -> None:
    """glibc (Debian): the real call, which must not fail."""
    trim = memory._malloc_trim()
    assert trim is not None
    assert trim(0) in (0, 1)
