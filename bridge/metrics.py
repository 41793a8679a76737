"""Per-listener counters for the periodic log line and the Prometheus endpoint."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, start_http_server

logger = logging.getLogger(__name__)

RECEIVED = Counter("bridge_received", "AMQP deliveries received", ["queue"])
RELAYED = Counter("bridge_relayed", "Deliveries stored in Kafka and acked", ["queue"])
RETRIED = Counter("bridge_retried", "Kafka sends retried after a failure or timeout", ["queue"])
RECONNECTS = Counter("bridge_reconnects", "AMQP reconnect attempts", ["queue"])
QUEUE_DEPTH = Gauge("bridge_queue_depth", "Ready messages in the AMQP queue at the last check", ["queue"])
IN_FLIGHT = Gauge("bridge_in_flight", "Deliveries received but not yet acked", ["queue"])


@dataclass
class ListenerStats:
    """Counts of one listener; each field is written by one thread only, so no lock is needed."""

    queue: str
    #: Written by the AMQP thread.
    received: int = 0
    #: Written by the AMQP thread when the ack is sent.
    relayed: int = 0
    #: Written by the AMQP thread.
    reconnects: int = 0
    #: Written by the asyncio loop.
    retried: int = 0
    #: Written by the AMQP thread; None until the first check.
    queue_depth: int | None = None

    def count_received(self) -> None:
        """Count one delivery taken from the queue."""
        self.received += 1
        RECEIVED.labels(self.queue).inc()

    def count_relayed(self) -> None:
        """Count one delivery acked after Kafka stored it."""
        self.relayed += 1
        RELAYED.labels(self.queue).inc()

    def count_retried(self) -> None:
        """Count one Kafka send retry."""
        self.retried += 1
        RETRIED.labels(self.queue).inc()

    def count_reconnect(self) -> None:
        """Count one AMQP reconnect attempt."""
        self.reconnects += 1
        RECONNECTS.labels(self.queue).inc()

    def set_queue_depth(self, depth: int) -> None:
        """Record the queue's ready-message count."""
        self.queue_depth = depth
        QUEUE_DEPTH.labels(self.queue).set(depth)

    def set_in_flight(self, count: int) -> None:
        """Record the number of unacked deliveries."""
        IN_FLIGHT.labels(self.queue).set(count)


def start_metrics_server(port: int) -> None:
    """Serve Prometheus metrics on 127.0.0.1:``port``; port 0 leaves the endpoint off."""
    if port == 0:
        return
    start_http_server(port, addr="127.0.0.1")
    logger.info("serving Prometheus metrics on http://127.0.0.1:%d/metrics", port)
