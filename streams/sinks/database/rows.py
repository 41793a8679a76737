"""Conversion of push, job and repository records into table rows."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

from streams.sinks.database.models import (
    GUID_LENGTH,
    LOG_NAME_LENGTH,
    LOG_URL_LENGTH,
    REASON_LENGTH,
    RESULT_LENGTH,
    STATE_LENGTH,
    WHO_LENGTH,
)
from streams.sinks.database.records import JobData, JobRecord, PushRecord, RepositoryEntry

T = TypeVar("T")

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

REPOSITORY_FIELDS = ("name", "url", "dvcs_type", "active", "tc_root_url")


def epoch_to_datetime(seconds: float | None) -> datetime.datetime:
    """Convert epoch seconds to an aware UTC datetime, mapping a missing value to the epoch."""
    if seconds is None:
        return EPOCH
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def split_rounds(items: Iterable[T], key: Callable[[T], Hashable]) -> list[list[T]]:
    """Split items into rounds in which each key occurs once, keeping the order per key.

    One multi-row upsert may not touch the same row twice (PostgreSQL rejects it), so
    repeated keys of a batch go to later rounds, which run after the earlier ones.
    """
    rounds: list[list[T]] = []
    seen: dict[Hashable, int] = {}

    for item in items:
        item_key = key(item)
        index = seen.get(item_key, 0)
        seen[item_key] = index + 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(item)

    return rounds


def repository_row(entry: RepositoryEntry | Mapping[str, Any]) -> dict[str, Any]:
    """Read a registry entry given as an object with attributes or as a mapping."""
    if isinstance(entry, Mapping):
        return {field: entry[field] for field in REPOSITORY_FIELDS}
    return {field: getattr(entry, field) for field in REPOSITORY_FIELDS}


def push_row(record: PushRecord, repository_id: int, now: datetime.datetime) -> dict[str, Any]:
    """Build the `push` row of a push record."""
    return {
        "repository_id": repository_id,
        "revision": record["revision"],
        "author": record["author"],
        "push_timestamp": epoch_to_datetime(record["push_timestamp"]),
        "branch": record.get("branch"),
        "enriched": bool(record.get("enriched", False)),
        "kind": record["kind"],
        "last_modified": now,
    }


def commit_rows(record: PushRecord, push_id: int) -> list[dict[str, Any]]:
    """Build the `commit` rows of a push record's revisions."""
    return [
        {
            "push_id": push_id,
            "revision": revision["revision"],
            "author": revision["author"],
            "comment": revision["comment"],
        }
        for revision in record.get("revisions", [])
    ]


def option_collection_text(options: Mapping[str, bool]) -> str:
    """Join the enabled option labels in sorted order, as in `debug` or `asan opt`."""
    return " ".join(sorted(label for label, enabled in options.items() if enabled))


def job_row(
    record: JobRecord, repository_id: int, push_id: int, now: datetime.datetime
) -> dict[str, Any]:
    """Build the `job` row of a job record, truncating text to Treeherder's column lengths."""
    job: JobData = record["job"]
    build = job.get("build_platform") or {}
    machine = job.get("machine_platform") or {}

    return {
        "guid": stored_guid(record),
        "repository_id": repository_id,
        "push_id": push_id,
        "build_platform": build.get("platform", ""),
        "build_os": build.get("os_name", ""),
        "build_architecture": build.get("architecture", ""),
        "machine_platform": machine.get("platform", ""),
        "machine_os": machine.get("os_name", ""),
        "machine_architecture": machine.get("architecture", ""),
        "machine": job.get("machine", ""),
        "option_collection": option_collection_text(job.get("option_collection") or {}),
        "job_type_name": job.get("name", ""),
        "job_type_symbol": job.get("job_symbol", ""),
        "job_group_name": job.get("group_name", ""),
        "job_group_symbol": job.get("group_symbol", ""),
        "product_name": job.get("product_name", ""),
        "build_system_type": job.get("build_system_type", ""),
        "state": job["state"][:STATE_LENGTH],
        "result": stored_result(job),
        "tier": int(job.get("tier", 1)),
        "submit_time": epoch_to_datetime(job.get("submit_timestamp")),
        "start_time": epoch_to_datetime(job.get("start_timestamp")),
        "end_time": epoch_to_datetime(job.get("end_timestamp")),
        "who": (job.get("who") or "")[:WHO_LENGTH],
        "reason": (job.get("reason") or "")[:REASON_LENGTH],
        "last_modified": now,
    }


def job_log_rows(job: JobData, job_id: int) -> list[dict[str, Any]]:
    """Build the `job_log` rows of a job's log references."""
    return [
        {
            "job_id": job_id,
            "name": reference["name"][:LOG_NAME_LENGTH],
            "url": reference["url"][:LOG_URL_LENGTH],
            "parse_status": reference.get("parse_status", "pending"),
        }
        for reference in job.get("log_references") or []
    ]


def taskcluster_row(job: JobData, job_id: int) -> dict[str, Any] | None:
    """Build the `taskcluster_metadata` row, or None for a job without a task id."""
    task_id = job.get("taskcluster_task_id")
    if not task_id:
        return None
    # NOTE: a record with a task id but no retry id is stored with retry 0 (the first run).
    return {"job_id": job_id, "task_id": task_id, "retry_id": int(job.get("taskcluster_retry_id", 0))}


def stored_result(job: JobData) -> str:
    """Return a job's result as stored in `job.result`: `unknown` when unset, truncated."""
    return (job.get("result") or "unknown")[:RESULT_LENGTH]


def stored_guid(record: JobRecord) -> str:
    """Return a job record's guid as stored in `job.guid`, truncated to the column length."""
    return record["job"]["job_guid"][:GUID_LENGTH]
