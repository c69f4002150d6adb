"""A process's part of the run's rate, divided among its users (rate mode).

The master divides the run's rate among its workers (aws_locust.shares); each process
divides its part evenly among the users it runs, and again whenever one starts or
stops. A user's schedule (writers.pacing.Schedule) paces its new calls: records/s over
the batch size, so `--rate 1000 --batch 25` starts 40 calls a second.
"""

from __future__ import annotations

import random
import time

from writers.pacing import Schedule


class ProcessPace:
    def __init__(self) -> None:
        self.share = 0.0  # records/s for this process
        self._users: dict[Schedule, int] = {}  # schedule -> records per call (batch)

    def join(self, arrival: str, batch: int) -> Schedule:
        """A schedule for a new user, at its part of this process's share."""
        schedule = Schedule(0.0, arrival, random.Random())
        self._users[schedule] = max(1, batch)
        self._divide()
        return schedule

    def leave(self, schedule: Schedule) -> None:
        if self._users.pop(schedule, None) is not None:
            self._divide()

    def set_share(self, records_per_second: float) -> None:
        self.share = max(0.0, records_per_second)
        self._divide()

    @property
    def users(self) -> int:
        return len(self._users)

    def idle(self) -> bool:
        """Paused and caught up: every user's rate is 0 and none owes a call any more."""
        now = time.perf_counter()
        return all(s.target_rate == 0 and not s.owes(now) for s in self._users)

    def _divide(self) -> None:
        users = len(self._users)
        for schedule, batch in self._users.items():
            schedule.set_rate(self.share / users / batch if users else 0.0)


PACE = ProcessPace()  # this process's (module state is per process: Locust forks before any user starts)
