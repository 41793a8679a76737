"""Lookups for a Taskcluster task event: its task definition and, when needed, its artifacts."""

from __future__ import annotations

import logging
from typing import Any

from streams.errors import RejectedMessage
from streams.lookups.client import LookupClient
from streams.lookups.taskcluster import fetch_task_definition, list_artifacts
from streams.transforms.task import accept_task, needs_artifacts, task_event, task_id_of
from streams.transforms.task import transform_task_event

logger = logging.getLogger(__name__)


async def pulse_job_from_task_event(
    lookup: LookupClient,
    exchange: str,
    message: dict[str, Any],
    root_url: str,
    projects_to_ingest: frozenset[str] | None,
) -> dict[str, Any] | None:
    """Fetch what a task event needs and build its pulse job (see ``transform_task_event``).

    The task definition is always fetched. Artifacts are listed, through every page, only
    for Treeherder tasks whose event links them. A failed artifact listing leaves the job
    without links instead of rejecting it, as in Treeherder. Raises RejectedMessage, with
    LOOKUP_FAILED when the task definition cannot be fetched.
    """
    task_event(exchange)
    task_id = task_id_of(message)

    definition = await fetch_task_definition(lookup, root_url, task_id)
    accept_task(task_id, definition, projects_to_ingest)

    artifacts: list[dict[str, Any]] | None = None
    if needs_artifacts(exchange, message):
        run_id = message["runId"]
        try:
            artifacts = await list_artifacts(lookup, root_url, task_id, run_id)
        except RejectedMessage as error:
            logger.warning(
                "artifacts of task %s run %d not listed, so the job has no links: %s",
                task_id,
                run_id,
                error.message,
            )

    return transform_task_event(
        exchange, message, definition, root_url, artifacts, projects_to_ingest
    )
