"""Sending JSON records to a topic and waiting for the broker to confirm each one."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from faust.exceptions import ProducerSendError

from streams import metrics
from streams.agents.ownership import sleep_while_owned
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


class TopicPublisher:
    """Publisher for one Faust topic that bypasses Faust's publish-on-commit buffering."""

    def __init__(self, topic: faust.TopicT, backoff: Backoff) -> None:
        self._topic = topic
        self._backoff = backoff

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
        """Send every record, then wait for all delivery reports together.

        When a send fails with a Kafka fault, that record and every later one are sent
        again in order after a backoff, so the last copy of each record on a partition
        keeps the order of ``records``. Records delivered before the failure may therefore
        appear twice, which at-least-once consumers handle. A record too large for the
        producer or the broker gets a RejectedMessage with reason `too-large` in the
        returned list; the others get None.
        """
        results: list[RejectedMessage | None] = [None] * len(records)
        pending = list(range(len(records)))
        attempt = 0

        while pending:
            failed_at, failure = await self._send_round(records, pending, results)
            if failed_at is None:
                return results

            attempt += 1
            delay = self._backoff.delay(attempt)
            metrics.RETRIES.labels(operation=f"send to {self.topic_name}").inc()
            logger.warning(
                "Sending %d records to %s failed at %s (attempt %d), resending from it in %.1f s: %r",
                len(pending),
                self.topic_name,
                records[failed_at].context,
                attempt,
                delay,
                failure,
            )
            await sleep_while_owned(delay, f"send to {self.topic_name} at {records[failed_at].context}")
            pending = [index for index in pending if index >= failed_at and results[index] is None]

        return results

    async def _send_round(
        self,
        records: Sequence[OutgoingRecord],
        pending: list[int],
        results: list[RejectedMessage | None],
    ) -> tuple[int | None, BaseException | None]:
        """Send the pending records and wait for them; return the first retriable failure."""
        started: list[tuple[int, Any]] = []
        failed_at: int | None = None
        failure: BaseException | None = None

        for index in pending:
            key_bytes, payload, header_list = _encode(records[index])
            try:
                delivery = await self._topic.send(
                    key=key_bytes,
                    value=payload,
                    headers=header_list or None,
                    partition=records[index].partition,
                    force=True,
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if is_size_error(error):
                    results[index] = self._too_large(len(payload))
                    continue
                if not is_retriable_send_error(error):
                    raise
                failed_at, failure = index, error
                break
            started.append((index, delivery))

        outcomes = await asyncio.gather(
            *(delivery for _, delivery in started), return_exceptions=True
        )
        for (index, _), outcome in zip(started, outcomes):
            if not isinstance(outcome, BaseException):
                continue
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if is_size_error(outcome):
                results[index] = self._too_large(len(_encode(records[index])[1]))
            elif not is_retriable_send_error(outcome):
                raise outcome
            elif failed_at is None or index < failed_at:
                failed_at, failure = index, outcome

        return failed_at, failure

    def _too_large(self, size: int) -> RejectedMessage:
        return RejectedMessage(
            RejectReason.TOO_LARGE,
            f"record of {size} bytes is too large for topic {self.topic_name}",
            detail={"size": size, "topic": self.topic_name},
        )


def _encode(record: OutgoingRecord) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """Return the key bytes, the payload and the header list of a record."""
    key = record.key.encode("utf-8") if isinstance(record.key, str) else record.key
    payload = record.value if isinstance(record.value, bytes) else encode_json(record.value)
    headers = [(name, text.encode("utf-8")) for name, text in (record.headers or {}).items()]
    return key, payload, headers
