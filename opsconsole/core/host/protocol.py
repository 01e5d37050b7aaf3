"""The Host protocol: what every host (local, remote) implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from opsconsole.core.host.gunicorn import GunicornSnapshot
from opsconsole.core.host.logs import LogChunk, LogCursor, LogRef
from opsconsole.core.host.nginx import NginxConfigDump, NginxSnapshot, TopologySnapshot
from opsconsole.core.host.ops import HostInfo, OperationRequest, OperationResult
from opsconsole.core.host.probes import ProbesSnapshot
from opsconsole.core.host.supervisor import ProgramsSnapshot, Supervisord


@runtime_checkable
class Host(Protocol):
    """One machine the console reads and acts on. Reads never raise for a backend that is
    down (the snapshot says so) unless noted; every error raised is an OpsError subclass."""

    name: str

    async def info(self) -> HostInfo:
        """Versions, capabilities, read-only, the user it runs as."""
        ...

    async def programs(self) -> ProgramsSnapshot:
        """Every configured supervisord and its programs; one that cannot be read says why
        in its ``status`` and ``error`` and keeps its last programs, marked ``stale``."""
        ...

    async def supervisord(self, name: str) -> Supervisord:
        """One configured supervisord (``name``), read now: what :meth:`programs` gives for
        it. A console refreshes each on its own clock (one slow or down supervisord never
        delays the others). Raises OpsError when no supervisord of that name is configured."""
        ...

    async def gunicorn(self) -> GunicornSnapshot:
        """Every gunicorn master on the host with its workers, tied to the programs of the
        host's own supervisords. CPU% is known from the second call on."""
        ...

    async def nginx(self) -> NginxSnapshot:
        """One sample of the serving nginx (``running`` False when none). Requests/s is
        known from the second call on. Raises NginxError when its config cannot be read."""
        ...

    async def nginx_config(self) -> NginxConfigDump:
        """``nginx -T``: the effective config file by file. Raises NginxError."""
        ...

    async def topology(self) -> TopologySnapshot:
        """nginx → upstreams → gunicorn → supervisor, with the checks' findings. Raises
        NginxError when there is no config to read."""
        ...

    async def probes(self) -> ProbesSnapshot:
        """Run each HTTP probe once (configured ones, else one per listening address)."""
        ...

    async def log(
        self,
        source: LogRef,
        *,
        lines: int | None = None,
        since: float | None = None,
        after: LogCursor | None = None,
        before: LogCursor | None = None,
        keep: int | None = None,
        first: int | None = None,
    ) -> LogChunk:
        """Lines of a log. Without ``after``: the last ``lines`` (default 10), or every line
        since the epoch time ``since`` (bounded). With ``after`` (a chunk's cursor): the lines
        written since that chunk; with ``keep`` too, for a reader that keeps a ring of
        ``keep`` lines (a log view): everything written since is read, only its last ``keep``
        lines are sent and the chunk's ``passed`` counts the ones before them (a file; other
        logs send a batch as without ``keep``, ``passed`` 0); with ``first`` as well, at the
        end of a burst only the last ``first`` lines are sent (the others counted in
        ``passed``: read them back with ``before``). With ``before`` (a cursor naming a line
        by ``offset`` and ``gen``, e.g. the oldest line shown): the ``lines`` (default 10, at most
        :data:`MAX_BEFORE_LINES`) lines above it, oldest first, the chunk's cursor naming
        its first line (offset 0 and no lines at the top, or when the log was rotated since).
        Raises LogError (unknown source, unreadable file, a log no longer open, bad counts)."""
        ...

    async def close_log(self, cursor: LogCursor) -> None:
        """Stop following the log a cursor came from (nothing if it is closed already)."""
        ...

    async def perform(self, request: OperationRequest) -> OperationResult:
        """Run a request through the host's gate (read-only refusal, confirmation, audit).
        Never raises for the operation's own failure: the result says refused or failed."""
        ...

    async def aclose(self) -> None:
        """Release connections, open logs and threads."""
        ...
