"""Sending JSON records to a topic and waiting for the broker to confirm each one."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import faust
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from faust.exceptions import ProducerSendError

from streams.agents.retry import Backoff, retry_until_done
from streams.errors import RejectedMessage, RejectReason

logger = logging.getLogger(__name__)

_SIZE_ERRORS = (MessageSizeTooLargeError, RecordTooLargeError)


class Publisher(Protocol):
    """Anything that sends one record and returns once the broker stored it."""

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
        key_bytes = key.encode("utf-8") if isinstance(key, str) else key
        payload = value if isinstance(value, bytes) else encode_json(value)
        header_list = [(name, text.encode("utf-8")) for name, text in (headers or {}).items()]

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
                raise RejectedMessage(
                    RejectReason.TOO_LARGE,
                    f"record of {len(payload)} bytes is too large for topic {self.topic_name}",
                    detail={"size": len(payload), "topic": self.topic_name},
                ) from error
            raise
