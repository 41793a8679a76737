"""Tests of the read helpers in streams.sinks.database.queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.sinks.database.queries import (
    job_by_guid,
    jobs_of_push,
    pushes_of_repository,
    table_counts,
)
from streams.sinks.database.writer import DatabaseSink

JOB_REVISION = "9c6e4c31ad26efdad0b9af47a2b530bc414ce2c3"


async def test_pushes_newest_first(
    push_sink: DatabaseSink,
    make_push_record: Callable[..., dict[str, Any]],
    transformed_jobs: list[dict[str, Any]],
) -> None:
    await push_sink.write_pushes([make_push_record(revision="b" * 40, push_timestamp=1740767999)])
    await push_sink.write_jobs(transformed_jobs)

    pushes = await pushes_of_repository(push_sink.engine, "mozilla-central", limit=10)

    assert [push["revision"] for push in pushes] == ["b" * 40, JOB_REVISION]
    assert [push["job_count"] for push in pushes] == [0, 30]
    assert [push["commit_count"] for push in pushes] == [2, 2]


async def test_pushes_limit(
    push_sink: DatabaseSink, make_push_record: Callable[..., dict[str, Any]]
) -> None:
    await push_sink.write_pushes([make_push_record(revision="c" * 40, push_timestamp=1740767999)])

    pushes = await pushes_of_repository(push_sink.engine, "mozilla-central", limit=1)

    assert [push["revision"] for push in pushes] == ["c" * 40]


async def test_jobs_of_push_sorted(
    push_sink: DatabaseSink, transformed_jobs: list[dict[str, Any]]
) -> None:
    await push_sink.write_jobs(transformed_jobs)

    jobs = await jobs_of_push(push_sink.engine, "mozilla-central", JOB_REVISION)

    guids = [job["guid"] for job in jobs]
    assert len(guids) == 30
    assert guids == sorted(guids)


async def test_jobs_of_unknown_push(push_sink: DatabaseSink) -> None:
    assert await jobs_of_push(push_sink.engine, "mozilla-central", "0" * 40) == []


async def test_job_by_unknown_guid(push_sink: DatabaseSink) -> None:
    assert await job_by_guid(push_sink.engine, "missing/0") is None


async def test_table_counts_empty(sink: DatabaseSink) -> None:
    counts = await table_counts(sink.engine)

    assert counts == {
        "repository": 1,
        "push": 0,
        "commit": 0,
        "job": 0,
        "job_log": 0,
        "taskcluster_metadata": 0,
    }
