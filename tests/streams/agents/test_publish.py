"""TopicPublisher: awaits delivery, retries Kafka faults, rejects records that are too large."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from types import SimpleNamespace

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from faust.exceptions import ProducerSendError
from mode.utils.queues import FlowControlEvent

from streams.agents.ownership import OwnershipLost, owning
from streams.agents.partitioning import partition_for_key
from streams.agents.publish import OutgoingRecord, TopicPublisher, is_retriable_send_error
from streams.agents.retry import Backoff
from streams.app import create_faust_app
from streams.config import WorkerSettings
from streams.errors import RejectedMessage, RetriableError
from tests.streams.conftest import revision_for

NO_WAIT = Backoff(initial=0.0, maximum=0.0)


class FakeTopic:
    """Stands in for a Faust topic: ``send`` returns a delivery future, or fails first."""

    def __init__(self, failures=(), max_request_size=1_000_000):
        self.failures = list(failures)
        self.delivered = []
        self.app = SimpleNamespace(conf=SimpleNamespace(producer_max_request_size=max_request_size))

    def get_topic_name(self):
        return "out"

    async def send(self, *, key, value, headers, partition, force):
        assert force is True
        future = asyncio.get_running_loop().create_future()
        if self.failures:
            future.set_exception(self.failures.pop(0))
        else:
            self.delivered.append((key, value, headers, partition))
            future.set_result("metadata")
        return future


async def test_publish_sends_json_and_headers():
    topic = FakeTopic()

    await TopicPublisher(topic, NO_WAIT).publish(
        "autoland/abc", {"a": 1}, context="t[0]@1", headers={"pulse.exchange": "x"}
    )

    key, value, headers, partition = topic.delivered[0]
    assert key == b"autoland/abc"
    assert json.loads(value) == {"a": 1}
    assert headers == [("pulse.exchange", b"x")]
    assert partition is None


async def test_publish_retries_delivery_failures():
    topic = FakeTopic([KafkaConnectionError(), ProducerSendError("broker down")])

    await TopicPublisher(topic, NO_WAIT).publish(b"k", b"raw", context="t[0]@1", partition=3)

    assert topic.delivered == [(b"k", b"raw", None, 3)]


async def test_publish_rejects_oversized_record():
    topic = FakeTopic([MessageSizeTooLargeError()])

    with pytest.raises(RejectedMessage) as raised:
        await TopicPublisher(topic, NO_WAIT).publish(b"k", b"x" * 10, context="t[0]@1")

    assert raised.value.reason.value == "too-large"


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (KafkaConnectionError(), True),
        (asyncio.TimeoutError(), True),
        (MessageSizeTooLargeError(), False),
        (ValueError("bug"), False),
        (RetriableError("db"), False),
    ],
)
def test_send_error_classes(error, retriable):
    assert is_retriable_send_error(error) is retriable


class FakeProducer:
    """Fake of aiokafka's producer that decodes the real record batches and stores them per partition.

    ``send_errors`` and ``delivery_errors`` contain one entry per ``send_batch`` call, in
    order, and None lets that call pass. An entry of ``send_errors`` raises from
    ``send_batch``, and an entry of ``delivery_errors`` fails the returned delivery.
    ``reject`` may return an error for a batch from its records, as a broker would.
    """

    def __init__(self, partitions=4, batch_size=16384, send_errors=(), delivery_errors=(), reject=None):
        self.partition_count = partitions
        self.batch_size = batch_size
        self.send_errors = list(send_errors)
        self.delivery_errors = list(delivery_errors)
        self.reject = reject
        self.sends = []
        self.stored = defaultdict(list)
        self.headers = {}
        available = set(range(partitions))
        self.client = SimpleNamespace(
            cluster=SimpleNamespace(available_partitions_for_topic=lambda topic: available)
        )

    async def partitions_for(self, topic):
        return set(range(self.partition_count))

    def create_batch(self):
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(self, batch, topic, *, partition):
        assert topic == "out"
        assert batch.closed()
        send_error = self.send_errors.pop(0) if self.send_errors else None
        if send_error is not None:
            raise send_error

        decoded = list(DefaultRecordBatch(bytes(batch._build())))
        records = [(record.key, record.value) for record in decoded]
        self.headers.update((record.value, record.headers) for record in decoded)
        self.sends.append((partition, records))
        error = self.delivery_errors.pop(0) if self.delivery_errors else None
        if error is None and self.reject is not None:
            error = self.reject(records)

        delivery = asyncio.get_running_loop().create_future()
        if error is None:
            self.stored[partition].extend(records)
            delivery.set_result("metadata")
        else:
            delivery.set_exception(error)
        return delivery


def batch_publisher(producer, max_request_size=1_000_000, backoff=NO_WAIT):
    async def running_producer():
        return producer

    return TopicPublisher(FakeTopic(max_request_size=max_request_size), backoff, producer=running_producer)


def keyed_records(count, keys=10, size=20):
    """Records with keys ``key-0`` to ``key-<keys-1>`` in turn; value ``v<n>`` padded to ``size`` bytes."""
    return [
        OutgoingRecord(f"key-{n % keys}", f"v{n}".encode().ljust(size, b"."), f"in[0]@{n}")
        for n in range(count)
    ]


def expected_order(records, partitions):
    """Return partition -> the (key, value) of ``records`` bound for it, in order."""
    order = defaultdict(list)
    for record in records:
        key = record.key.encode()
        order[partition_for_key(key, partitions)].append((key, record.value))
    return order


def last_copies(stored):
    """Return a partition's records with only the last copy of each, in log order."""
    seen = set()
    copies = []
    for record in reversed(stored):
        if record not in seen:
            seen.add(record)
            copies.append(record)
    return copies[::-1]


