"""Prometheus metrics of the database sink."""

from __future__ import annotations

import threading
import weakref

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

# Upper bounds in seconds of the write-latency buckets, from one fast batch to a slow one.
WRITE_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, DatabaseMetrics] = (
    weakref.WeakKeyDictionary()
)


class DatabaseMetrics:
    """Counters and the latency histogram of one registry, labelled by table or operation."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows_written = Counter(
            "pulse_ingest_database_rows_written",
            "Rows inserted or updated, by table.",
            ["table"],
            registry=registry,
        )
        self.batches = Counter(
            "pulse_ingest_database_batches",
            "Write calls committed, by operation.",
            ["operation"],
            registry=registry,
        )
        self.retries = Counter(
            "pulse_ingest_database_retries",
            "Write attempts that failed with a retriable error and were retried, by operation.",
            ["operation"],
            registry=registry,
        )
        self.write_seconds = Histogram(
            "pulse_ingest_database_write_seconds",
            "Duration of committed write calls in seconds, by operation.",
            ["operation"],
            buckets=WRITE_SECONDS_BUCKETS,
            registry=registry,
        )


def database_metrics(registry: CollectorRegistry | None = None) -> DatabaseMetrics:
    """Return the metrics registered in `registry` (default: the global one), creating them once."""
    target = REGISTRY if registry is None else registry
    with _lock:
        metrics = _by_registry.get(target)
        if metrics is None:
            metrics = DatabaseMetrics(target)
            _by_registry[target] = metrics
        return metrics
