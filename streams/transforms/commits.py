"""Commit lists from upstream lookups (json-pushes, GitHub compare and pull request commits)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.errors import RejectedMessage, RejectReason
from streams.transforms.records import PushRevision
from streams.transforms.timestamps import to_epoch_seconds

MAX_PUSH_REVISIONS = 200
"""Maximum number of commits kept per push; longer pushes keep their last 200 (as Treeherder)."""

CommitLookup = Mapping[str, Any] | Sequence[Mapping[str, Any]]
"""Decoded lookup response: a json-pushes object (hg), a GitHub compare object (GitHub push)
or the list of commit objects of a pull request."""


@dataclass(frozen=True)
class PushSummary:
    """Head revision, author and time of a push with its (capped) commit list."""

    revision: str
    author: str
    push_timestamp: int
    revisions: list[PushRevision]


def lookup_failed(what: str, error: Exception | str) -> RejectedMessage:
    """Build the rejection for a lookup response that lacks the expected fields."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return RejectedMessage(
        RejectReason.LOOKUP_FAILED,
        f"{what} response is unusable: {text}",
        detail={"lookup": what, "error": text[:500]},
    )


def summarize_json_pushes(response: Any) -> PushSummary:
    """Summarize the first push of a json-pushes (version 2, full) response.

    Raises RejectedMessage(LOOKUP_FAILED) when the response has no push or no changeset.
    """
    try:
        pushes = response["pushes"]
        if not isinstance(pushes, Mapping) or not pushes:
            raise lookup_failed("json-pushes", "no pushes in the response")

        push = next(iter(pushes.values()))
        changesets = list(push["changesets"])[-MAX_PUSH_REVISIONS:]
        if not changesets:
            raise lookup_failed("json-pushes", "the push has no changesets")

        revisions: list[PushRevision] = [
            {
                "revision": _text(changeset["node"]),
                "author": _text(changeset["author"]),
                "comment": _text(changeset["desc"]),
            }
            for changeset in changesets
        ]
        return PushSummary(
            revision=revisions[-1]["revision"],
            author=_text(push["user"]),
            push_timestamp=_epoch(push["date"]),
            revisions=revisions,
        )
    except RejectedMessage:
        raise
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError, StopIteration) as error:
        raise lookup_failed("json-pushes", error) from None


def summarize_github_commits(commits: Any, what: str) -> PushSummary | None:
    """Summarize GitHub API commit objects (compare or pull request commits), oldest first.

    Returns None for an empty list. The head is the last commit: its author e-mail is the
    push author and its committer date the push time.
    """
    try:
        listed = list(commits)
        if not listed:
            return None

        head = listed[-1]
        revisions: list[PushRevision] = [
            {
                "revision": _text(commit["sha"]),
                "author": _person(commit["commit"]["author"]),
                "comment": _text(commit["commit"]["message"]),
            }
            for commit in listed[-MAX_PUSH_REVISIONS:]
        ]
        return PushSummary(
            revision=_text(head["sha"]),
            author=_text(head["commit"]["author"]["email"]),
            push_timestamp=to_epoch_seconds(_text(head["commit"]["committer"]["date"]), what),
            revisions=revisions,
        )
    except RejectedMessage as error:
        raise lookup_failed(what, error.message) from None
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as error:
        raise lookup_failed(what, error) from None


def summarize_webhook_commits(commits: Sequence[Mapping[str, Any]]) -> PushSummary | None:
    """Summarize the commits listed in a GitHub push webhook; None for an empty list.

    The message was validated, so the fields are present.
    """
    if not commits:
        return None

    head = commits[-1]
    revisions: list[PushRevision] = [
        {
            "revision": commit["id"],
            "author": _person(commit["author"]),
            "comment": commit["message"],
        }
        for commit in commits[-MAX_PUSH_REVISIONS:]
    ]
    return PushSummary(
        revision=head["id"],
        author=head["author"]["email"],
        push_timestamp=to_epoch_seconds(head["timestamp"], "body.commits[-1].timestamp"),
        revisions=revisions,
    )


def _person(identity: Mapping[str, Any]) -> str:
    return f"{_text(identity['name'])} <{_text(identity['email'])}>"


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _epoch(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected epoch seconds, got {type(value).__name__}")
    return int(value)
