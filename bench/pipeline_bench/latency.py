"""Latency from publishing a pulse job to RabbitMQ until its accepted record is on Kafka."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from kombu import Connection, Exchange, Producer

from bench.pipeline_bench.messages import JOB_EXCHANGE, job_guid, job_routing_key
from bridge.urls import PulseUrl

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LatencyResult:
    """Latency percentiles in milliseconds and how many jobs arrived."""

    offered_rate: float
    achieved_publish_rate: float
    published: int
    arrived: int
    # Jobs that arrived, divided by the seconds from the first publish to the last arrival.
    arrival_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def _publish_paced(url: PulseUrl, bodies: list[dict], rate: float, run_word: str, published_at: dict[str, float]) -> float:
    """Publish ``bodies`` at ``rate`` messages per second; return the seconds publishing took.

    NOTE: messages are published without publisher confirms, so the publish time is when the
    client wrote the frame, not when RabbitMQ stored the message.
    """
    connection = Connection(
        hostname=url.host, port=url.port, userid=url.user, password=url.password,
        virtual_host=url.vhost, ssl=url.ssl, connect_timeout=10,
    )
    with connection:
        producer = Producer(connection.channel(), exchange=Exchange(JOB_EXCHANGE, type="topic", passive=True))
        started = time.monotonic()
        for index, body in enumerate(bodies):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            payload = json.dumps(body)
            published_at[job_guid(body)] = time.time()
            producer.publish(
                payload,
                routing_key=job_routing_key(run_word, index),
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )
        return time.monotonic() - started


def _percentile(sorted_values: list[float], share: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


async def measure_latency(
    url: PulseUrl,
    bootstrap: str,
    accepted_topic: str,
    partitions: int,
    bodies: list[dict],
    rate: float,
    run_word: str,
    drain_timeout: float,
) -> LatencyResult:
    """Publish ``bodies`` at ``rate``/s and time each guid until its accepted record is read back.

    The join agent sends the accepted record only after the database committed the job row,
    so each figure is an upper bound of the latency to the row, plus the bench's fetch delay.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    latencies: list[float] = []
    published_at: dict[str, float] = {}
    last_arrival = 0.0
    try:
        assigned = [TopicPartition(accepted_topic, number) for number in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        for partition in assigned:
            await consumer.position(partition)

        thread_result: list[float] = []
        thread = threading.Thread(
            target=lambda: thread_result.append(_publish_paced(url, bodies, rate, run_word, published_at)),
            name="paced-publisher",
        )
        thread.start()

        expected = {job_guid(body) for body in bodies}
        deadline = time.monotonic() + len(bodies) / rate + drain_timeout
        while expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=50)
            now = time.time()
            for messages in batches.values():
                for message in messages:
                    guid = message.key.decode("utf-8") if message.key else ""
                    if guid in expected and guid in published_at:
                        expected.discard(guid)
                        latencies.append((now - published_at[guid]) * 1000.0)
                        last_arrival = now
        await asyncio.to_thread(thread.join)
    finally:
        await consumer.stop()

    if expected:
        logger.warning("%d of %d jobs did not arrive within the drain timeout of %.0f s", len(expected), len(bodies), drain_timeout)

    publish_seconds = thread_result[0] if thread_result else float("nan")
    arrival_rate = None
    if latencies and published_at:
        arrival_seconds = last_arrival - min(published_at.values())
        arrival_rate = len(latencies) / arrival_seconds if arrival_seconds > 0 else None
    latencies.sort()
    return LatencyResult(
        offered_rate=rate,
        achieved_publish_rate=len(bodies) / publish_seconds if publish_seconds else 0.0,
        published=len(published_at),
        arrived=len(latencies),
        arrival_rate=arrival_rate,
        p50_ms=_percentile(latencies, 0.50) if latencies else None,
        p95_ms=_percentile(latencies, 0.95) if latencies else None,
        p99_ms=_percentile(latencies, 0.99) if latencies else None,
        max_ms=latencies[-1] if latencies else None,
    )
