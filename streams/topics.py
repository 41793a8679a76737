"""Kafka topics of the worker: their Faust declarations and their creation on the broker."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.config import WorkerSettings
from streams.errors import ConfigurationError, RetriableError

logger = logging.getLogger(__name__)

# Kafka error code of CreateTopics when another client created the topic first.
_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class WorkerTopics:
    """Faust topic objects of one app; values and keys stay raw bytes."""

    raw_pushes: faust.TopicT
    raw_jobs: faust.TopicT
    raw_tasks: faust.TopicT
    push_enrichment: faust.TopicT
    pushes: faust.TopicT
    jobs: faust.TopicT
    accepted_pushes: faust.TopicT
    accepted_jobs: faust.TopicT
    dead_letter: faust.TopicT
    sweep: faust.TopicT


def declare_topics(app: faust.App, settings: WorkerSettings) -> WorkerTopics:
    """Declare every topic on ``app`` with the partition count from the settings.

    Keys and values use the raw codec: the agents decode the bytes themselves, because a
    decoding error inside Faust would crash the agent and still commit the offset.
    """
    names = settings.topics
    partitions = settings.topic_partitions

    def topic(name: str) -> faust.TopicT:
        return app.topic(
            name,
            partitions=partitions,
            replicas=settings.replication_factor,
            key_serializer="raw",
            value_serializer="raw",
        )

    return WorkerTopics(
        raw_pushes=topic(names.raw_pushes),
        raw_jobs=topic(names.raw_jobs),
        raw_tasks=topic(names.raw_tasks),
        push_enrichment=topic(names.push_enrichment),
        pushes=topic(names.pushes),
        jobs=topic(names.jobs),
        accepted_pushes=topic(names.accepted_pushes),
        accepted_jobs=topic(names.accepted_jobs),
        dead_letter=topic(names.dead_letter),
        sweep=topic(names.sweep),
    )


def co_partitioned_topics(settings: WorkerSettings) -> tuple[str, ...]:
    """Return the topics that must have exactly TOPIC_PARTITIONS partitions.

    The join agent reads these together with the tables, so partition N of each contains the
    same `<repository>/<revision>` keys.
    """
    names = settings.topics
    return (names.pushes, names.jobs, names.sweep)


async def ensure_topics(settings: WorkerSettings) -> None:
    """Create every missing topic and check the partition count of the co-partitioned ones.

    Raises ConfigurationError when an existing co-partitioned topic has another partition
    count than TOPIC_PARTITIONS, because the join would then miss pushes.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=list(settings.bootstrap_servers))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in settings.topics.all() if name not in existing]
        if missing:
            await _create_topics(admin, missing, settings)

        await _check_partitions(admin, settings)
    finally:
        await admin.close()


async def _create_topics(
    admin: AIOKafkaAdminClient, names: list[str], settings: WorkerSettings
) -> None:
    requests = [
        NewTopic(
            name=name,
            num_partitions=settings.topic_partitions,
            replication_factor=settings.replication_factor,
        )
        for name in names
    ]
    response = await admin.create_topics(requests)

    for name, error_code, *rest in response.topic_errors:
        if error_code == 0:
            logger.info(
                "Created topic %s with %d partitions", name, settings.topic_partitions
            )
        elif error_code == _TOPIC_ALREADY_EXISTS:
            logger.info("Topic %s was created by another client meanwhile", name)
        else:
            message = rest[0] if rest else ""
            raise RuntimeError(f"creating topic {name} failed with error {error_code}: {message}")


async def _check_partitions(admin: AIOKafkaAdminClient, settings: WorkerSettings) -> None:
    wanted = settings.topic_partitions
    for description in await admin.describe_topics(list(co_partitioned_topics(settings))):
        name = description["topic"]
        count = len(description["partitions"])
        if count == 0:
            # A topic created a moment ago can be described before its partitions are known.
            raise RetriableError(f"topic {name} has no partition metadata yet")
        if count != wanted:
            raise ConfigurationError(
                "TOPIC_PARTITIONS",
                f"topic {name} has {count} partitions but TOPIC_PARTITIONS is {wanted}; "
                "the by-revision and sweep topics must have the same count",
            )
