"""Metrics: a host read on the console's intervals (:mod:`.poll`), what is seen across reads
(:mod:`.track`), the Prometheus series (:mod:`.families`) and the endpoint (:mod:`.exporter`).
"""

from __future__ import annotations

from opsconsole.core.metrics.families import METRICS, build, metric_names, metric_table
from opsconsole.core.metrics.poll import Part, Poller
from opsconsole.core.metrics.track import Tracker

__all__ = ["METRICS", "Part", "Poller", "Tracker", "build", "metric_names", "metric_table"]
