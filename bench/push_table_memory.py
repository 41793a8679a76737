"""Benchmark: resident memory of one worker as its push table fills.

Produces ``--pushes`` small hg push records (unique revisions, one autoland push each) to
the raw push topic of a fresh set of topics, in ``--steps`` equal chunks. After each chunk
it waits until the accepted-pushes topic has every push (the worker stored the push in its
table and the database first), then reads VmRSS from /proc/<pid>/status. The growth per
push from the first to the last sample gives an estimated RSS at ``--estimate-at`` pushes.
Needs the local stack; topics and the worker's data folder are deleted at the end.

Usage: .venv/bin/python bench/push_table_memory.py [--pushes 20000] [--steps 5] [--output FILE]
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
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.pipeline_bench.kafka_tools import TopicCounter, delete_topics_with_prefix, produce  # noqa: E402
from bench.pipeline_bench.messages import new_revisions, push_records  # noqa: E402
from bench.pipeline_bench.processes import READY_PREFIX, rss_kib, wait_for_log_line, worker_plans, worker_process  # noqa: E402
from streams.config import WorkerSettings  # noqa: E402
from streams.sinks.database import upgrade_database  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

logger = logging.getLogger("bench.push_table_memory")

DEFAULT_DATABASE_URL = "postgresql+asyncpg://pulse_ingest:pulse_ingest@127.0.0.1:19432/pulse_ingest"

# Seconds the worker gets to become ready.
START_TIMEOUT = 120.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=20000, help="pushes to store (count, default 20000)")
    parser.add_argument("--steps", type=int, default=5, help="chunks, with one RSS reading after each (count, default 5)")
    parser.add_argument("--partitions", type=int, default=8, help="partitions of every topic (count, default 8)")
    parser.add_argument("--estimate-at", type=int, default=1_000_000, help="push count of the linear RSS estimate (count, default 1000000)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="limit of each chunk (seconds, default 1800)")
    parser.add_argument("--output", type=Path, help="also write the JSON report to this file")
    return parser.parse_args(argv)


def _folder_bytes(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fill the push table chunk by chunk and sample the worker's RSS."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    name = f"bench-pushmem-{secrets.token_hex(4)}"
    run_dir = REPO_ROOT / "var" / "bench" / name

    plan = worker_plans(name, 1, args.partitions, bootstrap, database_url, run_dir)[0]
    settings = WorkerSettings.from_env(plan.env)
    await upgrade_database(database_url)
    await ensure_topics(settings)

    records = push_records(new_revisions(args.pushes))
    chunk = max(1, args.pushes // args.steps)
    counter = TopicCounter(bootstrap, settings.topics.accepted_pushes, args.partitions)
    samples: list[dict[str, float]] = []
    started = time.monotonic()

    try:
        with worker_process(plan) as worker:
            await asyncio.to_thread(wait_for_log_line, worker, READY_PREFIX, START_TIMEOUT)
            await counter.start()
            try:
                assert worker.pid is not None
                samples.append({"pushes": 0, "rss_mib": rss_kib(worker.pid) / 1024.0, "seconds": 0.0})

                for first in range(0, args.pushes, chunk):
                    batch = records[first : first + chunk]
                    await produce(bootstrap, settings.topics.raw_pushes, batch)
                    stored = first + len(batch)
                    if await counter.wait_for(stored, args.timeout) is None:
                        raise TimeoutError(f"the worker stored fewer than {stored} pushes within {args.timeout:.0f} s")

                    rss = rss_kib(worker.pid) / 1024.0
                    elapsed = time.monotonic() - started
                    samples.append({"pushes": stored, "rss_mib": rss, "seconds": round(elapsed, 1)})
                    logger.info("%d pushes stored after %.0f s, RSS %.1f MiB", stored, elapsed, rss)
                data_bytes = _folder_bytes(run_dir)
            finally:
                await counter.stop()
    finally:
        await delete_topics_with_prefix(bootstrap, name)
        shutil.rmtree(run_dir, ignore_errors=True)

    first_sample, last_sample = samples[1], samples[-1]
    growth = (last_sample["rss_mib"] - first_sample["rss_mib"]) / max(1, last_sample["pushes"] - first_sample["pushes"])
    return {
        "run": name,
        "pushes": args.pushes,
        "partitions": args.partitions,
        "load_average": os.getloadavg(),
        "samples": samples,
        "pushes_per_second": round(args.pushes / last_sample["seconds"], 1),
        "rss_growth_kib_per_push": round(growth * 1024.0, 4),
        "estimate_at": args.estimate_at,
        "estimated_rss_mib": round(last_sample["rss_mib"] + growth * (args.estimate_at - last_sample["pushes"]), 1),
        "data_dir_bytes": data_bytes,
    }


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
