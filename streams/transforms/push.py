"""Transform of hg and Taskcluster-GitHub push messages into push records."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.errors import RejectedMessage, RejectReason
from streams.registry.repositories import RepositoryRegistry
from streams.transforms.commits import (
    CommitLookup,
    PushSummary,
    summarize_github_commits,
    summarize_json_pushes,
    summarize_webhook_commits,
)
from streams.transforms.records import PushKind, PushRecord
from streams.transforms.timestamps import to_epoch_seconds
from streams.validation.validator import get_validator

logger = logging.getLogger(__name__)

HG_PUSH_V1 = "exchange/hgpushes/v1"
HG_PUSH_V2 = "exchange/hgpushes/v2"
GITHUB_PUSH = "exchange/taskcluster-github/v1/push"
GITHUB_PULL_REQUEST = "exchange/taskcluster-github/v1/pull-request"

_KINDS: dict[str, PushKind] = {
    HG_PUSH_V1: "hg",
    HG_PUSH_V2: "hg",
    GITHUB_PUSH: "github-push",
    GITHUB_PULL_REQUEST: "github-pull-request",
}

HG_V2_PUSH_TYPE = "changegroup.1"
"""Only hgpushes v2 message type that describes a push."""

NULL_REVISION = "0" * 40
"""GitHub's base revision of a new branch and head revision of a deleted one."""

GITHUB_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class CommitLookupRequest:
    """Upstream call that returns the commit list of a push.

    ``url`` is the full GET URL. The response, decoded from JSON, is what ``transform_push``
    takes as ``commits``: the json-pushes object for hg, the compare object for a GitHub push,
    and the list of commits (all pages joined) for a pull request.
    """

    kind: PushKind
    url: str
    paginated: bool = False


def push_kind(exchange: str) -> PushKind:
    """Map a push exchange to its kind; raise RejectedMessage(UNSUPPORTED_EXCHANGE) otherwise."""
    kind = _KINDS.get(exchange)
    if kind is None:
        raise RejectedMessage(
            RejectReason.UNSUPPORTED_EXCHANGE,
            f"exchange {exchange!r} does not carry pushes; expected one of {', '.join(_KINDS)}",
            detail={"exchange": exchange},
        )
    return kind


def transform_push(
    exchange: str,
    message: dict[str, Any],
    registry: RepositoryRegistry,
    commits: CommitLookup | None = None,
    *,
    received_at: int | None = None,
) -> PushRecord:
    """Validate a push message and build its push record.

    Without ``commits`` the record carries the head revision, author and time found in the
    message, no revisions and ``enriched`` False. When the message has no time, the record
    takes ``received_at`` (epoch seconds), or 0 when that is None too. With ``commits``
    (see ``CommitLookupRequest``) the record matches Treeherder's push and ``enriched`` is
    True. A GitHub push that creates a branch is enriched from the webhook commits without a
    lookup.

    Raises RejectedMessage only: UNSUPPORTED_EXCHANGE, UNSUPPORTED_MESSAGE_TYPE, SCHEMA,
    UNKNOWN_REPOSITORY, INACTIVE_REPOSITORY, AMBIGUOUS_BRANCH, LOOKUP_FAILED (an unusable
    ``commits``) or TRANSFORM_ERROR.
    """
    try:
        return _transform(exchange, message, registry, commits, received_at)
    except RejectedMessage:
        raise
    except Exception as error:
        logger.warning("push transform failed unexpectedly", exc_info=True)
        raise RejectedMessage(
            RejectReason.TRANSFORM_ERROR,
            f"push transform failed: {type(error).__name__}: {error}",
            detail={"exception": type(error).__name__, "error": str(error)[:500]},
        ) from error


