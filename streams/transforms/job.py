"""Transform of a pulse-job message into a job record with Treeherder's job fields."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streams.errors import RejectedMessage, RejectReason
from streams.registry.repositories import RepositoryRegistry
from streams.transforms.records import JobFields, JobRecord, LogReference, PlatformFields
from streams.transforms.taskcluster_ids import task_and_retry_ids
from streams.transforms.timestamps import to_epoch_seconds
from streams.validation.validator import get_validator

logger = logging.getLogger(__name__)

SCHEMA_NAME = "pulse-job"

MAX_OWNER_CHARS = 50
"""Maximum owner length in the pulse-job schema; longer owners are cut to 49 characters first."""

_TEST_RESULTS: dict[str, str] = {
    "success": "success",
    "fail": "testfailed",
    "exception": "exception",
    "retry": "retry",
    "canceled": "usercancel",
    "superseded": "superseded",
    "unknown": "unknown",
}
_OTHER_RESULTS: dict[str, str] = {**_TEST_RESULTS, "fail": "busted"}

_TIME_FIELDS: tuple[tuple[str, str], ...] = (
    ("submit_timestamp", "timeScheduled"),
    ("start_timestamp", "timeStarted"),
    ("end_timestamp", "timeCompleted"),
)

_ERRORSUMMARY_SUFFIX = "_errorsummary.log"


def transform_pulse_job(message: dict[str, Any], registry: RepositoryRegistry) -> JobRecord:
    """Validate a pulse-job message and build its job record.

    ``message`` is never modified. Bad input raises RejectedMessage with REVISION_HASH_ONLY,
    SCHEMA, UNKNOWN_REPOSITORY or INACTIVE_REPOSITORY. Any unexpected failure raises
    TRANSFORM_ERROR with the exception type and text in the detail. Nothing else escapes.
    """
    try:
        return _transform(message, registry)
    except RejectedMessage:
        raise
    except Exception as error:
        logger.warning("pulse job transform failed unexpectedly", exc_info=True)
        raise RejectedMessage(
            RejectReason.TRANSFORM_ERROR,
            f"pulse job transform failed: {type(error).__name__}: {error}",
            detail={"exception": type(error).__name__, "error": str(error)[:500]},
        ) from error


def prepare_pulse_job(message: Any) -> Any:
    """Return a copy of ``message`` ready for validation, leaving the original untouched.

    Cuts an owner longer than 50 characters to 49, and rewrites the older annotated origin
    (``kind``, ``owner``, ``pushLogID`` or ``pullRequestID``) to the schema form with ``id``.
    Raises RejectedMessage(REVISION_HASH_ONLY) for an origin that names only a revision hash.
    """
    if not isinstance(message, Mapping):
        return message

    prepared = dict(message)

    owner = prepared.get("owner")
    if isinstance(owner, str) and len(owner) > MAX_OWNER_CHARS:
        prepared["owner"] = owner[: MAX_OWNER_CHARS - 1]

    origin = prepared.get("origin")
    if isinstance(origin, Mapping):
        prepared["origin"] = _normalize_origin(origin)

    return prepared


def _normalize_origin(origin: Mapping[str, Any]) -> dict[str, Any]:
    normalized = dict(origin)

    if "revision_hash" in normalized and "revision" not in normalized:
        raise RejectedMessage(
            RejectReason.REVISION_HASH_ONLY,
            "origin names a revision_hash but no revision; jobs need the push head revision",
            detail={"origin": {key: repr(value)[:200] for key, value in origin.items()}},
        )

    if "kind" in normalized:
        kind = normalized.pop("kind")
        normalized.pop("owner", None)

        # The annotated form moved ``id`` into a host-specific key.
        moved_key = "pullRequestID" if kind == "github.com" else "pushLogID"
        if moved_key in normalized and "id" not in normalized:
            normalized["id"] = normalized.pop(moved_key)

    return normalized


def _transform(message: dict[str, Any], registry: RepositoryRegistry) -> JobRecord:
    pulse_job = prepare_pulse_job(message)

    get_validator(SCHEMA_NAME).validate(pulse_job)

    repository = registry.by_name(pulse_job["origin"]["project"])

    return {
        "repository": repository.name,
        "revision": pulse_job["origin"]["revision"],
        "superseded": list(pulse_job.get("coalesced", [])),
        "job": build_job_fields(pulse_job),
    }


def build_job_fields(pulse_job: Mapping[str, Any]) -> JobFields:
    """Map a validated pulse job to Treeherder's job fields."""
    display = pulse_job["display"]
    job_guid = pulse_job["taskId"]

    job: JobFields = {
        "job_guid": job_guid,
        "name": display.get("jobName", "unknown"),
        "job_symbol": f"{display.get('jobSymbol', '')}{display.get('chunkId', '')}",
        "group_name": display.get("groupName", "unknown"),
        "group_symbol": display.get("groupSymbol"),
        "product_name": pulse_job.get("productName", "unknown"),
        "state": pulse_job["state"],
        "result": job_result(pulse_job),
        "reason": pulse_job.get("reason", "unknown"),
        "who": pulse_job.get("owner", "unknown"),
        "build_system_type": pulse_job["buildSystem"],
        "tier": pulse_job.get("tier", 1),
        "machine": _machine_name(pulse_job),
        "option_collection": {label: True for label in pulse_job.get("labels", [])},
        "log_references": _log_references(pulse_job),
        "perfherder_data_references": _perfherder_data_references(pulse_job),
        "build_platform": {},
        "machine_platform": {},
    }

    for target, source in _TIME_FIELDS:
        if source in pulse_job:
            job[target] = to_epoch_seconds(pulse_job[source], source)  # type: ignore[literal-required]

    # When only one machine is given, it serves as both platforms.
    fallback = pulse_job.get("buildMachine", pulse_job.get("runMachine", {}))
    job["build_platform"] = _platform(pulse_job.get("buildMachine", fallback))
    job["machine_platform"] = _platform(pulse_job.get("runMachine", fallback))

    ids = task_and_retry_ids(job_guid)
    if ids is not None:
        job["taskcluster_task_id"], job["taskcluster_retry_id"] = ids
    else:
        logger.debug("job GUID %s is not <uuid>/<run id>; no Taskcluster ids", job_guid)

    return job


