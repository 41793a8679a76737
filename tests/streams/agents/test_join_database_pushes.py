"""JoinProcessor lookup of unknown pushes in the database, against a fake database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from streams.agents.join import BatchItem, JoinProcessor
from streams.agents.source import SourceEvent
from streams.config import TopicNames
from streams.errors import RetriableError
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


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def make_join(
    topics: TopicNames,
    tables: JoinTables,
    database: FakeDatabase,
    accepted_jobs: FakePublisher,
    accepted_pushes: FakePublisher,
    dead_letters: DeadLetterSink,
) -> Callable[..., JoinProcessor]:
    def build(push_database_lookup: bool = True) -> JoinProcessor:
        return JoinProcessor(
            topics=topics,
            tables=tables,
            database=database,
            accepted_pushes=accepted_pushes,
            accepted_jobs=accepted_jobs,
            dead_letters=dead_letters,
            parked_job_window=100.0,
            push_database_lookup=push_database_lookup,
            clock=lambda: 1000.0,
        )

    return build


@pytest.fixture
def make_job(topics: TopicNames, make_source: Callable[..., SourceEvent]) -> Callable[..., BatchItem]:
    def build(index: int, revision: str, offset: int, state: str = "running") -> BatchItem:
        record = job_record(job_guid(index), revision, state)
        return BatchItem(make_source(topics.jobs, record, key=f"autoland/{revision}", offset=offset))

    return build


@pytest.fixture
def make_push(topics: TopicNames, make_source: Callable[..., SourceEvent]) -> Callable[..., BatchItem]:
    def build(revision: str, offset: int) -> BatchItem:
        return BatchItem(
            make_source(topics.pushes, push_record(revision), key=f"autoland/{revision}", offset=offset)
        )

    return build


def store_push(database: FakeDatabase, revision: str) -> None:
    database.stored_pushes[("autoland", revision)] = push_record(revision)


def sent_guids(publisher: FakePublisher) -> list[str]:
    return [value["job"]["job_guid"] for value in publisher.values()]


async def test_stored_push_accepts_jobs(make_join, database, tables, accepted_jobs, accepted_pushes, make_job):
    revision = revision_for("database-push-accepts")
    store_push(database, revision)
    join = make_join()

    await join.process_batch([make_job(1, revision, offset=0), make_job(2, revision, offset=1)])

    assert database.push_lookups == [[("autoland", revision)]]
    assert sent_guids(accepted_jobs) == [job_guid(1), job_guid(2)]
    assert [record["job"]["job_guid"] for record in database.jobs] == [job_guid(1), job_guid(2)]
    assert tables.pushes[f"autoland/{revision}"] == push_record(revision)
    assert tables.parked == {}
    # The push came from the database, so it is neither written again nor sent.
    assert database.pushes == []
    assert accepted_pushes.sent == []


async def test_one_lookup_per_batch(make_join, database, accepted_jobs, make_job):
    stored = [revision_for(f"database-push-many-{index}") for index in range(3)]
    missing = revision_for("database-push-many-missing")
    for revision in stored:
        store_push(database, revision)
    join = make_join()

    items = [make_job(index, revision, offset=index) for index, revision in enumerate(stored)]
    items.append(make_job(9, missing, offset=9))
    await join.process_batch(items)

    assert len(database.push_lookups) == 1
    assert sorted(database.push_lookups[0]) == sorted(("autoland", revision) for revision in [*stored, missing])
    assert sent_guids(accepted_jobs) == [job_guid(0), job_guid(1), job_guid(2)]


async def test_later_batch_does_not_look_up(make_join, database, make_job):
    revision = revision_for("database-push-once")
    store_push(database, revision)
    join = make_join()

    await join.process_batch([make_job(1, revision, offset=0)])
    await join.process_batch([make_job(2, revision, offset=1)])

    assert database.push_lookups == [[("autoland", revision)]]


async def test_push_not_stored_parks_jobs(make_join, database, tables, accepted_jobs, make_job):
    revision = revision_for("database-push-missing")
    join = make_join()

    await join.process_batch([make_job(1, revision, offset=0)])

    assert database.push_lookups == [[("autoland", revision)]]
    assert accepted_jobs.sent == []
    assert [job["record"]["job"]["job_guid"] for job in tables.parked[f"autoland/{revision}"]["jobs"]] == [
        job_guid(1)
    ]
    assert f"autoland/{revision}" not in tables.pushes


async def test_batch_push_skips_lookup(make_join, database, accepted_jobs, make_job, make_push):
    revision = revision_for("database-push-in-batch")
    join = make_join()

    await join.process_batch([make_job(1, revision, offset=0), make_push(revision, offset=1)])

    assert database.push_lookups == []
    assert sent_guids(accepted_jobs) == [job_guid(1)]


async def test_known_push_skips_lookup(make_join, database, tables, accepted_jobs, make_job):
    revision = revision_for("database-push-known")
    tables.pushes[f"autoland/{revision}"] = push_record(revision)
    join = make_join()

    await join.process_batch([make_job(1, revision, offset=0)])

    assert database.push_lookups == []
    assert sent_guids(accepted_jobs) == [job_guid(1)]


async def test_lookup_releases_parked_jobs(make_join, database, tables, accepted_jobs, make_job):
    revision = revision_for("database-push-release")
    join = make_join()
    await join.process_batch([make_job(1, revision, offset=0)])
    store_push(database, revision)

    await join.process_batch([make_job(2, revision, offset=1)])

    assert sent_guids(accepted_jobs) == [job_guid(1), job_guid(2)]
    assert tables.parked == {}


async def test_lookup_switched_off(make_join, database, tables, accepted_jobs, make_job):
    revision = revision_for("database-push-off")
    store_push(database, revision)
    join = make_join(push_database_lookup=False)

    await join.process_batch([make_job(1, revision, offset=0)])

    assert database.push_lookups == []
    assert accepted_jobs.sent == []
    assert f"autoland/{revision}" in tables.parked


async def test_lookup_failure_leaves_tables(make_join, database, tables, accepted_jobs, make_job):
    revision = revision_for("database-push-unavailable")
    store_push(database, revision)

    async def unavailable(keys: object) -> None:
        raise RetriableError("database unavailable")

    database.find_pushes = unavailable  # type: ignore[method-assign,assignment]
    join = make_join()
    with pytest.raises(RetriableError):
        await join.process_batch([make_job(1, revision, offset=0)])

    assert tables.pushes == {}
    assert tables.parked == {}
    assert accepted_jobs.sent == []
