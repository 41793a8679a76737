"""Worker subprocess on the real Kafka and database: parking, release and missing pushes."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.config import WorkerSettings
from streams.sinks.database import DatabaseSettings, DatabaseSink
from tests.streams.agents.harness import decode, fetch_jobs
from tests.streams.conftest import hg_push_message, job_guid, pulse_job_message, revision_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HG_HEADERS = {"pulse.exchange": "exchange/hgpushes/v1", "pulse.routing_key": "integration/autoland"}


def topics_of(worker):
    return WorkerSettings.from_env(worker.env).topics


def raw_job(guid: str, revision: str, state: str = "completed"):
    # Keyed by push, as the bridge keys pulse jobs.
    return f"autoland/{revision}", pulse_job_message(guid, revision, state), None


def raw_push(revision: str):
    return "autoland", hg_push_message(revision), HG_HEADERS


def stored_push_record(revision: str) -> dict[str, Any]:
    return {
        "repository": "autoland",
        "revision": revision,
        "author": "stored@example.com",
        "push_timestamp": 1700000000,
        "revisions": [],
        "branch": None,
        "enriched": False,
        "kind": "hg",
    }


async def test_jobs_before_pushes_are_all_accepted(database_url, kafka, make_worker, test_id):
    worker = make_worker(database_url)
    names = topics_of(worker)
    revisions = [revision_for(f"{test_id}-push-{index}") for index in range(50)]
    jobs = [
        raw_job(job_guid(index * 20 + offset), revision)
        for index, revision in enumerate(revisions)
        for offset in range(20)
    ]
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(names.raw_jobs, jobs)
    await worker.wait_metric("pulse_ingest_jobs_parked_total", 1000)
    await kafka.send_many(names.raw_pushes, [raw_push(revision) for revision in revisions])

    accepted = await kafka.read(names.accepted_jobs, 1000)
    guids = [decode(record)["job"]["job_guid"] for record in accepted]
    assert sorted(guids) == sorted(job_guid(index) for index in range(1000))
    assert [record.key.decode() for record in accepted] == guids
    pushes = await kafka.read(names.accepted_pushes, 50)
    assert sorted(decode(record)["revision"] for record in pushes) == sorted(revisions)
    rows = await fetch_jobs(database_url)
    assert len(rows) == 1000
    assert set(rows.values()) == {("completed", "success")}
    assert await kafka.read_existing(names.dead_letter) == []
    assert worker.stop() == 0


async def test_stored_push_accepts_jobs(database_url, kafka, make_worker, test_id):
    worker = make_worker(database_url)
    names = topics_of(worker)
    revision = revision_for(f"{test_id}-stored")
    worker.start()
    await worker.wait_ready()

    # The worker has migrated the database and registered the repositories. The push is
    # written by a separate sink, as an earlier ingestion would have, and never sent.
    sink = DatabaseSink(DatabaseSettings(url=database_url), registry=CollectorRegistry())
    await sink.start()
    try:
        await sink.write_pushes([stored_push_record(revision)])
    finally:
        await sink.stop()
    await kafka.send_many(names.raw_jobs, [raw_job(job_guid(i), revision) for i in (1, 2, 3)])

    accepted = await kafka.read(names.accepted_jobs, 3)
    assert sorted(decode(record)["job"]["job_guid"] for record in accepted) == [
        job_guid(i) for i in (1, 2, 3)
    ]
    rows = await fetch_jobs(database_url)
    assert sorted(rows) == [job_guid(i) for i in (1, 2, 3)]
    assert set(rows.values()) == {("completed", "success")}
    assert worker.metric("pulse_ingest_jobs_parked_total") == 0
    assert await kafka.read_existing(names.accepted_pushes) == []
    assert await kafka.read_existing(names.dead_letter) == []
    assert worker.stop() == 0


async def test_job_without_push_is_dead_lettered(database_url, kafka, make_worker, test_id):
    worker = make_worker(database_url, PARKED_JOB_WINDOW="2", PARKED_SWEEP_INTERVAL="0.5")
    names = topics_of(worker)
    orphan = revision_for(f"{test_id}-orphan")
    known = revision_for(f"{test_id}-known")
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(names.raw_jobs, [raw_job(job_guid(i), orphan, "running") for i in (1, 2, 3)])
    await kafka.send_many(names.raw_pushes, [raw_push(known)])
    await kafka.send_many(names.raw_jobs, [raw_job(job_guid(4), known)])

    dead = [decode(record) for record in await kafka.read(names.dead_letter, 3)]
    assert {record["reason"] for record in dead} == {"missing-push"}
    assert sorted(record["detail"]["job_guid"] for record in dead) == [job_guid(i) for i in (1, 2, 3)]
    assert {record["source"]["key"] for record in dead} == {f"autoland/{orphan}"}
    assert {record["source"]["topic"] for record in dead} == {names.raw_jobs}
    accepted = await kafka.read(names.accepted_jobs, 1)
    assert [decode(record)["job"]["job_guid"] for record in accepted] == [job_guid(4)]
    assert set(await fetch_jobs(database_url)) == {job_guid(4)}
    assert worker.stop() == 0


async def test_poison_messages_do_not_stop_processing(database_url, kafka, make_worker, test_id):
    worker = make_worker(database_url)
    names = topics_of(worker)
    revision = revision_for(f"{test_id}-poison")
    key = f"autoland/{revision}"
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(names.raw_pushes, [raw_push(revision)])
    await kafka.send_many(names.raw_jobs, [raw_job(job_guid(1), revision)])
    await kafka.send(names.raw_jobs, b"\x00 not json", key="poison")
    # A record the join accepts but the database sink cannot turn into a row.
    broken = {
        "repository": "autoland",
        "revision": revision,
        "superseded": [],
        "job": {"job_guid": job_guid(2), "state": "running", "tier": "not-a-number"},
    }
    await kafka.read(names.accepted_jobs, 1)
    await kafka.send(names.jobs, broken, key=key)
    await kafka.send_many(names.raw_jobs, [raw_job(job_guid(3), revision)])

    # The accepted topic is keyed by guid, so records of two guids have no order between them.
    accepted = await kafka.read(names.accepted_jobs, 2)
    assert sorted(decode(record)["job"]["job_guid"] for record in accepted) == [job_guid(1), job_guid(3)]
    dead = {decode(record)["stage"]: decode(record) for record in await kafka.read(names.dead_letter, 2)}
    assert dead["job-ingest"]["reason"] == "not-json"
    assert dead["job-ingest"]["source"]["key"] == "poison"
    assert dead["join"]["reason"] == "transform-error"
    assert dead["join"]["source"]["key"] == key
    assert set(await fetch_jobs(database_url)) == {job_guid(1), job_guid(3)}
    assert worker.stop() == 0
