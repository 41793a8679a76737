"""Record types the sink reads; push and job records come from the transforms."""

from __future__ import annotations

from typing import Protocol

from streams.transforms.records import JobFields as JobData
from streams.transforms.records import JobRecord, PushRecord

__all__ = ["JobData", "JobRecord", "PushRecord", "RepositoryEntry"]


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
