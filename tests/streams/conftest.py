"""Factories shared by the worker's tests: records, source events and in-memory fakes."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from streams.agents.source import SourceEvent
from streams.config import TopicNames, WorkerSettings
from streams.errors import RejectedMessage, RejectReason
from streams.sinks.database.records import StoredJob, StoredJobs
from streams.sinks.database.rows import stored_result
from streams.sinks.deadletter import DeadLetterSink
from streams.tables.definitions import JoinTables
from streams.transforms.state import should_apply

CORPUS = Path(__file__).resolve().parents[1] / "data" / "treeherder"

AUTOLAND_URL = "https://hg.mozilla.org/integration/autoland"


@cache
def _read_corpus(name: str) -> Any:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def revision_for(label: str) -> str:
    """Return a stable 40-hex revision derived from ``label``."""
    return hashlib.sha1(label.encode("utf-8")).hexdigest()


def hg_push_message(revision: str, repo_url: str = AUTOLAND_URL) -> dict[str, Any]:
    """Build an `exchange/hgpushes/v1` body from the corpus for ``revision``."""
    message = copy.deepcopy(_read_corpus("hg_push.json"))
    message["payload"]["repo_url"] = repo_url
    message["payload"]["heads"] = [revision]
    return message


def pulse_job_message(
    guid: str, revision: str, state: str = "completed", project: str = "autoland"
) -> dict[str, Any]:
    """Build a pulse-job body from the corpus with the given guid, revision and state."""
    message = copy.deepcopy(_read_corpus("job_data.json")[0])
    message["taskId"] = guid
    message["origin"]["project"] = project
    message["origin"]["revision"] = revision
    message["state"] = state
    if state != "completed":
        message["result"] = "unknown"
    return message


def job_guid(index: int, run: int = 0) -> str:
    """Return a Taskcluster-style job guid (task UUID and run id) for ``index``."""
    return f"{index:08x}-0000-4000-8000-000000000000/{run}"


def push_record(revision: str, repository: str = "autoland") -> dict[str, Any]:
    """Build a push record as the push ingest agent emits it."""
    return {
        "repository": repository,
        "revision": revision,
        "author": "user1@example.com",
        "push_timestamp": 1700000000,
        "revisions": [],
        "branch": None,
        "enriched": False,
        "kind": "hg",
    }


def job_record(
    guid: str, revision: str, state: str = "completed", repository: str = "autoland"
) -> dict[str, Any]:
    """Build a minimal job record as the job ingest agent emits it."""
    return {
        "repository": repository,
        "revision": revision,
        "superseded": [],
        "job": {
            "job_guid": guid,
            "state": state,
            "result": "success" if state == "completed" else "unknown",
        },
    }


def make_topic_names(prefix: str = "") -> TopicNames:
    """Return the default topic names with ``prefix``."""
    return WorkerSettings.from_env({"TOPIC_PREFIX": prefix}).topics


@dataclass
class FakePublisher:
    """Publisher that stores what it was asked to send; ``failures`` raise in order first."""

    topic: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)

    async def publish(
        self,
        key: str | bytes | None,
        value: Any,
        *,
        context: str,
        headers: dict[str, str] | None = None,
        partition: int | None = None,
    ) -> None:
        if self.failures:
            raise self.failures.pop(0)
        text_key = key.decode("utf-8") if isinstance(key, bytes) else key
        self.sent.append(
            {"key": text_key, "value": value, "headers": headers, "partition": partition}
        )

    async def publish_many(self, records: Sequence[Any]) -> list[Any]:
        """Send each record with ``publish``; a RejectedMessage becomes that record's result."""
        results: list[Any] = []
        for record in records:
            try:
                await self.publish(
                    record.key,
                    record.value,
                    context=record.context,
                    headers=record.headers,
                    partition=record.partition,
                )
            except RejectedMessage as error:
                results.append(error)
            else:
                results.append(None)
        return results

    def values(self) -> list[Any]:
        """Return the values sent, in order."""
        return [entry["value"] for entry in self.sent]


