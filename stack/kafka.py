"""Single-node KRaft Kafka broker run from Maven Central jars on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import uuid
from pathlib import Path

from stack.config import StackConfig
from stack.errors import StackError
from stack.prerequisites import require_program
from stack.process import (
    owned_pid,
    pid_alive,
    port_open,
    read_pid,
    retry_check,
    run,
    start_detached,
    stop_pid,
    wait_until,
    write_pid,
)
from stack.service import ServiceStatus

logger = logging.getLogger(__name__)


def new_cluster_id() -> str:
    """Return a random KRaft cluster id: a UUID in URL-safe base64 without padding.

    Ids that start with "-" are skipped, because ``kafka-storage format -t ID`` reads such an
    id as an option and fails (seen with Kafka 3.9.2).
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text

# Topic that the readiness check writes to and reads back.
READINESS_TOPIC = "stack-readiness"

# Version of maven-dependency-plugin that copies the broker's jars.
DEPENDENCY_PLUGIN_VERSION = "3.8.1"

# slf4j binding for Kafka 3.x, whose core module leaves the logging backend to the caller.
RELOAD4J = ("org.slf4j", "slf4j-reload4j", "1.7.36")

# log4j2 binding for Kafka 4.x, which moved to log4j2.
# NOTE: the 4.x branch (this binding and the log4j2 config) is untested. Only 3.9.2 was started.
LOG4J2 = (
    ("org.apache.logging.log4j", "log4j-slf4j2-impl", "2.24.3"),
    ("org.apache.logging.log4j", "log4j-core", "2.24.3"),
)


def major_version(version: str) -> int:
    """Return the major number of a Kafka version such as ``3.9.2``."""
    head = version.split(".", 1)[0]
    if not head.isdigit():
        raise StackError(f"KAFKA_VERSION: expected a version such as 3.9.2, got {version!r}")
    return int(head)


