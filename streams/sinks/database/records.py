"""Shapes of the push and job records the sink reads (see schemas/push-record.yml, job-record.yml)."""

from __future__ import annotations

from typing import Any, NotRequired, Protocol, TypedDict


class CommitRecord(TypedDict):
    """One revision of a push."""

    revision: str
    author: str
    comment: str


class PushRecord(TypedDict):
    """A push keyed by repository and head revision, with `push_timestamp` in epoch seconds."""

    repository: str
    revision: str
    author: str
    push_timestamp: int
    revisions: list[CommitRecord]
    branch: str | None
    enriched: bool
    kind: str


class PlatformRecord(TypedDict):
    """Build or machine platform of a job."""

    platform: str
    os_name: str
    architecture: str


class LogReference(TypedDict):
    """A log artifact of a job."""

    name: str
    url: str
    parse_status: str


class JobData(TypedDict):
    """Treeherder's transformed job, whose timestamps are epoch seconds and may be absent."""

    job_guid: str
    state: str
    result: str
    build_platform: PlatformRecord
    machine_platform: PlatformRecord
    machine: str
    option_collection: dict[str, bool]
    name: str
    job_symbol: str
    group_name: str
    group_symbol: str
    product_name: str
    build_system_type: str
    tier: int
    who: str
    reason: str
    submit_timestamp: NotRequired[int]
    start_timestamp: NotRequired[int]
    end_timestamp: NotRequired[int]
    log_references: list[LogReference]
    perfherder_data_references: list[Any]
    taskcluster_task_id: NotRequired[str]
    taskcluster_retry_id: NotRequired[int]


class JobRecord(TypedDict):
    """A job with the push it belongs to and the guids it supersedes."""

    repository: str
    revision: str
    superseded: list[str]
    job: JobData


class RepositoryEntry(Protocol):
    """A repository registry entry, as `ensure_repositories` reads it."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def dvcs_type(self) -> str: ...

    @property
    def active(self) -> bool: ...

    @property
    def tc_root_url(self) -> str: ...
