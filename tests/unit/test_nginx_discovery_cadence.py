"""How often the nginx sampler walks every process on the machine when it found no nginx.

A real machine with no nginx at all cannot be made on demand next to the test session's own
nginx, so the machine's answer ("none serving") is fed in; the sampler's cadence is what is
checked. The real-nginx cadence (a master kept, a changed pid set, a reused pid) is checked
in tests/integration/test_nginx.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from opsconsole.core.config import NginxSettings
from opsconsole.core.nginx import status as nginx_status
from opsconsole.core.nginx.instance import NginxInstance
from opsconsole.core.nginx.parse import MasterArgs
from opsconsole.core.supervisor import ProcessInfo


def test_no_nginx_found_is_not_looked_for_at_every_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Samples of a machine with no nginx serving do not each walk every process (a hidden
    view samples every 30 s, each past DISCOVERY_SECONDS): it is looked for again every
    DISCOVERY_SAMPLES samples (an nginx started by hand shows then), and at once when the
    supervised programs change."""
    walks: list[Any] = []

    def none_serving(settings: Any, programs: Any = None) -> NginxInstance:
        walks.append(programs)
        return NginxInstance(
            "/bin/true", "/etc/nginx/nginx.conf", "/etc/nginx", MasterArgs("/bin/true")
        )

    monkeypatch.setattr(nginx_status, "discover", none_serving)
    monkeypatch.setattr(nginx_status, "DISCOVERY_SECONDS", 0.0)  # every sample "late"
    monitor = nginx_status.NginxMonitor(NginxSettings())
    for _ in range(1 + nginx_status.DISCOVERY_SAMPLES):
        assert not monitor.sample([]).instance.running
    assert len(walks) == 1
    monitor.sample([])
    assert len(walks) == 2
    started = ProcessInfo.from_rpc(
        {"name": "web", "group": "web", "pid": 4242, "statename": "RUNNING", "state": 20},
        "local",
    )
    monitor.sample([started])
    assert len(walks) == 3
