"""One run of the main job: start the lookup server, bridge and worker, publish, account, summarize, clean up."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from streams.config import TopicNames, WorkerSettings
from streams.main_job import broker
from streams.main_job.accounting import Accounting, account, compare_with_expected
from streams.main_job.database import read_stored_run
from streams.main_job.enrichment import moved_heads
from streams.main_job.lookups import lookup_server
from streams.main_job.observe import TopicReader, WorkerCounts, observed_topics, read_worker_counts
from streams.main_job.processes import ManagedProcess, child_env
from streams.main_job.settings import RunSettings
from streams.main_job.summary import RunReport, format_summary
from streams.samples import ExpectedOutcome
from streams.sinks.database import upgrade_database
from streams.topics import ensure_topics

logger = logging.getLogger(__name__)

# Seconds between two progress lines while waiting.
POLL_INTERVAL = 2.0

# Seconds the bridge gets to declare and consume its queues.
BRIDGE_START_TIMEOUT = 60.0

# Consecutive settled polls with equal counts before a run counts as finished. The topics and
# the metrics are read at different moments, so one balanced poll could be a coincidence.
SETTLED_POLLS = 2


@dataclass(frozen=True)
class RunOutcome:
    """Exit code and summary text of a run."""

    exit_code: int
    summary: str


async def run_job(
    settings: RunSettings,
    messages_file: Path,
    expected: list[ExpectedOutcome] | None,
    keep_topics: bool,
) -> RunOutcome:
    """Run the whole flow. Every exit path stops the subprocesses and the lookup server and deletes the run's queues."""
    worker_settings = settings.worker_settings(child_env({}))
    topics = worker_settings.topics
    messages = broker.load_messages(messages_file, settings.run_id)
    lookups = lookup_server()

    await upgrade_database(settings.database.url)
    await ensure_topics(worker_settings)

    # The worker sends every lookup to this server on 127.0.0.1, so a run contacts no other host.
    await lookups.start()
    print(f"Serving the bundled lookup responses on {lookups.url}", flush=True)
    worker = ManagedProcess(
        "worker",
        [sys.executable, "-m", "streams.cli", "--skip-migrations"],
        child_env(settings.worker_env(lookups.url)),
        settings.run_dir / "worker.log",
    )
    bridge = ManagedProcess(
        "bridge",
        [sys.executable, "-m", "bridge.cli", "--pushes", "--jobs"],
        child_env(settings.bridge_env()),
        settings.run_dir / "bridge.log",
    )
    reader = TopicReader(settings.bootstrap_servers, observed_topics(topics), worker_settings.topic_partitions)

    try:
        with ExitStack() as processes:
            processes.enter_context(worker)
            processes.enter_context(bridge)
            processes.callback(_delete_queues, settings)

            await asyncio.to_thread(
                broker.wait_for_consumers,
                settings.pulse_url,
                settings.amqp_queue_names(),
                BRIDGE_START_TIMEOUT,
                lambda: bridge.exit_code() is None,
            )

            started = time.monotonic()
            result = await asyncio.to_thread(broker.publish, settings.pulse_url, messages)
            print(
                f"Published {result.published} messages to {settings.pulse_url.masked()}: "
                f"{result.nacked} rejected by the broker, {result.returned} unroutable",
                flush=True,
            )

            await reader.start()
            accounting = await _wait_until_settled(settings, reader, topics, len(messages), (worker, bridge))
            elapsed = time.monotonic() - started
    finally:
        await reader.stop()
        await lookups.stop()

    report = await _build_report(settings, reader, accounting, expected, elapsed, len(lookups.requests))
    summary = format_summary(report)

    healthy = result.nacked == 0 and result.returned == 0
    stored_ok = report.stored is not None and not report.stored.missing
    expected_ok = report.expectation is None or report.expectation.matches
    exit_code = 0 if healthy and accounting.settled and stored_ok and expected_ok else 1

    if exit_code == 0 and not keep_topics:
        await _delete_run_topics(settings, worker_settings)
        shutil.rmtree(settings.run_dir / "worker", ignore_errors=True)
    else:
        summary += f"\nTopics kept: TOPIC_PREFIX={settings.topic_prefix!r}; logs in {settings.run_dir}"
    return RunOutcome(exit_code, summary)


async def _wait_until_settled(
    settings: RunSettings,
    reader: TopicReader,
    topics: TopicNames,
    published: int,
    processes: tuple[ManagedProcess, ...],
) -> Accounting:
    """Poll the topics and metrics until the run settles, a subprocess exits, or the timeout passes."""
    deadline = time.monotonic() + settings.timeout
    previous: Accounting | None = None
    settled_polls = 0

    while True:
        await reader.catch_up()
        counts = await asyncio.to_thread(read_worker_counts, settings.metrics_port) or WorkerCounts(0, 0)
        records = {name: reader.records(name) for name in reader.contents}
        accounting = account(settings.run_id, published, topics, records, counts)
        print(f"  {accounting.progress_line()}", flush=True)

        if accounting.settled and accounting == previous:
            settled_polls += 1
        else:
            settled_polls = 1 if accounting.settled else 0
        if settled_polls >= SETTLED_POLLS:
            return accounting

        for process in processes:
            code = process.exit_code()
            if code is not None:
                logger.error("%s exited with code %s; last lines:\n%s", process.name, code, process.tail())
                return accounting

        if time.monotonic() > deadline:
            logger.error("Timed out after %.0f s with %d messages unaccounted for", settings.timeout, accounting.unaccounted)
            return accounting

        previous = accounting
        await asyncio.sleep(POLL_INTERVAL)


async def _build_report(
    settings: RunSettings,
    reader: TopicReader,
    accounting: Accounting,
    expected: list[ExpectedOutcome] | None,
    elapsed: float,
    lookup_requests: int,
) -> RunReport:
    names = settings.topics()
    accepted_pushes = reader.records(names.accepted_pushes)
    accepted_jobs = reader.records(names.accepted_jobs)
    dead_letters = reader.records(names.dead_letter)

    stored = await read_stored_run(settings.database.url, accepted_pushes, accepted_jobs)
    expectation = (
        compare_with_expected(settings.run_id, accounting, accepted_pushes, dead_letters, expected)
        if expected is not None
        else None
    )
    return RunReport(
        run_name=settings.name,
        database=settings.database.masked_url,
        accounting=accounting,
        accepted_pushes=accepted_pushes,
        accepted_jobs=accepted_jobs,
        dead_letters=dead_letters,
        moved_heads=moved_heads(reader.records(names.pushes), reader.records(names.push_enrichment)),
        lookup_requests=lookup_requests,
        stored=stored,
        expectation=expectation,
        elapsed=elapsed,
    )


def _delete_queues(settings: RunSettings) -> None:
    try:
        broker.delete_queues(settings.pulse_url, settings.amqp_queue_names())
    except Exception as error:  # noqa: BLE001 - cleanup must not hide the run's own result
        logger.warning("Deleting the run's queues failed: %s", error)


async def _delete_run_topics(settings: RunSettings, worker_settings: WorkerSettings) -> None:
    """Delete every topic whose name starts with the run's name, Faust's changelogs included."""
    admin = AIOKafkaAdminClient(bootstrap_servers=list(worker_settings.bootstrap_servers))
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(settings.name)]
        if names:
            await admin.delete_topics(names)
            logger.info("Deleted %d topics of run %s", len(names), settings.name)
    finally:
        await admin.close()
