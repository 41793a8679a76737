"""Helpers for the bridge integration tests: processes, publishing, reading topics, stack commands."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from kombu import Connection

from bridge.publish import OutgoingMessage, PublishResult, publish_messages
from bridge.urls import parse_pulse_url

JOB_EXCHANGE = "exchange/taskcluster-treeherder/v1/jobs"
REPO_ROOT = Path(__file__).resolve().parents[3]

#: Upper bound in seconds for the bridge to start consuming; a wait limit, not an assertion on speed.
START_LIMIT = 60.0


@dataclass
class BridgeProcess:
    """A ``pulse-bridge`` subprocess whose output goes to a log file."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_consuming(self, count: int = 1) -> None:
        """Wait until the log shows ``count`` "consuming queue" lines."""
        deadline = time.monotonic() + START_LIMIT
        while self.log().count("consuming queue") < count:
            if self.process.poll() is not None:
                raise AssertionError(f"bridge exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"bridge did not start consuming:\n{self.log()}")
            time.sleep(0.1)

    def terminate(self, timeout: float = 60.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)


@dataclass(frozen=True)
class BridgeSetup:
    """Environment and names of one test's bridge: its own queue, topic and state folder."""

    env: dict[str, str]
    queue: str
    topic: str
    pulse_url: str
    bootstrap_servers: str
    workdir: Path


def job_messages(start: int, stop: int, exchange: str = JOB_EXCHANGE) -> list[OutgoingMessage]:
    """Pulse-job-like messages whose message id and body carry the sequence number."""
    return [
        OutgoingMessage(
            exchange=exchange,
            routing_key=f"tc-treeherder.v2.try.{index}",
            body=json.dumps({"taskId": f"task-{index % 997}/0", "seq": index}).encode(),
            message_id=f"m-{index}",
        )
        for index in range(start, stop)
    ]


def publish(pulse_url: str, messages: list[OutgoingMessage]) -> PublishResult:
    """Publish with confirms and check that the broker routed every message."""
    result = publish_messages(parse_pulse_url(pulse_url), messages)
    assert result.nacked == 0
    assert result.returned == 0
    return result


def read_topic(bootstrap_servers: str, topic: str, expected: int, idle: float = 5.0, limit: float = 300.0) -> list:
    """Read the topic from the start until ``expected`` records arrived and then ``idle`` seconds pass quietly."""
    return asyncio.run(_read_topic(bootstrap_servers, topic, expected, idle, limit))


async def _read_topic(bootstrap_servers: str, topic: str, expected: int, idle: float, limit: float) -> list:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + limit
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            fresh = [record for part in batch.values() for record in part]
            if fresh:
                records.extend(fresh)
                quiet_since = time.monotonic()
            elif len(records) >= expected and time.monotonic() - quiet_since >= idle:
                break
    finally:
        await consumer.stop()
    return records


def message_ids(records: list) -> list[str]:
    """The amqp.message_id header of each record."""
    return [dict(record.headers)["amqp.message_id"].decode() for record in records]


def stack(*args: str) -> None:
    """Run a ``pulse-stack`` command of the local stack."""
    subprocess.run([sys.executable, "-m", "stack", *args], cwd=REPO_ROOT, check=True, timeout=300)


def queue_message_count(pulse_url: str, queue: str) -> int:
    """Messages in the queue, ready and unacked, as ``rabbitmqctl list_queues`` reports them."""
    output = subprocess.run(
        [sys.executable, "-m", "stack", "rabbitmqctl", "list_queues", "-p", parse_pulse_url(pulse_url).vhost, "name", "messages"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    for line in output.splitlines():
        name, _, count = line.rpartition("\t")
        if name == queue:
            return int(count)
    raise AssertionError(f"queue {queue} not listed:\n{output}")


def queue_binding_keys(pulse_url: str, queue: str) -> set[str]:
    """Routing keys of the queue's bindings, from ``rabbitmqctl list_bindings``."""
    output = subprocess.run(
        [
            sys.executable, "-m", "stack", "rabbitmqctl", "list_bindings", "-p", parse_pulse_url(pulse_url).vhost,
            "destination_name", "routing_key",
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    keys = set()
    for line in output.splitlines():
        destination, _, key = line.partition("\t")
        if destination == queue:
            keys.add(key)
    return keys


async def create_topic(bootstrap_servers: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()


def delete_queue(pulse_url: str, queue: str) -> None:
    url = parse_pulse_url(pulse_url)
    with Connection(hostname=url.host, port=url.port, userid=url.user, password=url.password, virtual_host=url.vhost) as connection:
        connection.channel().queue_delete(queue)