def job_result(pulse_job: Mapping[str, Any]) -> str:
    """Return Treeherder's result: unknown until completed, retry when retried, else mapped."""
    if pulse_job["state"] != "completed":
        return "unknown"

    if pulse_job.get("isRetried", False):
        return "retry"

    results = _TEST_RESULTS if pulse_job.get("jobKind") == "test" else _OTHER_RESULTS
    return results[pulse_job.get("result", "unknown")]


def _machine_name(pulse_job: Mapping[str, Any]) -> str:
    if "buildMachine" in pulse_job:
        return str(pulse_job["buildMachine"].get("name", "unknown"))
    if "runMachine" in pulse_job:
        return str(pulse_job["runMachine"].get("name", "unknown"))
    return "unknown"


def _platform(machine: Mapping[str, Any]) -> PlatformFields:
    if not machine:
        return {}
    return {
        "platform": machine["platform"],
        "os_name": machine["os"],
        "architecture": machine["architecture"],
    }


def _links(pulse_job: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(pulse_job.get("jobInfo", {}).get("links", []))


def _log_references(pulse_job: Mapping[str, Any]) -> list[LogReference]:
    references: list[LogReference] = [
        {"name": log["name"], "url": log["url"], "parse_status": "pending"}
        for log in pulse_job.get("logs", [])
    ]

    for link in _links(pulse_job):
        if "url" in link and link.get("linkText", "").endswith(_ERRORSUMMARY_SUFFIX):
            references.append(
                {"name": "errorsummary_json", "url": link["url"], "parse_status": "pending"}
            )

    return references


def _perfherder_data_references(pulse_job: Mapping[str, Any]) -> list[LogReference]:
    references: list[LogReference] = []
    for link in _links(pulse_job):
        url = link.get("url")
        if url and "perfherder-data" in url and url.endswith(".json"):
            references.append(
                {"name": link.get("linkText"), "url": url, "parse_status": "pending"}
            )
    return references
