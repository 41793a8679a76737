"""Services started before the Faust app: topic creation and the database sink."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka.errors import KafkaError
from mode import Service

from streams.agents.retry import Backoff, retry_until_done
from streams.config import WorkerSettings
from streams.errors import RetriableError
from streams.registry.repositories import RepositoryRegistry
from streams.sinks.database import DatabaseSink, upgrade_database
from streams.sinks.database.records import PushRecord, StoredJobs
from streams.topics import ensure_topics

logger = logging.getLogger(__name__)


def _is_startup_fault(error: BaseException) -> bool:
    return isinstance(error, (RetriableError, KafkaError, OSError, asyncio.TimeoutError))


class TopicSetup(Service):
    """Creates every topic before Faust subscribes, so the broker never auto-creates one.

    An auto-created topic would get the broker's default partition count and break the
    co-partitioning of the join.
    """

    def __init__(self, settings: WorkerSettings, backoff: Backoff, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings = settings
        self._backoff = backoff

    async def on_start(self) -> None:
        """Create missing topics, retrying while Kafka is unreachable."""
        servers = ",".join(self._settings.bootstrap_servers)
        await retry_until_done(
            lambda: ensure_topics(self._settings),
            is_retriable=_is_startup_fault,
            backoff=self._backoff,
            name="topic setup",
            context=servers,
        )
        logger.info("Topics ready on %s", servers)


class DatabaseService(Service):
    """Runs the database migrations, registers the repositories and owns the sink."""

    def __init__(
        self,
        sink: DatabaseSink,
        registry: RepositoryRegistry,
        backoff: Backoff,
        migrate: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sink = sink
        self._registry = registry
        self._backoff = backoff
        self._migrate = migrate

    async def on_start(self) -> None:
        """Upgrade the schema, start the sink and write the registry's repositories."""
        url = self.sink.settings.url
        masked = self.sink.settings.masked_url
        if self._migrate:
            await retry_until_done(
                lambda: upgrade_database(url),
                is_retriable=_is_startup_fault,
                backoff=self._backoff,
                name="database migration",
                context=masked,
            )
            logger.info("Database schema is up to date on %s", masked)

        await self.sink.start()
        repositories = list(self._registry)
        await self.sink.write_with_retry(self.sink.ensure_repositories, repositories)
        logger.info("Registered %d repositories in the database", len(repositories))

    async def on_stop(self) -> None:
        """Stop the sink, which ends pending retries."""
        await self.sink.stop()


class SinkDatabase:
    """The join's database: the sink's writes, retried until they succeed or the sink stops."""

    def __init__(self, sink: DatabaseSink) -> None:
        self._sink = sink

    async def write_pushes(self, records: Sequence[dict[str, Any]]) -> None:
        """Upsert push records, retrying database faults."""
        await self._sink.write_with_retry(self._sink.write_pushes, records)

    async def write_jobs(self, records: Sequence[dict[str, Any]]) -> None:
        """Upsert job records in order, retrying database faults."""
        await self._sink.write_with_retry(self._sink.write_jobs, records)

    async def write_batch(
        self, pushes: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]]
    ) -> StoredJobs:
        """Upsert pushes, then jobs, in one transaction, retrying database faults.

        Returns the job rows that the committed transaction found before its upserts.
        """
        return await self._sink.write_with_retry(self._sink.write_batch, pushes, jobs)

    async def find_pushes(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], PushRecord]:
        """Read the stored pushes among (repository, revision) ``keys``, retrying database faults."""
        return await self._sink.write_with_retry(self._sink.find_pushes, keys)
