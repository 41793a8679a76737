"""Waiting until every published message id is accounted for, then the verifier's final report."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from streams.faults.pipeline import FaultPipeline
from streams.main_job.observe import TopicReader
from streams.verify.database import read_stored_rows
from streams.verify.events import all_job_events, push_keys_by_id
from streams.verify.report import VerifyReport, build_report
from streams.verify.run import verify

logger = logging.getLogger(__name__)

# Seconds between two checks while waiting.
POLL_INTERVAL = 3.0

# Seconds without a newly accounted message after which waiting stops; the verifier then reports
# what is missing instead of the run idling until its deadline.
STALL_SECONDS = 180.0



async def wait_until_accounted(
    pipeline: FaultPipeline,
    ids: Sequence[str],
    timeout: float,
    stall_seconds: float = STALL_SECONDS,
) -> VerifyReport | None:
    """Poll until every id is accounted for in two checks in a row, ``timeout`` seconds pass,
    or no further id is accounted for during ``stall_seconds``.

    Processes that exit on their own are started again and recorded in ``pipeline.unplanned_exits``.
    Returns the last report, or None when no check succeeded.
    """
    topics = pipeline.topics
    names = (topics.pushes, topics.raw_jobs, topics.jobs, topics.accepted_jobs, topics.dead_letter)
    reader = TopicReader(pipeline.settings.bootstrap_servers, names, pipeline.worker_settings.topic_partitions)
    deadline = time.monotonic() + timeout
    report: VerifyReport | None = None
    previous = None
    accounted = -1
    changed_at = time.monotonic()

    await _start_reader(reader, deadline)
    try:
        while time.monotonic() < deadline:
            await asyncio.to_thread(pipeline.revive)
            try:
                report = await _check(pipeline, reader, names, ids)
            except Exception as error:  # noqa: BLE001 - a service may be restarting; the next poll retries
                logger.warning("Checking the outcomes failed, retrying: %s", error)
                await asyncio.sleep(POLL_INTERVAL)
                continue

            done = report.accounted == report.published
            logger.info("Accounted for %d of %d messages", report.accounted, report.published)
            if done and previous == report.summary():
                return report
            previous = report.summary() if done else None

            if report.accounted != accounted:
                accounted, changed_at = report.accounted, time.monotonic()
            elif time.monotonic() - changed_at > stall_seconds:
                logger.warning("No message accounted for in %.0f s; %d are missing", stall_seconds, report.published - accounted)
                return report
            await asyncio.sleep(POLL_INTERVAL)
    finally:
        await reader.stop()

    logger.warning("Timed out after %.0f s waiting for the outcomes", timeout)
    return report


async def _start_reader(reader: TopicReader, deadline: float) -> None:
    """Start ``reader``, trying again while Kafka is unreachable until ``deadline``."""
    while True:
        try:
            await reader.start()
            return
        except Exception as error:  # noqa: BLE001 - aiokafka raises several types while Kafka restarts
            if time.monotonic() > deadline:
                raise
            logger.warning("Connecting to Kafka failed, retrying: %s", error)
            await reader.stop()
            await asyncio.sleep(POLL_INTERVAL)


async def _check(pipeline: FaultPipeline, reader: TopicReader, names: Sequence[str], ids: Sequence[str]) -> VerifyReport:
    await reader.catch_up()
    records = {name: reader.records(name) for name in names}
    guids = {event.guid for event in all_job_events(records[pipeline.topics.raw_jobs], records[pipeline.topics.jobs])}
    keys = set(push_keys_by_id(records[pipeline.topics.pushes]).values())
    stored = await read_stored_rows(pipeline.settings.database.url, guids, keys)
    return build_report(ids, pipeline.topics, records, stored)


def settle_and_verify(
    pipeline: FaultPipeline,
    ids: Sequence[str],
    timeout: float,
    stall_seconds: float = STALL_SECONDS,
) -> VerifyReport:
    """Wait for the outcomes, then run the verifier once on fresh reads of the topics and the database."""
    asyncio.run(wait_until_accounted(pipeline, ids, timeout, stall_seconds))
    return asyncio.run(verify(ids, pipeline.worker_settings, pipeline.settings.database.url))
