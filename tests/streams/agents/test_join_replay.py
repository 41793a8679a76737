"""Replay by a worker without the table changes: nothing behind a stored row reaches the accepted topic."""

from __future__ import annotations

import pytest

from streams.verify.folding import regressions
from tests.streams.agents.harness import decode, fetch_jobs
from tests.streams.agents.test_worker_join import raw_job, raw_push, topics_of
from tests.streams.conftest import job_guid, revision_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STATES = ("pending", "running", "completed")


def job_states_on(records, guid: str) -> list[str]:
    return [decode(record)["job"]["state"] for record in records if decode(record)["job"]["job_guid"] == guid]


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

    # Pending and running are behind the stored completed row. The raw jobs are keyed by
    # push, so the successor joins them in place and sends only the completed event again.
    await successor.wait_metric("pulse_ingest_job_events_behind_database_total", 2)
    await successor.wait_metric("pulse_ingest_accepted_total", 1, kind="job")
    states = job_states_on(await kafka.read_existing(names.accepted_jobs), guid)
    assert states == [*STATES, "completed"]
    assert regressions(states) == []
    rows = await fetch_jobs(database_url)
    assert rows[guid] == ("completed", "success")
    assert successor.stop() == 0
