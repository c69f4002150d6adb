"""Retry policy: jittered exponential backoff, shared by every strategy."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 0.05  # seconds before the 2nd attempt, doubled each time
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        """Full-jitter backoff before `attempt` (2, 3, ...), as AWS recommends."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 2)))
        return random.uniform(0, ceiling)

    def allows(self, attempt: int) -> bool:
        return attempt <= self.max_attempts
