"""Task ingest stage: build pulse jobs from Taskcluster task events and send them as jobs."""

from __future__ import annotations

import logging

from streams.agents.ingest import EXCHANGE_HEADER, JobIngest
from streams.agents.source import SourceEvent
from streams.errors import RejectedMessage, RejectReason
from streams.lookups.client import LookupClient
from streams.lookups.task_events import pulse_job_from_task_event
from streams.transforms.decode import decode_json
from streams.transforms.task import task_id_of
from streams.validation.detail import make_detail

logger = logging.getLogger(__name__)

ROOT_URL_HEADER = "pulse.root_url"

TASK_STAGE = "task-ingest"


class TaskIngest:
    """Turns a raw task event into a job record on the job-by-revision topic.

    The task definition (cached per task id by the lookup client) and, for finished runs,
    the artifact list are fetched first. The pulse job then gets the same transform and
    key as a raw pulse job, and goes to the job-by-revision topic. A lookup that still fails after the client's
    retries raises RejectedMessage(LOOKUP_FAILED), so the event is dead-lettered and the
    partition moves on.
    """

    stage = TASK_STAGE

    def __init__(
        self,
        lookup: LookupClient,
        jobs: JobIngest,
        projects_to_ingest: frozenset[str],
        max_bytes: int,
    ) -> None:
        self._lookup = lookup
        self._jobs = jobs
        # An empty set accepts every project.
        self._projects = projects_to_ingest or None
        self._max_bytes = max_bytes

    async def __call__(self, source: SourceEvent) -> None:
        """Build and send the job of one task event; rejections propagate as RejectedMessage."""
        exchange = source.header(EXCHANGE_HEADER)
        if not exchange:
            raise RejectedMessage(
                RejectReason.UNSUPPORTED_EXCHANGE,
                f"record has no {EXCHANGE_HEADER} header, so the task event is unknown",
            )

        root_url = source.header(ROOT_URL_HEADER)
        if not root_url:
            detail = make_detail(
                ["headers", ROOT_URL_HEADER], "required", None, "the task's queue is unknown"
            )
            raise RejectedMessage(
                RejectReason.SCHEMA,
                f"record has no {ROOT_URL_HEADER} header, so the task's queue is unknown",
                [detail],
            )

        message = decode_json(source.value or b"", self._max_bytes)
        task_id = task_id_of(message)

        pulse_job = await pulse_job_from_task_event(
            self._lookup, exchange, message, root_url, self._projects
        )

        if pulse_job is None:
            # Treeherder drops these events silently; here they are dead-lettered so every
            # message is accounted for.
            raise RejectedMessage(
                RejectReason.NOT_FOR_TREEHERDER,
                f"run {message.get('runId')} of task {task_id} was created by an exception "
                "and resolved as an exception, so it has no job",
                detail={"taskId": task_id, "reason": "exception-run-of-exception"},
            )

        await self._jobs.send(pulse_job, source)
        logger.debug("Built job of task %s from %s (%s)", task_id, source.position, exchange)
