"""Kafka topics of the worker: their Faust declarations and their creation on the broker."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.config import WorkerSettings
from streams.errors import ConfigurationError, RetriableError
from streams.tables.definitions import PARKED_TABLE, PUSH_TABLE

logger = logging.getLogger(__name__)

# Kafka error code of CreateTopics when another client created the topic first.
_TOPIC_ALREADY_EXISTS = 36

# Table changelogs keep the last value of each key, as Faust configures them.
_CHANGELOG_CONFIG = {"cleanup.policy": "compact"}

# How often and how long ensure_topics polls for the partitions of topics it just created,
# before it raises RetriableError and leaves further retries to its caller.
_METADATA_POLL_SECONDS = 0.2
_METADATA_POLLS = 50


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


def changelog_topics(settings: WorkerSettings) -> tuple[str, ...]:
    """Return the changelog topics of the join tables, named as Faust names them.

    Faust (faust-streaming 0.15.3) names a table's changelog `<APP_ID>-<table>-changelog`.
    """
    tables = (PUSH_TABLE, PARKED_TABLE)
    return tuple(f"{settings.app_id}-{table}-changelog" for table in tables)


async def ensure_topics(settings: WorkerSettings) -> None:
    """Create every missing topic and changelog, then check their partition counts.

    The changelogs are created here, before Faust starts, because a table write checks the
    changelog's partition count in the client's metadata. For a changelog that Faust had
    created a moment before, that metadata can still list 0 partitions, and Faust raises
    PartitionsMismatch.

    Raises RetriableError while the broker's metadata lists a topic without partitions,
    and ConfigurationError when a co-partitioned topic or a changelog has another
    partition count than TOPIC_PARTITIONS, because the join would then miss pushes.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=list(settings.bootstrap_servers))
    await admin.start()
    try:
        existing = set(await admin.list_topics())

        missing = [name for name in settings.topics.all() if name not in existing]
        if missing:
            await _create_topics(admin, missing, settings)

        missing_changelogs = [name for name in changelog_topics(settings) if name not in existing]
        if missing_changelogs:
            await _create_topics(admin, missing_changelogs, settings, _CHANGELOG_CONFIG)

        await _wait_for_partitions(admin, settings)
    finally:
        await admin.close()


async def _wait_for_partitions(admin: AIOKafkaAdminClient, settings: WorkerSettings) -> None:
    """Poll the topics' metadata until every topic lists its partitions."""
    for poll in range(1, _METADATA_POLLS + 1):
        try:
            await _check_partitions(admin, settings)
            return
        except RetriableError as error:
            if poll == _METADATA_POLLS:
                raise
            logger.debug("Waiting for topic metadata (poll %d): %s", poll, error)
            await asyncio.sleep(_METADATA_POLL_SECONDS)


async def _create_topics(
    admin: AIOKafkaAdminClient,
    names: list[str],
    settings: WorkerSettings,
    config: dict[str, str] | None = None,
) -> None:
    requests = [
        NewTopic(
            name=name,
            num_partitions=settings.topic_partitions,
            replication_factor=settings.replication_factor,
            topic_configs=dict(config or {}),
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
    exact = set(co_partitioned_topics(settings)) | set(changelog_topics(settings))
    names = [*settings.topics.all(), *changelog_topics(settings)]

    for description in await admin.describe_topics(names):
        name = description["topic"]
        count = len(description["partitions"])
        if count == 0:
            # A topic created a moment ago can be described before its partitions are known.
            raise RetriableError(f"topic {name} has no partition metadata yet")
        if name in exact and count != wanted:
            raise ConfigurationError(
                "TOPIC_PARTITIONS",
                f"topic {name} has {count} partitions but TOPIC_PARTITIONS is {wanted}; "
                "the by-revision and sweep topics and the table changelogs must have the same count",
            )
