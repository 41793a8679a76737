"""Worker subprocess with task events: Treeherder's 91 sample events and failing task lookups."""

from __future__ import annotations

import json

import pytest

from streams.config import WorkerSettings
from streams.registry.repositories import RepositoryRegistry
from tests.streams.agents.harness import decode, fetch_jobs
from tests.streams.agents.lookup_fixtures import lookup_env, lookup_server  # noqa: F401
from tests.streams.conftest import CORPUS, hg_push_message

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Lookups only run against PostgreSQL here; the SQLite sink has its own worker tests.
POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

EVENTS = json.loads((CORPUS / "taskcluster_pulse_messages.json").read_text(encoding="utf-8"))
EXPECTED = json.loads((CORPUS / "taskcluster_transformed_jobs.json").read_text(encoding="utf-8"))


def topics_of(worker):
    return WorkerSettings.from_env(worker.env).topics


def raw_task(task_id):
    """Return the record the bridge writes for a sample event: key, body and headers."""
    entry = EVENTS[task_id]
    headers = {
        "pulse.exchange": entry["exchange"],
        "pulse.routing_key": entry["routes"],
        "pulse.root_url": entry["root_url"],
    }
    return task_id, entry["payload"], headers


def raw_push(repository, revision):
    """Return a raw hg push record for ``revision`` of a registered repository."""
    url = RepositoryRegistry.load().by_name(repository).url
    path = url.removeprefix("https://hg.mozilla.org/")
    headers = {"pulse.exchange": "exchange/hgpushes/v1", "pulse.routing_key": path}
    return path, hg_push_message(revision, url), headers


def comparable(record):
    return {field: record[field] for field in ("job", "revision", "superseded")}


@POSTGRESQL
async def test_sample_events_become_treeherder_jobs(database_url, kafka, make_worker, lookup_server):
    worker = make_worker(database_url, **lookup_env(lookup_server.url))
    names = topics_of(worker)
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(names.raw_tasks, [raw_task(task_id) for task_id in sorted(EVENTS)])

    records = [decode(record) for record in await kafka.read(names.jobs, len(EVENTS))]
    by_task = {record["job"]["taskcluster_task_id"]: comparable(record) for record in records}
    assert len(records) == len(EVENTS)
    assert sorted(by_task) == sorted(EXPECTED)
    mismatched = [task_id for task_id in EXPECTED if by_task.get(task_id) != EXPECTED[task_id]]
    assert mismatched == []

    pushes = sorted({(record["repository"], record["revision"]) for record in records})
    await kafka.send_many(names.raw_pushes, [raw_push(*push) for push in pushes])

    accepted = await kafka.read(names.accepted_jobs, len(EVENTS))
    guids = {decode(record)["job"]["job_guid"] for record in accepted}
    assert guids == {job["job"]["job_guid"] for job in EXPECTED.values()}
    rows = await fetch_jobs(database_url)
    assert set(rows) == guids
    assert await kafka.read_existing(names.dead_letter) == []
    assert lookup_server.count(f"/api/queue/v1/task/{sorted(EVENTS)[0]}") == 1
    assert worker.stop() == 0


@POSTGRESQL
async def test_failing_lookups_dead_lettered_in_order(database_url, kafka, make_worker, lookup_server):
    # One partition, so the events after the failing ones share their partition.
    worker = make_worker(database_url, TOPIC_PARTITIONS="1", **lookup_env(lookup_server.url))
    names = topics_of(worker)
    timed_out, failing, malformed, *healthy = sorted(EVENTS)[:6]
    lookup_server.add_fault(f"/api/queue/v1/task/{timed_out}", "timeout", delay=5.0)
    lookup_server.add_fault(f"/api/queue/v1/task/{failing}", "status", status=500)
    lookup_server.add_fault(f"/api/queue/v1/task/{malformed}", "malformed")
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(
        names.raw_tasks, [raw_task(task_id) for task_id in [timed_out, failing, malformed, *healthy]]
    )

    dead = {decode(record)["source"]["key"]: decode(record) for record in await kafka.read(names.dead_letter, 3)}
    assert sorted(dead) == sorted([timed_out, failing, malformed])
    assert {record["reason"] for record in dead.values()} == {"lookup-failed"}
    assert {record["stage"] for record in dead.values()} == {"task-ingest"}
    assert dead[failing]["detail"]["status"] == 500
    assert "timed out" in dead[timed_out]["message"]
    assert "not valid JSON" in dead[malformed]["message"]

    jobs = [decode(record) for record in await kafka.read(names.jobs, len(healthy))]
    assert sorted(record["job"]["taskcluster_task_id"] for record in jobs) == sorted(healthy)

    # LOOKUP_RETRIES=2: transient failures get three attempts, a malformed body only one.
    assert lookup_server.count(f"/api/queue/v1/task/{timed_out}") == 3
    assert lookup_server.count(f"/api/queue/v1/task/{failing}") == 3
    assert lookup_server.count(f"/api/queue/v1/task/{malformed}") == 1
    assert worker.stop() == 0


@POSTGRESQL
async def test_ignored_project_dead_lettered(database_url, kafka, make_worker, lookup_server):
    worker = make_worker(
        database_url, PROJECTS_TO_INGEST="try", **lookup_env(lookup_server.url)
    )
    names = topics_of(worker)
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(names.raw_tasks, [raw_task(task_id) for task_id in sorted(EVENTS)])

    jobs = [decode(record) for record in await kafka.read(names.jobs, 11)]
    dead = [decode(record) for record in await kafka.read(names.dead_letter, len(EVENTS) - 11)]
    assert {record["repository"] for record in jobs} == {"try"}
    assert {record["reason"] for record in dead} == {"ignored-project"}
    assert len(jobs) + len(dead) == len(EVENTS)
    assert worker.stop() == 0
