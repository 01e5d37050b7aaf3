"""LocalHost: the :class:`~opsconsole.core.host.Host` of the machine opsconsole runs on.

``host`` (LocalHost: info and the operations), ``reads`` (the reads and logs), ``convert`` (the
backends' models as snapshots). Every public name is importable from here.
"""

from __future__ import annotations

from opsconsole.core.local.convert import (
    instance_of,
    master_logs,
    master_of,
    nginx_snapshot,
    program_of,
    topo_of,
)
from opsconsole.core.local.host import LocalHost
from opsconsole.core.local.reads import (
    CONFIG_INFO_SECONDS,
    MAX_OPEN_LOGS,
    REDISCOVER,
    SINCE_MAX,
    SINCE_PAGE,
    LocalReads,
)

__all__ = [
    "CONFIG_INFO_SECONDS",
    "MAX_OPEN_LOGS",
    "REDISCOVER",
    "SINCE_MAX",
    "SINCE_PAGE",
    "LocalHost",
    "LocalReads",
    "instance_of",
    "master_logs",
    "master_of",
    "nginx_snapshot",
    "program_of",
    "topo_of",
]
