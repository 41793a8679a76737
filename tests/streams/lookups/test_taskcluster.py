"""Tests of the Taskcluster queue lookups and of task events enriched through them."""

from __future__ import annotations

import pytest

from streams.errors import RejectedMessage, RejectReason
from streams.lookups.task_events import pulse_job_from_task_event
from streams.lookups.taskcluster import fetch_task_definition, list_artifacts

from .conftest import TASK_ID, corpus

ROOT_URL = "https://taskcluster.net"
COMPLETED_ID = "B3EheQ-IQ5aPzw34KS_a6g"
COMPLETED = "exchange/taskcluster-queue/v1/task-completed"
ARTIFACTS_PATH = f"/api/queue/v1/task/{COMPLETED_ID}/runs/0/artifacts"


def make_artifacts(*names):
    return [{"name": name, "storageType": "s3", "contentType": "text/plain"} for name in names]


@pytest.fixture
def completed_message():
    return corpus("taskcluster_pulse_messages.json")[COMPLETED_ID]["payload"]


async def test_definition_fetched(lookup):
    definition = await fetch_task_definition(lookup, ROOT_URL, TASK_ID)

    assert definition == corpus("taskcluster_tasks.json")[TASK_ID]


async def test_artifacts_from_every_page(server, lookup):
    names = [f"public/logs/file{index}.log" for index in range(5)]
    server.data.artifacts[f"{COMPLETED_ID}/0"] = make_artifacts(*names)
    server.artifact_page_size = 2

    artifacts = await list_artifacts(lookup, ROOT_URL, COMPLETED_ID, 0)

    assert [artifact["name"] for artifact in artifacts] == names
    assert server.count(ARTIFACTS_PATH) == 3


async def test_artifacts_malformed_page(server, lookup):
    server.add_fault(ARTIFACTS_PATH, "malformed")

    with pytest.raises(RejectedMessage) as caught:
        await list_artifacts(lookup, ROOT_URL, COMPLETED_ID, 0)

    assert caught.value.reason is RejectReason.LOOKUP_FAILED


async def test_task_event_links_all_pages(server, lookup, completed_message):
    server.data.artifacts[f"{COMPLETED_ID}/0"] = make_artifacts(
        "public/logs/live.log", "public/build/", "public/a/report.json", "public/b/report.json"
    )
    server.artifact_page_size = 1

    job = await pulse_job_from_task_event(lookup, COMPLETED, completed_message, ROOT_URL, None)

    texts = [link["linkText"] for link in job["jobInfo"]["links"]]
    assert texts == ["live.log", "report.json", "report.json (1)"]
    assert server.count(ARTIFACTS_PATH) == 4


async def test_task_event_without_artifacts_matches_corpus(lookup, completed_message):
    job = await pulse_job_from_task_event(lookup, COMPLETED, completed_message, ROOT_URL, None)

    assert job["jobInfo"]["links"] == []
    assert job["logs"][0]["name"] == "live_backing_log"


async def test_failed_artifact_listing_keeps_job(server, lookup, completed_message, caplog):
    server.add_fault(ARTIFACTS_PATH, "status")

    job = await pulse_job_from_task_event(lookup, COMPLETED, completed_message, ROOT_URL, None)

    assert job["jobInfo"]["links"] == []
    assert COMPLETED_ID in caplog.text


async def test_missing_definition_lookup_failed(lookup, completed_message):
    completed_message["status"]["taskId"] = "AAAAAAAAAAAAAAAAAAAAAA"

    with pytest.raises(RejectedMessage) as caught:
        await pulse_job_from_task_event(lookup, COMPLETED, completed_message, ROOT_URL, None)

    assert caught.value.reason is RejectReason.LOOKUP_FAILED
    assert caught.value.detail["status"] == 404


async def test_unsupported_exchange_needs_no_lookup(server, lookup, completed_message):
    with pytest.raises(RejectedMessage) as caught:
        await pulse_job_from_task_event(
            lookup, "exchange/taskcluster-queue/v1/artifact-created", completed_message, ROOT_URL, None
        )

    assert caught.value.reason is RejectReason.UNSUPPORTED_EXCHANGE
    assert server.requests == []
