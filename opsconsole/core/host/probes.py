"""Probe snapshots: HTTP probes and their latest answers."""

from __future__ import annotations

from dataclasses import dataclass

from opsconsole.core.host.codec import Snapshot


@dataclass(frozen=True)
class ProbeOutcome(Snapshot):
    """One HTTP probe and its latest answer (``status`` None: no answer, ``error`` why)."""

    name: str
    url: str
    ok: bool
    status: int | None
    latency: float  # seconds
    at: float
    error: str = ""


@dataclass(frozen=True)
class ProbesSnapshot(Snapshot):
    host: str
    at: float
    results: tuple[ProbeOutcome, ...] = ()
