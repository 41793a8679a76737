"""Worker subprocess: table recovery after a restart, state rules, and no loss under failures."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from streams.registry.repositories import RepositoryRegistry
from streams.sinks.database.engine import create_database_engine
from streams.transforms.job import transform_pulse_job
from tests.streams.agents.harness import decode, fetch_jobs
from tests.streams.agents.test_worker_join import raw_job, raw_push, topics_of
from tests.streams.conftest import job_guid, pulse_job_message, revision_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("keep_data_dir", [True, False], ids=["same-data-dir", "empty-data-dir"])
async def test_restart_recovers_tables(database_url, kafka, make_worker, test_id, keep_data_dir):
    worker = make_worker(database_url)
    names = topics_of(worker)
    waiting = revision_for(f"{test_id}-waiting")
    known = revision_for(f"{test_id}-known")
    worker.start()
    await worker.wait_ready()

    await kafka.send_many(names.raw_pushes, [raw_push(known)])
    await kafka.send_many(names.raw_jobs, [raw_job(job_guid(1), known, "completed")])
    await kafka.send_many(names.raw_jobs, [raw_job(job_guid(i), waiting, "running") for i in (2, 3)])
    await worker.wait_metric("pulse_ingest_jobs_parked_total", 2)
    await kafka.read(names.accepted_jobs, 1)
    assert worker.stop() == 0
    if not keep_data_dir:
        # Without the RocksDB files, the tables can only come back from their changelogs.
        shutil.rmtree(worker.env["DATA_DIR"])

    worker.start()
    await worker.wait_ready()
    # The recovered push table contains `known`, so this job is accepted without parking.
    # The database stores job 1 as completed, so its late running event is not sent.
    await kafka.send_many(names.raw_jobs, [raw_job(job_guid(1), known, "running")])
    await kafka.send_many(names.raw_jobs, [raw_job(job_guid(4), known, "pending")])
    await kafka.send_many(names.raw_pushes, [raw_push(waiting)])

    accepted = await kafka.read(names.accepted_jobs, 4)
    events = [(decode(r)["job"]["job_guid"], decode(r)["job"]["state"]) for r in accepted]
    assert sorted(events) == sorted(
        [(job_guid(1), "completed"), (job_guid(2), "running"), (job_guid(3), "running"), (job_guid(4), "pending")]
    )
    await worker.wait_metric("pulse_ingest_job_events_behind_database_total", 1)
    assert worker.metric("pulse_ingest_job_events_dropped_total") == 0
    assert worker.metric("pulse_ingest_jobs_parked_total") == 0
    rows = await fetch_jobs(database_url)
    assert rows[job_guid(1)][0] == "completed"
    assert rows[job_guid(2)][0] == "running"
    assert worker.stop() == 0


# Each case: the states sent for one job, in order (a result of `fail` marks a failed
# completion), and the index of the event whose state and result the row must keep.
TRANSITIONS = [
    (["pending", "running", "completed"], 2),
    (["running", "pending"], 0),
    (["completed:fail", "running"], 0),
    (["unscheduled", "pending"], 1),
    (["pending", "completed", "completed:fail"], 1),
    (["running", "running"], 1),
    (["unscheduled", "completed:fail"], 1),
    (["completed", "unscheduled"], 0),
]


def transition_messages(index: int, revision: str, states: list[str]) -> list[dict]:
    messages = []
    for state_text in states:
        state, _, result = state_text.partition(":")
        message = pulse_job_message(job_guid(index), revision, state)
        if result:
            message["result"] = result
        messages.append(message)
    return messages


@pytest.mark.parametrize("push_first", [True, False], ids=["push-first", "jobs-first"])
async def test_state_transitions_leave_treeherder_rows(database_url, kafka, make_worker, test_id, push_first):
    registry = RepositoryRegistry.load()
    worker = make_worker(database_url)
    names = topics_of(worker)
    revision = revision_for(f"{test_id}-states")
    cases = [(transition_messages(i, revision, states), final) for i, (states, final) in enumerate(TRANSITIONS)]
    expected = {
        job_guid(i): (
            transform_pulse_job(messages[final], registry)["job"]["state"],
            transform_pulse_job(messages[final], registry)["job"]["result"],
        )
        for i, (messages, final) in enumerate(cases)
    }
    records = [
        (job_guid(i).split("/")[0], message, None)
        for i, (messages, _) in enumerate(cases)
        for message in messages
    ]
    worker.start()
    await worker.wait_ready()

    if push_first:
        await kafka.send_many(names.raw_pushes, [raw_push(revision)])
        await kafka.read(names.accepted_pushes, 1)
    await kafka.send_many(names.raw_jobs, records)
    if not push_first:
        await worker.wait_metric("pulse_ingest_jobs_parked_total", 1)
        await kafka.send_many(names.raw_pushes, [raw_push(revision)])

    # Four of the eighteen events move a job backward or follow a completion. The join
    # drops those after a later event of their batch. The database ignores the others, and
    # the join does not send them, so which count each one reaches depends on batching.
    await worker.wait_metric_total(
        ["pulse_ingest_job_events_dropped_total", "pulse_ingest_job_events_behind_database_total"], 4
    )
    await worker.wait_metric("pulse_ingest_accepted_total", 14, kind="job")
    assert await fetch_jobs(database_url) == expected
    assert worker.stop() == 0


def worker_connection_ports(pid: int, server_port: int) -> list[int]:
    """Return the local ports of the worker's connections to ``server_port`` (from `ss`)."""
    output = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True, check=True).stdout
    ports = []
    for line in output.splitlines():
        if f"pid={pid}," in line and line.split()[3].endswith(f":{server_port}"):
            ports.append(int(line.split()[2].rsplit(":", 1)[1]))
    return ports


