"""Database side of a run: migrations, and the check that every accepted record was stored."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.main_job.observe import KafkaRecord
from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.queries import jobs_of_push, pushes_of_repository
from streams.transforms.state import state_rank

logger = logging.getLogger(__name__)

# Most pushes of one repository that the check reads; the samples have a handful.
MAX_PUSHES_READ = 1000


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
        for repository in sorted({key.partition("/")[0] for key in push_keys | job_keys}):
            rows = await pushes_of_repository(engine, repository, limit=MAX_PUSHES_READ)
            for row in rows:
                key = f"{repository}/{row['revision']}"
                if key in push_keys | job_keys:
                    stored.pushes[key] = row

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


def _push_key(record: dict[str, Any]) -> str:
    return f"{record['repository']}/{record['revision']}"
