"""Parked-job entries: the jobs of one push key that wait for the push, in arrival order."""

from __future__ import annotations

from typing import Any, TypedDict

from streams.agents.source import SourceEvent


class ParkedSource(TypedDict):
    """Kafka coordinates of the by-revision record a parked job came from."""

    topic: str
    partition: int
    offset: int
    key: str | None


class ParkedJob(TypedDict):
    """One parked job record with the time it was parked (epoch seconds, worker clock)."""

    record: dict[str, Any]
    parked_at: float
    source: ParkedSource
    headers: dict[str, str]


class ParkedEntry(TypedDict):
    """Value of the parked-job table: the table partition and the jobs in arrival order."""

    partition: int
    jobs: list[ParkedJob]


def make_parked_job(record: dict[str, Any], source: SourceEvent, parked_at: float) -> ParkedJob:
    """Build the parked form of a job record consumed from ``source``."""
    return {
        "record": record,
        "parked_at": parked_at,
        "source": {
            "topic": source.topic,
            "partition": source.partition,
            "offset": source.offset,
            "key": source.key_text,
        },
        "headers": source.text_headers(),
    }


def add_job(entry: ParkedEntry | None, partition: int, job: ParkedJob) -> tuple[ParkedEntry, bool]:
    """Return a new entry with ``job`` appended, and whether it was appended.

    A job from the same topic, partition and offset as one already parked is the same event
    consumed again after a restart, so it is not added twice. Every other event is kept,
    including a repeat or an older state of a parked guid, because the state rule runs only
    when the jobs are released.
    """
    jobs = list(entry["jobs"]) if entry else []
    if any(parked["source"] == job["source"] for parked in jobs):
        return {"partition": partition, "jobs": jobs}, False

    jobs.append(job)
    return {"partition": partition, "jobs": jobs}, True


def split_expired(
    entry: ParkedEntry, now: float, window: float
) -> tuple[list[ParkedJob], list[ParkedJob]]:
    """Split the entry's jobs into those still waiting and those parked ``window`` s or more ago."""
    waiting: list[ParkedJob] = []
    expired: list[ParkedJob] = []
    for job in entry["jobs"]:
        if now - job["parked_at"] >= window:
            expired.append(job)
        else:
            waiting.append(job)
    return waiting, expired


def source_of(job: ParkedJob) -> SourceEvent:
    """Rebuild the source event of a parked job, for its dead-letter record."""
    source = job["source"]
    key = source["key"]
    return SourceEvent(
        topic=source["topic"],
        partition=source["partition"],
        offset=source["offset"],
        key=key.encode("utf-8") if key is not None else None,
        value=None,
        headers={name: text.encode("utf-8") for name, text in job["headers"].items()},
    )
