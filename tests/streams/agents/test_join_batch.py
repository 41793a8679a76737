"""JoinProcessor batches: one write per batch, the state rule within it, supersedes, rejections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streams import metrics
from streams.agents.join import BatchItem, JoinProcessor
from streams.agents.source import SourceEvent
from streams.config import TopicNames
from streams.errors import RejectedMessage, RejectReason, RetriableError
from streams.sinks.database.records import StoredJob, StoredJobs
from streams.sinks.deadletter import DeadLetterSink
from streams.tables.definitions import JoinTables
from tests.streams.conftest import (
    FakeDatabase,
    FakePublisher,
    job_guid,
    job_record,
    push_record,
    revision_for,
)


class BatchDatabase(FakeDatabase):
    """Fake database that records each write_batch call."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[list[str], list[tuple[str, str]]]] = []

    async def write_batch(self, pushes: Any, jobs: Any) -> StoredJobs:
        before = await super().write_batch(pushes, jobs)
        self.batches.append(
            (
                [record["revision"] for record in pushes],
                [(record["job"]["job_guid"], record["job"]["state"]) for record in jobs],
            )
        )
        return before


@pytest.fixture
def database() -> BatchDatabase:
    return BatchDatabase()


@pytest.fixture
def join(
    topics: TopicNames,
    tables: JoinTables,
    database: BatchDatabase,
    accepted_jobs: FakePublisher,
    dead_letters: DeadLetterSink,
) -> JoinProcessor:
    return JoinProcessor(
        topics=topics,
        tables=tables,
        database=database,
        accepted_pushes=FakePublisher("pulse-accepted-pushes"),
        accepted_jobs=accepted_jobs,
        dead_letters=dead_letters,
        parked_job_window=100.0,
        clock=lambda: 1000.0,
    )


@pytest.fixture
def make_push(topics: TopicNames, make_source: Callable[..., SourceEvent]) -> Callable[..., BatchItem]:
    def build(revision: str, offset: int) -> BatchItem:
        return BatchItem(
            make_source(topics.pushes, push_record(revision), key=f"autoland/{revision}", offset=offset)
        )

    return build


@pytest.fixture
def make_job(topics: TopicNames, make_source: Callable[..., SourceEvent]) -> Callable[..., BatchItem]:
    def build(
        index: int, revision: str, state: str, offset: int, superseded: list[str] | None = None
    ) -> BatchItem:
        record = job_record(job_guid(index), revision, state)
        record["superseded"] = superseded or []
        return BatchItem(
            make_source(topics.jobs, record, key=f"autoland/{revision}", offset=offset)
        )

    return build


def sent_states(publisher: FakePublisher) -> list[tuple[str, str]]:
    return [(value["job"]["job_guid"], value["job"]["state"]) for value in publisher.values()]


async def test_batch_is_one_database_write(join, database, make_push, make_job):
    revision = revision_for("batch-one-write")

    await join.process_batch(
        [
            make_job(1, revision, "pending", offset=0),
            make_push(revision, offset=1),
            make_job(2, revision, "running", offset=2),
        ]
    )

    assert database.batches == [
        ([revision], [(job_guid(1), "pending"), (job_guid(2), "running")])
    ]


async def test_batch_writes_winner_per_guid(join, database, accepted_jobs, make_push, make_job):
    revision = revision_for("batch-winner")

    await join.process_batch(
        [
            make_push(revision, offset=0),
            make_job(1, revision, "pending", offset=1),
            make_job(1, revision, "running", offset=2),
            make_job(1, revision, "pending", offset=3),
            make_job(1, revision, "completed", offset=4),
            make_job(1, revision, "running", offset=5),
        ]
    )

    assert database.batches[0][1] == [(job_guid(1), "completed")]
    assert sent_states(accepted_jobs) == [
        (job_guid(1), "pending"),
        (job_guid(1), "running"),
        (job_guid(1), "completed"),
    ]


async def test_batch_stores_tables_after_write(join, tables, make_push, make_job):
    revision = revision_for("batch-tables")

    await join.process_batch(
        [make_job(1, revision, "running", offset=0), make_push(revision, offset=1)]
    )

    assert f"autoland/{revision}" in tables.pushes
    assert f"autoland/{revision}" not in tables.parked


async def test_retriable_failure_leaves_tables(join, tables, database, make_push, make_job):
    revision = revision_for("batch-retriable")

    async def unavailable(pushes: Any, jobs: Any) -> None:
        raise RetriableError("database unavailable")

    database.write_batch = unavailable
    with pytest.raises(RetriableError):
        await join.process_batch(
            [make_push(revision, offset=0), make_job(1, revision, "running", offset=1)]
        )

    assert tables.pushes == {}
    assert tables.parked == {}


