"""Kafka helpers of the benchmarks: create, count, fill and delete topics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.pipeline_bench.messages import RawRecord

logger = logging.getLogger(__name__)

# Seconds between two reads of a topic's end offsets while waiting for records.
POLL_INTERVAL = 0.1


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    """Create topics with ``partitions`` partitions and replication factor 1."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        await admin.close()


async def delete_topics_with_prefix(bootstrap: str, prefix: str) -> int:
    """Delete every topic whose name starts with ``prefix``; return how many were deleted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
        logger.info("Deleted %d topics starting with %s", len(names), prefix)
        return len(names)
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, records: Sequence[RawRecord]) -> None:
    """Send every record with default batching and wait for all delivery reports."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    try:
        pending = [
            await producer.send(topic, value=record.value, key=record.key, headers=list(record.headers))
            for record in records
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


class TopicCounter:
    """Counts the records of one topic from the sum of its partitions' end offsets."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        self._partitions = [TopicPartition(topic, number) for number in range(partitions)]
        self.topic = topic

    async def start(self) -> None:
        """Connect to the broker."""
        await self._consumer.start()

    async def stop(self) -> None:
        """Close the connection."""
        await self._consumer.stop()

    async def count(self) -> int:
        """Return the number of records written to the topic so far."""
        ends = await self._consumer.end_offsets(self._partitions)
        return sum(ends.values())

    async def wait_for(self, expected: int, timeout: float) -> float | None:
        """Wait until the topic has ``expected`` records; return the monotonic time, or None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.count() >= expected:
                return time.monotonic()
            await asyncio.sleep(POLL_INTERVAL)
        return None
