"""Errors of single lookup attempts and the final LOOKUP_FAILED rejection."""

from __future__ import annotations

from typing import Any

from streams.errors import RejectedMessage, RejectReason, RetriableError


class TransientLookupError(RetriableError):
    """One attempt timed out, could not connect, or got HTTP 429 or 5xx; a retry may succeed."""

    def __init__(self, url: str, status: int | None, problem: str) -> None:
        super().__init__(f"{url}: {problem}")
        self.url = url
        self.status = status
        self.problem = problem


def lookup_failed(
    what: str, url: str, problem: str, status: int | None = None, **extra: Any
) -> RejectedMessage:
    """Build the LOOKUP_FAILED rejection; the detail carries the URL and HTTP status."""
    detail: dict[str, Any] = {"lookup": what, "url": url, "status": status, "error": problem[:500]}
    detail.update(extra)
    message = f"{what} lookup of {url} failed: {problem}"
    return RejectedMessage(RejectReason.LOOKUP_FAILED, message, detail)
