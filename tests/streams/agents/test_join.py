"""JoinProcessor: parking, release order, the job-state rule and the missing-push sweep."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from streams import metrics
from streams.agents.join import BatchItem, JoinProcessor
from streams.agents.source import SourceEvent
from streams.config import TopicNames
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

WINDOW = 100.0


class Clock:
    """Settable clock for the parked-at times and the sweep."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def join(
    topics: TopicNames,
    tables: JoinTables,
    database: FakeDatabase,
    accepted_pushes: FakePublisher,
    accepted_jobs: FakePublisher,
    dead_letters: DeadLetterSink,
    clock: Clock,
) -> JoinProcessor:
    return JoinProcessor(
        topics=topics,
        tables=tables,
        database=database,
        accepted_pushes=accepted_pushes,
        accepted_jobs=accepted_jobs,
        dead_letters=dead_letters,
        parked_job_window=WINDOW,
        clock=clock,
    )


@pytest.fixture
def push_event(
    topics: TopicNames, make_source: Callable[..., SourceEvent]
) -> Callable[..., SourceEvent]:
    def build(revision: str, offset: int = 0, partition: int = 0) -> SourceEvent:
        record = push_record(revision)
        return make_source(
            topics.pushes,
            record,
            key=f"autoland/{revision}",
            offset=offset,
            partition=partition,
        )

    return build


@pytest.fixture
def job_event(
    topics: TopicNames, make_source: Callable[..., SourceEvent]
) -> Callable[..., SourceEvent]:
    def build(
        guid: str, revision: str, state: str = "completed", offset: int = 0, partition: int = 0
    ) -> SourceEvent:
        return make_source(
            topics.jobs,
            job_record(guid, revision, state),
            key=f"autoland/{revision}",
            offset=offset,
            partition=partition,
            headers={"pulse.exchange": "exchange/taskcluster-treeherder/v1/jobs"},
        )

    return build


def counter_value(counter: Any, **labels: str) -> float:
    metric = counter.labels(**labels) if labels else counter
    return metric._value.get()


async def test_job_before_push_is_parked(join, tables, database, accepted_jobs, job_event):
    revision = revision_for("parked")

    await join(job_event(job_guid(1), revision, offset=7))

    entry = tables.parked[f"autoland/{revision}"]
    assert [job["record"]["job"]["job_guid"] for job in entry["jobs"]] == [job_guid(1)]
    assert entry["jobs"][0]["source"]["offset"] == 7
    assert database.jobs == []
    assert accepted_jobs.sent == []


async def test_push_releases_parked_jobs_in_order(
    join, tables, database, accepted_pushes, accepted_jobs, push_event, job_event
):
    revision = revision_for("release")
    events = [
        job_event(job_guid(1), revision, "pending", offset=0),
        job_event(job_guid(2), revision, "running", offset=1),
        job_event(job_guid(1), revision, "running", offset=2),
        job_event(job_guid(1), revision, "completed", offset=3),
    ]
    for event in events:
        await join(event)

    await join(push_event(revision))

    expected = [
        (job_guid(1), "pending"),
        (job_guid(2), "running"),
        (job_guid(1), "running"),
        (job_guid(1), "completed"),
    ]
    # The database gets each guid's last event once; the accepted topic gets every event.
    assert database.written_states() == [(job_guid(2), "running"), (job_guid(1), "completed")]
    assert [(v["job"]["job_guid"], v["job"]["state"]) for v in accepted_jobs.values()] == expected
    assert [entry["key"] for entry in accepted_jobs.sent] == [guid for guid, _ in expected]
    assert accepted_pushes.sent[0]["key"] == f"autoland/{revision}"
    assert f"autoland/{revision}" not in tables.parked


async def test_push_is_written_before_released_jobs(join, database, push_event, job_event):
    revision = revision_for("order")
    await join(job_event(job_guid(1), revision))

    await join(push_event(revision))

    assert [record["revision"] for record in database.pushes] == [revision]
    assert database.job_calls == [[job_guid(1)]]


async def test_job_after_push_is_accepted(join, tables, database, accepted_jobs, push_event, job_event):
    revision = revision_for("direct")
    await join(push_event(revision))

    await join(job_event(job_guid(3), revision, "running"))

    assert database.written_states() == [(job_guid(3), "running")]
    assert accepted_jobs.sent[0]["key"] == job_guid(3)
    assert database.stored[job_guid(3)].state == "running"
    assert f"autoland/{revision}" not in tables.parked


async def test_backward_event_in_batch_is_dropped(join, database, accepted_jobs, push_event, job_event):
    revision = revision_for("backward-batch")
    await join(push_event(revision))
    dropped_before = counter_value(metrics.STATE_DROPPED)

    await join.process_batch(
        [
            BatchItem(job_event(job_guid(4), revision, "completed", offset=1)),
            BatchItem(job_event(job_guid(4), revision, "running", offset=2)),
        ]
    )

    assert database.written_states() == [(job_guid(4), "completed")]
    assert [v["job"]["state"] for v in accepted_jobs.values()] == ["completed"]
    assert counter_value(metrics.STATE_DROPPED) == dropped_before + 1


