"""End-to-end runs of the main job through RabbitMQ, Kafka, the worker and PostgreSQL.

The main job serves the pushes' commit lookups from its own fixture server on 127.0.0.1, so
the pushes are enriched. The stored rows are compared with Treeherder's expected outputs in
tests/data/treeherder.
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
from streams.sinks.database.models import commit, job, job_log, push, repository, taskcluster_metadata
from tests.e2e.conftest import JobRun

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[1] / "data" / "treeherder"

JOB_REVISION = "9c6e4c31ad26efdad0b9af47a2b530bc414ce2c3"

# Head that the pull request message names (its first commit) and head of its commit list.
PULL_REQUEST_MESSAGE_HEAD = "6fc29703e82473fa185af2b3c307c5c475038173"
PULL_REQUEST_HEAD = "fd561e92727fadb6bac44121941136a1a25b7c1d"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def epoch(seconds: int | None) -> datetime:
    return datetime.fromtimestamp(seconds or 0, tz=UTC)


def commit_list(revisions: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Return Treeherder's revisions as stored commits: (revision, author, comment), oldest first."""
    return [(item["revision"], item["author"], item["comment"]) for item in revisions]


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
            commits = await connection.execute(
                select(repository.c.name, push.c.revision.label("push_revision"), commit.c.revision,
                       commit.c.author, commit.c.comment)
                .join(push, push.c.id == commit.c.push_id)
                .join(repository, repository.c.id == push.c.repository_id)
                .order_by(commit.c.id)
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
                "commits": _group_commits(commits),
            }
    finally:
        await engine.dispose()


def _group_commits(rows: Any) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    grouped: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for row in rows:
        grouped.setdefault((row.name, row.push_revision), []).append((row.revision, row.author, row.comment))
    return grouped


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


def test_first_run_reports_enrichment(runs: list[tuple[JobRun, dict[str, Any]]]) -> None:
    run, _ = runs[0]
    # 6 push lines are enriched; the hg push of try is delivered twice and stored once.
    assert "Pushes enriched with their commit list: 6 push events, 5 distinct pushes" in run.output
    assert "Pushes stored under two revisions" in run.output
    assert f"test_treeherder/{PULL_REQUEST_MESSAGE_HEAD} (message, not enriched)" in run.output
    assert f"-> test_treeherder/{PULL_REQUEST_HEAD} (enriched)" in run.output


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


def test_hg_push_matches_treeherder(first: dict[str, Any]) -> None:
    want = load("transformed_hg_push.json")
    key = ("try", want["revision"])
    row = first["pushes"].get(key)

    assert row is not None
    assert row["author"] == want["author"]
    assert row["push_timestamp"] == epoch(want["push_timestamp"])
    assert row["kind"] == "hg"
    assert row["enriched"] is True
    assert row["branch"] is None
    assert first["commits"].get(key) == commit_list(want["revisions"])


def test_job_push_matches_push_data(first: dict[str, Any]) -> None:
    want = load("push_data.json")[0]
    key = ("autoland", JOB_REVISION)
    row = first["pushes"].get(key)

    assert row is not None
    assert row["author"] == want["author"]
    assert row["push_timestamp"] == epoch(want["push_timestamp"])
    assert row["kind"] == "hg"
    assert row["enriched"] is True
    # push_data.json lists revisions newest first; commits are stored oldest first.
    assert first["commits"].get(key) == commit_list(list(reversed(want["revisions"])))


def test_github_push_matches_treeherder(first: dict[str, Any]) -> None:
    want = load("transformed_gh_push.json")
    key = ("android-components", want["revision"])
    row = first["pushes"].get(key)

    assert row is not None
    assert row["kind"] == "github-push"
    assert row["enriched"] is True
    assert row["author"] == want["author"]
    assert row["push_timestamp"] == epoch(want["push_timestamp"])
    assert first["commits"].get(key) == commit_list(want["revisions"])


def test_second_github_push_enriched(first: dict[str, Any]) -> None:
    delivery = load("github_push.json")[1]["payload"]
    compare = load("github_push_compare.json")[1]
    key = ("servo-try", delivery["details"]["event.head.sha"])
    row = first["pushes"].get(key)

    assert row is not None
    assert row["kind"] == "github-push"
    assert row["enriched"] is True
    stored = [revision for revision, _, _ in first["commits"].get(key, [])]
    assert stored == [item["sha"] for item in compare["commits"]]


def test_pull_request_matches_treeherder(first: dict[str, Any]) -> None:
    want = load("transformed_gh_pr.json")
    assert want["revision"] == PULL_REQUEST_HEAD
    key = ("test_treeherder", want["revision"])
    row = first["pushes"].get(key)

    assert row is not None
    assert row["kind"] == "github-pull-request"
    assert row["enriched"] is True
    assert row["author"] == want["author"]
    assert row["push_timestamp"] == epoch(want["push_timestamp"])
    assert row["branch"] is None
    assert first["commits"].get(key) == commit_list(want["revisions"])


def test_pull_request_message_head_kept(first: dict[str, Any]) -> None:
    message = load("github_pr.json")
    assert message["details"]["event.head.sha"] == PULL_REQUEST_MESSAGE_HEAD
    key = ("test_treeherder", PULL_REQUEST_MESSAGE_HEAD)
    row = first["pushes"].get(key)

    # NOTE: the push ingest stores the pull request under the head its message names, and
    # the enrich agent stores the looked-up push under the last commit, so the database has
    # two pushes where Treeherder has one. The first stays un-enriched and without commits.
    assert row is not None
    assert row["kind"] == "github-pull-request"
    assert row["enriched"] is False
    assert row["author"] == message["details"]["event.head.user.email"]
    assert key not in first["commits"]


def test_stored_pushes_are_expected(first: dict[str, Any]) -> None:
    github_pushes = [delivery["payload"]["details"]["event.head.sha"] for delivery in load("github_push.json")]
    expected = {
        ("autoland", JOB_REVISION),
        ("try", load("transformed_hg_push.json")["revision"]),
        ("android-components", github_pushes[0]),
        ("servo-try", github_pushes[1]),
        ("test_treeherder", PULL_REQUEST_MESSAGE_HEAD),
        ("test_treeherder", PULL_REQUEST_HEAD),
    }
    assert set(first["pushes"]) == expected


def test_second_run_same_contents(runs: list[tuple[JobRun, dict[str, Any]]]) -> None:
    (_, before), (run, after) = runs
    assert run.exit_code == 0, run.output

    # An un-enriched pull request push takes its time from when the bridge received it, so
    # every run stores a new one. Enriched pushes take theirs from the lookup.
    for snapshot in (before, after):
        for row in snapshot["pushes"].values():
            if row["kind"] == "github-pull-request" and not row["enriched"]:
                row.pop("push_timestamp")

    assert after["pushes"] == before["pushes"]
    assert after["commits"] == before["commits"]
    assert after["jobs"] == before["jobs"]
    assert after["logs"] == before["logs"]
    assert after["tasks"] == before["tasks"]