def commit_lookup_request(exchange: str, message: dict[str, Any]) -> CommitLookupRequest | None:
    """Describe the lookup that enriches this push, or None when none is needed.

    Call it after ``transform_push`` accepted the message. GitHub pushes that create a branch
    need no lookup.
    """
    try:
        return _lookup_request(exchange, message)
    except RejectedMessage:
        raise
    except Exception as error:
        raise RejectedMessage(
            RejectReason.TRANSFORM_ERROR,
            f"cannot plan the commit lookup: {type(error).__name__}: {error}",
            detail={"exception": type(error).__name__, "error": str(error)[:500]},
        ) from error


def _lookup_request(exchange: str, message: dict[str, Any]) -> CommitLookupRequest | None:
    kind = push_kind(exchange)

    if kind == "hg":
        payload = _hg_payload(exchange, message)
        return CommitLookupRequest("hg", payload["pushlog_pushes"][0]["push_full_json_url"])

    if kind == "github-push":
        get_validator("github-push").validate(message)
        details = message["details"]
        if details["event.base.sha"] == NULL_REVISION:
            return None
        url = (
            f"{GITHUB_API_URL}/repos/{message['organization']}/{message['repository']}"
            f"/compare/{details['event.base.sha']}...{details['event.head.sha']}"
        )
        return CommitLookupRequest("github-push", url)

    get_validator("github-pull-request").validate(message)
    number = int(message["details"]["event.pullNumber"])
    url = (
        f"{GITHUB_API_URL}/repos/{message['organization']}/{message['repository']}"
        f"/pulls/{number}/commits"
    )
    return CommitLookupRequest("github-pull-request", url, paginated=True)


def _transform(
    exchange: str,
    message: dict[str, Any],
    registry: RepositoryRegistry,
    commits: CommitLookup | None,
    received_at: int | None,
) -> PushRecord:
    kind = push_kind(exchange)

    if kind == "hg":
        return _transform_hg(exchange, message, registry, commits)
    if kind == "github-push":
        return _transform_github_push(message, registry, commits, received_at)
    return _transform_pull_request(message, registry, commits, received_at)


def _hg_payload(exchange: str, message: Any) -> Mapping[str, Any]:
    if exchange == HG_PUSH_V1:
        get_validator("hg-push-v1").validate(message)
        return message["payload"]

    get_validator("hg-push-v2").validate(message)
    message_type = message["payload"]["type"]
    if message_type != HG_V2_PUSH_TYPE:
        raise RejectedMessage(
            RejectReason.UNSUPPORTED_MESSAGE_TYPE,
            f"hgpushes v2 message of type {message_type!r} is not a push",
            detail={"type": message_type},
        )

    data = message["payload"]["data"]
    get_validator("hg-push-v1").validate({"payload": data})
    return data


def _transform_hg(
    exchange: str,
    message: dict[str, Any],
    registry: RepositoryRegistry,
    commits: CommitLookup | None,
) -> PushRecord:
    payload = _hg_payload(exchange, message)
    repository = registry.resolve_hg(payload["repo_url"])

    if commits is not None:
        return _record(repository.name, "hg", summarize_json_pushes(commits), None, True)

    pushlog = payload["pushlog_pushes"][0]
    summary = PushSummary(
        revision=payload["heads"][-1],
        author=pushlog["user"].strip(),
        push_timestamp=pushlog["time"],
        revisions=[],
    )
    return _record(repository.name, "hg", summary, None, False)


