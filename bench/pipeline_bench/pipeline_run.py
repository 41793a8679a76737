"""The pipeline measurement: pre-loaded pushes, then N raw jobs timed to the accepted-jobs topic."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.pipeline_bench.kafka_tools import TopicCounter, produce
from bench.pipeline_bench.latency import LatencyResult, measure_latency
from bench.pipeline_bench.messages import JOB_EXCHANGE, RawRecord, job_bodies, job_guid
from bench.pipeline_bench.processes import (
    READY_PREFIX,
    Profiler,
    bridge_process,
    rss_kib,
    wait_for_log_line,
    worker_plans,
    worker_process,
)
from bridge.urls import PulseUrl
from streams.config import WorkerSettings
from streams.main_job.broker import delete_queues
from streams.topics import ensure_topics

logger = logging.getLogger(__name__)

# Seconds a worker or the bridge gets to become ready.
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class PipelinePlan:
    """Settings and inputs of one pipeline measurement."""

    name: str
    workers: int
    partitions: int
    bootstrap: str
    database_url: str
    run_dir: Path
    push_records: list[RawRecord]
    job_records: list[RawRecord]
    guids: list[str]
    timeout: float
    profile_path: Path | None
    profile_rate: int


@dataclass(frozen=True)
class LatencyPlan:
    """The latency measurements that run on the same workers after the throughput one.

    Each offered rate gets its own jobs. The rates run in order, each after the previous one
    drained or its drain timeout passed.
    """

    pulse_url: PulseUrl
    pulse_url_text: str
    revisions: list[str]
    rates: tuple[float, ...]
    seconds: float
    drain_timeout: float


@dataclass(frozen=True)
class PipelineResult:
    """Figures of one pipeline measurement."""

    workers: int
    seconds: float | None
    jobs_per_second: float | None
    database_rows: int
    dead_letters: int
    worker_rss_mib: list[float]
    latency: list[LatencyResult]


async def count_job_rows(database_url: str, guids: list[str]) -> int:
    """Return how many of ``guids`` have a row in the `job` table."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM job WHERE guid = ANY($1::text[])", guids))
    finally:
        await connection.close()


async def run_pipeline(plan: PipelinePlan, latency: LatencyPlan | None) -> PipelineResult:
    """Start the workers, load the pushes, time the jobs, then measure latency when asked."""
    plans = worker_plans(plan.name, plan.workers, plan.partitions, plan.bootstrap, plan.database_url, plan.run_dir)
    settings = WorkerSettings.from_env(plans[0].env)
    topics = settings.topics
    await ensure_topics(settings)

    accepted_jobs = TopicCounter(plan.bootstrap, topics.accepted_jobs, plan.partitions)
    accepted_pushes = TopicCounter(plan.bootstrap, topics.accepted_pushes, plan.partitions)
    dead_letters = TopicCounter(plan.bootstrap, topics.dead_letter, plan.partitions)

    with ExitStack() as stack:
        workers = [stack.enter_context(worker_process(worker_plan)) for worker_plan in plans]
        for worker in workers:
            await asyncio.to_thread(wait_for_log_line, worker, READY_PREFIX, START_TIMEOUT)
        await accepted_jobs.start()
        await accepted_pushes.start()
        await dead_letters.start()
        try:
            await produce(plan.bootstrap, topics.raw_pushes, plan.push_records)
            if await accepted_pushes.wait_for(len(plan.push_records), plan.timeout) is None:
                raise TimeoutError(f"the workers did not accept {len(plan.push_records)} pushes within {plan.timeout:.0f} s")
            logger.info("%d pushes accepted; sending %d jobs", len(plan.push_records), len(plan.job_records))

            profiler = None
            if plan.profile_path is not None and workers[0].pid is not None:
                profiler = stack.enter_context(Profiler(workers[0].pid, plan.profile_path, plan.profile_rate))

            started = time.monotonic()
            await produce(plan.bootstrap, topics.raw_jobs, plan.job_records)
            finished = await accepted_jobs.wait_for(len(plan.job_records), plan.timeout)
            if profiler is not None:
                profiler.stop()

            seconds = None if finished is None else finished - started
            rows = await count_job_rows(plan.database_url, plan.guids)
            dead = await dead_letters.count()
            rss = [rss_kib(worker.pid) / 1024.0 for worker in workers if worker.pid is not None]

            latency_result: list[LatencyResult] = []
            if latency is not None:
                latency_result = await _run_latency(plan, latency, topics.raw_jobs, topics.accepted_jobs, stack)
        finally:
            await dead_letters.stop()
            await accepted_pushes.stop()
            await accepted_jobs.stop()

    return PipelineResult(
        workers=plan.workers,
        seconds=seconds,
        jobs_per_second=len(plan.job_records) / seconds if seconds else None,
        database_rows=rows,
        dead_letters=dead,
        worker_rss_mib=rss,
        latency=latency_result,
    )


async def _run_latency(plan: PipelinePlan, latency: LatencyPlan, raw_topic: str, accepted_topic: str, stack: ExitStack) -> list[LatencyResult]:
    """Start the bridge on the run's raw job topic and measure publish-to-accepted latency at each rate."""
    run_word = plan.name
    queue_name = f"{plan.name}-latency"
    env = {
        "PULSE_URL": latency.pulse_url_text,
        "KAFKA_BOOTSTRAP_SERVERS": plan.bootstrap,
        "PULSE_JOB_QUEUE_NAME": queue_name,
        "PULSE_JOB_SOURCES": f"{JOB_EXCHANGE}.{run_word}.#",
        "RAW_JOB_TOPIC": raw_topic,
        "BRIDGE_DATA_DIR": str(plan.run_dir / "bridge"),
    }
    full_queue = f"queue/{latency.pulse_url.user}/{queue_name}"
    stack.callback(_delete_queue, latency.pulse_url, full_queue)
    bridge = stack.enter_context(bridge_process(env, plan.run_dir / "bridge.log"))
    await asyncio.to_thread(wait_for_log_line, bridge, "consuming queue", START_TIMEOUT)

    results = []
    for rate in latency.rates:
        logger.info("Latency at %.0f jobs/s for %.0f s", rate, latency.seconds)
        bodies = job_bodies(int(rate * latency.seconds), latency.revisions)
        result = await measure_latency(
            latency.pulse_url,
            plan.bootstrap,
            accepted_topic,
            plan.partitions,
            bodies,
            rate,
            run_word,
            latency.drain_timeout,
        )
        logger.info("Latency at %.0f jobs/s: %d of %d arrived, p99 %s ms", rate, result.arrived, result.published, result.p99_ms)
        results.append(result)
    return results


def _delete_queue(url: PulseUrl, queue: str) -> None:
    try:
        delete_queues(url, [queue])
    except Exception as error:  # noqa: BLE001 - cleanup must not hide the measurement's result
        logger.warning("Deleting queue %s failed: %s", queue, error)


def guids_of(bodies: list[dict]) -> list[str]:
    """Return the job guids of pulse-job bodies."""
    return [job_guid(body) for body in bodies]
