"""Grouping outgoing records into per-partition aiokafka record batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatchBuilder

# Key, value and headers of a record, encoded as aiokafka sends them.
EncodedRecord = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


@dataclass
class PartitionBatch:
    """One record batch for one partition, with the positions of its records in the caller's list."""

    partition: int
    builder: BatchBuilder
    indexes: list[int] = field(default_factory=list)

    def append(self, index: int, record: EncodedRecord) -> bool:
        """Add a record, or return False and close the batch when the record does not fit.

        aiokafka 0.14's BatchBuilder.append returns None once the batch would exceed the
        producer's ``max_batch_size``, and it always accepts the first record of an empty
        batch, whatever its size. An oversized record therefore goes alone into a batch,
        where the broker's rejection names it.
        """
        key, value, headers = record
        if self.builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
            return False
        self.indexes.append(index)
        return True


def group_into_batches(
    indexes: Sequence[int],
    records: Sequence[EncodedRecord],
    partition_of: Callable[[int], int],
    create_batch: Callable[[], BatchBuilder],
    *,
    single_record: bool = False,
) -> list[PartitionBatch]:
    """Pack the records at ``indexes`` into batches per partition, keeping their order.

    ``partition_of`` maps an index to its partition. With ``single_record``, every batch
    gets one record. The returned list contains the first batch of every partition, then
    the second batch of every partition, and so on. aiokafka 0.14 queues at most one
    unsent batch per partition, so sending in this order lets the batches of other
    partitions queue while a partition's second batch waits for its first to leave.
    """
    by_partition: dict[int, list[PartitionBatch]] = {}

    for index in indexes:
        partition = partition_of(index)
        batches = by_partition.setdefault(partition, [])
        if batches and not single_record and batches[-1].append(index, records[index]):
            continue

        batch = PartitionBatch(partition, create_batch())
        if not batch.append(index, records[index]):
            raise RuntimeError(f"an empty aiokafka batch rejected the record at position {index}")
        batches.append(batch)

    ordered: list[PartitionBatch] = []
    depth = max((len(batches) for batches in by_partition.values()), default=0)
    for layer in range(depth):
        for batches in by_partition.values():
            if layer < len(batches):
                ordered.append(batches[layer])
    return ordered


def record_size(record: EncodedRecord) -> int:
    """Return the size in bytes of a record in a batch, as aiokafka's ``send`` estimates it.

    aiokafka's ``send`` rejects a record larger than the producer's ``max_request_size``
    with this estimate. Its batch API does not check, so the caller must.
    """
    key, value, headers = record
    return DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)


async def running_kafka_producer(app: faust.App) -> AIOKafkaProducer:
    """Return the aiokafka producer inside the app's Faust producer, starting it if needed.

    Records sent through it share the connections, the batching and the settings
    (``producer_max_batch_size``, ``acks``, timeouts) of everything else the app sends.
    """
    producer = await app.maybe_start_producer()
    # NOTE: _ensure_producer is private to faust-streaming's aiokafka driver (checked in
    # 0.15.3), and it raises NotReady while the producer is stopped. Under exactly_once
    # processing Faust returns its transaction manager here, which has no such method.
    return producer._ensure_producer()
