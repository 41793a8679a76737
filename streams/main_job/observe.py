"""Reads a run's Kafka topics and the worker's metrics page into an Observation."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streams.config import TopicNames

logger = logging.getLogger(__name__)

# Bridge headers that every record derived from a delivery carries.
MESSAGE_ID_HEADER = "amqp.message_id"
RECEIVED_AT_HEADER = "bridge.received_at"

# Prometheus series of the worker that the accounting reads.
DROPPED_METRIC = "pulse_ingest_job_events_dropped"
BEHIND_METRIC = "pulse_ingest_job_events_behind_database"
PARKED_METRIC = "pulse_ingest_parked_jobs"

# Milliseconds one fetch waits for new records.
FETCH_TIMEOUT_MS = 200


@dataclass(frozen=True)
class KafkaRecord:
    """One record of a run topic with its decoded key, JSON value and text headers."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: Any
    headers: dict[str, str]


@dataclass
class TopicContents:
    """Records read so far from one topic."""

    name: str
    records: list[KafkaRecord] = field(default_factory=list)


@dataclass(frozen=True)
class WorkerCounts:
    """Job events that leave no record on any topic, as the worker's metrics report them."""

    dropped: int
    parked: int
    # Job events not sent because their stored row is further along, as when a run
    # replays messages into a database that an earlier run filled.
    behind: int = 0


class TopicReader:
    """Reads every partition of a set of topics from the beginning, record by record, across calls."""

    def __init__(self, bootstrap_servers: str, topics: Sequence[str], partitions: int) -> None:
        self._servers = bootstrap_servers
        self._partition_count = partitions
        self.contents = {name: TopicContents(name) for name in topics}
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []

    async def start(self) -> None:
        """Connect and assign partitions 0 to ``partitions`` - 1 of every topic, which must exist."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        self._consumer = consumer

        partitions = [
            TopicPartition(name, number) for name in self.contents for number in range(self._partition_count)
        ]

        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._partitions = partitions

    async def stop(self) -> None:
        """Close the consumer."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def catch_up(self) -> None:
        """Read until every partition reached the end offset it had when the call began."""
        consumer = self._require_consumer()
        ends = await consumer.end_offsets(self._partitions)

        while await self._behind(consumer, ends):
            batches = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
            for partition, messages in batches.items():
                target = self.contents[partition.topic].records
                target.extend(_to_record(message) for message in messages)

    @staticmethod
    async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
        for partition, end in ends.items():
            if await consumer.position(partition) < end:
                return True
        return False

    def records(self, topic: str) -> list[KafkaRecord]:
        """Return the records read so far from ``topic``."""
        return self.contents[topic].records

    def _require_consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("TopicReader is not started")
        return self._consumer


def observed_topics(names: TopicNames) -> tuple[str, ...]:
    """Return the run topics the accounting reads (all but the task and sweep topics)."""
    return (
        names.raw_pushes,
        names.raw_jobs,
        names.push_enrichment,
        names.pushes,
        names.jobs,
        names.accepted_pushes,
        names.accepted_jobs,
        names.dead_letter,
    )


def read_worker_counts(port: int) -> WorkerCounts | None:
    """Scrape the worker's metrics page; return None while it is not serving yet."""
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode("utf-8")
    except OSError:
        return None

    dropped = 0.0
    parked = 0.0
    behind = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == DROPPED_METRIC:
            dropped += sum(sample.value for sample in family.samples if sample.name.endswith("_total"))
        elif family.name == BEHIND_METRIC:
            behind += sum(sample.value for sample in family.samples if sample.name.endswith("_total"))
        elif family.name == PARKED_METRIC:
            parked += sum(sample.value for sample in family.samples)
    return WorkerCounts(dropped=int(dropped), parked=int(parked), behind=int(behind))


def _to_record(message: Any) -> KafkaRecord:
    headers = {name: _text(value) for name, value in (message.headers or ())}
    return KafkaRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=_text(message.key) if message.key is not None else None,
        value=_json_or_none(message.value),
        headers=headers,
    )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _json_or_none(value: bytes | None) -> Any:
    """Decode a JSON value; raw topics may hold bytes that are not JSON, which become None.

    Nesting too deep for Python's decoder (bad input that the worker dead-letters) also
    becomes None.
    """
    if value is None:
        return None
    try:
        return json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
