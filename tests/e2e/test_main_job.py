"""End-to-end runs of the main job through RabbitMQ, Kafka, the worker and PostgreSQL.

The stored rows are compared with Treeherder's expected outputs in tests/data/treeherder.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.models import job, job_log, push, repository, taskcluster_metadata
from tests.e2e.conftest import JobRun

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[1] / "data" / "treeherder"

JOB_REVISION = "9c6e4c31ad26efdad0b9af47a2b530bc414ce2c3"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def epoch(seconds: int | None) -> datetime:
    return datetime.fromtimestamp(seconds or 0, tz=UTC)


async def _snapshot(url: str) -> dict[str, Any]:
    """Read pushes, jobs, logs and task metadata keyed by natural keys, without ids or write times."""
    engine = create_database_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            pushes = await connection.execute(
                select(repository.c.name, push.c.revision, push.c.author, push.c.push_timestamp,
                       push.c.branch, push.c.enriched, push.c.kind)
                .join(repository, repository.c.id == push.c.repository_id)
            )
            jobs = await connection.execute(
                select(job, repository.c.name.label("repository"), push.c.revision.label("revision"))
                .join(push, push.c.id == job.c.push_id)
                .join(repository, repository.c.id == job.c.repository_id)
            )
            logs = await connection.execute(
                select(job.c.guid, job_log.c.name, job_log.c.url, job_log.c.parse_status)
                .join(job, job.c.id == job_log.c.job_id)
            )
            tasks = await connection.execute(
                select(job.c.guid, taskcluster_metadata.c.task_id, taskcluster_metadata.c.retry_id)
                .join(job, job.c.id == taskcluster_metadata.c.job_id)
            )

            ignored = {"id", "repository_id", "push_id", "last_modified"}
            return {
                "pushes": {(row.name, row.revision): dict(row._mapping) for row in pushes},
                "jobs": {
                    row.guid: {key: value for key, value in row._mapping.items() if key not in ignored}
                    for row in jobs
                },
                "logs": {tuple(row) for row in logs},
                "tasks": {row.guid: (row.task_id, row.retry_id) for row in tasks},
            }
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def runs(e2e_database_url: str, run_main_job: Callable[[str], JobRun]) -> list[tuple[JobRun, dict[str, Any]]]:
    """Two runs of the main job on one empty schema, each with the database contents after it."""
    results = []
    for _ in range(2):
        run = run_main_job(e2e_database_url)
        results.append((run, asyncio.run(_snapshot(e2e_database_url))))
    return results


@pytest.fixture(scope="module")
def first(runs: list[tuple[JobRun, dict[str, Any]]]) -> dict[str, Any]:
    run, snapshot = runs[0]
    assert run.exit_code == 0, run.output
    return snapshot


def test_first_run_accounts_for_all(runs: list[tuple[JobRun, dict[str, Any]]]) -> None:
    run, _ = runs[0]
    assert run.exit_code == 0, run.output
    assert "All 110 messages accounted for." in run.output


def test_jobs_match_treeherder(first: dict[str, Any]) -> None:
    expected = load("transformed_job_data.json")
    assert len(first["jobs"]) == len(expected)

    for item in expected:
        want = item["job"]
        row = first["jobs"].get(want["job_guid"])
        assert row is not None, want["job_guid"]

        options = " ".join(sorted(label for label, enabled in want["option_collection"].items() if enabled))
        assert row["repository"] == "autoland"
        assert row["revision"] == item["revision"]
        assert row["state"] == want["state"]
        assert row["result"] == want["result"]
        assert row["build_platform"] == want["build_platform"]["platform"]
        assert row["build_os"] == want["build_platform"]["os_name"]
        assert row["build_architecture"] == want["build_platform"]["architecture"]
        assert row["machine_platform"] == want["machine_platform"]["platform"]
        assert row["machine_os"] == want["machine_platform"]["os_name"]
        assert row["machine_architecture"] == want["machine_platform"]["architecture"]
        assert row["machine"] == want["machine"]
        assert row["option_collection"] == options
        assert row["job_type_name"] == want["name"]
        assert row["job_type_symbol"] == want["job_symbol"]
        assert row["job_group_name"] == want["group_name"]
        assert row["job_group_symbol"] == want["group_symbol"]
        assert row["product_name"] == want["product_name"]
        assert row["build_system_type"] == want["build_system_type"]
        assert row["tier"] == want["tier"]
        assert row["who"] == want["who"]
        assert row["reason"] == want["reason"]
        assert row["submit_time"] == epoch(want["submit_timestamp"])
        assert row["start_time"] == epoch(want["start_timestamp"])
        assert row["end_time"] == epoch(want["end_timestamp"])


def test_job_logs_match_treeherder(first: dict[str, Any]) -> None:
    expected = {
        (item["job"]["job_guid"], log["name"], log["url"], log["parse_status"])
        for item in load("transformed_job_data.json")
        for log in item["job"]["log_references"]
    }
    assert first["logs"] == expected


def test_task_ids_match_treeherder(first: dict[str, Any]) -> None:
    expected = {
        item["job"]["job_guid"]: (item["job"]["taskcluster_task_id"], item["job"]["taskcluster_retry_id"])
        for item in load("transformed_job_data.json")
    }
    assert first["tasks"] == expected


def test_hg_push_stored(first: dict[str, Any]) -> None:
    want = load("transformed_hg_push.json")
    message = load("hg_push.json")["payload"]
    row = first["pushes"].get(("try", want["revision"]))

    assert row is not None
    assert row["author"] == want["author"]
    # Without the json-pushes lookup the time is the message's pushlog time, not Treeherder's.
    assert row["push_timestamp"] == epoch(message["pushlog_pushes"][0]["time"])
    assert row["kind"] == "hg"
    assert row["enriched"] is False
    assert row["branch"] is None


def test_job_push_stored(first: dict[str, Any]) -> None:
    want = load("push_data.json")[0]
    row = first["pushes"].get(("autoland", JOB_REVISION))

    assert row is not None
    assert row["author"] == want["author"]
    assert row["push_timestamp"] == epoch(want["push_timestamp"])


def test_github_push_stored(first: dict[str, Any]) -> None:
    want = load("transformed_gh_push.json")
    delivery = load("github_push.json")[0]["payload"]
    row = first["pushes"].get(("android-components", want["revision"]))

    assert row is not None
    assert row["kind"] == "github-push"
    assert row["enriched"] is False
    assert row["push_timestamp"] == epoch(want["push_timestamp"])
    assert row["author"] == delivery["details"]["event.head.user.email"]
    assert ("servo-try", load("github_push.json")[1]["payload"]["details"]["event.head.sha"]) in first["pushes"]


def test_pull_request_stored(first: dict[str, Any]) -> None:
    message = load("github_pr.json")
    # Treeherder's record takes its head from the commit lookup; the message names the head sha.
    revision = message["details"]["event.head.sha"]
    row = first["pushes"].get(("test_treeherder", revision))

    assert row is not None
    assert row["kind"] == "github-pull-request"
    assert row["author"] == message["details"]["event.head.user.email"]
    assert row["branch"] is None


def test_unknown_repository_not_stored(first: dict[str, Any]) -> None:
    repositories = {name for name, _ in first["pushes"]}
    assert "no-such-repository" not in repositories
    assert len(first["pushes"]) == 5


def test_second_run_same_contents(runs: list[tuple[JobRun, dict[str, Any]]]) -> None:
    (_, before), (run, after) = runs
    assert run.exit_code == 0, run.output

    # NOTE: a pull request push is not enriched, so its time is when the bridge received
    # it, and every run stores a new one. All other columns must stay the same.
    for snapshot in (before, after):
        for key, row in snapshot["pushes"].items():
            if row["kind"] == "github-pull-request":
                row.pop("push_timestamp")

    assert after["pushes"] == before["pushes"]
    assert after["jobs"] == before["jobs"]
    assert after["logs"] == before["logs"]
    assert after["tasks"] == before["tasks"]
