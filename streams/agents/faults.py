"""Classification of infrastructure faults, which rerun an event and never dead-letter it."""

from __future__ import annotations

import asyncio

from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    RecordTooLargeError,
    RequestTimedOutError,
)
from faust.exceptions import PartitionsMismatch, ProducerSendError

from streams.errors import RejectedMessage, RetriableError

# Kafka errors about reaching the broker. aiokafka marks KafkaTimeoutError as not retriable,
# but a time-out is no fault of the message.
_KAFKA_CONNECTION_ERRORS = (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)

# A record too large for the producer or the broker never fits, however often it is sent.
_SIZE_ERRORS = (MessageSizeTooLargeError, RecordTooLargeError)

# Faust errors raised while the client's view of the cluster is incomplete. Faust raises
# PartitionsMismatch on a table write when its metadata of a changelog topic created a
# moment before still lists 0 partitions.
_FAUST_INFRASTRUCTURE_ERRORS = (PartitionsMismatch, ProducerSendError)

# ConnectionError and TimeoutError are subclasses of OSError; asyncio.TimeoutError is
# TimeoutError since Python 3.11 and is listed for clarity.
_OS_ERRORS = (OSError, asyncio.TimeoutError)


def is_infrastructure_error(error: BaseException) -> bool:
    """Tell whether ``error`` is a fault of Kafka, Faust or the network rather than of the data.

    Such an event is valid, so the caller reruns it after a backoff instead of
    dead-lettering it. RetriableError counts, RejectedMessage and a record too large never
    do. The check follows ``__cause__``, because clients wrap connection errors in their
    own types, such as Faust's ProducerSendError.
    """
    chain = _cause_chain(error)
    if any(isinstance(link, (RejectedMessage, *_SIZE_ERRORS)) for link in chain):
        return False
    return any(_is_infrastructure_type(link) for link in chain)


def _cause_chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not link for link in chain):
        chain.append(current)
        current = current.__cause__
    return chain


def _is_infrastructure_type(error: BaseException) -> bool:
    if isinstance(error, RetriableError):
        return True
    if isinstance(error, _FAUST_INFRASTRUCTURE_ERRORS):
        return True
    if isinstance(error, KafkaError):
        return _is_transient_kafka_error(error)
    return isinstance(error, _OS_ERRORS)


def _is_transient_kafka_error(error: KafkaError) -> bool:
    if isinstance(error, _KAFKA_CONNECTION_ERRORS):
        return True
    # aiokafka sets these class flags on errors that a retry or a metadata refresh can fix.
    return bool(getattr(error, "retriable", False) or getattr(error, "invalid_metadata", False))
