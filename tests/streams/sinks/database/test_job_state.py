"""Tests of the job-state rule that the job upsert applies inside its SQL statement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streams.sinks.database.queries import job_by_guid
from streams.sinks.database.writer import DatabaseSink

JobFactory = Callable[..., dict[str, Any]]

GUID = "0b7c2f3a-1d9e-4c55-8a6b-3f2e1d0c9b8a/0"

# Each case: the (state, result) events written one call at a time, then the stored pair.
TRANSITIONS = [
    pytest.param([("completed", "success"), ("pending", "unknown")], ("completed", "success"), id="completed-then-pending"),
    pytest.param([("running", "unknown"), ("pending", "unknown")], ("running", "unknown"), id="running-then-pending"),
    pytest.param(
        [("pending", "unknown"), ("running", "unknown"), ("completed", "success")],
        ("completed", "success"),
        id="pending-running-completed",
    ),
    pytest.param([("pending", "unknown"), ("unscheduled", "unknown")], ("pending", "unknown"), id="pending-then-unscheduled"),
    pytest.param([("running", "unknown"), ("unscheduled", "unknown")], ("running", "unknown"), id="running-then-unscheduled"),
    pytest.param([("completed", "success"), ("completed", "testfailed")], ("completed", "success"), id="completed-twice"),
    pytest.param([("completed", "success"), ("running", "unknown")], ("completed", "success"), id="completed-then-running"),
    pytest.param([("unscheduled", "unknown"), ("pending", "unknown")], ("pending", "unknown"), id="unscheduled-then-pending"),
    pytest.param([("pending", "unknown"), ("completed", "busted")], ("completed", "busted"), id="pending-then-completed"),
    pytest.param([("unscheduled", "unknown"), ("completed", "retry")], ("completed", "retry"), id="unscheduled-then-completed"),
]


@pytest.mark.parametrize(("events", "expected"), TRANSITIONS)
async def test_transition(
    push_sink: DatabaseSink,
    make_job_record: JobFactory,
    events: list[tuple[str, str]],
    expected: tuple[str, str],
) -> None:
    for state, result in events:
        await push_sink.write_jobs([make_job_record(guid=GUID, state=state, result=result)])

    stored = await job_by_guid(push_sink.engine, GUID)
    assert stored is not None
    assert (stored["state"], stored["result"]) == expected


@pytest.mark.parametrize(("events", "expected"), TRANSITIONS)
async def test_transition_in_one_batch(
    push_sink: DatabaseSink,
    make_job_record: JobFactory,
    events: list[tuple[str, str]],
    expected: tuple[str, str],
) -> None:
    records = [make_job_record(guid=GUID, state=state, result=result) for state, result in events]

    await push_sink.write_jobs(records)

    stored = await job_by_guid(push_sink.engine, GUID)
    assert stored is not None
    assert (stored["state"], stored["result"]) == expected


async def test_same_state_rewritten(push_sink: DatabaseSink, make_job_record: JobFactory) -> None:
    await push_sink.write_jobs([make_job_record(guid=GUID, state="running", machine="first")])

    await push_sink.write_jobs([make_job_record(guid=GUID, state="running", machine="second")])

    stored = await job_by_guid(push_sink.engine, GUID)
    assert stored is not None
    assert stored["machine"] == "second"
