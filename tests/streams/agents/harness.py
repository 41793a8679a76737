"""Integration-test harness: a worker subprocess, Kafka clients and database queries."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import select

from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.models import job

PROJECT_ROOT = Path(__file__).resolve().parents[3]

# Upper bound for the worker to start or for expected records to arrive. It only turns a
# hang into a failure; the tests assert on what arrived, never on how fast.
WAIT_SECONDS = float(os.environ.get("WORKER_TEST_WAIT", "180"))

_READY = re.compile(r"worker ready in ([0-9.]+) s")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WorkerProcess:
    """`python -m streams.cli` in a subprocess, one log file per start."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def metrics_port(self) -> int:
        return int(self.env["METRICS_PORT"])

    def start(self) -> None:
        self.starts += 1
        self.log_path = self.log_dir / f"worker-{self.starts}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli"],
                cwd=PROJECT_ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self) -> float:
        """Wait for the ready line and return the start-up time it reports."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            match = _READY.search(self.log_text())
            if match:
                return float(match.group(1))
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.tail()}")
            await asyncio.sleep(0.2)
        raise AssertionError(f"worker not ready after {WAIT_SECONDS} s:\n{self.tail()}")

    def stop(self) -> int:
        """Stop with SIGTERM, as an operator would; return the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"worker did not stop within 60 s:\n{self.tail()}") from None

    def kill(self) -> None:
        """End the worker with SIGKILL, as a crash would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def metric(self, name: str, **labels: str) -> float:
        """Read one sample from the worker's Prometheus page; 0 when it is absent."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode("utf-8")

        wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        target = f"{name}{{{wanted}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(target + " "):
                return float(line.split()[-1])
        return 0.0

    async def wait_metric_total(self, names: Sequence[str], expected: float) -> None:
        """Wait until the counters ``names``, without labels, add up to ``expected``."""
        deadline = time.monotonic() + WAIT_SECONDS
        total = 0.0
        while time.monotonic() < deadline:
            values = [await asyncio.to_thread(self.metric, name) for name in names]
            total = sum(values)
            if total >= expected:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{' + '.join(names)} is {total}, expected {expected}:\n{self.tail()}")

    async def wait_metric(self, name: str, expected: float, **labels: str) -> None:
        """Wait until a counter reaches ``expected``."""
        deadline = time.monotonic() + WAIT_SECONDS
        value = 0.0
        while time.monotonic() < deadline:
            value = await asyncio.to_thread(self.metric, name, **labels)
            if value >= expected:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{name}{labels} is {value}, expected {expected}:\n{self.tail()}")


class Kafka:
    """Producer and readers for one test's topics."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")

    async def start(self) -> None:
        await self.producer.start()

    async def close(self) -> None:
        await self.producer.stop()

    async def send(
        self,
        topic: str,
        value: bytes | dict[str, Any],
        key: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Send one record and wait for the broker to store it."""
        body = value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")
        key_bytes = key.encode("utf-8") if isinstance(key, str) else key
        header_list = [(name, text.encode("utf-8")) for name, text in (headers or {}).items()]
        await self.producer.send_and_wait(topic, body, key=key_bytes, headers=header_list)

    async def send_many(self, topic: str, records: Iterable[tuple[Any, Any, dict[str, str] | None]]) -> None:
        """Send (key, value, headers) records in order and wait for all of them."""
        futures = []
        for key, value, headers in records:
            body = value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")
            key_bytes = key.encode("utf-8") if isinstance(key, str) else key
            header_list = [(name, text.encode("utf-8")) for name, text in (headers or {}).items()]
            futures.append(await self.producer.send(topic, body, key=key_bytes, headers=header_list))
        await asyncio.gather(*futures)

    async def read(self, topic: str, count: int) -> list[Any]:
        """Read a topic from the start until ``count`` records arrived."""
        records = await self._read(topic, lambda got: len(got) >= count)
        if len(records) < count:
            raise AssertionError(f"{topic} has {len(records)} records, expected {count}")
        return records

    async def read_until(self, topic: str, done: Any) -> list[Any]:
        """Read a topic from the start until ``done(records)`` is true."""
        records = await self._read(topic, done)
        if not done(records):
            raise AssertionError(f"{topic}: condition not met with {len(records)} records")
        return records

    async def read_existing(self, topic: str) -> list[Any]:
        """Read every record the topic contains now."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = await _partitions(consumer, topic)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            records: list[Any] = []
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                for items in batch.values():
                    records.extend(items)
            return records
        finally:
            await consumer.stop()

    async def _read(self, topic: str, done: Any) -> list[Any]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = await _partitions(consumer, topic)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)

            records: list[Any] = []
            deadline = time.monotonic() + WAIT_SECONDS
            while not done(records) and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for items in batch.values():
                    records.extend(items)
            return records
        finally:
            await consumer.stop()

    async def committed_offsets(self, group: str, topic: str) -> dict[int, int]:
        """Return partition -> committed offset of ``group`` on ``topic``; -1 when none."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """Return partition -> log end offset of ``topic``."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = await _partitions(consumer, topic)
            ends = await consumer.end_offsets(partitions)
            return {tp.partition: offset for tp, offset in ends.items()}
        finally:
            await consumer.stop()

    async def delete_topics(self, prefixes: Iterable[str]) -> None:
        """Delete every topic whose name starts with one of ``prefixes``."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
        await admin.start()
        try:
            names = [
                name
                for name in await admin.list_topics()
                if any(name.startswith(prefix) for prefix in prefixes)
            ]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Return the topic's partitions; the worker creates every topic before it is ready."""
    numbers = consumer.partitions_for_topic(topic)
    if not numbers:
        await consumer._client.force_metadata_update()
        numbers = consumer.partitions_for_topic(topic)
    if not numbers:
        raise AssertionError(f"topic {topic} does not exist")
    return [TopicPartition(topic, number) for number in sorted(numbers)]


def decode(record: Any) -> Any:
    return json.loads(record.value)


async def fetch_jobs(url: str) -> dict[str, tuple[str, str]]:
    """Return guid -> (state, result) of every job row."""
    engine = create_database_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(job.c.guid, job.c.state, job.c.result))
            return {row.guid: (row.state, row.result) for row in rows}
    finally:
        await engine.dispose()
