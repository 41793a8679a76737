"""Raw job routing: jobs joined in their raw partition, re-keyed otherwise, rejected when bad."""

from __future__ import annotations

import pytest

from streams.agents.ingest import JOB_STAGE, JobIngest
from streams.agents.job_routing import RawJobRouter
from streams.agents.join_plan import BatchItem
from streams.agents.partitioning import partition_for_key
from streams.agents.retry import Backoff
from streams.errors import RejectedMessage, RejectReason
from streams.registry.repositories import RepositoryRegistry
from tests.streams.conftest import FakePublisher, job_guid, pulse_job_message, revision_for

PARTITIONS = 8
RAW_TOPIC = "pulse-raw-jobs"


@pytest.fixture(scope="module")
def registry() -> RepositoryRegistry:
    return RepositoryRegistry.load()


@pytest.fixture
def forward() -> FakePublisher:
    return FakePublisher("pulse-jobs-by-revision")


@pytest.fixture
def make_router(registry, forward, dead_letters):
    """Build a router whose raw topic reports ``raw_partitions`` partitions."""

    def build(raw_partitions: int | None = PARTITIONS) -> RawJobRouter:
        async def partition_count(topic: str) -> int | None:
            return raw_partitions if topic == RAW_TOPIC else None

        return RawJobRouter(
            raw_topic=RAW_TOPIC,
            table_partitions=PARTITIONS,
            topic_partitions=partition_count,
            ingest=JobIngest(registry, forward, max_bytes=1_000_000),
            forward=forward,
            dead_letters=dead_letters,
            backoff=Backoff(0.01, 0.01),
        )

    return build


@pytest.fixture
def make_raw_job(make_source):
    """Build a raw job item on the partition of its push key plus ``shift``."""

    def build(index: int, revision: str, *, shift: int = 0, offset: int = 0) -> BatchItem:
        key = f"autoland/{revision}"
        partition = (partition_for_key(key.encode(), PARTITIONS) + shift) % PARTITIONS
        message = pulse_job_message(job_guid(index), revision, "running")
        return BatchItem(make_source(RAW_TOPIC, message, key=key, partition=partition, offset=offset))

    return build


async def test_job_in_push_partition_is_joined_in_place(make_router, make_raw_job):
    revision = revision_for("routing-in-place")
    item = make_raw_job(1, revision)

    routed = await make_router().route([item])

    assert routed.forwards == []
    assert routed.rejections == []
    assert [routed_item.source for routed_item in routed.items] == [item.source]
    assert routed.items[0].record["job"]["job_guid"] == job_guid(1)
    assert routed.items[0].record["revision"] == revision


async def test_job_in_other_partition_is_rekeyed(make_router, make_raw_job):
    revision = revision_for("routing-other")
    item = make_raw_job(2, revision, shift=1)

    routed = await make_router().route([item])

    assert routed.items == []
    assert [source for source, _ in routed.forwards] == [item.source]
    assert routed.forwards[0][1].key == f"autoland/{revision}"


async def test_other_topics_keep_their_order(make_router, make_raw_job, make_source):
    revision = revision_for("routing-order")
    push = BatchItem(make_source("pulse-pushes-by-revision", {"repository": "autoland"}, offset=1))
    job = make_raw_job(3, revision, offset=2)
    sweep = BatchItem(make_source("pulse-join-sweep", {"sent_at": 1}, offset=3))

    routed = await make_router().route([push, job, sweep])

    assert [item.source.offset for item in routed.items] == [1, 2, 3]
    assert routed.items[0] is push
    assert routed.items[2] is sweep


@pytest.mark.parametrize("raw_partitions", [None, 4])
async def test_unknown_or_other_count_rekeys_all(make_router, make_raw_job, raw_partitions):
    revision = revision_for("routing-count")
    items = [make_raw_job(index, revision, offset=index) for index in range(3)]

    routed = await make_router(raw_partitions).route(items)

    assert routed.items == []
    assert [source.offset for source, _ in routed.forwards] == [0, 1, 2]


async def test_bad_raw_job_is_rejected(make_router, make_source):
    item = BatchItem(make_source(RAW_TOPIC, b"not json", key="task", offset=7))

    routed = await make_router().route([item])

    assert routed.items == []
    assert routed.forwards == []
    assert [source.offset for source, _ in routed.rejections] == [7]
    assert isinstance(routed.rejections[0][1], RejectedMessage)


async def test_send_forwards_and_dead_letters(make_router, make_raw_job, make_source, forward, dead_letter_publisher):
    revision = revision_for("routing-send")
    moved = [make_raw_job(index, revision, shift=1, offset=index) for index in range(3)]
    bad = BatchItem(make_source(RAW_TOPIC, b"{", key="task", offset=9))
    router = make_router()

    await router.send(await router.route([*moved, bad]))

    assert [value["job"]["job_guid"] for value in forward.values()] == [job_guid(index) for index in range(3)]
    dead = dead_letter_publisher.values()
    assert len(dead) == 1
    assert dead[0]["stage"] == JOB_STAGE
    assert dead[0]["source"]["offset"] == 9


async def test_too_large_forward_is_dead_lettered(make_router, make_raw_job, forward, dead_letter_publisher):
    revision = revision_for("routing-too-large")
    item = make_raw_job(4, revision, shift=1, offset=4)
    forward.failures.append(RejectedMessage(RejectReason.TOO_LARGE, "record too large"))
    router = make_router()

    await router.send(await router.route([item]))

    assert forward.values() == []
    dead = dead_letter_publisher.values()
    assert [record["reason"] for record in dead] == ["too-large"]
    assert dead[0]["source"]["offset"] == 4

