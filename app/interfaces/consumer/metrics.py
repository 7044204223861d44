"""Prometheus series of the consumer: each message settled, by its type and how it ended.

``app_consumer_messages_total{type, outcome}``: ``applied``, ``duplicate`` (its id was
claimed before), ``retried`` (a transient failure: handed back or tried again after a
pause) and ``dead_lettered``. ``type`` is the envelope's when it is one this service
applies, else ``unknown``: the label never takes a value a sender made up.
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import Counter

MESSAGES = Counter("app_consumer_messages", "Inbound messages settled, by type and outcome", ["type", "outcome"])
UNKNOWN_TYPE = "unknown"


class MessageCounts:
    """Counts outcomes under the known types only (see the module's docstring)."""

    def __init__(self, known_types: Collection[str]) -> None:
        self._known = frozenset(known_types)

    def count(self, message_type: str | None, outcome: str) -> None:
        MESSAGES.labels(message_type if message_type in self._known else UNKNOWN_TYPE, outcome).inc()
