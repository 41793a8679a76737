"""Settings of the Faust worker, read from environment variables."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.envconfig import env_bool, env_float, env_int, env_str
from streams.errors import ConfigurationError
from streams.transforms.decode import DEFAULT_MAX_BYTES

logger = logging.getLogger(__name__)

STORES = ("rocksdb://", "memory://")

# Kafka topic names: ASCII letters, digits, '.', '_' and '-', at most 249 characters.
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")

# Worker ids become folder names, so they are limited to characters safe in a path.
_WORKER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class TopicNames:
    """Names of every topic the worker reads or writes, prefix already applied."""

    # RAW_PUSH_TOPIC: AMQP push bodies written by the bridge.
    raw_pushes: str

    # RAW_JOB_TOPIC: AMQP job bodies written by the bridge.
    raw_jobs: str

    # RAW_TASK_TOPIC: AMQP bodies of Taskcluster task events written by the bridge (`--tasks`).
    raw_tasks: str

    # PUSH_ENRICH_TOPIC: raw push bodies, keyed `<repository>/<revision>`, whose commit list
    # is still to be looked up. The push ingest agent copies each un-enriched push here.
    push_enrichment: str

    # PUSH_TOPIC: push records keyed `<repository>/<revision>`.
    pushes: str

    # JOB_TOPIC: job records keyed `<repository>/<revision>`.
    jobs: str

    # ACCEPTED_PUSH_TOPIC: push records stored in the database, keyed `<repository>/<revision>`.
    accepted_pushes: str

    # ACCEPTED_JOB_TOPIC: job records stored in the database, keyed by job guid.
    accepted_jobs: str

    # DEAD_LETTER_TOPIC: dead-letter records from every stage, keyed by the source key.
    dead_letter: str

    # SWEEP_TOPIC: internal tick records, one per partition and sweep interval, that make the
    # join agent expire parked jobs. It has the same partition count as PUSH_TOPIC and JOB_TOPIC.
    sweep: str

    def all(self) -> tuple[str, ...]:
        """Return every topic name, each once."""
        return tuple(dict.fromkeys(self.__dict__.values()))


_TOPIC_DEFAULTS: dict[str, tuple[str, str]] = {
    "raw_pushes": ("RAW_PUSH_TOPIC", "pulse-raw-pushes"),
    "raw_jobs": ("RAW_JOB_TOPIC", "pulse-raw-jobs"),
    "raw_tasks": ("RAW_TASK_TOPIC", "pulse-raw-tasks"),
    "push_enrichment": ("PUSH_ENRICH_TOPIC", "pulse-push-enrichment"),
    "pushes": ("PUSH_TOPIC", "pulse-pushes-by-revision"),
    "jobs": ("JOB_TOPIC", "pulse-jobs-by-revision"),
    "accepted_pushes": ("ACCEPTED_PUSH_TOPIC", "pulse-accepted-pushes"),
    "accepted_jobs": ("ACCEPTED_JOB_TOPIC", "pulse-accepted-jobs"),
    "dead_letter": ("DEAD_LETTER_TOPIC", "pulse-dead-letter"),
    "sweep": ("SWEEP_TOPIC", "pulse-parked-job-sweep"),
}


@dataclass(frozen=True)
class WorkerSettings:
    """Everything the Faust worker needs besides the database settings."""

    # KAFKA_BOOTSTRAP_SERVERS: comma-separated `host:port` list of Kafka brokers.
    bootstrap_servers: tuple[str, ...]

    # Topic names; see TopicNames. TOPIC_PREFIX is prepended to each of them, which lets
    # tests and side-by-side deployments use their own topics.
    topics: TopicNames

    # APP_ID: Faust application id. It names the consumer group and the changelog topics.
    app_id: str = "pulse-ingest"

    # TOPIC_PARTITIONS: partition count of the topics the worker creates. The by-revision
    # topics, the sweep topic and the table changelogs all use it, so they stay co-partitioned.
    topic_partitions: int = 8

    # TOPIC_REPLICATION_FACTOR: replication factor of the topics the worker creates.
    replication_factor: int = 1

    # WORKER_ID: stable name of this worker; it selects the default DATA_DIR.
    worker_id: str = "0"

    # DATA_DIR: folder of this worker's RocksDB tables. Keep it across restarts so the tables
    # are not rebuilt from their changelogs, and never share it between two workers.
    # Default: `var/worker-<WORKER_ID>` below the current folder.
    data_dir: Path = Path("var/worker-0")

    # STORE: Faust table store, `rocksdb://` (RocksDB through rocksdict) or `memory://`.
    store: str = "rocksdb://"

    # ROCKSDB_BLOCK_CACHE_BYTES: block cache of each table partition database, in bytes.
    rocksdb_block_cache_bytes: int = 8 * 1024 * 1024

    # ROCKSDB_WRITE_BUFFER_BYTES: write buffer (memtable) of each table partition database, in bytes.
    rocksdb_write_buffer_bytes: int = 4 * 1024 * 1024

    # TABLE_STANDBY_REPLICAS: how many other workers keep a hot copy of each table partition.
    table_standby_replicas: int = 0

    # PARKED_JOB_WINDOW: seconds a job waits for its push before it is dead-lettered with
    # reason `missing-push`.
    parked_job_window: float = 14400.0

    # PUSH_DATABASE_LOOKUP: look up in the database, with one query per join batch, the push
    # of each job about to be parked because the push table lacks it. The jobs of a push
    # found there are accepted at once. This serves a database that stored pushes before
    # this worker's topics existed.
    push_database_lookup: bool = True

    # PARKED_SWEEP_INTERVAL: seconds between two sweeps for expired parked jobs.
    parked_sweep_interval: float = 60.0

    # JOIN_BATCH_SIZE: most events the join agent handles in one batch, that is in one
    # database transaction and one round of accepted sends.
    join_batch_size: int = 500

    # JOIN_BATCH_WAIT: seconds the join agent waits for a batch to fill before it handles
    # the events it has.
    join_batch_wait: float = 0.05

    # INGEST_BATCH_SIZE: most events the push ingest agent transforms and sends in one batch
    # before it acknowledges them. Raw jobs are transformed in the join's batches instead.
    ingest_batch_size: int = 500

    # INGEST_BATCH_WAIT: seconds an ingest agent waits for a batch to fill before it handles
    # the events it has.
    ingest_batch_wait: float = 0.05

    # MAX_MESSAGE_BYTES: largest raw body the ingest agents decode; larger ones are dead-lettered.
    max_message_bytes: int = DEFAULT_MAX_BYTES

    # RETRY_INITIAL: seconds before the first retry of a failed Kafka send.
    retry_initial: float = 0.5

    # RETRY_MAX: upper bound in seconds of the doubling delay between Kafka send retries.
    retry_max: float = 30.0

    # WEB_ENABLED: start Faust's web server on 127.0.0.1:WEB_PORT.
    web_enabled: bool = False

    # WEB_PORT: TCP port of Faust's web server.
    web_port: int = 6066

    # METRICS_PORT: TCP port on 127.0.0.1 for the Prometheus metrics page; 0 disables it.
    metrics_port: int = 0

    # REPOSITORY_REGISTRY: path of the repository registry YAML; unset uses the shipped one.
    repository_registry: Path | None = None

    # LOG_LEVEL: level of the worker's logs (debug, info, warning, error).
    log_level: str = "info"

    # PROJECTS_TO_INGEST: comma-separated Treeherder projects whose task events become jobs;
    # empty accepts every project. Task events of other projects are dead-lettered with
    # reason `ignored-project`.
    projects_to_ingest: frozenset[str] = frozenset()

    # PUSH_ENRICHMENT: look up the commit list of each accepted push (hg json-pushes, GitHub
    # compare or pull request commits) and send the enriched push record to the join. Off by
    # default so that no worker calls hg.mozilla.org or GitHub unless configured to; production
    # deployments that want Treeherder's commit lists turn it on.
    push_enrichment: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        """Read the settings, raising ConfigurationError that names the invalid variable."""
        servers = _read_bootstrap_servers(environ)
        app_id = _read_name("APP_ID", cls.app_id, _TOPIC_NAME, environ)
        topics = _read_topics(environ)
        worker_id = _read_name("WORKER_ID", cls.worker_id, _WORKER_ID, environ)

        data_dir_raw = env_str("DATA_DIR", "", environ).strip()
        data_dir = Path(data_dir_raw) if data_dir_raw else Path("var") / f"worker-{worker_id}"

        store = env_str("STORE", cls.store, environ).strip()
        if store not in STORES:
            raise ConfigurationError("STORE", f"expected one of {', '.join(STORES)}, got {store!r}")

        retry_initial = env_float("RETRY_INITIAL", cls.retry_initial, environ, minimum=0.0)
        retry_max = env_float("RETRY_MAX", cls.retry_max, environ, minimum=0.0)
        if retry_max < retry_initial:
            raise ConfigurationError(
                "RETRY_MAX", f"must be at least RETRY_INITIAL ({retry_initial}), got {retry_max}"
            )

        registry_raw = env_str("REPOSITORY_REGISTRY", "", environ).strip()
        registry = Path(registry_raw) if registry_raw else None
        if registry is not None and not registry.is_file():
            raise ConfigurationError("REPOSITORY_REGISTRY", f"file not found: {registry}")

        log_level = env_str("LOG_LEVEL", cls.log_level, environ).strip().lower()
        if log_level not in ("debug", "info", "warning", "error"):
            raise ConfigurationError(
                "LOG_LEVEL", f"expected debug, info, warning or error, got {log_level!r}"
            )

        return cls(
            bootstrap_servers=servers,
            topics=topics,
            app_id=app_id,
            topic_partitions=env_int("TOPIC_PARTITIONS", cls.topic_partitions, environ, minimum=1),
            replication_factor=env_int(
                "TOPIC_REPLICATION_FACTOR", cls.replication_factor, environ, minimum=1
            ),
            worker_id=worker_id,
            data_dir=data_dir,
            store=store,
            rocksdb_block_cache_bytes=env_int(
                "ROCKSDB_BLOCK_CACHE_BYTES", cls.rocksdb_block_cache_bytes, environ, minimum=0
            ),
            rocksdb_write_buffer_bytes=env_int(
                "ROCKSDB_WRITE_BUFFER_BYTES", cls.rocksdb_write_buffer_bytes, environ, minimum=65536
            ),
            table_standby_replicas=env_int(
                "TABLE_STANDBY_REPLICAS", cls.table_standby_replicas, environ, minimum=0
            ),
            parked_job_window=env_float(
                "PARKED_JOB_WINDOW", cls.parked_job_window, environ, minimum=0.0
            ),
            parked_sweep_interval=env_float(
                "PARKED_SWEEP_INTERVAL", cls.parked_sweep_interval, environ, minimum=0.1
            ),
            join_batch_size=env_int("JOIN_BATCH_SIZE", cls.join_batch_size, environ, minimum=1),
            join_batch_wait=env_float(
                "JOIN_BATCH_WAIT", cls.join_batch_wait, environ, minimum=0.001
            ),
            ingest_batch_size=env_int(
                "INGEST_BATCH_SIZE", cls.ingest_batch_size, environ, minimum=1
            ),
            ingest_batch_wait=env_float(
                "INGEST_BATCH_WAIT", cls.ingest_batch_wait, environ, minimum=0.001
            ),
            max_message_bytes=env_int(
                "MAX_MESSAGE_BYTES", cls.max_message_bytes, environ, minimum=1
            ),
            retry_initial=retry_initial,
            retry_max=retry_max,
            web_enabled=env_bool("WEB_ENABLED", cls.web_enabled, environ),
            web_port=_read_port("WEB_PORT", cls.web_port, environ, allow_zero=False),
            metrics_port=_read_port("METRICS_PORT", cls.metrics_port, environ, allow_zero=True),
            repository_registry=registry,
            log_level=log_level,
            projects_to_ingest=_read_projects(environ),
            push_enrichment=env_bool("PUSH_ENRICHMENT", cls.push_enrichment, environ),
            push_database_lookup=env_bool(
                "PUSH_DATABASE_LOOKUP", cls.push_database_lookup, environ
            ),
        )

    @property
    def broker_urls(self) -> list[str]:
        """Return the bootstrap servers as Faust `kafka://` URLs."""
        return [f"kafka://{server}" for server in self.bootstrap_servers]


def _read_bootstrap_servers(environ: Mapping[str, str] | None) -> tuple[str, ...]:
    raw = env_str("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092", environ)
    servers = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not servers:
        raise ConfigurationError("KAFKA_BOOTSTRAP_SERVERS", "expected at least one host:port")

    for server in servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(
                "KAFKA_BOOTSTRAP_SERVERS", f"expected host:port, got {server!r}"
            )
    return servers


def _read_name(
    name: str, default: str, pattern: re.Pattern[str], environ: Mapping[str, str] | None
) -> str:
    value = env_str(name, default, environ).strip()
    if not pattern.match(value):
        raise ConfigurationError(
            name, f"expected letters, digits, '.', '_' or '-' only, got {value!r}"
        )
    return value


def _read_topics(environ: Mapping[str, str] | None) -> TopicNames:
    prefix = env_str("TOPIC_PREFIX", "", environ).strip()
    if prefix and not _TOPIC_NAME.match(prefix):
        raise ConfigurationError(
            "TOPIC_PREFIX", f"expected letters, digits, '.', '_' or '-' only, got {prefix!r}"
        )

    names: dict[str, str] = {}
    for field, (variable, default) in _TOPIC_DEFAULTS.items():
        names[field] = prefix + _read_name(variable, default, _TOPIC_NAME, environ)

    seen: dict[str, str] = {}
    for field, topic in names.items():
        variable = _TOPIC_DEFAULTS[field][0]
        if topic in seen:
            raise ConfigurationError(variable, f"topic {topic!r} is already used by {seen[topic]}")
        seen[topic] = variable

    return TopicNames(**names)


def _read_projects(environ: Mapping[str, str] | None) -> frozenset[str]:
    raw = env_str("PROJECTS_TO_INGEST", "", environ)
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def _read_port(
    name: str, default: int, environ: Mapping[str, str] | None, allow_zero: bool
) -> int:
    port = env_int(name, default, environ, minimum=0 if allow_zero else 1)
    if port > 65535:
        raise ConfigurationError(name, f"must be at most 65535, got {port}")
    return port
