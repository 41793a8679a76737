"""Database side of a run: migrations, and the check that every accepted record was stored."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from streams.main_job.observe import KafkaRecord
from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.models import push, repository
from streams.sinks.database.queries import jobs_of_push
from streams.transforms.state import state_rank

logger = logging.getLogger(__name__)

# Revisions per query when the check looks pushes up by key.
REVISIONS_PER_QUERY = 500


@dataclass
class StoredRun:
    """Rows of the pushes and jobs that a run accepted, and accepted records not found."""

    pushes: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


async def read_stored_run(
    url: str, accepted_pushes: Sequence[KafkaRecord], accepted_jobs: Sequence[KafkaRecord]
) -> StoredRun:
    """Look up every accepted push and job; a job must be stored in its newest accepted state or later."""
    stored = StoredRun()
    push_keys = {_push_key(record.value) for record in accepted_pushes}
    job_keys = {_push_key(record.value) for record in accepted_jobs}

    newest_state: dict[str, str] = {}
    for record in accepted_jobs:
        job = record.value["job"]
        current = newest_state.get(job["job_guid"])
        if current is None or state_rank(job["state"]) > state_rank(current):
            newest_state[job["job_guid"]] = job["state"]

    engine = create_database_engine(url, pool_size=1)
    try:
        stored.pushes = await _read_pushes(engine, push_keys | job_keys)

        for key in sorted(job_keys):
            repository, _, revision = key.partition("/")
            for row in await jobs_of_push(engine, repository, revision):
                if row["guid"] in newest_state:
                    stored.jobs[row["guid"]] = {**row, "repository": repository}
    finally:
        await engine.dispose()

    stored.missing.extend(f"push {key}" for key in sorted(push_keys - set(stored.pushes)))
    for guid, state in sorted(newest_state.items()):
        row = stored.jobs.get(guid)
        if row is None:
            stored.missing.append(f"job {guid}")
        elif state_rank(row["state"]) < state_rank(state):
            stored.missing.append(f"job {guid} stored as {row['state']}, accepted as {state}")
    return stored


async def _read_pushes(engine: AsyncEngine, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Read the stored push of each `<repository>/<revision>` key; keys not stored are left out.

    The pushes are looked up by key because a shared database can hold many other pushes
    of the same repository with the same push time.
    """
    revisions: dict[str, list[str]] = defaultdict(list)
    for key in sorted(keys):
        repository_name, _, revision = key.partition("/")
        revisions[repository_name].append(revision)

    found: dict[str, dict[str, Any]] = {}
    async with engine.connect() as connection:
        for repository_name, names in revisions.items():
            for start in range(0, len(names), REVISIONS_PER_QUERY):
                query = (
                    select(repository.c.name.label("repository"), push.c.revision, push.c.author,
                           push.c.push_timestamp, push.c.enriched, push.c.kind)
                    .join(repository, repository.c.id == push.c.repository_id)
                    .where(
                        repository.c.name == repository_name,
                        push.c.revision.in_(names[start : start + REVISIONS_PER_QUERY]),
                    )
                )
                for row in await connection.execute(query):
                    found[f"{row.repository}/{row.revision}"] = dict(row._mapping)
    return found


def _push_key(record: dict[str, Any]) -> str:
    return f"{record['repository']}/{record['revision']}"