async def terminate_worker_connections(base_url: str, pid: int) -> int:
    """Terminate the worker's database sessions; the role may signal its own backends."""
    ports = worker_connection_ports(pid, make_url(base_url).port or 5432)
    if not ports:
        return 0
    engine = create_database_engine(base_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(
                text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE client_port = ANY(:ports)"),
                {"ports": ports},
            )
            return int(result.scalar() or 0)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_no_loss_with_poison_and_failures(database_url, test_database_url, kafka, make_worker, test_id):
    worker = make_worker(database_url)
    names = topics_of(worker)
    revisions = [revision_for(f"{test_id}-loss-{i}") for i in range(20)]
    jobs = [raw_job(job_guid(i * 20 + k), revision) for i, revision in enumerate(revisions) for k in range(20)]
    poison = [(f"poison-{i}", b"\xff\xfe not json", None) for i in range(10)]
    worker.start()
    await worker.wait_ready()

    # Jobs, poison and pushes interleaved; half the pushes come first.
    await kafka.send_many(names.raw_pushes, [raw_push(r) for r in revisions[:10]])
    for start in range(0, 400, 40):
        await kafka.send_many(names.raw_jobs, jobs[start : start + 40] + poison[start // 40 : start // 40 + 1])

    # Database sessions end under the worker while it writes, then the worker crashes.
    terminated = 0
    for _ in range(5):
        terminated += await terminate_worker_connections(test_database_url, worker.process.pid)
        await asyncio.sleep(0.3)
    worker.kill()

    await kafka.send_many(names.raw_pushes, [raw_push(r) for r in revisions[10:]])
    worker.start()
    await worker.wait_ready()
    terminated += await terminate_worker_connections(test_database_url, worker.process.pid)

    expected = {job_guid(i) for i in range(400)}
    accepted = await kafka.read_until(
        names.accepted_jobs, lambda got: {decode(r)["job"]["job_guid"] for r in got} >= expected
    )
    dead = await kafka.read_until(
        names.dead_letter, lambda got: {r.key for r in got} >= {key.encode() for key, _, _ in poison}
    )
    assert {decode(r)["job"]["job_guid"] for r in accepted} == expected
    assert {decode(r)["reason"] for r in dead} == {"invalid-utf8"}
    rows = await fetch_jobs(database_url)
    assert set(rows) == expected
    assert terminated >= 1
    assert worker.stop() == 0
