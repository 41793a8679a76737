"""PushIngest and JobIngest: decode, transform and re-key raw Pulse bodies."""

from __future__ import annotations

import pytest

from streams.agents.ingest import JobIngest, PushIngest
from streams.errors import RejectedMessage
from streams.registry.repositories import RepositoryRegistry
from tests.streams.conftest import FakePublisher, hg_push_message, job_guid, pulse_job_message, revision_for

HG_EXCHANGE = "exchange/hgpushes/v1"


@pytest.fixture(scope="module")
def registry() -> RepositoryRegistry:
    return RepositoryRegistry.load()


@pytest.fixture
def output() -> FakePublisher:
    return FakePublisher("by-revision")


async def test_push_is_keyed_by_revision(registry, output, make_source):
    revision = revision_for("ingest-push")
    source = make_source(
        "pulse-raw-pushes", hg_push_message(revision), headers={"pulse.exchange": HG_EXCHANGE}
    )

    await PushIngest(registry, output, 1_000_000)(source)

    assert output.sent[0]["key"] == f"autoland/{revision}"
    assert output.sent[0]["value"]["kind"] == "hg"
    assert output.sent[0]["headers"] == {"pulse.exchange": HG_EXCHANGE}


async def test_push_without_exchange_is_rejected(registry, output, make_source):
    source = make_source("pulse-raw-pushes", hg_push_message(revision_for("no-exchange")))

    with pytest.raises(RejectedMessage) as raised:
        await PushIngest(registry, output, 1_000_000)(source)

    assert raised.value.reason.value == "unsupported-exchange"


async def test_push_too_large_is_rejected(registry, output, make_source):
    source = make_source(
        "pulse-raw-pushes", b"{" + b" " * 100 + b"}", headers={"pulse.exchange": HG_EXCHANGE}
    )

    with pytest.raises(RejectedMessage) as raised:
        await PushIngest(registry, output, 50)(source)

    assert raised.value.reason.value == "too-large"


async def test_job_is_keyed_by_revision(registry, output, make_source):
    revision = revision_for("ingest-job")
    source = make_source("pulse-raw-jobs", pulse_job_message(job_guid(1), revision, "running"))

    await JobIngest(registry, output, 1_000_000)(source)

    record = output.sent[0]["value"]
    assert output.sent[0]["key"] == f"autoland/{revision}"
    assert record["job"]["job_guid"] == job_guid(1)
    assert record["job"]["state"] == "running"


async def test_job_of_unknown_repository_is_rejected(registry, output, make_source):
    message = pulse_job_message(job_guid(2), revision_for("unknown"), project="no-such-repo")
    source = make_source("pulse-raw-jobs", message)

    with pytest.raises(RejectedMessage) as raised:
        await JobIngest(registry, output, 1_000_000)(source)

    assert raised.value.reason.value == "unknown-repository"


async def test_job_that_is_not_json_is_rejected(registry, output, make_source):
    with pytest.raises(RejectedMessage) as raised:
        await JobIngest(registry, output, 1_000_000)(make_source("pulse-raw-jobs", b"\x00not json"))

    assert raised.value.reason.value == "not-json"