async def test_superseded_job_is_completed_in_batch(join, database, accepted_jobs, make_push, make_job):
    revision = revision_for("batch-superseded")
    dropped_before = metrics.STATE_DROPPED._value.get()

    await join.process_batch(
        [
            make_push(revision, offset=0),
            make_job(1, revision, "running", offset=1),
            make_job(2, revision, "pending", offset=2, superseded=[job_guid(1)]),
            make_job(1, revision, "completed", offset=3),
        ]
    )

    assert (job_guid(1), "completed") not in sent_states(accepted_jobs)
    written = {record["job"]["job_guid"]: record for record in database.jobs}
    assert written[job_guid(1)]["job"]["state"] == "running"
    assert written[job_guid(2)]["superseded"] == [job_guid(1)]
    assert metrics.STATE_DROPPED._value.get() == dropped_before + 1


async def test_earlier_superseded_guid_is_written(
    join, database, make_push, make_job
):
    revision = revision_for("batch-superseded-earlier")
    await join.process_batch(
        [make_push(revision, offset=0), make_job(1, revision, "running", offset=1)]
    )

    await join.process_batch([make_job(2, revision, "pending", offset=2, superseded=[job_guid(1)])])

    written = {record["job"]["job_guid"]: record for record in database.jobs}
    assert written[job_guid(2)]["superseded"] == [job_guid(1)]


async def test_unknown_superseded_guid_is_left_alone(join, tables, database, make_push, make_job):
    revision = revision_for("batch-superseded-unknown")

    await join.process_batch(
        [
            make_push(revision, offset=0),
            make_job(2, revision, "pending", offset=1, superseded=[job_guid(1)]),
            make_job(1, revision, "running", offset=2),
        ]
    )

    assert database.stored[job_guid(1)].state == "running"
    written = {record["job"]["job_guid"]: record for record in database.jobs}
    assert written[job_guid(2)]["superseded"] == []


async def test_known_superseded_guid_is_written(join, database, make_push, make_job):
    revision = revision_for("batch-superseded-known")

    await join.process_batch(
        [
            make_push(revision, offset=0),
            make_job(1, revision, "running", offset=1),
            make_job(2, revision, "pending", offset=2, superseded=[job_guid(1)]),
        ]
    )

    written = {record["job"]["job_guid"]: record for record in database.jobs}
    assert written[job_guid(2)]["superseded"] == [job_guid(1)]


async def test_rejected_job_leaves_rest_of_batch(
    join, tables, database, accepted_jobs, dead_letter_publisher, make_push, make_job
):
    revision = revision_for("batch-rejected-job")
    database.reject_guids = {job_guid(2)}

    await join.process_batch(
        [make_push(revision, offset=0)]
        + [make_job(index, revision, "running", offset=index) for index in (1, 2, 3, 4)]
    )

    assert [guid for guid, _ in sent_states(accepted_jobs)] == [job_guid(i) for i in (1, 3, 4)]
    assert [record["source"]["offset"] for record in dead_letter_publisher.values()] == [2]
    assert job_guid(2) not in database.stored
    assert database.stored[job_guid(4)].state == "running"


async def test_rejected_winner_keeps_earlier_event(
    join, tables, database, accepted_jobs, dead_letter_publisher, make_push, make_job
):
    revision = revision_for("batch-rejected-winner")
    original = database.write_jobs

    async def reject_completed(records: Any) -> None:
        if any(record["job"]["state"] == "completed" for record in records):
            raise RejectedMessage(RejectReason.DATABASE_REJECTED, "value out of range")
        await original(records)

    database.write_jobs = reject_completed

    await join.process_batch(
        [
            make_push(revision, offset=0),
            make_job(1, revision, "running", offset=1),
            make_job(1, revision, "completed", offset=2),
        ]
    )

    assert database.stored[job_guid(1)].state == "running"
    assert sent_states(accepted_jobs) == [(job_guid(1), "running")]
    assert dead_letter_publisher.values()[0]["reason"] == "database-rejected"


async def test_too_large_record_is_dead_lettered(
    join, tables, accepted_jobs, dead_letter_publisher, make_push, make_job
):
    revision = revision_for("batch-too-large")
    too_large = RejectedMessage(RejectReason.TOO_LARGE, "record too large")
    original = accepted_jobs.publish

    async def publish(key: Any, value: Any, **kwargs: Any) -> None:
        if value["job"]["job_guid"] == job_guid(2):
            raise too_large
        await original(key, value, **kwargs)

    accepted_jobs.publish = publish

    await join.process_batch(
        [
            make_push(revision, offset=0),
            make_job(1, revision, "running", offset=1),
            make_job(2, revision, "running", offset=2),
        ]
    )

    assert [guid for guid, _ in sent_states(accepted_jobs)] == [job_guid(1)]
    assert [record["reason"] for record in dead_letter_publisher.values()] == ["too-large"]


