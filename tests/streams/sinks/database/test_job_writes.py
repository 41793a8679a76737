"""Tests of DatabaseSink.write_jobs: rows, logs, task metadata, supersedes and metrics."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from streams.sinks.database.errors import MissingPushError
from streams.sinks.database.models import job_log
from streams.sinks.database.queries import job_by_guid, table_counts
from streams.sinks.database.writer import DatabaseSink

JobFactory = Callable[..., dict[str, Any]]

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


async def test_sample_jobs_twice(
    push_sink: DatabaseSink, transformed_jobs: list[dict[str, Any]]
) -> None:
    await push_sink.write_jobs(transformed_jobs)
    await push_sink.write_jobs(transformed_jobs)

    counts = await table_counts(push_sink.engine)
    assert counts["job"] == 30
    assert counts["taskcluster_metadata"] == 30
    assert counts["job_log"] == 28


async def test_first_job_one_log(
    push_sink: DatabaseSink, transformed_jobs: list[dict[str, Any]]
) -> None:
    await push_sink.write_jobs(transformed_jobs)
    await push_sink.write_jobs(transformed_jobs)

    stored = await job_by_guid(push_sink.engine, transformed_jobs[0]["job"]["job_guid"])
    assert stored is not None
    assert [(log["name"], log["parse_status"]) for log in stored["logs"]] == [
        ("live_backing_log", "pending")
    ]


async def test_sample_job_columns(
    push_sink: DatabaseSink, transformed_jobs: list[dict[str, Any]]
) -> None:
    await push_sink.write_jobs(transformed_jobs[:1])

    stored = await job_by_guid(push_sink.engine, "008dcdae-bde0-4834-a967-d13d681037ae/0")
    assert stored is not None
    assert stored["state"] == "completed"
    assert stored["result"] == "success"
    assert stored["option_collection"] == "debug"
    assert stored["job_type_symbol"] == "bc5"
    assert stored["job_group_symbol"] == "M-spi-nw"
    assert stored["build_platform"] == "linux64"
    assert stored["machine_architecture"] == "x86_64"
    assert stored["task_id"] == "AI3Nrr3gSDSpZ9E9aBA3rg"
    assert stored["retry_id"] == 0
    assert stored["start_time"] == datetime.datetime(2025, 2, 27, 7, 4, 3, tzinfo=datetime.UTC)


async def test_missing_timestamps_epoch(push_sink: DatabaseSink, make_job_record: JobFactory) -> None:
    record = make_job_record(state="pending")
    for field in ("submit_timestamp", "start_timestamp", "end_timestamp"):
        del record["job"][field]

    await push_sink.write_jobs([record])

    stored = await job_by_guid(push_sink.engine, record["job"]["job_guid"])
    assert stored is not None
    assert stored["submit_time"] == EPOCH
    assert stored["start_time"] == EPOCH
    assert stored["end_time"] == EPOCH


async def test_long_text_truncated(push_sink: DatabaseSink, make_job_record: JobFactory) -> None:
    record = make_job_record(who="w" * 80, reason="r" * 200)

    await push_sink.write_jobs([record])

    stored = await job_by_guid(push_sink.engine, record["job"]["job_guid"])
    assert stored is not None
    assert stored["who"] == "w" * 50
    assert stored["reason"] == "r" * 125


async def test_job_without_task_id(push_sink: DatabaseSink, make_job_record: JobFactory) -> None:
    record = make_job_record()
    del record["job"]["taskcluster_task_id"]
    del record["job"]["taskcluster_retry_id"]

    await push_sink.write_jobs([record])

    counts = await table_counts(push_sink.engine)
    assert counts["job"] == 1
    assert counts["taskcluster_metadata"] == 0


async def test_missing_push_rejected(
    push_sink: DatabaseSink, make_job_record: JobFactory
) -> None:
    known = make_job_record()
    unknown = make_job_record(revision="f" * 40)

    with pytest.raises(MissingPushError) as raised:
        await push_sink.write_jobs([known, unknown])

    assert raised.value.retriable is False
    assert raised.value.missing == [("mozilla-central", "f" * 40)]
    assert (await table_counts(push_sink.engine))["job"] == 0


async def test_superseded_pending_job(
    push_sink: DatabaseSink, make_job_record: JobFactory
) -> None:
    old = make_job_record(state="pending")
    await push_sink.write_jobs([old])

    await push_sink.write_jobs([make_job_record(superseded=[old["job"]["job_guid"]])])

    stored = await job_by_guid(push_sink.engine, old["job"]["job_guid"])
    assert stored is not None
    assert stored["state"] == "completed"
    assert stored["result"] == "superseded"


async def test_superseded_completed_kept(
    push_sink: DatabaseSink, make_job_record: JobFactory
) -> None:
    old = make_job_record(state="completed", result="testfailed")
    await push_sink.write_jobs([old])

    await push_sink.write_jobs([make_job_record(superseded=[old["job"]["job_guid"]])])

    stored = await job_by_guid(push_sink.engine, old["job"]["job_guid"])
    assert stored is not None
    assert stored["result"] == "testfailed"


async def test_stale_event_supersedes_nothing(
    push_sink: DatabaseSink, make_job_record: JobFactory
) -> None:
    old = make_job_record(state="pending")
    newer = make_job_record(state="completed")
    await push_sink.write_jobs([old, newer])
    stale = make_job_record(
        guid=newer["job"]["job_guid"], state="running", superseded=[old["job"]["job_guid"]]
    )

    await push_sink.write_jobs([stale])

    stored = await job_by_guid(push_sink.engine, old["job"]["job_guid"])
    assert stored is not None
    assert (stored["state"], stored["result"]) == ("pending", "unknown")


async def test_stale_repeat_in_call_supersedes_nothing(
    push_sink: DatabaseSink, make_job_record: JobFactory
) -> None:
    old = make_job_record(state="pending")
    await push_sink.write_jobs([old])
    completed = make_job_record(state="completed")
    # The second record of the guid goes to a later round of upserts and is skipped there.
    stale = make_job_record(
        guid=completed["job"]["job_guid"], state="running", superseded=[old["job"]["job_guid"]]
    )

    await push_sink.write_jobs([completed, stale])

    stored = await job_by_guid(push_sink.engine, old["job"]["job_guid"])
    assert stored is not None
    assert stored["state"] == "pending"


async def test_skipped_event_adds_no_log(
    push_sink: DatabaseSink, make_job_record: JobFactory
) -> None:
    guid = "11111111-2222-3333-4444-555555555555/0"
    late_log = [{"name": "live_log", "url": "https://example.com/live.log", "parse_status": "pending"}]
    await push_sink.write_jobs([make_job_record(guid=guid, state="completed")])

    await push_sink.write_jobs(
        [make_job_record(guid=guid, state="running", log_references=late_log)]
    )

    async with push_sink.engine.connect() as connection:
        names = (await connection.execute(select(job_log.c.name))).scalars().all()
    assert names == ["live_backing_log"]


async def test_rows_written_metric(
    push_sink: DatabaseSink, transformed_jobs: list[dict[str, Any]]
) -> None:
    await push_sink.write_jobs(transformed_jobs)

    metrics = push_sink.metrics
    assert metrics.rows_written.labels("job")._value.get() == 30
    assert metrics.rows_written.labels("job_log")._value.get() == 28
    assert metrics.batches.labels("write_jobs")._value.get() == 1
    assert metrics.write_seconds.labels("write_jobs")._sum.get() > 0
