"""Verification of one set of topics and one database: read both, then build the report."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from streams.config import WorkerSettings
from streams.main_job.observe import TopicReader
from streams.verify.database import read_stored_rows
from streams.verify.events import all_job_events, push_keys_by_id
from streams.verify.report import VerifyReport, build_report

logger = logging.getLogger(__name__)


async def verify(published_ids: Sequence[str], settings: WorkerSettings, database_url: str) -> VerifyReport:
    """Read the by-revision, raw job, accepted-job and dead-letter topics to their end, then the rows."""
    topics = settings.topics
    names = (topics.pushes, topics.raw_jobs, topics.jobs, topics.accepted_jobs, topics.dead_letter)
    reader = TopicReader(",".join(settings.bootstrap_servers), names, settings.topic_partitions)

    await reader.start()
    try:
        await reader.catch_up()
    finally:
        await reader.stop()

    records = {name: reader.records(name) for name in names}
    logger.info("Read %s", ", ".join(f"{len(found)} records of {name}" for name, found in records.items()))

    guids = {event.guid for event in all_job_events(records[topics.raw_jobs], records[topics.jobs])}
    push_keys = set(push_keys_by_id(records[topics.pushes]).values())
    stored = await read_stored_rows(database_url, guids, push_keys)
    return build_report(published_ids, topics, records, stored)
