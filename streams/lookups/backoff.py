"""Exponential backoff with jitter between attempts of a failed lookup."""

from __future__ import annotations

import random


def retry_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Return the seconds to wait before retry ``attempt`` (1 for the first retry).

    The bound doubles from ``initial`` up to ``maximum``. The delay is drawn uniformly between
    half the bound and the bound, so clients that failed together do not retry together.
    """
    # Past 2**62 the bound is above any sane maximum, and a larger exponent could overflow.
    exponent = min(max(attempt - 1, 0), 62)
    bound = min(maximum, initial * 2**exponent)
    return rng.uniform(bound / 2, bound)
