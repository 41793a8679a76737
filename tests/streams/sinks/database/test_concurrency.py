"""Tests of concurrent writers: the state rule holds when two sinks race on the same guids."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from streams.sinks.database.models import job
from streams.sinks.database.writer import DatabaseSink

JobFactory = Callable[..., dict[str, Any]]

ROUNDS = 25
JOBS_PER_ROUND = 20


@pytest.mark.integration
async def test_running_never_overwrites_completed(
    backend: str,
    push_sink: DatabaseSink,
    migrated_url: str,
    make_sink: Callable[..., Awaitable[DatabaseSink]],
    make_job_record: JobFactory,
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serializes writers, so the race needs PostgreSQL")
    other_sink = await make_sink(migrated_url)

    for round_number in range(ROUNDS):
        guids = [f"00000000-0000-0000-{round_number:04d}-{index:012d}/0" for index in range(JOBS_PER_ROUND)]
        running = [make_job_record(guid=guid, state="running") for guid in guids]
        completed = [make_job_record(guid=guid, state="completed") for guid in guids]

        # Alternate which writer starts first so both interleavings are exercised.
        writes = [
            push_sink.write_with_retry(push_sink.write_jobs, running),
            other_sink.write_with_retry(other_sink.write_jobs, completed),
        ]
        if round_number % 2:
            writes.reverse()
        await asyncio.gather(*writes)

        async with push_sink.engine.connect() as connection:
            states = (
                await connection.execute(select(job.c.state).where(job.c.guid.in_(guids)))
            ).scalars().all()
        assert sorted(set(states)) == ["completed"], f"round {round_number}"
        assert len(states) == JOBS_PER_ROUND


@pytest.mark.integration
async def test_racing_writers_read_each_others_rows(
    push_sink: DatabaseSink,
    migrated_url: str,
    make_sink: Callable[..., Awaitable[DatabaseSink]],
    make_job_record: JobFactory,
) -> None:
    # Each writer must read the rows as its own upserts find them. Otherwise a worker would
    # send a job event to the accepted topic that its upsert skipped.
    other_sink = await make_sink(migrated_url)

    for round_number in range(ROUNDS):
        guids = [f"00000000-0000-0001-{round_number:04d}-{index:012d}/0" for index in range(JOBS_PER_ROUND)]
        running = [make_job_record(guid=guid, state="running") for guid in guids]
        completed = [make_job_record(guid=guid, state="completed") for guid in guids]

        before_running, before_completed = await asyncio.gather(
            push_sink.write_with_retry(push_sink.write_batch, [], running),
            other_sink.write_with_retry(other_sink.write_batch, [], completed),
        )

        for guid in guids:
            seen = (before_running[guid], before_completed[guid])
            assert seen.count(None) == 1, f"round {round_number} guid {guid}: {seen}"
            if before_running[guid] is not None:
                assert before_running[guid].state == "completed", f"round {round_number} guid {guid}"
            else:
                assert before_completed[guid] is not None
                assert before_completed[guid].state == "running", f"round {round_number} guid {guid}"
