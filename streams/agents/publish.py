"""Sending JSON records to a topic and waiting for the broker to confirm each one."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from faust.exceptions import ProducerSendError

from streams import metrics
from streams.agents.ownership import sleep_while_owned
from streams.agents.partitioning import PartitionChooser
from streams.agents.record_batches import (
    EncodedRecord,
    PartitionBatch,
    group_into_batches,
    record_size,
    running_kafka_producer,
)
from streams.agents.retry import Backoff, retry_until_done
from streams.errors import RejectedMessage, RejectReason

logger = logging.getLogger(__name__)

_SIZE_ERRORS = (MessageSizeTooLargeError, RecordTooLargeError)


@dataclass(frozen=True)
class OutgoingRecord:
    """One record to send: key, value (JSON-encoded unless bytes) and the log context."""

    key: str | bytes | None
    value: Any
    context: str
    headers: Mapping[str, str] | None = None
    partition: int | None = None


class Publisher(Protocol):
    """Anything that sends records and returns once the broker stored them."""

    async def publish(
        self,
        key: str | bytes | None,
        value: Any,
        *,
        context: str,
        headers: Mapping[str, str] | None = None,
        partition: int | None = None,
    ) -> None:
        """Send ``value`` (JSON-encoded unless it is bytes) and wait for the confirmation."""

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> list[RejectedMessage | None]:
        """Send ``records`` in order and wait for every confirmation.

        Returns, for each record, None once it is stored or the RejectedMessage that
        rejects it for good.
        """


def encode_json(value: Any) -> bytes:
    """Encode a record as compact UTF-8 JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def is_size_error(error: BaseException) -> bool:
    """Tell whether the broker or the producer rejected a record for its size."""
    return isinstance(error, _SIZE_ERRORS) or isinstance(error.__cause__, _SIZE_ERRORS)


def is_retriable_send_error(error: BaseException) -> bool:
    """Tell whether a failed send is an infrastructure fault worth retrying.

    Every Kafka error counts, whatever aiokafka's own ``retriable`` flag is, except a
    record that is too large, because retrying cannot make it smaller.
    """
    if is_size_error(error):
        return False
    return isinstance(error, (KafkaError, ProducerSendError, asyncio.TimeoutError))


@dataclass(frozen=True)
class RoundFailure:
    """The earliest record of a send round whose batch failed or was never queued.

    ``split`` is set when the broker rejected a batch of several records for its size.
    """

    index: int
    partition: int | None
    error: BaseException
    split: bool = False


