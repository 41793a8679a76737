"""Late and replayed job events: nothing behind a stored row reaches the accepted topic."""

from __future__ import annotations

import asyncio
import time

import pytest

from streams.verify.folding import regressions
from tests.streams.agents.harness import WAIT_SECONDS, decode, fetch_jobs
from tests.streams.agents.test_worker_join import raw_job, raw_push, topics_of
from tests.streams.conftest import job_guid, revision_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STATES = ("pending", "running", "completed")
BEHIND_METRIC = "pulse_ingest_job_events_behind_database_total"
DROPPED_METRIC = "pulse_ingest_job_events_dropped_total"


def job_states_on(records, guid: str) -> list[str]:
    return [decode(record)["job"]["state"] for record in records if decode(record)["job"]["job_guid"] == guid]


async def wait_accounted(worker, kafka, topic: str, guid: str, expected: int) -> tuple[list[str], float, float]:
    """Wait until the guid's accepted records plus its dropped and behind events reach ``expected``.

    Returns the accepted states and the behind and dropped counts. The worker counts an event
    only after the batch's sends were confirmed, so the counters are read before the topic.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        behind = await asyncio.to_thread(worker.metric, BEHIND_METRIC)
        dropped = await asyncio.to_thread(worker.metric, DROPPED_METRIC)
        states = job_states_on(await kafka.read_existing(topic), guid)
        if len(states) + behind + dropped >= expected or time.monotonic() > deadline:
            return states, behind, dropped
        await asyncio.sleep(0.2)


async def test_replay_sends_nothing_behind_database(database_url, kafka, make_worker, test_id, tmp_path):
    first = make_worker(database_url)
    names = topics_of(first)
    revision = revision_for(f"{test_id}-replay")
    guid = job_guid(1)
    first.start()
    await first.wait_ready()

    await kafka.send_many(names.raw_pushes, [raw_push(revision)])
    await kafka.send_many(names.raw_jobs, [raw_job(guid, revision, state) for state in STATES])
    accepted = await kafka.read(names.accepted_jobs, len(STATES))
    assert job_states_on(accepted, guid) == list(STATES)
    assert first.stop() == 0

    # A second app id has empty tables and no committed offsets, so it consumes every topic
    # from the start: the replay of a worker whose table changes never reached the changelog.
    successor = make_worker(
        database_url, APP_ID=f"it-{test_id}-successor", DATA_DIR=str(tmp_path / "successor")
    )
    successor.start()
    await successor.wait_ready()

    # The raw jobs are keyed by push, so the successor joins its three raw events in place.
    # Pending and running are behind the stored completed row, and the completed event is
    # sent again, because a replay cannot tell whether the first worker sent it.
    states, behind, dropped = await wait_accounted(
        successor, kafka, names.accepted_jobs, guid, 2 * len(STATES)
    )
    assert states == [*STATES, "completed"]
    assert behind == 2
    assert dropped == 0
    assert regressions(states) == []
    rows = await fetch_jobs(database_url)
    assert rows[guid] == ("completed", "success")
    assert successor.stop() == 0


async def test_late_event_reaches_neither_row_nor_topic(database_url, kafka, make_worker, test_id):
    worker = make_worker(database_url)
    names = topics_of(worker)
    revision = revision_for(f"{test_id}-late")
    guid = job_guid(1)
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(names.raw_pushes, [raw_push(revision)])
    await kafka.send_many(names.raw_jobs, [raw_job(guid, revision, state) for state in STATES])
    await kafka.read(names.accepted_jobs, len(STATES))

    # The completed event was sent, so the late running event comes in a later batch.
    await kafka.send_many(names.raw_jobs, [raw_job(guid, revision, "running")])
    await worker.wait_metric(BEHIND_METRIC, 1)

    states = job_states_on(await kafka.read_existing(names.accepted_jobs), guid)
    assert states == list(STATES)
    assert await asyncio.to_thread(worker.metric, DROPPED_METRIC) == 0
    rows = await fetch_jobs(database_url)
    assert rows[guid] == ("completed", "success")
    assert worker.stop() == 0
