"""Retry with capped exponential backoff for infrastructure failures inside an agent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from streams import metrics
from streams.agents.ownership import sleep_while_owned

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Delay before each retry: ``initial`` seconds, doubling up to ``maximum``."""

    initial: float = 0.5
    maximum: float = 30.0

    def delay(self, attempt: int) -> float:
        """Return the delay in seconds before retry number ``attempt`` (1 for the first)."""
        return min(self.maximum, self.initial * (2 ** (attempt - 1)))


async def retry_until_done(
    operation: Callable[[], Awaitable[T]],
    *,
    is_retriable: Callable[[BaseException], bool],
    backoff: Backoff,
    name: str,
    context: str,
) -> T:
    """Run ``operation`` until it succeeds, sleeping between attempts that fail retriably.

    Errors for which ``is_retriable`` is false propagate at once. There is no attempt limit:
    the agent that awaits this call stays on its current event, so no offset moves past an
    event whose write did not finish. Cancellation (worker stop) propagates as usual, and
    so does OwnershipLost once a rebalance started (see ``streams.agents.ownership``).
    """
    attempt = 0
    while True:
        try:
            return await operation()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not is_retriable(error):
                raise

            attempt += 1
            delay = backoff.delay(attempt)
            metrics.RETRIES.labels(operation=name).inc()
            logger.warning(
                "%s failed for %s (attempt %d), retrying in %.1f s: %r",
                name,
                context,
                attempt,
                delay,
                error,
            )
            await sleep_while_owned(delay, f"{name} for {context}")
