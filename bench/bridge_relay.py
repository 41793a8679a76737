"""Benchmark: the bridge's relay rate against a bare kombu-to-aiokafka baseline, in one run.

Both runs start with the same number of messages of the same size waiting in a
fresh durable queue. The bridge run starts ``pulse-bridge --jobs`` as a process
and times from "consuming queue" in its log to the last record read back from
Kafka. The baseline consumes with kombu (py-amqp), acks every delivery at once
and sends it with an AIOKafkaProducer built from the bridge's producer settings,
and times from the first delivery to the last send confirmation. Needs the local
stack (``pulse-stack up``).

Usage: python bench/bridge_relay.py [--messages 20000] [--size 1024] [--prefetch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kombu import Connection

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bridge.producer import producer_settings  # noqa: E402
from bridge.publish import OutgoingMessage, publish_messages  # noqa: E402
from bridge.urls import PulseUrl, parse_pulse_url  # noqa: E402

EXCHANGE = "exchange/taskcluster-treeherder/v1/jobs"


def make_messages(count: int, size: int) -> list[OutgoingMessage]:
    """Pulse-job-like JSON messages padded to about ``size`` bytes."""
    messages = []
    for index in range(count):
        body = {"taskId": f"task-{index % 5000}/0", "seq": index, "pad": ""}
        padding = max(0, size - len(json.dumps(body)))
        body["pad"] = "x" * padding
        messages.append(
            OutgoingMessage(EXCHANGE, f"tc-treeherder.v2.bench.{index}", json.dumps(body).encode(), message_id=f"m-{index}")
        )
    return messages


def fill_queue(url: PulseUrl, queue: str, messages: list[OutgoingMessage]) -> None:
    """Declare a durable queue bound like the bridge's job queue and publish the messages into it."""
    with _connection(url) as connection:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, auto_delete=False)
        channel.queue_bind(queue, EXCHANGE, routing_key="#.bench.#")
    publish_messages(url, messages)


def delete_queue(url: PulseUrl, queue: str) -> None:
    """Remove a benchmark queue."""
    with _connection(url) as connection:
        connection.channel().queue_delete(queue)


def run_bridge(url_text: str, bootstrap: str, suffix: str, count: int, size: int, prefetch: int, workdir: Path) -> float:
    """Time the bridge process relaying ``count`` waiting messages; return seconds."""
    queue_name = f"bench-bridge-{suffix}"
    topic = f"bench-bridge-{suffix}"
    url = parse_pulse_url(url_text)
    queue = f"queue/{url.user}/{queue_name}"
    fill_queue(url, queue, make_messages(count, size))

    env = {
        **os.environ,
        "PULSE_URL": url_text,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "PULSE_JOB_QUEUE_NAME": queue_name,
        "PULSE_JOB_SOURCES": f"{EXCHANGE}.bench.#",
        "RAW_JOB_TOPIC": topic,
        "BRIDGE_PREFETCH": str(prefetch),
        "BRIDGE_DATA_DIR": str(workdir / "data"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    log_path = workdir / "bridge.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bridge.cli", "--jobs"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while "consuming queue" not in log_path.read_text(errors="replace"):
            if process.poll() is not None:
                raise SystemExit(f"bridge exited:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.01)
        started = time.monotonic()
        asyncio.run(wait_for_records(bootstrap, topic, count))
        return time.monotonic() - started
    finally:
        process.terminate()
        process.wait(60)
        delete_queue(url, queue)


async def wait_for_records(bootstrap: str, topic: str, count: int) -> None:
    """Read the topic until ``count`` records arrived."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    seen = 0
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=200)
            seen += sum(len(records) for records in batch.values())
    finally:
        await consumer.stop()


def run_baseline(url_text: str, bootstrap: str, suffix: str, count: int, size: int, prefetch: int) -> float:
    """Time a bare consumer that acks at once and a bare producer; return seconds."""
    url = parse_pulse_url(url_text)
    queue = f"queue/{url.user}/bench-baseline-{suffix}"
    topic = f"bench-baseline-{suffix}"
    fill_queue(url, queue, make_messages(count, size))
    try:
        return asyncio.run(_baseline(url, bootstrap, queue, topic, count, prefetch))
    finally:
        delete_queue(url, queue)


async def _baseline(url: PulseUrl, bootstrap: str, queue: str, topic: str, count: int, prefetch: int) -> float:
    loop = asyncio.get_running_loop()
    producer = AIOKafkaProducer(**producer_settings(bootstrap))
    await producer.start()
    futures: list[asyncio.Future[Any]] = []
    first: list[float] = []
    done = asyncio.Event()

    async def send(body: bytes, key: bytes) -> None:
        futures.append(await producer.send(topic, value=body, key=key))
        if len(futures) == count:
            done.set()

    def consume() -> None:
        received = 0
        with _connection(url) as connection:
            channel = connection.channel()
            channel.auto_decode = False
            channel.basic_qos(0, prefetch, False)

            def on_message(message: Any) -> None:
                nonlocal received
                if not first:
                    first.append(time.monotonic())
                channel.basic_ack(message.delivery_info["delivery_tag"])
                received += 1
                asyncio.run_coroutine_threadsafe(send(bytes(message.body), b"k"), loop)

            channel.basic_consume(queue, callback=on_message)
            while received < count:
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:
                    pass

    thread = threading.Thread(target=consume)
    thread.start()
    await done.wait()
    await asyncio.gather(*futures)
    elapsed = time.monotonic() - first[0]
    await asyncio.to_thread(thread.join)
    await producer.stop()
    return elapsed


def _connection(url: PulseUrl) -> Connection:
    return Connection(hostname=url.host, port=url.port, userid=url.user, password=url.password, virtual_host=url.vhost)


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages per run (default 20000)")
    parser.add_argument("--size", type=int, default=1024, help="body size in bytes (default 1024)")
    parser.add_argument("--prefetch", type=int, default=500, help="AMQP prefetch of both runs (default 500)")
    return parser.parse_args()


def main() -> None:
    """Run the baseline, then the bridge, and print both rates and their ratio."""
    args = parse_args()
    url = os.environ.get("PULSE_URL", "amqp://pulse-local:pulse-local@127.0.0.1:19672/pulse")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    suffix = uuid.uuid4().hex[:8]
    workdir = Path("/tmp") / f"bench-bridge-{suffix}"
    workdir.mkdir(parents=True)

    count = args.messages
    baseline = run_baseline(url, bootstrap, suffix, count, args.size, args.prefetch)
    bridge = run_bridge(url, bootstrap, suffix, count, args.size, args.prefetch, workdir)

    baseline_rate = count / baseline
    bridge_rate = count / bridge
    print(f"messages {count}, body {args.size} bytes, prefetch {args.prefetch}")
    print(f"baseline (ack at once): {baseline_rate:,.0f} msg/s ({baseline:.2f} s)")
    print(f"bridge (ack after Kafka): {bridge_rate:,.0f} msg/s ({bridge:.2f} s)")
    print(f"ratio bridge/baseline: {bridge_rate / baseline_rate:.0%} (target at least 80%)")


if __name__ == "__main__":
    main()
