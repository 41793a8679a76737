"""Tests of DatabaseSink.write_batch and the typed error for values the database rejects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streams.errors import RejectedMessage
from streams.sinks.database.errors import InvalidRecordError, MissingPushError
from streams.sinks.database.queries import job_by_guid, table_counts
from streams.sinks.database.records import StoredJob
from streams.sinks.database.writer import DatabaseSink

Factory = Callable[..., dict[str, Any]]

OTHER_REVISION = "a" * 40


async def test_batch_writes_pushes_then_jobs(
    sink: DatabaseSink, make_push_record: Factory, make_job_record: Factory
) -> None:
    job = make_job_record(revision=OTHER_REVISION, state="running")

    await sink.write_batch([make_push_record(revision=OTHER_REVISION)], [job])

    stored = await job_by_guid(sink.engine, job["job"]["job_guid"])
    assert stored is not None
    assert stored["state"] == "running"


async def test_batch_twice_is_idempotent(
    sink: DatabaseSink, make_push_record: Factory, make_job_record: Factory
) -> None:
    push = make_push_record(revision=OTHER_REVISION)
    jobs = [make_job_record(revision=OTHER_REVISION) for _ in range(3)]

    await sink.write_batch([push], jobs)
    await sink.write_batch([push], jobs)

    counts = await table_counts(sink.engine)
    assert counts["push"] == 1
    assert counts["job"] == 3


async def test_missing_push_rolls_back_batch(
    sink: DatabaseSink, make_push_record: Factory, make_job_record: Factory
) -> None:
    orphan = make_job_record(revision="b" * 40)

    with pytest.raises(MissingPushError):
        await sink.write_batch([make_push_record(revision=OTHER_REVISION)], [orphan])

    counts = await table_counts(sink.engine)
    assert counts["push"] == 0


async def test_batch_supersedes_after_upserts(
    sink: DatabaseSink, make_push_record: Factory, make_job_record: Factory
) -> None:
    old = make_job_record(revision=OTHER_REVISION, state="running")
    new = make_job_record(revision=OTHER_REVISION, superseded=[old["job"]["job_guid"]])

    await sink.write_batch([make_push_record(revision=OTHER_REVISION)], [old, new])

    stored = await job_by_guid(sink.engine, old["job"]["job_guid"])
    assert stored is not None
    assert (stored["state"], stored["result"]) == ("completed", "superseded")


async def test_out_of_range_value_is_invalid_record(
    backend: str, push_sink: DatabaseSink, make_job_record: Factory
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite stores integers of any size")
    job = make_job_record(tier=2**40)

    with pytest.raises(InvalidRecordError) as raised:
        await push_sink.write_jobs([job])

    assert isinstance(raised.value, RejectedMessage)
    assert raised.value.reason.value == "database-rejected"
    assert raised.value.detail["exception"] == "DataError"


async def test_invalid_record_is_not_retried(
    backend: str, push_sink: DatabaseSink, make_job_record: Factory
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite stores integers of any size")
    job = make_job_record(tier=2**40)

    with pytest.raises(InvalidRecordError):
        await push_sink.write_with_retry(push_sink.write_jobs, [job])

    assert push_sink.metrics.retries.labels("write_jobs")._value.get() == 0


async def test_batch_returns_rows_before_write(
    sink: DatabaseSink, make_push_record: Factory, make_job_record: Factory
) -> None:
    push = make_push_record(revision=OTHER_REVISION)
    stored = make_job_record(revision=OTHER_REVISION, state="completed", result="testfailed")
    new = make_job_record(revision=OTHER_REVISION, state="pending")
    await sink.write_batch([push], [stored])

    replay = dict(stored, job={**stored["job"], "state": "running", "result": "unknown"})
    before = await sink.write_batch([push], [replay, new])

    assert before == {
        stored["job"]["job_guid"]: StoredJob("completed", "testfailed"),
        new["job"]["job_guid"]: None,
    }
    row = await job_by_guid(sink.engine, stored["job"]["job_guid"])
    assert row is not None
    assert (row["state"], row["result"]) == ("completed", "testfailed")


async def test_batch_without_jobs_returns_empty(sink: DatabaseSink, make_push_record: Factory) -> None:
    assert await sink.write_batch([make_push_record(revision=OTHER_REVISION)], []) == {}
