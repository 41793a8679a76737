"""Raw baseline: an aiokafka consumer group that copies every record of one topic to another."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.pipeline_bench.kafka_tools import TopicCounter, create_topics, produce
from bench.pipeline_bench.messages import RawRecord

logger = logging.getLogger(__name__)

# Largest batch one getmany call returns, in records.
MAX_RECORDS = 500


async def _forward(consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, out_topic: str, stop: asyncio.Event) -> None:
    """Copy batches, wait for their delivery reports, then commit the consumed offsets."""
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=100, max_records=MAX_RECORDS)
        pending = []
        for messages in batches.values():
            for message in messages:
                pending.append(
                    await producer.send(out_topic, value=message.value, key=message.key, headers=list(message.headers))
                )
        if pending:
            await asyncio.gather(*pending)
            await consumer.commit()


async def measure_passthrough(bootstrap: str, prefix: str, records: list[RawRecord], partitions: int, timeout: float) -> float | None:
    """Return the seconds from producing ``records`` until all were copied, or None on timeout."""
    in_topic = f"{prefix}raw-in"
    out_topic = f"{prefix}raw-out"
    await create_topics(bootstrap, [in_topic, out_topic], partitions)

    consumer = AIOKafkaConsumer(
        in_topic,
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}raw-passthrough",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    counter = TopicCounter(bootstrap, out_topic, partitions)
    stop = asyncio.Event()

    await consumer.start()
    await producer.start()
    await counter.start()
    task = asyncio.create_task(_forward(consumer, producer, out_topic, stop))
    try:
        # One warm-up record makes sure the group has its partitions before the clock starts.
        await produce(bootstrap, in_topic, records[:1])
        if await counter.wait_for(1, 60.0) is None:
            raise TimeoutError(f"the passthrough copied no warm-up record to {out_topic} within 60 s")

        started = time.monotonic()
        await produce(bootstrap, in_topic, records)
        finished = await counter.wait_for(len(records) + 1, timeout)
        return None if finished is None else finished - started
    finally:
        stop.set()
        await task
        await counter.stop()
        await producer.stop()
        await consumer.stop()