def _transform_github_push(
    message: dict[str, Any],
    registry: RepositoryRegistry,
    commits: CommitLookup | None,
    received_at: int | None,
) -> PushRecord:
    get_validator("github-push").validate(message)
    details = message["details"]
    body = message.get("body") or {}

    head = details["event.head.sha"]
    if head == NULL_REVISION or body.get("deleted") is True:
        raise RejectedMessage(
            RejectReason.UNSUPPORTED_MESSAGE_TYPE,
            "GitHub push deletes a branch or tag, so it has no head revision",
            detail={"url": details["event.head.repo.url"]},
        )

    branch = "tag" if details.get("event.head.tag") else details["event.base.repo.branch"]
    repository, recorded_branch = registry.resolve_github_push(
        details["event.head.repo.url"], branch
    )

    fallback = _github_push_fallback(details, body, received_at)

    if details["event.base.sha"] == NULL_REVISION:
        # A new branch: the webhook lists its commits, and there is nothing to compare with.
        summary = summarize_webhook_commits(body.get("commits") or [])
        return _record(repository.name, "github-push", summary or fallback, recorded_branch, True)

    if commits is None:
        return _record(repository.name, "github-push", fallback, recorded_branch, False)

    if not isinstance(commits, Mapping):
        raise _wrong_lookup_type("GitHub compare", "an object", commits)
    summary = summarize_github_commits(commits.get("commits", ()), "GitHub compare")

    # NOTE: a compare with no commits (a branch reset to an older commit) keeps the head
    # revision from the message and records no commits.
    return _record(repository.name, "github-push", summary or fallback, recorded_branch, True)


def _github_push_fallback(
    details: Mapping[str, Any], body: Mapping[str, Any], received_at: int | None
) -> PushSummary:
    head_commit = body.get("head_commit") or {}

    author = details.get("event.head.user.email")
    if not isinstance(author, str) or not author:
        author = head_commit.get("author", {}).get("email", "unknown")

    if head_commit:
        timestamp = to_epoch_seconds(head_commit["timestamp"], "body.head_commit.timestamp")
    elif body.get("commits"):
        timestamp = to_epoch_seconds(body["commits"][-1]["timestamp"], "body.commits[-1].timestamp")
    else:
        timestamp = received_at or 0

    return PushSummary(details["event.head.sha"], author, timestamp, [])


def _transform_pull_request(
    message: dict[str, Any],
    registry: RepositoryRegistry,
    commits: CommitLookup | None,
    received_at: int | None,
) -> PushRecord:
    get_validator("github-pull-request").validate(message)
    details = message["details"]
    repository = registry.resolve_pull_request(details["event.base.repo.url"])

    author = details.get("event.head.user.email")
    fallback = PushSummary(
        revision=details["event.head.sha"],
        author=author if isinstance(author, str) and author else "unknown",
        push_timestamp=received_at or 0,
        revisions=[],
    )

    if commits is None:
        return _record(repository.name, "github-pull-request", fallback, None, False)

    if isinstance(commits, (str, bytes)) or isinstance(commits, Mapping):
        raise _wrong_lookup_type("pull request commits", "a list", commits)
    summary = summarize_github_commits(commits, "pull request commits")
    return _record(repository.name, "github-pull-request", summary or fallback, None, True)


def _wrong_lookup_type(what: str, expected: str, value: Any) -> RejectedMessage:
    return RejectedMessage(
        RejectReason.LOOKUP_FAILED,
        f"{what} response must be {expected}, got {type(value).__name__}",
        detail={"lookup": what},
    )


def _record(
    repository: str,
    kind: PushKind,
    summary: PushSummary,
    branch: str | None,
    enriched: bool,
) -> PushRecord:
    record: PushRecord = {
        "repository": repository,
        "revision": summary.revision,
        "author": summary.author,
        "push_timestamp": summary.push_timestamp,
        "revisions": summary.revisions,
        "branch": branch,
        "enriched": enriched,
        "kind": kind,
    }

    # Lookup responses are not validated on arrival, so check what they contributed.
    validator = get_validator("push-record")
    if not validator.is_valid(record):
        reason = RejectReason.LOOKUP_FAILED if enriched else RejectReason.SCHEMA
        errors = validator.errors(record)
        raise RejectedMessage(
            reason,
            f"push record for {repository} is invalid: {errors[0]['path'] if errors else '?'}: "
            f"{errors[0]['message'] if errors else 'unknown error'}",
            detail=list(errors),
        )
    return record
