"""Settings of the local stack (ports, versions, folders), read from the environment."""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.envconfig import env_float, env_int, env_str

# Repository root: the folder that contains the `stack` package.
REPO_ROOT = Path(__file__).resolve().parent.parent

# Credentials of the local stack. They only guard servers bound to 127.0.0.1 and are part of
# the documented contract (docs/architecture.md), so they are not secrets.
AMQP_USER = "pulse-local"
AMQP_PASSWORD = "pulse-local"
AMQP_VHOST = "pulse"
POSTGRES_ROLE = "pulse_ingest"
POSTGRES_PASSWORD = "pulse_ingest"
POSTGRES_DATABASES = ("pulse_ingest", "pulse_ingest_test")

# Durable topic exchanges that `up` declares in the `pulse` vhost; the bridge declares passively.
PULSE_EXCHANGES = (
    "exchange/taskcluster-github/v1/push",
    "exchange/taskcluster-github/v1/pull-request",
    "exchange/taskcluster-github/v1/release",
    "exchange/hgpushes/v1",
    "exchange/hgpushes/v2",
    "exchange/taskcluster-treeherder/v1/jobs",
    "exchange/taskcluster-queue/v1/task-defined",
    "exchange/taskcluster-queue/v1/task-pending",
    "exchange/taskcluster-queue/v1/task-running",
    "exchange/taskcluster-queue/v1/task-completed",
    "exchange/taskcluster-queue/v1/task-failed",
    "exchange/taskcluster-queue/v1/task-exception",
)


def default_postgres_bin() -> str:
    """Return the bin folder of the newest Debian PostgreSQL install, or the version 15 path."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
    )
    return found[-1] if found else "/usr/lib/postgresql/15/bin"


@dataclass(frozen=True)
class StackConfig:
    """Every setting of the local stack; `from_env` documents the variable behind each field."""

    state_dir: Path
    kafka_version: str
    kafka_port: int
    kafka_controller_port: int
    kafka_heap_opts: str
    amqp_port: int
    amqps_port: int
    rabbitmq_dist_port: int
    epmd_port: int
    rabbitmq_node: str
    postgres_port: int
    postgres_bin: Path
    start_timeout: float
    stop_timeout: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackConfig:
        """Build the settings from the environment, with the defaults of docs/architecture.md."""
        source = os.environ if environ is None else environ
        state_dir = env_str("PULSE_STACK_DIR", "", source) or str(REPO_ROOT / ".stack")
        amqp_port = env_int("PULSE_STACK_AMQP_PORT", 19672, source, minimum=1)

        return cls(
            # PULSE_STACK_DIR: folder for all state (jars, data, logs, PID files).
            state_dir=Path(state_dir).resolve(),
            # KAFKA_VERSION: version of org.apache.kafka:kafka_2.13 fetched from Maven Central.
            kafka_version=env_str("KAFKA_VERSION", "3.9.2", source).strip(),
            # PULSE_STACK_KAFKA_PORT: client listener on 127.0.0.1.
            kafka_port=env_int("PULSE_STACK_KAFKA_PORT", 19092, source, minimum=1),
            # PULSE_STACK_KAFKA_CONTROLLER_PORT: KRaft controller listener on 127.0.0.1.
            kafka_controller_port=env_int(
                "PULSE_STACK_KAFKA_CONTROLLER_PORT", 19093, source, minimum=1
            ),
            # PULSE_STACK_KAFKA_HEAP_OPTS: JVM heap flags of the broker.
            kafka_heap_opts=env_str("PULSE_STACK_KAFKA_HEAP_OPTS", "-Xms256m -Xmx768m", source),
            # PULSE_STACK_AMQP_PORT: RabbitMQ AMQP 0-9-1 listener on 127.0.0.1.
            amqp_port=amqp_port,
            # PULSE_STACK_AMQPS_PORT: RabbitMQ AMQP over TLS listener on 127.0.0.1, by default
            # the AMQP port minus 1, so that a stack on moved ports moves it too.
            amqps_port=env_int("PULSE_STACK_AMQPS_PORT", amqp_port - 1, source, minimum=1),
            # PULSE_STACK_RABBITMQ_DIST_PORT: Erlang distribution port of the RabbitMQ node.
            rabbitmq_dist_port=env_int("PULSE_STACK_RABBITMQ_DIST_PORT", 19673, source, minimum=1),
            # PULSE_STACK_EPMD_PORT: port of the Erlang port mapper daemon the stack starts.
            epmd_port=env_int("PULSE_STACK_EPMD_PORT", 19369, source, minimum=1),
            # PULSE_STACK_RABBITMQ_NODE: Erlang node name of the RabbitMQ server.
            rabbitmq_node=env_str("PULSE_STACK_RABBITMQ_NODE", "pulse-ingest@localhost", source),
            # PULSE_STACK_POSTGRES_PORT: PostgreSQL listener on 127.0.0.1.
            postgres_port=env_int("PULSE_STACK_POSTGRES_PORT", 19432, source, minimum=1),
            # PULSE_STACK_POSTGRES_BIN: folder with initdb, pg_ctl and postgres.
            postgres_bin=Path(env_str("PULSE_STACK_POSTGRES_BIN", "", source) or default_postgres_bin()),
            # PULSE_STACK_START_TIMEOUT: seconds each service gets to pass its readiness check.
            start_timeout=env_float("PULSE_STACK_START_TIMEOUT", 180.0, source, minimum=1.0),
            # PULSE_STACK_STOP_TIMEOUT: seconds between SIGTERM and SIGKILL on `down`.
            stop_timeout=env_float("PULSE_STACK_STOP_TIMEOUT", 30.0, source, minimum=0.0),
        )

    @property
    def kafka_bootstrap(self) -> str:
        """Kafka bootstrap address for clients."""
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def tls_dir(self) -> Path:
        """Folder of the test CA and of the TLS listener's certificate and key."""
        return self.state_dir / "rabbitmq" / "tls"

    @property
    def tls_ca_file(self) -> Path:
        """Certificate of the stack's test CA, which signed the TLS listener's certificate."""
        return self.tls_dir / "ca.pem"

    @property
    def pulse_url(self) -> str:
        """AMQP URL of the `pulse` vhost."""
        return f"amqp://{AMQP_USER}:{AMQP_PASSWORD}@127.0.0.1:{self.amqp_port}/{AMQP_VHOST}"

    def database_url(self, database: str) -> str:
        """SQLAlchemy URL (asyncpg driver) of one of the stack's databases."""
        return (
            f"postgresql+asyncpg://{POSTGRES_ROLE}:{POSTGRES_PASSWORD}"
            f"@127.0.0.1:{self.postgres_port}/{database}"
        )

    def client_env(self) -> dict[str, str]:
        """Variables that point the project's programs at this stack."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "PULSE_URL": self.pulse_url,
            "DATABASE_URL": self.database_url(POSTGRES_DATABASES[0]),
            "TEST_DATABASE_URL": self.database_url(POSTGRES_DATABASES[1]),
        }
