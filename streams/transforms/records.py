"""Typed shapes of the push and job records that the transforms emit."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

PushKind = Literal["hg", "github-push", "github-pull-request"]


class PushRevision(TypedDict):
    """One commit of a push, as Treeherder stores it."""

    revision: str
    author: str
    comment: str


class PushRecord(TypedDict):
    """Push record published on the by-revision and accepted push topics."""

    repository: str
    revision: str
    author: str
    push_timestamp: int
    revisions: list[PushRevision]
    branch: str | None
    enriched: bool
    kind: PushKind


class PlatformFields(TypedDict, total=False):
    """Build or machine platform; empty when the pulse job names no machine."""

    platform: str
    os_name: str
    architecture: str


class LogReference(TypedDict):
    """Log (or perfherder data artifact) to be parsed after the job is stored."""

    name: str
    url: str
    parse_status: str


class JobFields(TypedDict):
    """Treeherder's transformed job: the same keys and value rules."""

    job_guid: str
    name: str
    job_symbol: str
    group_name: str
    group_symbol: str
    product_name: str
    state: str
    result: str
    reason: str
    who: str
    build_system_type: str
    tier: int
    machine: str
    option_collection: dict[str, bool]
    log_references: list[LogReference]
    perfherder_data_references: list[LogReference]
    build_platform: PlatformFields
    machine_platform: PlatformFields
    submit_timestamp: NotRequired[int]
    start_timestamp: NotRequired[int]
    end_timestamp: NotRequired[int]
    taskcluster_task_id: NotRequired[str]
    taskcluster_retry_id: NotRequired[int]


class JobRecord(TypedDict):
    """Job record published on the by-revision and accepted job topics."""

    repository: str
    revision: str
    superseded: list[str]
    job: JobFields
