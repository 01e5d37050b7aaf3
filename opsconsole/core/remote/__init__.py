"""RemoteHost: a :class:`~opsconsole.core.host.Host` served by an agent in another process.

It runs an argv (for a fleet host ``ssh ... DEST -- opsconsole agent``; for a test or this
machine ``python -m opsconsole agent``) with asyncio and speaks the agent protocol
(:mod:`opsconsole.core.agent`) on its stdin/stdout. It is transport-agnostic: what ssh's exit
status and stderr mean is the ``explain_exit(returncode, stderr) -> OpsError`` hook's job.

The link (:attr:`RemoteHost.link`, a :class:`Link`; ``listeners`` are told each change):

* ``connecting``: the agent is being started, no answer yet (reads wait for it, within
  their timeout);
* ``up``: the handshake is done and the agent answers (``rtt`` from a ping every
  ``ping_interval``, ``agent_version``, ``agent_host``, ``ssh_user``, ``read_only``);
* ``stale``: the agent answered before but not now (a request timed out, or it died and is
  being restarted): ``age`` says how old the last answer is, ``reason`` why, in words;
* ``down``: no agent: it could not be started or opened, nor restarted after it was lost
  (``reason`` in words, ``error`` the typed error, e.g. what ``explain_exit`` made of ssh's
  status and stderr; ``age`` still says how old the last answer is).

After the agent dies (or ``max_timeouts`` requests in a row time out, or it breaks a bound)
the connection is reset and restarted by itself with a backoff; a protocol mismatch or an
agent that does not confirm read-only is not retried (``reconnect()`` tries again). Reads
raise the link's typed error (:func:`is_link_error` tells it from the host's own errors),
except ``programs()`` and ``supervisord()``, which answer the last programs marked ``stale``
with the link's error (their ``at`` says how old they are): old data is never shown as now.

Writes pass the console's gate first (read-only refusal, confirmation, the console's audit
record naming the host), then the agent's own gate. A read-only RemoteHost starts its agent
with ``--read-only`` and asks for read-only in ``open``; an agent that does not confirm it is
refused. The supervisord password travels in ``open``, never in the argv.
"""

from __future__ import annotations

from opsconsole.core.remote.connection import AgentConnection
from opsconsole.core.remote.host import RemoteHost
from opsconsole.core.remote.link import (
    CONNECTING,
    DOWN,
    STALE,
    UP,
    ExplainExit,
    Link,
    explain,
    is_link_error,
)
from opsconsole.core.remote.subscription import TOPIC_TYPES, Subscription

__all__ = [
    "CONNECTING",
    "DOWN",
    "STALE",
    "TOPIC_TYPES",
    "UP",
    "AgentConnection",
    "ExplainExit",
    "Link",
    "RemoteHost",
    "Subscription",
    "explain",
    "is_link_error",
]