async def test_backward_event_in_later_batch_is_behind(
    join, database, accepted_jobs, push_event, job_event
):
    revision = revision_for("backward")
    await join(push_event(revision))
    await join(job_event(job_guid(4), revision, "completed", offset=1))
    dropped_before = counter_value(metrics.STATE_DROPPED)
    behind_before = counter_value(metrics.BEHIND_DATABASE)

    await join(job_event(job_guid(4), revision, "running", offset=2))

    # The event reaches the database, whose state rule keeps the completed row.
    assert database.stored[job_guid(4)].state == "completed"
    assert [v["job"]["state"] for v in accepted_jobs.values()] == ["completed"]
    assert counter_value(metrics.BEHIND_DATABASE) == behind_before + 1
    assert counter_value(metrics.STATE_DROPPED) == dropped_before


async def test_backward_event_is_parked_too(join, tables, job_event):
    revision = revision_for("backward-parked")
    await join(job_event(job_guid(5), revision, "running", offset=1))

    await join(job_event(job_guid(5), revision, "pending", offset=2))

    states = [job["record"]["job"]["state"] for job in tables.parked[f"autoland/{revision}"]["jobs"]]
    assert states == ["running", "pending"]


async def test_parked_backward_event_is_dropped_on_release(
    join, tables, database, accepted_jobs, push_event, job_event
):
    revision = revision_for("backward-released")
    await join(job_event(job_guid(5), revision, "running", offset=1))
    await join(job_event(job_guid(5), revision, "pending", offset=2))
    dropped_before = counter_value(metrics.STATE_DROPPED)
    released_before = counter_value(metrics.RELEASED)

    await join(push_event(revision, offset=3))

    assert [v["job"]["state"] for v in accepted_jobs.values()] == ["running"]
    assert database.written_states() == [(job_guid(5), "running")]
    assert database.stored[job_guid(5)].state == "running"
    assert counter_value(metrics.STATE_DROPPED) == dropped_before + 1
    assert counter_value(metrics.RELEASED) == released_before + 2
    assert f"autoland/{revision}" not in tables.parked


async def test_parked_events_of_later_batches_keep_order(
    join, tables, database, accepted_jobs, push_event, job_event
):
    revision = revision_for("parked-later-batches")
    first = job_event(job_guid(21), revision, "pending", offset=1)
    await join(first)
    await join.process_batch(
        [
            BatchItem(job_event(job_guid(21), revision, "completed", offset=2)),
            BatchItem(job_event(job_guid(21), revision, "running", offset=3)),
        ]
    )
    # The first event consumed again after a restart is not parked twice.
    await join(first)
    parked = [job["source"]["offset"] for job in tables.parked[f"autoland/{revision}"]["jobs"]]

    await join(push_event(revision, offset=4))

    assert parked == [1, 2, 3]
    assert [v["job"]["state"] for v in accepted_jobs.values()] == ["pending", "completed"]
    assert database.written_states() == [(job_guid(21), "completed")]


async def test_repeated_state_is_applied(join, database, push_event, job_event):
    revision = revision_for("repeat")
    await join(push_event(revision))
    await join(job_event(job_guid(6), revision, "running"))

    await join(job_event(job_guid(6), revision, "running"))

    assert database.written_states() == [(job_guid(6), "running"), (job_guid(6), "running")]


async def test_second_completed_in_batch_is_dropped(join, database, push_event, job_event):
    revision = revision_for("completed-twice")
    await join(push_event(revision))

    await join.process_batch(
        [
            BatchItem(job_event(job_guid(7), revision, "completed", offset=1)),
            BatchItem(job_event(job_guid(7), revision, "completed", offset=2)),
        ]
    )

    assert database.written_states() == [(job_guid(7), "completed")]


async def test_second_completed_in_later_batch_is_sent_again(
    join, database, accepted_jobs, push_event, job_event
):
    # The repeat cannot be distinguished from a replay of a batch that a killed worker stored but
    # never sent, so it is sent again with the same state and result.
    revision = revision_for("completed-twice-later")
    await join(push_event(revision))
    await join(job_event(job_guid(7), revision, "completed", offset=1))

    await join(job_event(job_guid(7), revision, "completed", offset=2))

    assert [v["job"]["state"] for v in accepted_jobs.values()] == ["completed", "completed"]
    assert database.stored[job_guid(7)].state == "completed"


async def test_repeated_state_is_parked_twice(join, tables, job_event):
    revision = revision_for("repeat-parked")
    await join(job_event(job_guid(20), revision, "running", offset=1))

    await join(job_event(job_guid(20), revision, "running", offset=2))

    assert len(tables.parked[f"autoland/{revision}"]["jobs"]) == 2


