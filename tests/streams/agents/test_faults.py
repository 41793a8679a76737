"""is_infrastructure_error: Kafka, Faust and network faults rerun events, data errors do not."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    NotLeaderForPartitionError,
    RecordTooLargeError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from faust.exceptions import PartitionsMismatch, ProducerSendError

from streams.agents.batching import handle_batch
from streams.agents.failures import handle_event
from streams.agents.faults import is_infrastructure_error
from streams.agents.join_plan import BatchItem
from streams.agents.retry import Backoff
from streams.errors import RejectedMessage, RejectReason, RetriableError

NO_WAIT = Backoff(initial=0.0, maximum=0.0)

CHANGELOG_MISMATCH = PartitionsMismatch(
    "The source topic 'pulse-jobs-by-revision' for table 'parked-jobs' has 8 partitions, "
    "but the changelog topic 'pulse-ingest-parked-jobs-changelog' has 0 partitions."
)


def caused_by(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    "error",
    [
        CHANGELOG_MISMATCH,
        RetriableError("database down"),
        KafkaConnectionError("connection refused"),
        KafkaTimeoutError(),
        NodeNotReadyError(),
        RequestTimedOutError(),
        NotLeaderForPartitionError(),
        UnknownTopicOrPartitionError(),
        ConnectionResetError("reset by peer"),
        ConnectionRefusedError(),
        asyncio.TimeoutError(),
        OSError("network unreachable"),
        caused_by(ProducerSendError("send failed"), KafkaConnectionError()),
        caused_by(RuntimeError("wrapped"), ConnectionError("closed")),
    ],
    ids=lambda error: type(error).__name__,
)
def test_infrastructure_errors_are_retriable(error):
    assert is_infrastructure_error(error) is True


@pytest.mark.parametrize(
    "error",
    [
        KeyError("job_guid"),
        TypeError("'NoneType' object is not subscriptable"),
        ValueError("invalid literal"),
        RuntimeError("bug"),
        RejectedMessage(RejectReason.SCHEMA, "bad"),
        caused_by(RejectedMessage(RejectReason.LOOKUP_FAILED, "gave up"), ConnectionError()),
        RecordTooLargeError(),
        caused_by(ProducerSendError("send failed"), RecordTooLargeError()),
        TopicAuthorizationFailedError(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_data_errors_are_not_retriable(error):
    assert is_infrastructure_error(error) is False


def test_cause_cycle_ends():
    first = RuntimeError("first")
    second = RuntimeError("second")
    first.__cause__ = second
    second.__cause__ = first

    assert is_infrastructure_error(first) is False


@pytest.fixture
def source(make_source):
    return make_source("pulse-jobs-by-revision", b"{}", key="autoland/abc", partition=3, offset=7)


async def test_partitions_mismatch_reruns_event(source, dead_letters, dead_letter_publisher):
    calls = []

    async def handler(_):
        calls.append(1)
        if len(calls) < 3:
            raise CHANGELOG_MISMATCH

    handled = await handle_event(source, "join", handler, dead_letters, NO_WAIT)

    assert handled is True
    assert len(calls) == 3
    assert dead_letter_publisher.sent == []


async def test_connection_error_reruns_event(source, dead_letters, dead_letter_publisher):
    calls = []

    async def handler(_):
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionResetError("reset by peer")

    handled = await handle_event(source, "job-ingest", handler, dead_letters, NO_WAIT)

    assert handled is True
    assert len(calls) == 2
    assert dead_letter_publisher.sent == []


async def test_partitions_mismatch_reruns_batch(source, dead_letters, dead_letter_publisher):
    batches = []

    async def handler(batch):
        batches.append(len(batch))
        if len(batches) < 3:
            raise CHANGELOG_MISMATCH

    items = [BatchItem(source), BatchItem(source)]
    await handle_batch(items, "join", handler, dead_letters, NO_WAIT)

    assert batches == [2, 2, 2]
    assert dead_letter_publisher.sent == []


async def test_poison_in_batch_is_dead_lettered(source, dead_letters, dead_letter_publisher):
    async def handler(batch):
        raise KeyError("job_guid")

    await handle_batch([BatchItem(source)], "join", handler, dead_letters, NO_WAIT)

    record = dead_letter_publisher.values()[0]
    assert record["reason"] == "transform-error"
    assert record["detail"]["exception"] == "KeyError"
