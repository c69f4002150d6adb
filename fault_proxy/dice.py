"""The fault decisions: one seeded roll per request (throttle, error, drop, lose), delays with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass

from fault_proxy.config import FaultConfig


@dataclass(frozen=True)
class Roll:
    """One request's random draws, always made in the same order so a seed replays a run."""

    drop: bool
    error_status: int | None
    throttle: bool
    lose: bool = False


class Dice:
    """Fault decisions and jitter from separate seeded generators.

    Jitter has its own generator so turning latency on or off never shifts which
    requests fail.
    """

    def __init__(self, seed: int | None) -> None:
        self.faults = random.Random(seed)
        self.jitter = random.Random(None if seed is None else seed + 1)

    def roll(self, config: FaultConfig) -> Roll:
        drop, error, throttle, pick = (self.faults.random() for _ in range(4))
        status = config.error_status[int(pick * len(config.error_status))] if error < config.error_rate else None
        lose = config.lose_rate > 0 and self.faults.random() < config.lose_rate  # drawn last: seeds replay as before
        return Roll(drop < config.drop_rate, status, throttle < config.throttle_rate, lose)

    def delay(self, base_ms: float, jitter_ms: float) -> float:
        """Seconds to wait: base +- uniform jitter, never negative."""
        if base_ms <= 0 and jitter_ms <= 0:
            return 0.0
        return max(0.0, base_ms + self.jitter.uniform(-jitter_ms, jitter_ms)) / 1000.0