def sent_values(sends):
    return [value for _, records in sends for _, value in records]


@pytest.mark.parametrize("partitions", [1, 2, 3, 4, 6, 8, 12, 16, 100])
def test_partition_for_key_matches_aiokafka(partitions):
    numbers = list(range(partitions))
    keys = [f"autoland/{revision_for(str(n))}".encode() for n in range(300)]
    keys += [b"", b"a", b"\xff\x00\x80", "job-é".encode(), bytes(range(256))]

    for key in keys:
        assert partition_for_key(key, partitions) == DefaultPartitioner()(key, numbers, numbers), key


def test_partition_for_key_rejects_zero_partitions():
    with pytest.raises(ValueError, match="at least 1"):
        partition_for_key(b"key", 0)


async def test_publish_many_sends_one_batch_per_partition():
    producer = FakeProducer(partitions=4)
    records = keyed_records(300, keys=30)

    results = await batch_publisher(producer).publish_many(records)

    assert results == [None] * 300
    assert sorted(partition for partition, _ in producer.sends) == sorted(set(producer.stored))
    for partition, batch in producer.sends:
        for key, _ in batch:
            assert partition_for_key(key, 4) == partition
    assert dict(producer.stored) == dict(expected_order(records, 4))


async def test_publish_many_fills_several_batches_in_order():
    producer = FakeProducer(partitions=3, batch_size=400)
    records = keyed_records(200, keys=7, size=100)

    results = await batch_publisher(producer).publish_many(records)

    assert results == [None] * 200
    assert dict(producer.stored) == dict(expected_order(records, 3))
    assert len(producer.sends) > 3 * 2
    for _, batch in producer.sends:
        assert len(batch) <= 4
    # The first batch of every partition is queued before any second batch.
    first_partitions = [partition for partition, _ in producer.sends[:3]]
    assert sorted(first_partitions) == [0, 1, 2]


async def test_publish_many_uses_explicit_partition():
    producer = FakeProducer(partitions=4)
    records = [
        OutgoingRecord(b"sweep", b"tick-0", "sweep", partition=3),
        OutgoingRecord(b"sweep", b"tick-1", "sweep", partition=0),
        OutgoingRecord(b"sweep", b"tick-2", "sweep", partition=3),
    ]

    await batch_publisher(producer).publish_many(records)

    assert producer.stored[3] == [(b"sweep", b"tick-0"), (b"sweep", b"tick-2")]
    assert producer.stored[0] == [(b"sweep", b"tick-1")]


async def test_publish_many_sends_keyless_records():
    producer = FakeProducer(partitions=4)
    records = [OutgoingRecord(None, {"n": n}, f"in[0]@{n}") for n in range(20)]

    results = await batch_publisher(producer).publish_many(records)

    assert results == [None] * 20
    stored = [json.loads(value) for records in producer.stored.values() for _, value in records]
    assert sorted(item["n"] for item in stored) == list(range(20))
    assert set(producer.stored) <= {0, 1, 2, 3}