@dataclass
class FakeDatabase:
    """Database that keeps the records written, in order.

    ``reject_guids`` makes every write containing one of those job guids raise
    RejectedMessage, as the sink does for a record it can never store.
    """

    pushes: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    job_calls: list[list[str]] = field(default_factory=list)
    reject_guids: set[str] = field(default_factory=set)
    reject_error: Callable[[str], BaseException] | None = None
    # Job rows by guid; a test may fill it to play a row that an earlier worker stored.
    stored: dict[str, StoredJob] = field(default_factory=dict)
    # Push records by (repository, revision) that find_pushes returns, as if stored earlier.
    stored_pushes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Keys of each find_pushes call, in order.
    push_lookups: list[list[tuple[str, str]]] = field(default_factory=list)

    async def write_pushes(self, records: Sequence[dict[str, Any]]) -> None:
        self.pushes.extend(records)

    async def write_jobs(self, records: Sequence[dict[str, Any]]) -> None:
        guids = [record["job"]["job_guid"] for record in records]
        self.job_calls.append(guids)
        for guid in guids:
            if guid in self.reject_guids:
                if self.reject_error is not None:
                    raise self.reject_error(guid)
                raise RejectedMessage(RejectReason.TRANSFORM_ERROR, f"cannot store {guid}")
        self.jobs.extend(records)

    async def find_pushes(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Return the records of ``stored_pushes`` among ``keys`` and record the call."""
        self.push_lookups.append(list(keys))
        return {key: self.stored_pushes[key] for key in keys if key in self.stored_pushes}

    async def write_batch(
        self, pushes: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]]
    ) -> StoredJobs:
        """Write pushes, then jobs; a rejected job leaves the pushes written, unlike a transaction.

        Returns the rows of ``stored`` from before the write, and applies the jobs to them
        under the state rule as the conditional upsert does.
        """
        await self.write_pushes(pushes)
        if not jobs:
            return {}

        await self.write_jobs(jobs)
        before = {record["job"]["job_guid"]: self.stored.get(record["job"]["job_guid"]) for record in jobs}
        for record in jobs:
            guid = record["job"]["job_guid"]
            row = self.stored.get(guid)
            if should_apply(row.state if row else None, record["job"]["state"]):
                self.stored[guid] = StoredJob(record["job"]["state"], stored_result(record["job"]))
        return before

    def written_states(self) -> list[tuple[str, str]]:
        """Return (guid, state) of every job written, in order."""
        return [(record["job"]["job_guid"], record["job"]["state"]) for record in self.jobs]


@pytest.fixture
def make_source() -> Callable[..., SourceEvent]:
    """Build a SourceEvent; ``value`` may be bytes or a JSON-serializable object."""

    def build(
        topic: str,
        value: Any,
        *,
        key: str | bytes | None = None,
        partition: int = 0,
        offset: int = 0,
        headers: dict[str, str] | None = None,
        timestamp: float | None = 1700000000.0,
    ) -> SourceEvent:
        body = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
        key_bytes = key.encode("utf-8") if isinstance(key, str) else key
        return SourceEvent(
            topic=topic,
            partition=partition,
            offset=offset,
            key=key_bytes,
            value=body,
            headers={name: text.encode("utf-8") for name, text in (headers or {}).items()},
            timestamp=timestamp,
        )

    return build


@pytest.fixture
def dead_letter_publisher() -> FakePublisher:
    return FakePublisher("pulse-dead-letter")


@pytest.fixture
def dead_letters(dead_letter_publisher: FakePublisher) -> DeadLetterSink:
    return DeadLetterSink(dead_letter_publisher)


@pytest.fixture
def topics() -> TopicNames:
    """Topic names without a prefix."""
    return make_topic_names()


@pytest.fixture
def accepted_jobs() -> FakePublisher:
    return FakePublisher("pulse-accepted-jobs")


@pytest.fixture
def accepted_pushes() -> FakePublisher:
    return FakePublisher("pulse-accepted-pushes")


@pytest.fixture
def tables() -> JoinTables:
    """Plain dicts standing in for the Faust tables."""
    return JoinTables(pushes={}, parked={})
