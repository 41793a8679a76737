"""Prometheus metrics of the Faust worker and the HTTP page that serves them."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, start_http_server

logger = logging.getLogger(__name__)

METRICS_HOST = "127.0.0.1"

ACCEPTED = Counter(
    "pulse_ingest_accepted_total",
    "Records written to the database and to an accepted topic.",
    ["kind"],
)

DEAD_LETTERED = Counter(
    "pulse_ingest_dead_lettered_total",
    "Events sent to the dead-letter topic, by stage and reason.",
    ["stage", "reason"],
)

STATE_DROPPED = Counter(
    "pulse_ingest_job_events_dropped_total",
    "Job events the join dropped because an earlier event of the same batch moved the job's "
    "state past theirs. Events behind a state stored by an earlier batch count in "
    "pulse_ingest_job_events_behind_database_total.",
)

BEHIND_DATABASE = Counter(
    "pulse_ingest_job_events_behind_database_total",
    "Job events not sent to the accepted topic because their stored row is further along: "
    "events older than a state stored by an earlier batch, and replays after a crash.",
)

PARKED = Counter(
    "pulse_ingest_jobs_parked_total",
    "Job events parked because their push was not known yet.",
)

RELEASED = Counter(
    "pulse_ingest_jobs_released_total",
    "Parked job events released when their push arrived.",
)

PARKED_NOW = Gauge(
    "pulse_ingest_parked_jobs",
    "Job events currently parked, by table partition; exact after each sweep of that partition.",
    ["partition"],
)

RETRIES = Counter(
    "pulse_ingest_retries_total",
    "Retries of a failed Kafka send or database write, by operation.",
    ["operation"],
)


def start_metrics_server(port: int) -> None:
    """Serve the default Prometheus registry on 127.0.0.1:``port``; 0 does nothing."""
    if port == 0:
        logger.info("Metrics page disabled (METRICS_PORT=0)")
        return

    start_http_server(port, addr=METRICS_HOST)
    logger.info("Serving metrics on http://%s:%d/metrics", METRICS_HOST, port)

TABLE_KEYS = Gauge(
    "pulse_ingest_table_keys",
    "Keys in the table partitions this worker holds, by table; updated every PARKED_SWEEP_INTERVAL.",
    ["table"],
)
