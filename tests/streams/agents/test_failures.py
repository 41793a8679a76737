"""handle_event: rejected and poison events are dead-lettered, infrastructure faults retried."""

from __future__ import annotations

import asyncio
import base64

import pytest

from streams.agents.failures import handle_event
from streams.agents.retry import Backoff
from streams.errors import RejectedMessage, RejectReason, RetriableError

NO_WAIT = Backoff(initial=0.0, maximum=0.0)


@pytest.fixture
def source(make_source):
    return make_source(
        "pulse-raw-jobs", b"\xffbody", key="task-1", partition=2, offset=41,
        headers={"pulse.exchange": "exchange/x"},
    )


async def test_rejected_event_is_dead_lettered(source, dead_letters, dead_letter_publisher):
    async def handler(_):
        raise RejectedMessage(RejectReason.SCHEMA, "bad", detail=[{"path": "$.a", "rule": "required", "value": None}])

    handled = await handle_event(source, "job-ingest", handler, dead_letters, NO_WAIT)

    record = dead_letter_publisher.values()[0]
    assert handled is False
    assert record["reason"] == "schema"
    assert record["detail"] == [{"path": "$.a", "rule": "required", "value": None}]
    assert record["stage"] == "job-ingest"
    assert record["source"] == {"topic": "pulse-raw-jobs", "partition": 2, "offset": 41, "key": "task-1"}
    assert base64.b64decode(record["body_base64"]) == b"\xffbody"
    assert record["headers"] == {"pulse.exchange": "exchange/x"}
    assert dead_letter_publisher.sent[0]["key"] == "task-1"


async def test_poison_event_is_dead_lettered(source, dead_letters, dead_letter_publisher):
    async def handler(_):
        raise KeyError("job_guid")

    handled = await handle_event(source, "join", handler, dead_letters, NO_WAIT)

    record = dead_letter_publisher.values()[0]
    assert handled is False
    assert record["reason"] == "transform-error"
    assert record["detail"]["exception"] == "KeyError"
    assert "job_guid" in record["detail"]["traceback"]


async def test_retriable_error_reruns_handler(source, dead_letters, dead_letter_publisher):
    calls = []

    async def handler(_):
        calls.append(1)
        if len(calls) < 3:
            raise RetriableError("database down")

    handled = await handle_event(source, "join", handler, dead_letters, NO_WAIT)

    assert handled is True
    assert len(calls) == 3
    assert dead_letter_publisher.sent == []


async def test_dead_letter_send_failure_is_retried(source, dead_letters, dead_letter_publisher):
    dead_letter_publisher.failures = [RuntimeError("unexpected"), RuntimeError("again")]

    async def handler(_):
        raise RejectedMessage(RejectReason.NOT_JSON, "bad")

    await handle_event(source, "join", handler, dead_letters, NO_WAIT)

    assert len(dead_letter_publisher.sent) == 1


async def test_cancellation_propagates(source, dead_letters, dead_letter_publisher):
    async def handler(_):
        raise asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        await handle_event(source, "join", handler, dead_letters, NO_WAIT)

    assert dead_letter_publisher.sent == []
