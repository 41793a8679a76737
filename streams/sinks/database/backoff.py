"""Exponential backoff with jitter for retried database writes."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int, initial: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Return the seconds to wait before retry `attempt` (1 for the first retry).

    The bound doubles from `initial` up to `maximum`, and the delay is drawn uniformly
    between half the bound and the bound, so workers that failed together spread out.
    """
    # The exponent stops growing once the bound passes any sane maximum, to avoid overflow.
    exponent = min(max(attempt - 1, 0), 62)
    bound = min(maximum, initial * 2**exponent)
    source = rng if rng is not None else random
    return source.uniform(bound / 2, bound)