async def test_replayed_parked_event_is_parked_once(join, tables, job_event):
    revision = revision_for("replay")
    event = job_event(job_guid(8), revision, "running", offset=4)

    await join(event)
    await join(event)

    assert len(tables.parked[f"autoland/{revision}"]["jobs"]) == 1


async def test_replayed_push_releases_nothing_twice(join, database, push_event, job_event):
    revision = revision_for("push-replay")
    await join(job_event(job_guid(9), revision))
    await join(push_event(revision))

    await join(push_event(revision))

    assert database.written_states() == [(job_guid(9), "completed")]
    assert len(database.pushes) == 2


async def test_leftover_parked_jobs_go_before_new_job(
    join, tables, database, accepted_jobs, push_event, job_event
):
    # A release interrupted after the push was stored leaves parked jobs under a known push.
    revision = revision_for("leftover")
    await join(job_event(job_guid(10), revision, "pending", offset=0))
    tables.pushes[f"autoland/{revision}"] = push_record(revision)

    await join(job_event(job_guid(10), revision, "running", offset=1))

    states = [(v["job"]["job_guid"], v["job"]["state"]) for v in accepted_jobs.values()]
    assert states == [(job_guid(10), "pending"), (job_guid(10), "running")]
    assert database.written_states() == [(job_guid(10), "running")]


async def test_sweep_dead_letters_expired_jobs(
    join, tables, clock, dead_letter_publisher, job_event, topics
):
    revision = revision_for("expired")
    await join(job_event(job_guid(11), revision, "running", offset=12, partition=3))
    clock.now += WINDOW

    await join.sweep(3)

    record = dead_letter_publisher.values()[0]
    assert record["reason"] == "missing-push"
    assert record["stage"] == "join"
    assert record["source"] == {
        "topic": topics.jobs,
        "partition": 3,
        "offset": 12,
        "key": f"autoland/{revision}",
    }
    assert json.loads(base64.b64decode(record["body_base64"]))["job"]["job_guid"] == job_guid(11)
    assert record["headers"] == {"pulse.exchange": "exchange/taskcluster-treeherder/v1/jobs"}
    assert dead_letter_publisher.sent[0]["key"] == f"autoland/{revision}"
    assert f"autoland/{revision}" not in tables.parked


async def test_sweep_keeps_jobs_inside_window(join, tables, clock, dead_letter_publisher, job_event):
    revision = revision_for("young")
    await join(job_event(job_guid(12), revision, "pending", offset=0))
    clock.now += WINDOW / 2
    await join(job_event(job_guid(13), revision, "pending", offset=1))
    clock.now += WINDOW / 2

    await join.sweep(0)

    remaining = tables.parked[f"autoland/{revision}"]["jobs"]
    assert [job["record"]["job"]["job_guid"] for job in remaining] == [job_guid(13)]
    assert [r["detail"]["job_guid"] for r in dead_letter_publisher.values()] == [job_guid(12)]


async def test_sweep_ignores_other_partitions(join, tables, clock, dead_letter_publisher, job_event):
    revision = revision_for("other-partition")
    await join(job_event(job_guid(14), revision, partition=1))
    clock.now += WINDOW * 2

    await join.sweep(2)

    assert f"autoland/{revision}" in tables.parked
    assert dead_letter_publisher.sent == []


async def test_push_after_expiry_finds_nothing_to_release(
    join, database, clock, push_event, job_event
):
    revision = revision_for("late-push")
    await join(job_event(job_guid(15), revision))
    clock.now += WINDOW
    await join.sweep(0)

    await join(push_event(revision))

    assert database.jobs == []


async def test_release_dead_letters_only_bad_record(
    join, database, accepted_jobs, dead_letter_publisher, push_event, job_event
):
    revision = revision_for("one-bad")
    for index in (16, 17, 18):
        await join(job_event(job_guid(index), revision, offset=index))
    database.reject_guids = {job_guid(17)}

    await join(push_event(revision))

    # The fake database keeps the writes of the search for the rejected record as well.
    assert {guid for guid, _ in database.written_states()} == {job_guid(16), job_guid(18)}
    assert [entry["key"] for entry in accepted_jobs.sent] == [job_guid(16), job_guid(18)]
    assert len(dead_letter_publisher.sent) == 1
    assert dead_letter_publisher.values()[0]["source"]["offset"] == 17


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not-json"),
        (json.dumps({"repository": "autoland"}).encode(), "schema"),
        (
            json.dumps(job_record(job_guid(19), revision_for("x"), state="finished")).encode(),
            "schema",
        ),
    ],
)
async def test_invalid_job_record_is_rejected(
    join, topics, make_source, dead_letter_publisher, value, reason
):
    await join(make_source(topics.jobs, value, key="autoland/x"))

    assert [record["reason"] for record in dead_letter_publisher.values()] == [reason]


async def test_unknown_topic_is_dead_lettered(join, make_source, dead_letter_publisher):
    await join(make_source("elsewhere", {"a": 1}))

    record = dead_letter_publisher.values()[0]
    assert record["reason"] == "transform-error"
    assert "unexpected topic elsewhere" in record["message"]
