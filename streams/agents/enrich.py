"""Push enrichment stage: look up a push's commits and send the enriched push record."""

from __future__ import annotations

import logging

from streams.agents.ingest import read_push_message, received_at_of
from streams.agents.join import push_key
from streams.agents.publish import Publisher
from streams.agents.source import SourceEvent
from streams.lookups.client import LookupClient
from streams.lookups.pushes import fetch_push_commits
from streams.registry.repositories import RepositoryRegistry
from streams.transforms.push import transform_push

logger = logging.getLogger(__name__)

ENRICH_STAGE = "push-enrich"


class PushEnrichment:
    """Turns a raw push body from the enrichment topic into an enriched push record.

    The push ingest agent already sent the un-enriched record, so the push and its jobs are
    accepted whatever happens here. The enriched record goes to the push-by-revision topic,
    where the join upserts it. The database keeps the commits of an enriched push even when
    an un-enriched copy arrives later. A lookup that fails after the lookup client's retries
    raises RejectedMessage(LOOKUP_FAILED): the event is dead-lettered with stage
    `push-enrich` and the push stays un-enriched.
    """

    stage = ENRICH_STAGE

    def __init__(
        self,
        lookup: LookupClient,
        registry: RepositoryRegistry,
        output: Publisher,
        max_bytes: int,
    ) -> None:
        self._lookup = lookup
        self._registry = registry
        self._output = output
        self._max_bytes = max_bytes

    async def __call__(self, source: SourceEvent) -> None:
        """Enrich one push; rejections propagate as RejectedMessage."""
        exchange, message = read_push_message(source, self._max_bytes)
        received_at = received_at_of(source)

        # Validates the message again, so a malformed one never reaches the lookup.
        transform_push(exchange, message, self._registry, received_at=received_at)

        commits = await fetch_push_commits(self._lookup, exchange, message)
        record = transform_push(
            exchange, message, self._registry, commits, received_at=received_at
        )

        key = push_key(record)
        await self._output.publish(
            key, record, context=source.position, headers=source.text_headers()
        )
        logger.info(
            "Enriched push %s with %d revisions from %s",
            key,
            len(record["revisions"]),
            source.position,
        )
