"""The link to an agent: its state in words (:class:`Link`) and the errors that mark it."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opsconsole.core.errors import OpsError
from opsconsole.core.host import (
    HostDown,
)

#: Turns the agent process's exit status (None: unknown) and its stderr into a typed error.
ExplainExit = Callable[[int | None, str], OpsError]

CONNECTING, UP, STALE, DOWN = "connecting", "up", "stale", "down"
#: stderr kept from the agent process (its end: what explains an exit).
STDERR_KEEP = 8192


@dataclass(frozen=True)
class Link:
    """The state of the link to a host's agent (see the module's doc)."""

    state: str = CONNECTING
    reason: str = ""
    hint: str = ""
    #: when this state began, and when an agent last answered (epoch seconds)
    since: float = 0.0
    last_answer: float | None = None
    rtt: float | None = None  # seconds, the last ping's round trip
    agent_version: str = ""
    protocol: int | None = None
    agent_host: str = ""  # the hostname the agent runs on
    agent_user: str = ""  # the user it runs as
    ssh_user: str = ""
    read_only: bool = False
    connects: int = 0  # agents started and opened so far
    error: OpsError | None = field(default=None, compare=False)

    @property
    def age(self) -> float | None:
        """Seconds since an agent last answered (None: never)."""
        return None if self.last_answer is None else max(0.0, time.time() - self.last_answer)

    @property
    def words(self) -> str:
        """The state in words: ``up, 3 ms``, ``stale 12s: ...``, ``down: ...``."""
        if self.state == UP:
            return f"up, {self.rtt * 1000:.0f} ms" if self.rtt is not None else "up"
        if self.state == STALE:
            age = self.age
            return (
                f"stale {age:.0f}s: {self.reason}" if age is not None else f"stale: {self.reason}"
            )
        if self.state == DOWN:
            return f"down: {self.reason}"
        return "connecting"


def is_link_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the link failed (not the host's own answer)."""
    return bool(getattr(exc, "link_error", False))


def mark_link(exc: OpsError) -> OpsError:
    exc.link_error = True  # type: ignore[attr-defined]
    return exc


class _Ended(Exception):
    """The agent ended before its hello (its exit status and stderr say why)."""


def explain(name: str, code: int | None, stderr: str) -> OpsError:
    """The default ``explain_exit``: how the agent process ended, and the last line it
    wrote on stderr."""
    said = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
    said = f": {said[:200]}" if said else ""
    if code is not None and code < 0:
        try:
            how = f"was killed by SIG{signal.Signals(-code).name.removeprefix('SIG')}"
        except ValueError:
            how = f"was killed by signal {-code}"
    elif code == 127:
        how = "could not be run (command not found)"
    else:
        how = f"exited with status {code}"
    return HostDown(
        f"the agent on {name} {how}{said}",
        "it is restarted by itself; if it keeps ending, run its command by hand to see why",
    )