async def test_publish_many_encodes_json_and_headers():
    producer = FakeProducer(partitions=2)
    record = OutgoingRecord("autoland/abc", {"a": "é"}, "in[0]@1", headers={"pulse.exchange": "x"})

    await batch_publisher(producer).publish_many([record])

    payload = '{"a":"é"}'.encode()
    partition = partition_for_key(b"autoland/abc", 2)
    assert producer.stored[partition] == [(b"autoland/abc", payload)]
    assert producer.headers[payload] == [("pulse.exchange", b"x")]


async def test_publish_many_rejects_record_over_request_size():
    producer = FakeProducer(partitions=2)
    records = keyed_records(5, keys=1)
    records[2] = OutgoingRecord("key-0", b"x" * 2000, "in[0]@2")

    results = await batch_publisher(producer, max_request_size=1000).publish_many(records)

    assert results[2] is not None
    assert results[2].reason.value == "too-large"
    assert results[2].detail == {"size": 2000, "topic": "out"}
    assert [result for index, result in enumerate(results) if index != 2] == [None] * 4
    assert b"x" * 2000 not in sent_values(producer.sends)
    assert len(sent_values(producer.sends)) == 4


async def test_publish_many_broker_rejects_record():
    def reject_large(batch):
        return MessageSizeTooLargeError() if any(len(value) > 500 for _, value in batch) else None

    producer = FakeProducer(partitions=1, batch_size=400, reject=reject_large)
    records = keyed_records(6, keys=2, size=100)
    records[3] = OutgoingRecord("key-1", b"y" * 1000, "in[0]@3")

    results = await batch_publisher(producer).publish_many(records)

    assert results[3] is not None
    assert results[3].reason.value == "too-large"
    assert [result for index, result in enumerate(results) if index != 3] == [None] * 5
    # The oversized record filled a batch of its own, so no other record was resent.
    assert [(0, [(b"key-1", b"y" * 1000)])] == [send for send in producer.sends if len(send[1][0][1]) > 500]
    assert producer.stored[0] == [(record.key.encode(), record.value) for record in records if record is not records[3]]


async def test_publish_many_splits_rejected_batch():
    def reject_large(batch):
        return MessageSizeTooLargeError() if any(len(value) > 500 for _, value in batch) else None

    producer = FakeProducer(partitions=2, reject=reject_large)
    records = keyed_records(12, keys=3)
    records[4] = OutgoingRecord("key-1", b"y" * 1000, "in[0]@4")

    results = await batch_publisher(producer).publish_many(records)

    assert results[4] is not None
    assert results[4].reason.value == "too-large"
    assert [result for index, result in enumerate(results) if index != 4] == [None] * 11
    delivered = [record for record in records if record is not records[4]]
    for partition, order in expected_order(delivered, 2).items():
        assert last_copies(producer.stored[partition]) == order
    rejected = [send for send in producer.sends if (b"key-1", b"y" * 1000) in send[1]]
    assert [len(batch) for _, batch in rejected][-1] == 1


async def test_publish_many_resends_from_failed_batch():
    # Three partitions with one batch each: the second batch queued fails once.
    producer = FakeProducer(partitions=3, delivery_errors=[None, NotLeaderForPartitionError()])
    records = keyed_records(60, keys=9)

    results = await batch_publisher(producer).publish_many(records)

    assert results == [None] * 60
    first_round, second_round = producer.sends[:3], producer.sends[3:]
    failed_partition, failed_batch = first_round[1]
    failed_at = [(record.key.encode(), record.value) for record in records].index(failed_batch[0])
    resent = sorted(sent_values(second_round), key=lambda value: int(value[1:].rstrip(b".")))
    assert resent == [record.value for record in records[failed_at:]]
    for partition, order in expected_order(records, 3).items():
        assert last_copies(producer.stored[partition]) == order
    assert failed_partition in producer.stored
    duplicates = [value for value in sent_values(producer.sends) if sent_values(producer.sends).count(value) > 1]
    assert all(value in resent for value in duplicates)


