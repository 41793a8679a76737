"""Benchmark: CPU time per record of TopicPublisher.publish_many against Faust's per-record sends."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from stack.config import StackConfig  # noqa: E402
from streams.agents.publish import OutgoingRecord, TopicPublisher, encode_json  # noqa: E402
from streams.agents.retry import Backoff  # noqa: E402
from streams.app import create_faust_app  # noqa: E402
from streams.config import WorkerSettings  # noqa: E402

logger = logging.getLogger("bench.publish_many")

# Both variants send the same calls of keyed job records to one fresh topic, through a
# Faust app built with the worker's producer settings, and wait for every delivery report
# before the next call. Each record is the first record of tests/data/treeherder/
# job_data.json with a sequence number, about 1.3 KB of JSON. The Faust variant sends each
# record with `Topic.send(..., force=True)` and then gathers the delivery futures, as
# publish_many did before it built record batches itself.
#
# CPU time is the user and system time of this process, so it includes JSON encoding and
# aiokafka's sender. It depends less on the other processes of a shared machine than the
# wall time, which the report gives as records per second. Needs the local stack
# (`pulse-stack up`), and deletes its topic at the end.
#
# Usage: .venv/bin/python bench/publish_many.py [--calls 40] [--records 500] [--keys 100]
#        [--repeats 3] [--output FILE]

JOB_SAMPLES = REPO_ROOT / "tests" / "data" / "treeherder" / "job_data.json"
PARTITIONS = 8


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=40, help="publish calls per measurement (count, default 40)")
    parser.add_argument("--records", type=int, default=500, help="records per call (count, default 500)")
    parser.add_argument("--keys", type=int, default=100, help="distinct record keys, one per revision (count, default 100)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each variant, alternating (count, default 3)")
    parser.add_argument("--output", type=Path, help="also write the JSON report to this file")
    return parser.parse_args(argv)


def job_records(count: int, keys: int) -> list[OutgoingRecord]:
    """Return ``count`` job records keyed by ``keys`` revisions in turn."""
    sample = json.loads(JOB_SAMPLES.read_text(encoding="utf-8"))[0]
    revisions = [secrets.token_hex(20) for _ in range(keys)]
    return [
        OutgoingRecord(
            f"autoland/{revisions[index % keys]}",
            {**sample, "sequence": index},
            f"bench[0]@{index}",
            {"pulse.exchange": "exchange/taskcluster-treeherder/v1/jobs"},
        )
        for index in range(count)
    ]


async def send_per_record(topic: Any, records: Sequence[OutgoingRecord]) -> None:
    """Send each record with Faust's ``Topic.send`` and wait for all delivery reports."""
    deliveries = []
    for record in records:
        key = record.key.encode("utf-8") if isinstance(record.key, str) else record.key
        headers = [(name, text.encode("utf-8")) for name, text in (record.headers or {}).items()]
        deliveries.append(
            await topic.send(key=key, value=encode_json(record.value), headers=headers, force=True)
        )
    await asyncio.gather(*deliveries)


async def measure(send: Callable[[], Awaitable[None]], calls: int, records: int) -> dict[str, float]:
    """Run ``send`` ``calls`` times; return the CPU microseconds per record and the records per second."""
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await send()
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    total = calls * records
    return {
        "cpu_microseconds_per_record": round(cpu / total * 1e6, 1),
        "records_per_second": round(total / wall, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Create the topic and the app, measure both variants and delete the topic."""
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or StackConfig.from_env().client_env()["KAFKA_BOOTSTRAP_SERVERS"]
    run_id = f"bench-publish-{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    await admin.create_topics([NewTopic(run_id, num_partitions=PARTITIONS, replication_factor=1)])

    with tempfile.TemporaryDirectory(prefix=run_id) as data_dir:
        settings = WorkerSettings.from_env(
            {"KAFKA_BOOTSTRAP_SERVERS": servers, "APP_ID": run_id, "DATA_DIR": data_dir}
        )
        app = create_faust_app(settings)
        topic = app.topic(run_id, partitions=PARTITIONS, key_serializer="raw", value_serializer="raw")
        publisher = TopicPublisher(topic, Backoff())
        records = job_records(args.records, args.keys)

        async def send_batches() -> None:
            results = await publisher.publish_many(records)
            rejected = [result for result in results if result is not None]
            if rejected:
                raise RuntimeError(f"publish_many rejected {len(rejected)} records: {rejected[0]}")

        variants: dict[str, Callable[[], Awaitable[None]]] = {
            "faust_per_record": lambda: send_per_record(topic, records),
            "publish_many": send_batches,
        }
        producer = await app.maybe_start_producer()
        try:
            for send in variants.values():
                await send()
            measurements: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for repeat in range(args.repeats):
                for name, send in variants.items():
                    result = await measure(send, args.calls, args.records)
                    logger.info("%s, measurement %d: %s", name, repeat + 1, result)
                    measurements[name].append(result)
        finally:
            await producer.stop()
            await admin.delete_topics([run_id])
            await admin.close()

    return {
        "calls": args.calls,
        "records_per_call": args.records,
        "keys": args.keys,
        "partitions": PARTITIONS,
        "load_average": list(os.getloadavg()),
        "measurements": measurements,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the JSON report."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
