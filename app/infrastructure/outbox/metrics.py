"""Prometheus gauges of the outbox, per destination (``broker``, ``jobs``): its backlog and its lag.

``app_outbox_backlog`` counts the events a destination has not had yet, and
``app_outbox_lag_seconds`` is the age of the oldest of them (0 when there is none): a lag
that grows is a destination that stopped taking events (an outage) or a relay that cannot
keep up. Every relay measures them every few seconds (``OutboxRelay.measure``); over several
processes a scrape reports the largest live one.
"""

from __future__ import annotations

from prometheus_client import Gauge

BACKLOG = Gauge(
    "app_outbox_backlog", "Events a destination has not had yet", ["destination"], multiprocess_mode="livemax"
)
LAG = Gauge(
    "app_outbox_lag_seconds",
    "Age of the oldest event a destination has not had yet (0: none)",
    ["destination"],
    multiprocess_mode="livemax",
)
