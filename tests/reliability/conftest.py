"""Fixtures of the reliability tests: a bridge and a worker on topics, queues and a schema of their own."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from bridge.publish import OutgoingMessage
from streams.faults.pipeline import FaultPipeline
from streams.faults.services import check_same_stack
from streams.main_job import broker
from streams.main_job.observe import TopicReader
from streams.main_job.processes import ManagedProcess, child_env
from streams.main_job.settings import RunSettings, load_run_settings
from streams.sinks.database import upgrade_database
from streams.sinks.database.engine import create_database_engine
from streams.topics import ensure_topics
from streams.verify.database import read_stored_rows
from streams.verify.events import all_job_events, push_keys_by_id
from streams.verify.report import VerifyReport, build_report
from tests.conftest import in_ci
from tests.reliability.bodies import JOB_EXCHANGE, MAX_MESSAGE_BYTES, Message

# Seconds a pipeline may take to account for every message; generous for a loaded 2-core machine.
SETTLE_TIMEOUT = 240.0

# Seconds between two checks while waiting for the outcomes.
POLL_INTERVAL = 3.0

# Seconds the bridge gets to declare and consume its queues.
BRIDGE_START_TIMEOUT = 60.0

ROOT_URL = "https://firefox-ci-tc.services.mozilla.com"


async def _execute(url: str, statement: str) -> None:
    engine = create_database_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


class Pipeline:
    """A bridge and a worker of one run, with helpers to send messages and wait for their outcomes."""

    def __init__(self, settings: RunSettings, worker_overrides: Mapping[str, str], bridge_overrides: Mapping[str, str]) -> None:
        self.settings = settings
        self.worker_settings = settings.worker_settings(child_env({}))
        self.topics = self.worker_settings.topics
        self.worker = ManagedProcess(
            "worker",
            [sys.executable, "-m", "streams.cli", "--skip-migrations"],
            child_env({**settings.worker_env(), **worker_overrides}),
            settings.run_dir / "worker.log",
        )
        self.bridge = ManagedProcess(
            "bridge",
            [sys.executable, "-m", "bridge.cli", "--pushes", "--jobs"],
            child_env({**settings.bridge_env(), **bridge_overrides}),
            settings.run_dir / "bridge.log",
        )

    def start(self) -> None:
        """Prepare the database and topics, start both processes and wait for the bridge's queues."""
        asyncio.run(upgrade_database(self.settings.database.url))
        asyncio.run(ensure_topics(self.worker_settings))
        self.worker.start()
        self.bridge.start()
        broker.wait_for_consumers(
            self.settings.pulse_url,
            self.settings.amqp_queue_names(),
            BRIDGE_START_TIMEOUT,
            lambda: self.bridge.exit_code() is None,
        )

    def stop(self) -> None:
        """Stop both processes and delete the run's queues."""
        self.bridge.stop()
        self.worker.stop()
        try:
            broker.delete_queues(self.settings.pulse_url, self.settings.amqp_queue_names())
        except Exception:  # noqa: BLE001 - cleanup must not hide the test's own result
            pass

    def message_id(self, number: int) -> str:
        """Return the message id of message ``number`` of this run."""
        return broker.message_id(self.settings.run_id, number)

    def publish(self, messages: Sequence[tuple[str, Message]]) -> None:
        """Publish ``(message id, message)`` pairs through RabbitMQ, so the bridge relays them."""
        outgoing = [
            OutgoingMessage(message.exchange, message.routing_key, message.body, message_id=message_id)
            for message_id, message in messages
        ]
        result = broker.publish(self.settings.pulse_url, outgoing)
        assert result.nacked == 0
        assert result.returned == 0

    def produce_raw(self, messages: Sequence[tuple[str, Message]]) -> None:
        """Produce ``(message id, message)`` pairs straight to the raw topics with the bridge's headers."""
        asyncio.run(self._produce_raw(messages))

    async def _produce_raw(self, messages: Sequence[tuple[str, Message]]) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.bootstrap_servers, max_request_size=1_048_576)
        await producer.start()
        try:
            for message_id, message in messages:
                topic = self.topics.raw_jobs if message.exchange == JOB_EXCHANGE else self.topics.raw_pushes
                headers = [
                    ("pulse.exchange", message.exchange.encode()),
                    ("pulse.routing_key", message.routing_key.encode()),
                    ("pulse.root_url", ROOT_URL.encode()),
                    ("amqp.redelivered", b"false"),
                    ("amqp.message_id", message_id.encode()),
                    ("amqp.content_type", b"application/json"),
                    ("bridge.received_at", datetime.now(UTC).isoformat().encode()),
                ]
                await producer.send(topic, message.body, key=message.routing_key.encode(), headers=headers)
            await producer.flush()
        finally:
            await producer.stop()

    def settle(self, ids: Sequence[str]) -> VerifyReport:
        """Wait until every id is accounted for twice in a row, a process exits, or SETTLE_TIMEOUT passes."""
        return asyncio.run(self._settle(ids))

    async def _settle(self, ids: Sequence[str]) -> VerifyReport:
        names = (self.topics.pushes, self.topics.raw_jobs, self.topics.jobs, self.topics.accepted_jobs, self.topics.dead_letter)
        reader = TopicReader(self.settings.bootstrap_servers, names, self.worker_settings.topic_partitions)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        previous = None
        await reader.start()
        try:
            while True:
                await reader.catch_up()
                records = {name: reader.records(name) for name in names}
                guids = {event.guid for event in all_job_events(records[self.topics.raw_jobs], records[self.topics.jobs])}
                keys = set(push_keys_by_id(records[self.topics.pushes]).values())
                stored = await read_stored_rows(self.settings.database.url, guids, keys)
                report = build_report(ids, self.topics, records, stored)

                done = report.accounted == report.published
                if done and previous == report.summary():
                    return report
                stopped = self.worker.exit_code() is not None or self.bridge.exit_code() is not None
                if stopped or time.monotonic() > deadline:
                    return report

                previous = report.summary() if done else None
                await asyncio.sleep(POLL_INTERVAL)
        finally:
            await reader.stop()

    def logs(self) -> str:
        """Return the captured output of the bridge and the worker."""
        parts = []
        for process in (self.bridge, self.worker):
            parts.append(process.log_path.read_text(encoding="utf-8", errors="replace") if process.log_path.exists() else "")
        return "\n".join(parts)