async def test_sweep_splits_batch(join, topics, tables, database, make_source, make_job):
    revision = revision_for("batch-sweep")

    await join.process_batch(
        [
            make_job(1, revision, "running", offset=0),
            BatchItem(make_source(topics.sweep, {"sent_at": 0}, key="sweep", offset=0)),
        ]
    )

    assert f"autoland/{revision}" in tables.parked
    assert database.batches == [([], [])]


async def test_replay_behind_stored_row_not_sent(join, database, accepted_jobs, make_push, make_job):
    revision = revision_for("batch-replay-behind")
    # An earlier batch, or a killed worker's batch that is now replayed, stored the completed row.
    database.stored[job_guid(1)] = StoredJob("completed", "success")

    await join.process_batch(
        [
            make_push(revision, offset=0),
            make_job(1, revision, "pending", offset=1),
            make_job(1, revision, "running", offset=2),
            make_job(2, revision, "pending", offset=3),
        ]
    )

    assert sent_states(accepted_jobs) == [(job_guid(2), "pending")]
    assert database.stored[job_guid(1)] == StoredJob("completed", "success")


async def test_replay_sends_from_stored_state(join, database, accepted_jobs, make_push, make_job):
    revision = revision_for("batch-replay-from-stored")
    database.stored[job_guid(1)] = StoredJob("running", "unknown")

    await join.process_batch(
        [
            make_push(revision, offset=0),
            make_job(1, revision, "pending", offset=1),
            make_job(1, revision, "running", offset=2),
            make_job(1, revision, "completed", offset=3),
        ]
    )

    assert sent_states(accepted_jobs) == [(job_guid(1), "running"), (job_guid(1), "completed")]


async def test_replay_of_stored_completed_is_sent(join, database, accepted_jobs, make_push, make_job):
    revision = revision_for("batch-replay-completed")
    # The killed worker stored the completed row and died before sending it.
    database.stored[job_guid(1)] = StoredJob("completed", "success")

    await join.process_batch([make_push(revision, offset=0), make_job(1, revision, "completed", offset=1)])

    assert sent_states(accepted_jobs) == [(job_guid(1), "completed")]


async def test_completed_with_other_result_not_sent(join, database, accepted_jobs, make_push, make_job):
    revision = revision_for("batch-other-result")
    database.stored[job_guid(1)] = StoredJob("completed", "superseded")

    await join.process_batch([make_push(revision, offset=0), make_job(1, revision, "completed", offset=1)])

    assert sent_states(accepted_jobs) == []


async def test_behind_events_are_counted(join, database, make_push, make_job):
    revision = revision_for("batch-behind-metric")
    database.stored[job_guid(1)] = StoredJob("completed", "success")
    before = metrics.BEHIND_DATABASE._value.get()

    await join.process_batch([make_push(revision, offset=0), make_job(1, revision, "running", offset=1)])

    assert metrics.BEHIND_DATABASE._value.get() == before + 1


async def test_stale_event_of_later_batch_not_sent(join, database, accepted_jobs, make_push, make_job):
    revision = revision_for("batch-stale-later")
    await join.process_batch(
        [make_push(revision, offset=0), make_job(1, revision, "completed", offset=1)]
    )
    dropped_before = metrics.STATE_DROPPED._value.get()
    behind_before = metrics.BEHIND_DATABASE._value.get()

    await join.process_batch([make_job(1, revision, "running", offset=2)])

    assert database.batches[1] == ([], [(job_guid(1), "running")])
    assert database.stored[job_guid(1)] == StoredJob("completed", "success")
    assert sent_states(accepted_jobs) == [(job_guid(1), "completed")]
    assert metrics.BEHIND_DATABASE._value.get() == behind_before + 1
    assert metrics.STATE_DROPPED._value.get() == dropped_before


async def test_each_plan_starts_without_states(join, database, accepted_jobs, make_push, make_job):
    revision = revision_for("batch-fresh-states")
    await join.process_batch(
        [make_push(revision, offset=0), make_job(1, revision, "running", offset=1)]
    )

    await join.process_batch(
        [make_job(1, revision, "pending", offset=2), make_job(1, revision, "running", offset=3)]
    )

    # Pending is behind the stored running row, but the repeated running event is not.
    assert database.batches[1] == ([], [(job_guid(1), "running")])
    assert sent_states(accepted_jobs) == [(job_guid(1), "running"), (job_guid(1), "running")]
