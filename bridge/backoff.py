"""Exponential backoff with jitter for reconnects and Kafka send retries."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay policy: ``initial * factor ** attempt`` seconds, capped at ``maximum``, with ±20 % jitter."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """Return the seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 32))
        return base * random.uniform(0.8, 1.2)