def render_pom(version: str) -> str:
    """Return a pom whose runtime dependencies are the broker's classpath."""
    bindings = [RELOAD4J] if major_version(version) < 4 else list(LOG4J2)
    dependencies = [("org.apache.kafka", "kafka_2.13", version), *bindings]
    rendered = "\n".join(
        "    <dependency>"
        f"<groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{ver}</version>"
        "</dependency>"
        for group, artifact, ver in dependencies
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.pulse-ingest</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{rendered}
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""


def render_server_properties(config: StackConfig, data_dir: Path) -> str:
    """Return server.properties for one combined broker and controller node."""
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{config.kafka_controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{config.kafka_port},"
        f"CONTROLLER://127.0.0.1:{config.kafka_controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{config.kafka_port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        "num.partitions=1",
        "default.replication.factor=1",
        "min.insync.replicas=1",
        # One node: every internal topic has one replica, or group joins and transactions hang.
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=4",
        # The first consumer group join does not wait 3 s for more members.
        "group.initial.rebalance.delay.ms=0",
        "num.network.threads=2",
        "num.io.threads=2",
    ]
    if major_version(config.kafka_version) >= 4:
        lines += [
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
        ]
    return "\n".join(lines) + "\n"


def render_log4j(log_file: Path, version: str) -> str:
    """Return a log4j (3.x) or log4j2 (4.x) config that writes WARN and above to ``log_file``."""
    if major_version(version) < 4:
        return "\n".join(
            [
                "log4j.rootLogger=WARN, file",
                "log4j.appender.file=org.apache.log4j.RollingFileAppender",
                f"log4j.appender.file.File={log_file}",
                "log4j.appender.file.MaxFileSize=10MB",
                "log4j.appender.file.MaxBackupIndex=2",
                "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
                "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
                "",
            ]
        )
    return "\n".join(
        [
            "appender.file.type=File",
            "appender.file.name=file",
            f"appender.file.fileName={log_file}",
            "appender.file.layout.type=PatternLayout",
            "appender.file.layout.pattern=[%d] %p %m (%c)%n",
            "rootLogger.level=warn",
            "rootLogger.appenderRef.file.ref=file",
            "",
        ]
    )


async def round_trip(bootstrap: str, timeout: float) -> None:
    """Produce one record to the readiness topic and consume it back."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    payload = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await producer.start()
    try:
        sent = await producer.send_and_wait(READINESS_TOPIC, payload, partition=0)
    finally:
        await producer.stop()

    partition = TopicPartition(READINESS_TOPIC, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        record = await asyncio.wait_for(consumer.getone(), timeout)
    finally:
        await consumer.stop()

    if record.value != payload:
        raise StackError(f"Kafka readiness: read back {record.value!r}, expected {payload!r}")


class KafkaService:
    """Kafka broker whose jars, data, config and logs live in `<state>/kafka`."""

    name = "kafka"

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = config.state_dir / "kafka"
        self.libs = self.home / f"libs-{config.kafka_version}"
        self.data_dir = self.home / "data"
        self.pid_file = self.home / "kafka.pid"
        self.log_dir = self.home / "logs"
        self.properties = self.home / "server.properties"
        self.log4j = self.home / ("log4j.properties" if major_version(config.kafka_version) < 4 else "log4j2.properties")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.config.kafka_port} (controller 127.0.0.1:{self.config.kafka_controller_port})"

    def fetch_jars(self) -> bool:
        """Copy the broker's runtime classpath from Maven Central; return False when already there."""
        marker = self.libs / ".complete"
        if marker.exists():
            return False

        mvn = require_program("mvn", "maven")
        pom = self.home / "pom.xml"
        self.home.mkdir(parents=True, exist_ok=True)
        pom.write_text(render_pom(self.config.kafka_version))

        partial = self.home / f"libs-{self.config.kafka_version}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        logger.info("fetching Kafka %s jars with Maven into %s", self.config.kafka_version, self.libs)
        run(
            [
                mvn, "-B", "-q", "-f", str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={partial}",
            ],
            "mvn dependency:copy-dependencies",
        )

        shutil.rmtree(self.libs, ignore_errors=True)
        partial.rename(self.libs)
        marker.write_text(self.config.kafka_version + "\n")
        return True

    def cluster_id(self) -> str:
        """Return the KRaft cluster id, created once and kept with the data."""
        path = self.home / "cluster-id"
        if path.exists():
            stored = path.read_text().strip()
            # Earlier versions could store an id starting with "-", which kafka-storage
            # reads as an option, so formatting always failed. Such a store never started.
            if not stored.startswith("-"):
                return stored

        path.write_text(new_cluster_id() + "\n")
        return path.read_text().strip()

    def java_command(self, java: str, main_class: str, *args: str) -> list[str]:
        """Return a java command line with the broker's classpath and logging config."""
        log4j_flag = (
            f"-Dlog4j.configuration=file:{self.log4j}"
            if major_version(self.config.kafka_version) < 4
            else f"-Dlog4j2.configurationFile=file:{self.log4j}"
        )
        return [
            java,
            *self.config.kafka_heap_opts.split(),
            "-Djava.awt.headless=true",
            # Listen as plain IPv4 sockets, not as IPv4-mapped addresses of an IPv6 socket.
            "-Djava.net.preferIPv4Stack=true",
            f"-Dkafka.logs.dir={self.log_dir}",
            log4j_flag,
            "-cp", f"{self.libs}/*",
            main_class,
            *args,
        ]

    def pid(self) -> int | None:
        """Return the broker PID from the PID file when that process is this stack's broker."""
        return owned_pid(read_pid(self.pid_file), str(self.properties))

    def start(self) -> str:
        pid = self.pid()
        if pid_alive(pid):
            self.wait_ready(pid)
            return f"already running (PID {pid})"

        if port_open(self.config.kafka_port) or port_open(self.config.kafka_controller_port):
            raise StackError(
                f"port {self.config.kafka_port} or {self.config.kafka_controller_port} is taken by a "
                "process this stack did not start; stop it or set PULSE_STACK_KAFKA_PORT"
            )

        java = require_program("java", "openjdk-17-jre-headless")
        fetched = self.fetch_jars()

        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.properties.write_text(render_server_properties(self.config, self.data_dir))
        self.log4j.write_text(render_log4j(self.log_dir / "server.log", self.config.kafka_version))
        run(
            self.java_command(
                java, "kafka.tools.StorageTool", "format",
                "-t", self.cluster_id(), "-c", str(self.properties), "--ignore-formatted",
            ),
            "Kafka storage format",
        )

        pid = start_detached(
            self.java_command(java, "kafka.Kafka", str(self.properties)),
            self.log_dir / "kafka.out",
            cwd=self.home,
        )
        write_pid(self.pid_file, pid)
        self.wait_ready(pid)
        return f"started (PID {pid}{', jars fetched' if fetched else ''})"

    def wait_ready(self, pid: int | None) -> None:
        """Wait until a record makes a produce and consume round trip, retrying until the timeout."""
        alive = lambda: pid_alive(pid)  # noqa: E731
        wait_until(
            lambda: port_open(self.config.kafka_port),
            self.config.start_timeout,
            "Kafka listener",
            alive,
            self.log_dir / "kafka.out",
        )

        retry_check(
            lambda: asyncio.run(asyncio.wait_for(round_trip(self.config.kafka_bootstrap, 20.0), 30.0)),
            alive,
            self.config.start_timeout,
            f"Kafka produce and consume round trip at {self.config.kafka_bootstrap}",
            f"read {self.log_dir}/server.log and kafka.out",
        )

    def stop(self) -> str:
        pid = self.pid()
        stopped = stop_pid(pid, "kafka", self.config.stop_timeout)
        self.pid_file.unlink(missing_ok=True)
        return f"stopped (PID {pid})" if stopped else "already stopped"

    def status(self) -> ServiceStatus:
        pid = self.pid()
        up = pid is not None and port_open(self.config.kafka_port)
        return ServiceStatus(self.name, up, pid, self.address)
