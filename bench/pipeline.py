"""Benchmark: pipeline jobs/s, publish-to-accepted latency and raw baselines, in one run.

Measures, one after the other on the local stack (``pulse-stack up``):

1. raw baselines: an aiokafka consume-and-produce passthrough, a bare Faust agent that
   forwards each record (Faust's own sends, each send awaited, and batches taken and sent
   as the worker does), and a bare kombu consumer;
2. the pipeline: pushes pre-loaded, then N raw job records with the bridge's headers,
   timed until the accepted-jobs topic has all N (the database row of each job is
   committed before its accepted record is sent), for each worker count;
3. latency from publishing to RabbitMQ, through the real bridge, to the accepted record,
   at one or more fixed offered rates, after the throughput phase of each worker count in
   ``--latency-workers`` (default: the first of ``--workers``), on the same running workers.

Every topic, consumer group, queue and Faust app id of a run starts with
``bench-pipeline-<random>``; the topics and queues are deleted at the end. Prints a JSON
report with the pipeline-to-baseline ratios to stdout.

Usage: .venv/bin/python bench/pipeline.py [--jobs 20000] [--workers 1 2] [--latency-rate 80 1000] [--latency-workers 2] [--output FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.pipeline_bench.faust_baseline import measure_faust_forward  # noqa: E402
from bench.pipeline_bench.kafka_tools import delete_topics_with_prefix  # noqa: E402
from bench.pipeline_bench.kombu_consumer import measure_kombu_consumer, routing_messages  # noqa: E402
from bench.pipeline_bench.messages import JOB_EXCHANGE, job_bodies, job_records, new_revisions, push_records  # noqa: E402
from bench.pipeline_bench.passthrough import measure_passthrough  # noqa: E402
from bench.pipeline_bench.pipeline_run import LatencyPlan, PipelinePlan, guids_of, run_pipeline  # noqa: E402
from bench.pipeline_bench.profile_summary import summarize  # noqa: E402
from bridge.urls import parse_pulse_url  # noqa: E402
from streams.sinks.database import upgrade_database  # noqa: E402

logger = logging.getLogger("bench.pipeline")

DEFAULT_PULSE_URL = "amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://pulse_ingest:pulse_ingest@127.0.0.1:19432/pulse_ingest"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20000, help="job events per throughput run and baseline (count, default 20000)")
    parser.add_argument("--pushes", type=int, default=100, help="pushes pre-loaded before the jobs; jobs are spread over them (count, default 100)")
    parser.add_argument("--partitions", type=int, default=8, help="partitions of every topic (count, default 8)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="worker process counts to measure, each on fresh topics (count, default 1)")
    parser.add_argument("--kombu-messages", type=int, default=20000, help="messages of the kombu consumer baseline (count, default 20000)")
    parser.add_argument("--latency-rate", type=float, nargs="+", default=[1000.0], help="offered publish rates of the latency runs, measured one after the other in the given order (jobs per second, default 1000)")
    parser.add_argument("--latency-workers", type=int, nargs="+", help="worker counts, each one of --workers, whose pipeline runs also measure latency on their running workers (count, default: the first --workers value)")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="publishing time of each latency run (seconds, default 20)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="wait after the last publish of each latency run for late jobs (seconds, default 120)")
    parser.add_argument("--timeout", type=float, default=600.0, help="limit of each throughput phase (seconds, default 600)")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples of the first worker during the first pipeline run (per second, default 100; 0 disables). py-spy pauses the worker for each sample, so take the throughput figure from a run with 0")
    parser.add_argument("--skip-latency", action="store_true", help="do not run the latency measurement")
    parser.add_argument("--skip-awaited-faust", action="store_true", help="do not run the Faust baseline that awaits each send")
    parser.add_argument("--output", type=Path, help="also write the JSON report to this file")
    parser.add_argument("--keep", action="store_true", help="keep the run folder with logs and the profile under var/bench/")
    args = parser.parse_args(argv)

    try:
        args.latency_workers = latency_worker_counts(args.workers, args.latency_workers)
    except ValueError as error:
        parser.error(str(error))
    return args


def latency_worker_counts(workers: list[int], requested: list[int] | None) -> list[int]:
    """Select the worker counts whose runs measure latency: ``requested``, or the first of ``workers``.

    Raises ValueError when a requested count has no pipeline run in ``workers``, because the
    latency phase reuses the workers that the throughput phase started.
    """
    if requested is None:
        return [workers[0]]

    missing = sorted(set(requested) - set(workers))
    if missing:
        raise ValueError(
            f"--latency-workers {' '.join(map(str, missing))} is missing from --workers {' '.join(map(str, workers))}. "
            "Add each latency worker count to --workers."
        )
    return requested


def _rate(count: int, seconds: float | None) -> float | None:
    return round(count / seconds, 1) if seconds else None


def _ratio(value: float | None, baseline: float | None) -> float | None:
    return round(value / baseline, 3) if value and baseline else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement and return the report."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    pulse_url_text = os.environ.get("PULSE_URL", DEFAULT_PULSE_URL)
    pulse_url = parse_pulse_url(pulse_url_text)
    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    name = f"bench-pipeline-{secrets.token_hex(4)}"
    run_dir = REPO_ROOT / "var" / "bench" / name
    run_dir.mkdir(parents=True, exist_ok=True)
    logger.info("Run %s, folder %s", name, run_dir)

    revisions = new_revisions(args.pushes)
    bodies = job_bodies(args.jobs, revisions)
    records = job_records(bodies, name)
    report: dict[str, Any] = {"run": name, "jobs": args.jobs, "pushes": args.pushes, "partitions": args.partitions, "load_average": os.getloadavg()}

    try:
        logger.info("Baseline: aiokafka passthrough")
        seconds = await measure_passthrough(bootstrap, f"{name}.pass.", records, args.partitions, args.timeout)
        report["aiokafka_passthrough_per_second"] = _rate(args.jobs, seconds)

        logger.info("Baseline: bare Faust forwarding agent, one Faust send per event")
        seconds = await measure_faust_forward(bootstrap, f"{name}.fwd.", records, args.partitions, "each", run_dir, args.timeout)
        report["faust_forward_per_second"] = _rate(args.jobs, seconds)

        logger.info("Baseline: bare Faust forwarding agent, batches taken and sent like the worker's")
        seconds = await measure_faust_forward(bootstrap, f"{name}.fwdbatch.", records, args.partitions, "batches", run_dir, args.timeout)
        report["faust_forward_batches_per_second"] = _rate(args.jobs, seconds)

        if not args.skip_awaited_faust:
            logger.info("Baseline: bare Faust forwarding agent, each send awaited")
            seconds = await measure_faust_forward(bootstrap, f"{name}.fwdawait.", records, args.partitions, "awaited", run_dir, args.timeout)
            report["faust_forward_awaited_per_second"] = _rate(args.jobs, seconds)

        logger.info("Baseline: bare kombu consumer")
        messages = routing_messages(JOB_EXCHANGE, [record.value for record in records[: args.kombu_messages]], f"{name}.kombu")
        seconds = await asyncio.to_thread(measure_kombu_consumer, pulse_url, f"queue/{pulse_url.user}/{name}-kombu", messages, 500, args.timeout)
        report["kombu_consumer_per_second"] = _rate(len(messages), seconds)

        await upgrade_database(database_url)
        report["pipeline"] = []
        for index, workers in enumerate(args.workers):
            logger.info("Pipeline with %d worker(s)", workers)
            profile = run_dir / "worker-profile.txt" if index == 0 and args.profile_rate > 0 else None
            plan = PipelinePlan(
                name=f"{name}-w{workers}",
                workers=workers,
                partitions=args.partitions,
                bootstrap=bootstrap,
                database_url=database_url,
                run_dir=run_dir / f"w{workers}",
                push_records=push_records(revisions),
                job_records=records,
                guids=guids_of(bodies),
                timeout=args.timeout,
                profile_path=profile,
                profile_rate=args.profile_rate,
            )
            latency = None
            if workers in args.latency_workers and not args.skip_latency:
                latency = LatencyPlan(pulse_url, pulse_url_text, revisions, tuple(args.latency_rate), args.latency_seconds, args.drain_timeout)
            result = await run_pipeline(plan, latency)
            entry = asdict(result)
            entry["ratio_to_faust_forward"] = _ratio(result.jobs_per_second, report.get("faust_forward_per_second"))
            entry["ratio_to_faust_forward_batches"] = _ratio(result.jobs_per_second, report.get("faust_forward_batches_per_second"))
            entry["ratio_to_faust_forward_awaited"] = _ratio(result.jobs_per_second, report.get("faust_forward_awaited_per_second"))
            entry["ratio_to_aiokafka_passthrough"] = _ratio(result.jobs_per_second, report.get("aiokafka_passthrough_per_second"))
            report["pipeline"].append(entry)
            report["load_average_after"] = os.getloadavg()

            if profile is not None and profile.exists():
                summary = summarize(profile)
                report["profile"] = asdict(summary)
                report["profile"]["file"] = str(profile)
    finally:
        await delete_topics_with_prefix(bootstrap, name)
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)

    return report


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON report."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(name)s: %(message)s", stream=sys.stderr)
    report = asyncio.run(run(args))

    text = json.dumps(report, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