@pytest.fixture
def run_schema(test_database_url: str) -> Iterator[str]:
    """TEST_DATABASE_URL pointed at a fresh schema, dropped after the test."""
    schema = f"reliability_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(test_database_url, f'CREATE SCHEMA "{schema}"'))
    yield f"{test_database_url}?search_path={schema}"
    asyncio.run(_execute(test_database_url, f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def make_pipeline(kafka_bootstrap_servers: str, pulse_url: str, run_schema: str) -> Iterator[Callable[..., Pipeline]]:
    """Factory of started pipelines; each is stopped after the test, whatever its outcome."""
    with ExitStack() as cleanup:

        def make(
            pulse_url_text: str = pulse_url,
            database_url: str = run_schema,
            worker_env: Mapping[str, str] | None = None,
        ) -> Pipeline:
            environ = {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
                "PULSE_URL": pulse_url_text,
                "DATABASE_URL": database_url,
            }
            settings = load_run_settings(environ, SETTLE_TIMEOUT, run_id="rel-" + uuid.uuid4().hex[:10])
            overrides = {"MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES), **(worker_env or {})}
            pipeline = Pipeline(settings, overrides, {})
            cleanup.callback(pipeline.stop)
            pipeline.start()
            return pipeline

        yield make


@pytest.fixture
def make_fault_pipeline(kafka_bootstrap_servers: str, pulse_url: str, run_schema: str) -> Iterator[Callable[..., FaultPipeline]]:
    """Factory of started pipelines with ``workers`` workers; each is stopped after the test."""
    with ExitStack() as cleanup:

        def make(workers: int = 1) -> FaultPipeline:
            environ = {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
                "PULSE_URL": pulse_url,
                "DATABASE_URL": run_schema,
            }
            settings = load_run_settings(environ, SETTLE_TIMEOUT, run_id="fault-" + uuid.uuid4().hex[:10])
            pipeline = FaultPipeline(settings, workers)
            cleanup.callback(pipeline.stop)
            pipeline.start()
            return pipeline

        yield make


@pytest.fixture
def stack_environ(kafka_bootstrap_servers: str, pulse_url: str, test_database_url: str) -> dict[str, str]:
    """Environment for `python -m stack restart`; skips unless restarts are allowed on this stack.

    Outside CI, set PULSE_FAULT_RESTARTS=1 and the PULSE_STACK_* variables of a stack that no one
    else uses, because the tests stop and start its services.
    """
    if not in_ci() and os.environ.get("PULSE_FAULT_RESTARTS") != "1":
        pytest.skip("restarts a stack service; set PULSE_FAULT_RESTARTS=1 with a stack of your own")

    environ = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "PULSE_URL": pulse_url,
        "DATABASE_URL": test_database_url,
    }
    check_same_stack(environ)
    return environ
