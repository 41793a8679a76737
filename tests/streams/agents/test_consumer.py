"""RewindingConsumer: uncommitted partitions rewound on a seek, repeated acks committed once."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from intervaltree import IntervalTree

from streams.agents.consumer import RewindingConsumer, RewindingConsumerThread

COMMITTED = TopicPartition("pulse-raw-jobs", 5)
AT_ZERO = TopicPartition("pulse-raw-jobs", 6)
UNCOMMITTED = TopicPartition("pulse-raw-jobs", 4)


class FakeKafkaConsumer:
    """aiokafka's seek calls, with the behaviour of aiokafka 0.14.0's seek_to_committed."""

    def __init__(self, committed: dict[TopicPartition, int | None]) -> None:
        self.committed = committed
        self.positions: dict[TopicPartition, Any] = {tp: "past the dropped records" for tp in committed}

    async def seek_to_committed(self) -> dict[TopicPartition, int | None]:
        for tp, offset in self.committed.items():
            if offset and offset > 0:
                self.positions[tp] = offset
        return dict(self.committed)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self.positions[tp] = "beginning"

    async def seek_to_end(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self.positions[tp] = "end"


def thread_with(kafka: FakeKafkaConsumer, reset: str) -> RewindingConsumerThread:
    # The thread is never started: only the seek logic runs, on the fake consumer.
    thread = object.__new__(RewindingConsumerThread)
    thread._consumer = kafka
    thread.app = SimpleNamespace(conf=SimpleNamespace(consumer_auto_offset_reset=reset))
    return thread


@pytest.mark.parametrize(
    ("reset", "expected"),
    [("earliest", "beginning"), ("latest", "end"), ("none", "past the dropped records")],
)
async def test_seek_moves_uncommitted_partition(reset, expected):
    kafka = FakeKafkaConsumer({COMMITTED: 259, AT_ZERO: 0, UNCOMMITTED: None})

    committed = await thread_with(kafka, reset)._seek_to_committed_or_reset()

    assert committed == {COMMITTED: 259, AT_ZERO: 0, UNCOMMITTED: None}
    assert kafka.positions[COMMITTED] == 259
    assert kafka.positions[AT_ZERO] == 0
    assert kafka.positions[UNCOMMITTED] == expected


@pytest.mark.integration
async def test_seek_rewinds_uncommitted_partition_on_kafka(kafka_bootstrap_servers, test_id):
    """On the real broker, a partition read to its end without a commit goes back to offset 0."""
    topic = f"it-{test_id}-rewind"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    for index in range(5):
        await producer.send_and_wait(topic, f"record {index}".encode())
    await producer.stop()

    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap_servers,
        group_id=f"it-{test_id}-rewind-group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        fetched = await consumer.getmany(tp, timeout_ms=5000)
        await consumer.seek_to_committed()
        position_after_plain_seek = await consumer.position(tp)

        committed = await thread_with(consumer, "earliest")._seek_to_committed_or_reset()
        position = await consumer.position(tp)
    finally:
        await consumer.stop()
        await admin.delete_topics([topic])
        await admin.close()

    # aiokafka's own seek, which Faust uses, leaves the uncommitted partition at its end.
    assert len(fetched[tp]) == 5
    assert position_after_plain_seek == 5
    assert committed == {tp: None}
    assert position == 0


def consumer_with(acked: list[int], committed: int | None) -> Any:
    # Only the offset bookkeeping of Faust's consumer runs; nothing is started.
    consumer = object.__new__(RewindingConsumer)
    consumer._acked = defaultdict(list, {COMMITTED: list(acked)})
    consumer._acked_index = defaultdict(set, {COMMITTED: set(acked)})
    consumer._committed_offset = defaultdict(lambda: None, {COMMITTED: committed})
    consumer._gap = defaultdict(IntervalTree)
    return consumer


def test_commit_offset_skips_repeated_acks():
    consumer = consumer_with([110, 111, 111, 112, 112, 113, 114], committed=111)

    assert consumer._new_offset(COMMITTED) == 115


def test_commit_offset_waits_for_missing_head():
    consumer = consumer_with([113, 114], committed=111)

    assert consumer._new_offset(COMMITTED) is None