async def test_publish_many_resends_from_earliest_failure():
    failures = [NotLeaderForPartitionError(), None, KafkaConnectionError()]
    producer = FakeProducer(partitions=3, delivery_errors=failures)
    records = keyed_records(60, keys=9)

    results = await batch_publisher(producer).publish_many(records)

    assert results == [None] * 60
    assert sorted(sent_values(producer.sends[3:])) == sorted(record.value for record in records)
    for partition, order in expected_order(records, 3).items():
        assert last_copies(producer.stored[partition]) == order


async def test_publish_many_resends_when_queueing_fails():
    producer = FakeProducer(partitions=4, send_errors=[None, KafkaTimeoutError()])
    records = keyed_records(80, keys=12)

    results = await batch_publisher(producer).publish_many(records)

    assert results == [None] * 80
    assert len(producer.sends) == 1 + 4
    for partition, order in expected_order(records, 4).items():
        assert last_copies(producer.stored[partition]) == order


async def test_publish_many_retries_until_delivered():
    failures = [KafkaConnectionError(), None, None, KafkaTimeoutError()] + [None] * 10
    producer = FakeProducer(partitions=2, delivery_errors=failures)
    records = keyed_records(30, keys=5)

    results = await batch_publisher(producer).publish_many(records)

    assert results == [None] * 30
    for partition, order in expected_order(records, 2).items():
        assert last_copies(producer.stored[partition]) == order


async def test_publish_many_raises_other_errors():
    producer = FakeProducer(partitions=2, delivery_errors=[ValueError("bug")])

    with pytest.raises(ValueError, match="bug"):
        await batch_publisher(producer).publish_many(keyed_records(10, keys=1))


async def test_publish_many_stops_retrying_on_rebalance():
    app = SimpleNamespace(flow_control=FlowControlEvent(initially_suspended=False), consumer_generation_id=1)
    event = SimpleNamespace(message=SimpleNamespace(generation_id=1))
    producer = FakeProducer(partitions=1, delivery_errors=[KafkaConnectionError()])
    publisher = batch_publisher(producer, backoff=Backoff(initial=5.0, maximum=5.0))

    with owning(app, [event]):
        app.consumer_generation_id = 2
        with pytest.raises(OwnershipLost):
            await publisher.publish_many(keyed_records(3, keys=1))

    assert len(producer.sends) == 1


async def test_publish_many_sends_nothing_for_no_records():
    producer = FakeProducer()

    assert await batch_publisher(producer).publish_many([]) == []
    assert producer.sends == []


@pytest.mark.integration
async def test_publish_many_keeps_key_order_on_kafka(kafka, kafka_bootstrap_servers, test_id, tmp_path):
    partitions = 6
    name = f"it-{test_id}-publish-order"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()

    settings = WorkerSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "APP_ID": f"it-{test_id}",
            "DATA_DIR": str(tmp_path),
            "TOPIC_PARTITIONS": str(partitions),
        }
    )
    app = create_faust_app(settings)
    topic = app.topic(name, partitions=partitions, key_serializer="raw", value_serializer="raw")
    publisher = TopicPublisher(topic, NO_WAIT)

    # 4,000 records over 70 revisions, sent in calls of up to 500 records like the agents'.
    keys = [f"autoland/{revision_for(f'publish-{n}')}" for n in range(70)]
    records = [
        OutgoingRecord(keys[n % 7 + (n // 400) * 7], {"sequence": n}, f"in[0]@{n}", headers={"pulse.n": str(n)})
        for n in range(4000)
    ]
    producer = await app.maybe_start_producer()
    try:
        for start in range(0, len(records), 500):
            results = await publisher.publish_many(records[start : start + 500])
            assert results == [None] * len(records[start : start + 500])
    finally:
        await producer.stop()

    stored = await kafka.read(name, len(records))
    assert len(stored) == len(records)
    sequences = defaultdict(list)
    numbers = list(range(partitions))
    for record in stored:
        key = record.key
        assert record.partition == partition_for_key(key, partitions), key
        assert record.partition == DefaultPartitioner()(key, numbers, numbers), key
        sequence = json.loads(record.value)["sequence"]
        assert dict(record.headers) == {"pulse.n": str(sequence).encode()}
        sequences[key.decode()].append(sequence)
    for key in keys:
        expected = [n for n, record in enumerate(records) if record.key == key]
        assert sequences[key] == expected, key
