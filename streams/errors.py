"""Exception hierarchy shared by the bridge, the stream agents and the sinks.

Two branches matter to callers. A ``RejectedMessage`` is final: the message
itself is bad, retrying cannot help, and it goes to the dead-letter topic with
its ``reason``. A ``RetriableError`` is an infrastructure fault (broker,
database, upstream HTTP service): the caller backs off and tries again, and no
offset or ack moves past the message meanwhile.
"""

from __future__ import annotations

import enum
from typing import Any


class RejectReason(str, enum.Enum):
    """Machine-readable reason carried by every dead-letter record."""

    NOT_JSON = "not-json"
    INVALID_UTF8 = "invalid-utf8"
    TOO_LARGE = "too-large"
    SCHEMA = "schema"
    REVISION_HASH_ONLY = "revision-hash-only"
    UNKNOWN_REPOSITORY = "unknown-repository"
    INACTIVE_REPOSITORY = "inactive-repository"
    AMBIGUOUS_BRANCH = "ambiguous-branch"
    UNSUPPORTED_EXCHANGE = "unsupported-exchange"
    UNSUPPORTED_MESSAGE_TYPE = "unsupported-message-type"
    NOT_FOR_TREEHERDER = "not-for-treeherder"
    IGNORED_PROJECT = "ignored-project"
    MISSING_PUSH = "missing-push"
    LOOKUP_FAILED = "lookup-failed"
    TRANSFORM_ERROR = "transform-error"
    DATABASE_REJECTED = "database-rejected"


class PulseIngestError(Exception):
    """Base class of every error this project raises on purpose."""

    retriable: bool = False


class ConfigurationError(PulseIngestError, ValueError):
    """A setting is missing or invalid; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class RejectedMessage(PulseIngestError):
    """A message that can never be accepted; it belongs in the dead-letter topic."""

    retriable = False

    def __init__(
        self,
        reason: RejectReason,
        message: str,
        detail: list[dict[str, Any]] | dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message
        self.detail = detail if detail is not None else []


class RetriableError(PulseIngestError):
    """A transient infrastructure failure; the caller retries with backoff."""

    retriable = True
