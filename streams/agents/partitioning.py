"""Partition choice for outgoing records as Kafka's default partitioner makes it, with a key cache."""

from __future__ import annotations

import functools
import random

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

# Keys cached per process. The by-revision keys repeat for every job of a push, but job
# guids rarely repeat. The cache drops the least recently used keys first, so the guids do
# not push out revisions still in use. At an estimated 200 bytes per entry, it stays below
# about 3 MiB.
KEY_CACHE_SIZE = 1 << 14


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def partition_for_key(key: bytes, partition_count: int) -> int:
    """Return the partition of ``key`` among ``partition_count`` partitions.

    This is the partition Kafka's default partitioner picks for a keyed record: the
    positive murmur2 hash of the key bytes modulo the partition count. aiokafka's
    DefaultPartitioner (the one Faust's producer and tables use) computes the same, and
    the join tables rely on it because their topics are co-partitioned with the
    by-revision topics. Kafka numbers the partitions of a topic from 0.
    """
    if partition_count < 1:
        raise ValueError(f"partition count must be at least 1, got {partition_count}")
    return (murmur2(key) & 0x7FFFFFFF) % partition_count


class PartitionChooser:
    """Partition of each record of one send round, from the producer's topic metadata."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partition_count: int) -> None:
        self._producer = producer
        self._topic = topic
        self._partition_count = partition_count

    def choose(self, key: bytes | None, partition: int | None) -> int:
        """Return ``partition`` if set, else the default partitioner's choice for ``key``."""
        if partition is not None:
            return partition
        if key is not None:
            return partition_for_key(key, self._partition_count)

        # Like aiokafka's DefaultPartitioner, spread key-less records over the partitions
        # that have a leader, or over all of them when none has.
        available = self._producer.client.cluster.available_partitions_for_topic(self._topic)
        if available:
            return random.choice(list(available))
        return random.randrange(self._partition_count)
