"""Record types the sink reads; push and job records come from the transforms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol

from streams.transforms.records import JobFields as JobData
from streams.transforms.records import JobRecord, PushRecord

__all__ = ["JobData", "JobRecord", "PushRecord", "RepositoryEntry", "StoredJob", "StoredJobs"]


class StoredJob(NamedTuple):
    """State and result of a job row as a transaction read it, before its own upsert."""

    state: str
    result: str | None


# Job guid, as the record carries it, to the row stored before the write; None for a new guid.
StoredJobs = Mapping[str, StoredJob | None]


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
