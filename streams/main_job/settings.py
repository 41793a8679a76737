"""Settings of one main-job run: its id, topics, queues, folders and timeouts."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bridge.urls import PulseUrl, parse_pulse_url
from streams.config import TopicNames, WorkerSettings
from streams.envconfig import env_str
from streams.sinks.database.config import PROJECT_ROOT, DatabaseSettings

# Every topic, queue and consumer group of a run starts with this text and the run id.
RUN_NAME_PREFIX = "main-job-"

DEFAULT_PULSE_URL = "amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse"

# Worker variables that choose where lookups go; a run sets each to its fixture server.
LOOKUP_URL_VARIABLES = (
    "LOOKUP_BASE_URL_OVERRIDE",
    "TASKCLUSTER_ROOT_URL_OVERRIDE",
    "HG_BASE_URL_OVERRIDE",
    "GITHUB_API_URL",
)


def new_run_id() -> str:
    """Return a run id made of the UTC start time and 6 random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class RunSettings:
    """Everything a run needs; the subprocesses get their part as environment variables."""

    run_id: str

    # KAFKA_BOOTSTRAP_SERVERS: brokers of the bridge, the worker and the observer.
    bootstrap_servers: str

    # PULSE_URL: broker that the samples are published to and the bridge consumes from.
    pulse_url: PulseUrl

    # PULSE_URL as given, passed on to the bridge; it contains the password.
    pulse_url_text: str = field(repr=False)

    # DATABASE_URL, else the SQLite file `var/pulse-ingest.db`: the database the worker writes.
    database: DatabaseSettings

    # Folder of this run's logs and worker tables: `var/main-job/<run id>`.
    run_dir: Path

    # Seconds to wait for every message to be accounted for (`--timeout`).
    timeout: float

    # Port of the worker's Prometheus page, which reports dropped and parked job events.
    metrics_port: int

    @property
    def name(self) -> str:
        """The run's name, used as topic prefix, Faust app id and queue name."""
        return RUN_NAME_PREFIX + self.run_id

    @property
    def topic_prefix(self) -> str:
        """TOPIC_PREFIX of the worker; every topic of the run starts with it."""
        return self.name + "."

    @property
    def push_queue(self) -> str:
        """PULSE_PUSH_QUEUE_NAME of the bridge."""
        return self.name + "-pushes"

    @property
    def job_queue(self) -> str:
        """PULSE_JOB_QUEUE_NAME of the bridge."""
        return self.name + "-jobs"

    def amqp_queue_names(self) -> tuple[str, str]:
        """Return the full AMQP names that the bridge gives its two queues."""
        user = self.pulse_url.user
        return (f"queue/{user}/{self.push_queue}", f"queue/{user}/{self.job_queue}")

    def worker_env(self, lookup_base_url: str | None = None) -> dict[str, str]:
        """Return the variables that point the worker at this run's topics and database.

        With ``lookup_base_url`` (the run's fixture server) the worker enriches pushes and
        sends every lookup there. Without it push enrichment is off, so the worker makes no
        lookup for pushes.
        """
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "TOPIC_PREFIX": self.topic_prefix,
            "APP_ID": self.name,
            "WORKER_ID": "main-job",
            "DATA_DIR": str(self.run_dir / "worker"),
            "DATABASE_URL": self.database.url,
            "METRICS_PORT": str(self.metrics_port),
            "PUSH_ENRICHMENT": "false",
            # The pushlog poller would read json-pushes of every active hg repository, so it stays off.
            "PUSHLOG_POLL_INTERVAL": "0",
        }
        if lookup_base_url is None:
            return env

        # The samples' pushes point at hg.mozilla.org and GitHub, which a run must not
        # contact. Each per-service override is set too, so a value inherited from the
        # caller's environment cannot send a lookup elsewhere, and no GitHub token is sent.
        env["PUSH_ENRICHMENT"] = "true"
        for name in LOOKUP_URL_VARIABLES:
            env[name] = lookup_base_url
        env["GITHUB_TOKEN"] = ""
        return env

    def bridge_env(self) -> dict[str, str]:
        """Return the variables that point the bridge at this run's queues and raw topics."""
        topics = self.topics()
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "PULSE_URL": self.pulse_url_text,
            "PULSE_PUSH_QUEUE_NAME": self.push_queue,
            "PULSE_JOB_QUEUE_NAME": self.job_queue,
            "RAW_PUSH_TOPIC": topics.raw_pushes,
            "RAW_JOB_TOPIC": topics.raw_jobs,
            "BRIDGE_DATA_DIR": str(self.run_dir / "bridge"),
            "BRIDGE_STATS_INTERVAL": "10",
        }

    def worker_settings(self, environ: Mapping[str, str]) -> WorkerSettings:
        """Read the worker's settings as the worker will, from ``environ`` plus worker_env()."""
        return WorkerSettings.from_env({**environ, **self.worker_env()})

    def topics(self) -> TopicNames:
        """Return the names of this run's topics."""
        return WorkerSettings.from_env(self.worker_env()).topics


def load_run_settings(environ: Mapping[str, str], timeout: float, run_id: str | None = None) -> RunSettings:
    """Build the run settings from the environment; raises ConfigurationError for invalid values."""
    identifier = run_id or new_run_id()
    url_text = env_str("PULSE_URL", DEFAULT_PULSE_URL, environ).strip() or DEFAULT_PULSE_URL
    url = parse_pulse_url(url_text, "PULSE_URL")
    servers = env_str("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092", environ).strip()

    return RunSettings(
        run_id=identifier,
        bootstrap_servers=servers,
        pulse_url=url,
        pulse_url_text=url_text,
        database=DatabaseSettings.from_env(environ),
        run_dir=PROJECT_ROOT / "var" / "main-job" / identifier,
        timeout=timeout,
        metrics_port=free_port(),
    )
