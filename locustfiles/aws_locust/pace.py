"""A process's part of the run's rate, divided among its users (rate mode).

The master divides the run's rate among its workers (aws_locust.shares); each process
divides its part evenly among the users it runs, and again whenever one starts or
stops. A user's schedule (writers.pacing.Schedule) paces its new calls: records/s over
the batch size, so `--rate 1000 --batch 25` starts 40 calls a second.

Several services in one run with a rate each (`--rate dynamodb=200,sqs=100`): the share
comes with each service's part of it, divided among that service's users; one global rate
is divided among every user whatever its service.

A process that could not run for a while (SIGSTOP, a stalled VM) was marked missing by
the master after a few seconds, and its share given to the others: when it runs again,
it forgives every start it missed instead of sending them all at once, and counts them
(`missed`). It notices by itself (a watcher that finds a gap of `STALL_SECONDS` between
its own ticks), before the master's new share reaches it; the master's `resync` says so too.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import gevent

from writers.pacing import Schedule

STALL_SECONDS = 3.0  # silent this long, Locust's master marks a worker missing (3 heartbeats of 1 s)
WATCH_SECONDS = 0.25


class ProcessPace:
    def __init__(self) -> None:
        self.share = 0.0  # records/s for this process
        self.by_service: dict[str, float] = {}  # several services with a rate each: records/s of each
        self._users: dict[Schedule, tuple[str, int]] = {}  # schedule -> (its service, records per call)
        self._missed_by_gone = 0  # starts forgiven by users that have left
        self._watcher: gevent.Greenlet | None = None

    def join(self, arrival: str, batch: int, service: str = "") -> Schedule:
        """A schedule for a new user of `service`, at its part of this process's share."""
        schedule = Schedule(0.0, arrival, random.Random())
        self._users[schedule] = (service, max(1, batch))
        self._divide()
        if self._watcher is None:
            self._watcher = gevent.spawn(self._watch)
        return schedule

    def leave(self, schedule: Schedule) -> None:
        if self._users.pop(schedule, None) is not None:
            self._missed_by_gone += schedule.missed
            self._divide()
        if not self._users and self._watcher is not None:
            self._watcher.kill(block=False)
            self._watcher = None

    def set_share(
        self, records_per_second: float, resync: bool = False, by_service: dict[str, float] | None = None
    ) -> None:
        """A new share; `resync`: this process was missing and its share moved meanwhile;
        `by_service`: each service's part of it (service as Locust shows it; none: one share
        for every user)."""
        self.share = max(0.0, records_per_second)
        self.by_service = {service: max(0.0, rate) for service, rate in (by_service or {}).items()}
        self._divide(keep_backlog=0.0 if resync else None)

    def resync(self) -> None:
        """Forgive every start owed now (counted as missed): the process was paused."""
        self._divide(keep_backlog=0.0)

    def look_now(self) -> None:
        """Every user looks for its next call at once (the test ends: it finds none, and returns)."""
        for schedule in self._users:
            schedule.look_now()

    @property
    def users(self) -> int:
        return len(self._users)

    def missed(self) -> int:
        """Starts forgiven so far, by every user of this process."""
        return self._missed_by_gone + sum(schedule.missed for schedule in self._users)

    def reset_missed(self) -> None:
        self._missed_by_gone = 0
        for schedule in self._users:
            schedule.missed = 0

    def idle(self) -> bool:
        """Paused and caught up: every user's rate is 0 and none owes a call any more."""
        now = time.perf_counter()
        return all(s.target_rate == 0 and not s.owes(now) for s in self._users)

    def _divide(self, keep_backlog: float | None = None) -> None:
        users = len(self._users)
        per_service = Counter(service for service, _ in self._users.values()) if self.by_service else None
        for schedule, (service, batch) in self._users.items():
            if per_service is None:
                rate = self.share / users / batch
            else:
                rate = self.by_service.get(service, 0.0) / per_service[service] / batch
            if keep_backlog is None:
                schedule.set_rate(rate)
            else:
                schedule.set_rate(rate, keep_backlog)

    def _watch(self) -> None:
        last = time.monotonic()
        while True:
            gevent.sleep(WATCH_SECONDS)
            now = time.monotonic()
            if now - last > STALL_SECONDS:
                self.resync()
            last = now
