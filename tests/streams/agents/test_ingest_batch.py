"""IngestBatchHandler: a batch of raw events transformed, sent together and dead-lettered."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from streams.agents.batching import handle_batch
from streams.agents.ingest import JobIngest, PushIngest
from streams.agents.ingest_batch import IngestBatchHandler
from streams.agents.join_plan import BatchItem
from streams.agents.retry import Backoff
from streams.errors import RejectedMessage, RejectReason
from streams.registry.repositories import RepositoryRegistry
from tests.streams.conftest import (
    FakePublisher,
    hg_push_message,
    job_guid,
    pulse_job_message,
    revision_for,
)

NO_WAIT = Backoff(initial=0.0, maximum=0.0)
HG_EXCHANGE = "exchange/hgpushes/v1"
RAW_JOBS = "pulse-raw-jobs"


class CountingPublisher(FakePublisher):
    """FakePublisher that counts its publish_many calls."""

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.batches: list[int] = []

    async def publish_many(self, records: Any) -> list[Any]:
        self.batches.append(len(records))
        return await super().publish_many(records)


@pytest.fixture(scope="module")
def registry() -> RepositoryRegistry:
    return RepositoryRegistry.load()


@pytest.fixture
def output() -> CountingPublisher:
    return CountingPublisher("by-revision")


@pytest.fixture
def job_items(make_source):
    """Build batch items of raw job events at offsets 0, 1, ... of one partition."""

    def build(bodies: list[Any]) -> list[BatchItem]:
        return [
            BatchItem(make_source(RAW_JOBS, body, key=f"task-{offset}", partition=2, offset=offset))
            for offset, body in enumerate(bodies)
        ]

    return build


def job_body(index: int, revision: str) -> dict[str, Any]:
    return pulse_job_message(job_guid(index), revision, "completed")


def sent_guids(publisher: FakePublisher) -> list[str]:
    return [value["job"]["job_guid"] for value in publisher.values()]


async def test_batch_sends_in_event_order(registry, output, dead_letters, dead_letter_publisher, job_items):
    revision = revision_for("batch-order")
    items = job_items([job_body(index, revision) for index in range(5)])

    await IngestBatchHandler(JobIngest(registry, output, 1_000_000), dead_letters, NO_WAIT)(items)

    assert sent_guids(output) == [job_guid(index) for index in range(5)]
    assert {entry["key"] for entry in output.sent} == {f"autoland/{revision}"}
    assert output.batches == [5]
    assert dead_letter_publisher.sent == []


async def test_bad_event_mid_batch_is_dead_lettered(
    registry, output, dead_letters, dead_letter_publisher, job_items
):
    revision = revision_for("batch-bad-middle")
    unknown = pulse_job_message(job_guid(9), revision, project="no-such-repo")
    items = job_items(
        [job_body(0, revision), b"\x00not json", unknown, job_body(3, revision)]
    )

    await IngestBatchHandler(JobIngest(registry, output, 1_000_000), dead_letters, NO_WAIT)(items)

    assert sent_guids(output) == [job_guid(0), job_guid(3)]
    assert output.batches == [2]
    dead = dead_letter_publisher.values()
    assert [record["reason"] for record in dead] == ["not-json", "unknown-repository"]
    assert [record["source"]["offset"] for record in dead] == [1, 2]
    assert [record["stage"] for record in dead] == ["job-ingest", "job-ingest"]


async def test_poison_event_mid_batch_is_dead_lettered(
    registry, output, dead_letters, dead_letter_publisher, job_items, monkeypatch
):
    revision = revision_for("batch-poison")
    items = job_items([job_body(index, revision) for index in range(3)])
    ingest = JobIngest(registry, output, 1_000_000)
    transform = ingest.job_record

    def failing_transform(message: dict[str, Any], source: Any) -> Any:
        if source.offset == 1:
            raise KeyError("job_guid")
        return transform(message, source)

    monkeypatch.setattr(ingest, "job_record", failing_transform)
    await IngestBatchHandler(ingest, dead_letters, NO_WAIT)(items)

    assert sent_guids(output) == [job_guid(0), job_guid(2)]
    dead = dead_letter_publisher.values()
    assert [record["reason"] for record in dead] == ["transform-error"]
    assert dead[0]["detail"]["exception"] == "KeyError"
    assert dead[0]["source"]["offset"] == 1


async def test_failed_sends_rerun_batch(registry, output, dead_letters, dead_letter_publisher, job_items):
    revision = revision_for("batch-send-fails")
    items = job_items([job_body(index, revision) for index in range(4)])
    output.failures = [KafkaConnectionError("broker down"), KafkaConnectionError("broker down")]
    handler = IngestBatchHandler(JobIngest(registry, output, 1_000_000), dead_letters, NO_WAIT)

    await handle_batch(items, "job-ingest", handler, dead_letters, NO_WAIT)

    assert output.batches == [4, 4, 4]
    assert sent_guids(output) == [job_guid(index) for index in range(4)]
    assert output.failures == []
    assert dead_letter_publisher.sent == []


async def test_failed_send_after_partial_batch_resends_all(
    registry, output, dead_letters, dead_letter_publisher, job_items
):
    revision = revision_for("batch-send-partial")
    items = job_items([job_body(index, revision) for index in range(3)])
    handler = IngestBatchHandler(JobIngest(registry, output, 1_000_000), dead_letters, NO_WAIT)
    publish = output.publish
    calls = 0

    async def fail_third(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KafkaConnectionError("broker down")
        await publish(*args, **kwargs)

    output.publish = fail_third  # type: ignore[method-assign]
    await handle_batch(items, "job-ingest", handler, dead_letters, NO_WAIT)

    # The first two records went out twice; the last copy of each keeps the event order.
    guids = sent_guids(output)
    assert guids == [job_guid(0), job_guid(1), job_guid(0), job_guid(1), job_guid(2)]
    assert guids[-3:] == [job_guid(index) for index in range(3)]
    assert dead_letter_publisher.sent == []


async def test_too_large_record_is_dead_lettered(
    registry, output, dead_letters, dead_letter_publisher, job_items
):
    revision = revision_for("batch-too-large")
    items = job_items([job_body(index, revision) for index in range(3)])
    publish = output.publish

    async def reject_second(key: Any, value: Any, **kwargs: Any) -> None:
        if value["job"]["job_guid"] == job_guid(1):
            raise RejectedMessage(RejectReason.TOO_LARGE, "record too large for by-revision")
        await publish(key, value, **kwargs)

    output.publish = reject_second  # type: ignore[method-assign]
    await IngestBatchHandler(JobIngest(registry, output, 1_000_000), dead_letters, NO_WAIT)(items)

    assert sent_guids(output) == [job_guid(0), job_guid(2)]
    dead = dead_letter_publisher.values()
    assert [record["reason"] for record in dead] == ["too-large"]
    assert dead[0]["source"]["offset"] == 1


async def test_push_batch_skips_enrichment_of_rejected(
    registry, output, dead_letters, dead_letter_publisher, make_source
):
    enrichment = CountingPublisher("push-enrichment")
    headers = {"pulse.exchange": HG_EXCHANGE}
    revisions = [revision_for(f"batch-push-{index}") for index in range(3)]
    items = [
        BatchItem(make_source("pulse-raw-pushes", hg_push_message(revisions[0]), offset=0, headers=headers)),
        BatchItem(make_source("pulse-raw-pushes", hg_push_message(revisions[1]), offset=1)),
        BatchItem(make_source("pulse-raw-pushes", hg_push_message(revisions[2]), offset=2, headers=headers)),
    ]
    ingest = PushIngest(registry, output, 1_000_000, enrichment)

    await IngestBatchHandler(ingest, dead_letters, NO_WAIT)(items)

    expected = [f"autoland/{revisions[0]}", f"autoland/{revisions[2]}"]
    assert [entry["key"] for entry in output.sent] == expected
    assert [entry["key"] for entry in enrichment.sent] == expected
    assert output.batches == [2]
    assert enrichment.batches == [2]
    dead = dead_letter_publisher.values()
    assert [record["reason"] for record in dead] == ["unsupported-exchange"]
    assert dead[0]["source"]["offset"] == 1
