"""Command line of the fault runner (`python -m streams.faults`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import text

from streams.errors import ConfigurationError
from streams.faults.pipeline import FaultPipeline
from streams.faults.runner import RunResult, run_faults
from streams.faults.schedule import plan_faults
from streams.faults.services import SERVICES, check_same_stack, run_addresses
from streams.faults.workload import build_workload
from streams.main_job.settings import load_run_settings
from streams.sinks.database.engine import create_database_engine

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m streams.faults",
        description=(
            "Publish a seeded stream of pushes and job events through a bridge and two workers while "
            "SIGKILLing them and restarting Kafka, RabbitMQ and PostgreSQL, then run the verifier. "
            "Every address comes from KAFKA_BOOTSTRAP_SERVERS, PULSE_URL and DATABASE_URL, and the "
            "restarted services from the PULSE_STACK_* variables, which must name the same stack. "
            "Exits 0 when the verifier finds nothing, 1 on findings, 2 on invalid settings."
        ),
    )
    parser.add_argument("--events", type=int, default=50_000, help="job events to publish (default 50000)")
    parser.add_argument("--pushes", type=int, default=2000, help="pushes the events are spread over (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the workload and of the fault times (default 1)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=3600.0,
        help="seconds after which publishing and waiting stop and the verifier runs (default 3600)",
    )
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=180.0,
        help="seconds without a newly accounted message after which waiting stops and the verifier runs (default 180)",
    )
    parser.add_argument("--rate", type=float, default=250.0, help="messages published per second (default 250)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the pipeline (default 2)")
    parser.add_argument("--bridge-kills", type=int, default=3, help="SIGKILLs of the bridge (default 3)")
    parser.add_argument("--worker-kills", type=int, default=3, help="SIGKILLs of a worker (default 3)")
    parser.add_argument(
        "--restart",
        nargs="*",
        choices=SERVICES,
        default=list(SERVICES),
        help="services restarted once each (default: kafka rabbitmq postgres; give none to skip)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's database schema (default: dropped)")
    parser.add_argument("--log-level", default="info", help="log level of the runner (default info)")
    args = parser.parse_args(argv)

    if args.events < 1 or args.pushes < 1 or args.events < args.pushes:
        parser.error("--events and --pushes must be positive, with at least one event per push")
    if args.workers < 1 or args.rate <= 0 or args.max_seconds <= 0 or args.stall_seconds <= 0:
        parser.error("--workers, --rate, --max-seconds and --stall-seconds must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run one fault run and print its figures; return the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

    environ = dict(os.environ)
    environ.setdefault("PUSH_ENRICHMENT", "false")
    environ.setdefault("PUSHLOG_POLL_INTERVAL", "0")
    run_id = "faults-" + uuid.uuid4().hex[:10]
    schema = run_id.replace("-", "_")

    # SIGTERM ends the run like Ctrl-C, so every subprocess is still stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)

    try:
        check_loopback(environ)
        if args.restart:
            check_same_stack(environ)
        settings = load_run_settings(environ, args.max_seconds, run_id=run_id)
    except (ConfigurationError, RuntimeError) as error:
        print(f"streams.faults: {error}", file=sys.stderr)
        return 2

    base_url = settings.database.url
    asyncio.run(_execute(base_url, f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    run_environ = {**environ, "DATABASE_URL": f"{base_url}{separator}search_path={schema}"}
    settings = load_run_settings(run_environ, args.max_seconds, run_id=run_id)

    workload = build_workload(args.events, args.pushes, args.seed)
    faults = plan_faults(args.seed, args.bridge_kills, args.worker_kills, args.workers, tuple(args.restart))
    print(f"Run {run_id} on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {workload.describe()}", flush=True)
    print("Planned faults: " + ", ".join(f"{fault.label} at {fault.trigger:.0%}" for fault in faults), flush=True)

    pipeline = FaultPipeline(settings, args.workers)
    try:
        pipeline.start()
        result = run_faults(pipeline, workload, faults, args.rate, args.max_seconds, run_environ, args.stall_seconds)
    finally:
        pipeline.stop()
        if not args.keep:
            asyncio.run(_execute(base_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    print(format_result(result), flush=True)
    return 0 if result.report is not None and result.report.ok and not result.unplanned_exits else 1


def format_result(result: RunResult) -> str:
    """Return the figures of a run: workload, faults with times, duration and the verifier's counts."""
    lines = [f"Workload: {result.workload.describe()}; {len(result.workload.messages)} messages"]
    if result.publish is not None:
        lines.append(
            f"Published {result.publish.confirmed} messages in {result.published_seconds:.0f} s; "
            f"{result.publish.republished} published again after a broker error"
        )
    lines.append(f"Faults injected: {len(result.faults)}")
    for fault in result.faults:
        outcome = f" FAILED: {fault.error}" if fault.error else ""
        lines.append(f"  {fault.at:7.1f} s  {fault.label} (took {fault.took:.1f} s){outcome}")
    lines.append(f"Processes that exited on their own: {len(result.unplanned_exits)}")
    lines.extend(f"  {text}" for text in result.unplanned_exits)
    lines.append(f"Duration: {result.seconds:.0f} s")

    report = result.report
    if report is None:
        lines.append("Verifier: no report")
    else:
        lines.append(
            f"Verifier: published {report.published}, stored {report.stored}, dead-lettered "
            f"{report.dead_lettered}, lost {len(report.lost)}, duplicated {len(report.duplicate_jobs) + len(report.duplicate_pushes)}, "
            f"regressed {len(report.regressions)}, state mismatches {len(report.state_mismatches)}"
        )
        lines.append(json.dumps(report.summary(), sort_keys=True))
    return "\n".join(lines)


def check_loopback(environ: dict[str, str]) -> None:
    """Raise RuntimeError unless Kafka, RabbitMQ and PostgreSQL are all on 127.0.0.1."""
    for name, address in run_addresses(environ).items():
        host = address.rpartition(":")[0]
        if host not in LOOPBACK_HOSTS:
            raise RuntimeError(f"{name} is at {address}; the fault runner only runs against services on 127.0.0.1")


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


async def _execute(url: str, statement: str) -> None:
    engine = create_database_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()
