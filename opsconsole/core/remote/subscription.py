"""Subscriptions: snapshots an agent pushes, rebuilt from the first one and the changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opsconsole.core.agent import TOPICS
from opsconsole.core.host import (
    GunicornSnapshot,
    HostError,
    NginxSnapshot,
    ProbesSnapshot,
    ProgramsSnapshot,
    Snapshot,
)
from opsconsole.core.host.steady import Canon, ProgramsDecoder

if TYPE_CHECKING:
    from opsconsole.core.remote.connection import AgentConnection

#: What a subscription's pushes decode to.
TOPIC_TYPES: dict[str, type[Snapshot]] = {
    "programs": ProgramsSnapshot,
    "gunicorn": GunicornSnapshot,
    "nginx": NginxSnapshot,
    "probes": ProbesSnapshot,
}
assert set(TOPIC_TYPES) == set(TOPICS)


#: at most this many pushes in a row are taken without working their CRC out (those that
#: only set plain fields at the top of a proven value: the snapshot's time); the next is proven
PROVE_EVERY = 30


class Subscription:
    """Pushed snapshots of one topic: ``value`` is the latest (rebuilt from the first full
    snapshot and the changes since, each proven equal to the agent's by its CRC), ``updated``
    when it came (epoch), ``error`` the last read error the agent pushed."""

    def __init__(
        self,
        host: AgentConnection,
        topic: str,
        interval: float,
        heartbeat: float | None = None,
        *,
        summary: bool = False,
    ) -> None:
        self.host = host
        self.topic = topic
        self.interval = interval
        #: asks for a summary (core.agent.SUMMARY) from an agent that can send one
        self.summary = summary
        #: at idle (nothing but the snapshot's time moved) the agent pushes this often
        self.heartbeat = max(interval, heartbeat or interval)
        self.sid: int | None = None
        self.data: Any = None
        self.value: Snapshot | None = None
        self.updated: float | None = None
        self.error: HostError | None = None
        self.fulls = self.diffs = self.resyncs = 0
        #: pushes taken since the last whose CRC was worked out (core.remote.connection)
        self.taken = 0
        #: the CRC of ``data`` (an unchanged push carries the same), and the decoding of
        #: ``data`` by parts (core.host.steady): what did not change is not worked out again
        self.crc: int | None = None
        self.canon = Canon()
        self._decoder = ProgramsDecoder() if topic == "programs" else None
        self.listeners: list[Callable[[Subscription], None]] = []
        self._event = asyncio.Event()

    @property
    def age(self) -> float | None:
        return None if self.updated is None else max(0.0, time.time() - self.updated)

    def decode(self, data: Any) -> Snapshot:
        """The snapshot of ``data``: the programs of a list that did not change since the
        last value are the same Program objects (the same tuple)."""
        if self._decoder is not None:
            return self._decoder.decode(data)
        return TOPIC_TYPES[self.topic].from_json(data)

    async def next(self, timeout: float) -> Snapshot:
        """Wait for the next pushed value (raises TimeoutError)."""
        event = self._event
        await asyncio.wait_for(event.wait(), timeout)
        assert self.value is not None
        return self.value

    def _push(self, value: Snapshot) -> None:
        self.value, self.updated, self.error = value, time.time(), None
        event, self._event = self._event, asyncio.Event()
        event.set()
        for listener in list(self.listeners):
            try:
                listener(self)
            except Exception:  # a view's bug must not stop the link
                continue

    def _failed(self, error: HostError) -> None:
        """The agent could not read the topic: ``error`` says why (``value`` stays the last
        one read); the listeners are told."""
        self.error = error
        for listener in list(self.listeners):
            try:
                listener(self)
            except Exception:  # a view's bug must not stop the link
                continue

    def restart(self) -> None:
        """Subscribe again (its first push is whole): for a subscription whose pushes
        stopped while the link stayed up (its subscribe request was not answered in time)."""
        self.host._restart(self)

    async def close(self) -> None:
        await self.host._unsubscribe(self)