class TopicPublisher:
    """Publisher for one Faust topic that bypasses Faust's publish-on-commit buffering.

    ``publish`` sends through Faust's ``Topic.send``. ``publish_many`` builds aiokafka
    record batches itself and hands them to the app's aiokafka producer, which skips
    Faust's and aiokafka's per-record futures and partitioner calls. ``producer``
    returns that aiokafka producer, by default the one inside the topic's Faust app.
    """

    def __init__(
        self,
        topic: faust.TopicT,
        backoff: Backoff,
        producer: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
    ) -> None:
        self._topic = topic
        self._backoff = backoff
        self._producer = producer or (lambda: running_kafka_producer(topic.app))

    @property
    def topic_name(self) -> str:
        """Name of the Kafka topic this publisher writes."""
        return self._topic.get_topic_name()

    async def publish(
        self,
        key: str | bytes | None,
        value: Any,
        *,
        context: str,
        headers: Mapping[str, str] | None = None,
        partition: int | None = None,
    ) -> None:
        """Send one record and wait for the broker's confirmation, retrying Kafka faults.

        Raises RejectedMessage with reason `too-large` when the record exceeds the size
        the producer or the broker accepts.
        """
        key_bytes, payload, header_list = _encode(OutgoingRecord(key, value, context, headers))

        async def send_once() -> Any:
            # force=True sends now, even when publish-on-commit buffering is enabled; the
            # second await waits for the delivery report of this very record.
            delivery = await self._topic.send(
                key=key_bytes,
                value=payload,
                headers=header_list or None,
                partition=partition,
                force=True,
            )
            return await delivery

        try:
            await retry_until_done(
                send_once,
                is_retriable=is_retriable_send_error,
                backoff=self._backoff,
                name=f"send to {self.topic_name}",
                context=context,
            )
        except Exception as error:
            if is_size_error(error):
                raise self._too_large(len(payload)) from error
            raise

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> list[RejectedMessage | None]:
        """Send every record in per-partition record batches, then wait for all of them.

        Each record goes to its explicit ``partition``, or else to the partition Kafka's
        default partitioner picks for its key (a key-less record goes to a random
        available partition). When a send fails with a Kafka fault, that record and every
        later one are sent again in order after a backoff, so the last copy of each record
        on a partition keeps the order of ``records``. Records delivered before the
        failure may therefore appear twice, which at-least-once consumers handle. A record
        too large for the producer or the broker gets a RejectedMessage with reason
        `too-large` in the returned list; the others get None.
        """
        encoded = [_encode(record) for record in records]
        results: list[RejectedMessage | None] = [None] * len(records)
        max_size = self._max_request_size()
        for index, record in enumerate(encoded):
            if record_size(record) > max_size:
                results[index] = self._too_large(len(record[1]))

        pending = [index for index, result in enumerate(results) if result is None]
        single_record = False
        attempt = 0

        while pending:
            failure = await self._send_round(records, encoded, pending, results, single_record=single_record)
            if failure is None:
                return results

            attempt += 1
            delay = self._backoff.delay(attempt)
            single_record = single_record or failure.split
            metrics.RETRIES.labels(operation=f"send to {self.topic_name}").inc()
            logger.warning(
                "Sending %d records to %s failed at %s (partition %s, attempt %d), "
                "resending from it in %.1f s%s: %r",
                len(pending),
                self.topic_name,
                records[failure.index].context,
                failure.partition,
                attempt,
                delay,
                ", one record per batch" if single_record else "",
                failure.error,
            )
            await sleep_while_owned(
                delay, f"send to {self.topic_name} at {records[failure.index].context}"
            )
            pending = [index for index in pending if index >= failure.index and results[index] is None]

        return results

    async def _send_round(
        self,
        records: Sequence[OutgoingRecord],
        encoded: Sequence[EncodedRecord],
        pending: list[int],
        results: list[RejectedMessage | None],
        *,
        single_record: bool,
    ) -> RoundFailure | None:
        """Send the pending records, wait for them and return the earliest retriable failure.

        Stores a `too-large` rejection in ``results`` for each record the broker rejects
        alone in its batch for its size.
        """
        topic = self.topic_name
        producer = await self._producer()
        try:
            partitions = await producer.partitions_for(topic)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not is_retriable_send_error(error):
                raise
            return RoundFailure(pending[0], None, error)

        chooser = PartitionChooser(producer, topic, len(partitions))
        batches = group_into_batches(
            pending,
            encoded,
            lambda index: chooser.choose(encoded[index][0], records[index].partition),
            producer.create_batch,
            single_record=single_record,
        )

        started: list[tuple[PartitionBatch, Awaitable[Any]]] = []
        failure: RoundFailure | None = None
        for position, batch in enumerate(batches):
            # A closed batch takes no records from the app's other sends to this partition.
            batch.builder.close()
            try:
                delivery = await producer.send_batch(batch.builder, topic, partition=batch.partition)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not is_retriable_send_error(error):
                    raise
                # This batch and the ones after it were not queued.
                first = min(unsent.indexes[0] for unsent in batches[position:])
                failure = RoundFailure(first, batch.partition, error)
                break
            started.append((batch, delivery))

        outcomes = await asyncio.gather(*(delivery for _, delivery in started), return_exceptions=True)
        split = False
        for (batch, _), outcome in zip(started, outcomes):
            if not isinstance(outcome, BaseException):
                continue
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if is_size_error(outcome) and len(batch.indexes) == 1:
                index = batch.indexes[0]
                results[index] = self._too_large(len(encoded[index][1]))
                continue
            if is_size_error(outcome):
                # The broker's limit for this topic is below the producer's batch size, so
                # only batches of one record identify the record that is too large.
                split = True
            elif not is_retriable_send_error(outcome):
                raise outcome
            if failure is None or batch.indexes[0] < failure.index:
                failure = RoundFailure(batch.indexes[0], batch.partition, outcome)

        if failure is not None and split:
            failure = RoundFailure(failure.index, failure.partition, failure.error, split=True)
        return failure

    def _max_request_size(self) -> int:
        """Return the producer's limit for one record, the Faust setting passed to aiokafka."""
        return int(self._topic.app.conf.producer_max_request_size)

    def _too_large(self, size: int) -> RejectedMessage:
        return RejectedMessage(
            RejectReason.TOO_LARGE,
            f"record of {size} bytes is too large for topic {self.topic_name}",
            detail={"size": size, "topic": self.topic_name},
        )


def _encode(record: OutgoingRecord) -> EncodedRecord:
    """Return the key bytes, the payload and the header list of a record."""
    key = record.key.encode("utf-8") if isinstance(record.key, str) else record.key
    payload = record.value if isinstance(record.value, bytes) else encode_json(record.value)
    headers = [(name, text.encode("utf-8")) for name, text in (record.headers or {}).items()]
    return key, payload, headers
