"""Read of stored pushes as push records, for the join's lookup of pushes it has not seen."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from streams.sinks.database.models import push, repository
from streams.sinks.database.records import PushRecord


async def select_pushes(
    connection: AsyncConnection, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], PushRecord]:
    """Return the stored push of each (repository name, revision) in ``keys`` that has a row.

    One query selects every push whose repository and revision are among the names and
    revisions of ``keys``, and the pairs not asked for are dropped here.
    """
    if not keys:
        return {}

    names = sorted({name for name, _ in keys})
    revisions = sorted({revision for _, revision in keys})
    result = await connection.execute(
        select(
            repository.c.name,
            push.c.revision,
            push.c.author,
            push.c.push_timestamp,
            push.c.branch,
            push.c.enriched,
            push.c.kind,
        )
        .join(repository, repository.c.id == push.c.repository_id)
        .where(repository.c.name.in_(names), push.c.revision.in_(revisions))
    )

    found: dict[tuple[str, str], PushRecord] = {}
    for row in result:
        if (row.name, row.revision) in keys:
            found[(row.name, row.revision)] = push_record_of(row)
    return found


def push_record_of(row: Row[tuple[object, ...]]) -> PushRecord:
    """Build a push record, as the push topic carries it, from a joined push row.

    The record's `revisions` list is empty because the commits are not read. The join only
    checks that a push key is present, so it does not need them.
    """
    return {
        "repository": row.name,
        "revision": row.revision,
        "author": row.author,
        "push_timestamp": int(row.push_timestamp.timestamp()),
        "revisions": [],
        "branch": row.branch,
        "enriched": bool(row.enriched),
        "kind": row.kind,
    }
