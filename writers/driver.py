"""The loop every strategy shares: keep calls in flight, read answers, retry.

Strategies decide *how* calls travel and how many can be in flight; the driver decides
*what* happens with each answer, once for all of them: partial batch failures and
retryable errors are sent again after a jittered backoff, each attempt is reported on
its own (a retried call is never merged into one latency), and items are given up
only after the last attempt, and counted.

Closed loop (no schedule): a new call starts whenever a slot is free. Open model (a
`pacing.Schedule`): a new call starts when its intended start has come; one that finds
every slot busy starts as soon as one frees, late, and is counted as such. Every
attempt carries its intended start: the schedule's (new calls), the end of its backoff
(retries), or the answer that asked for it (follow-up calls), so latency can be
measured from when a call was meant to start, and a record's from its first call's.

The calls that can start at one moment go out as a burst: all made first (a strategy's
`prepare`: the signed request), then sent back to back, so that their sends leave together
(a server, or a loopback peer, wakes once for them, not once per call: +30 % requests per
CPU-second on the benchmark sink). In rate mode, the next call is also made while the
sender waits for its intended start, so that only sending is left when its time comes.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from writers import wake
from writers.calls import Attempt, Call
from writers.pacing import Schedule
from writers.retry import RetryPolicy
from writers.strategies.base import Strategy


@dataclass
class Totals:
    calls: int = 0
    acked: int = 0
    retried_items: int = 0
    given_up_items: int = 0
    failures: int = 0
    late: int = 0  # new calls whose intended start found every slot busy (open model)


class Driver:
    def __init__(
        self,
        strategy: Strategy,
        on_attempt: Callable[[Attempt], None],
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], object] | None = None,
        schedule: Schedule | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.strategy = strategy
        self.on_attempt = on_attempt
        self.policy = policy or RetryPolicy()
        # How to wait with nothing in flight: time.sleep in a closed loop; with a schedule, an
        # event a rate change sets, so that a sender idle at rate 0 wakes up for a new rate.
        self.sleep = sleep or (time.sleep if schedule is None else self._wait_for_rate)
        self.clock = clock
        self.schedule = schedule
        self.totals = Totals()
        self._alarm = wake.Alarm()  # the paced sender's sleep: until its next intended start, or a new rate
        if schedule is not None:
            schedule.on_change(self._alarm.ring)

    def run(self, calls: Iterable[Call]) -> Totals:
        """Send every call (and its retries) with at most `strategy.concurrency` in flight."""
        self.totals = totals = Totals()
        clock, schedule = self.clock, self.schedule
        fresh = iter(calls)
        follow_ups: deque[Call] = deque()  # next steps of calls already made: before fresh ones
        waiting: list[tuple[float, int, Call]] = []  # retries, by the time they may go
        order = itertools.count()
        in_flight = 0
        limit = self.strategy.concurrency
        fresh_left = True
        upcoming: Call | None = None  # rate mode: the next new call, made ahead of its intended start
        late_horizon = -math.inf  # the last moment a due call found every slot busy
        prepare, send = self.strategy.prepare, self.strategy.start
        burst: list[Call] = []  # the calls to start now: made first, then sent back to back
        start = burst.append if type(self.strategy).prepare is not Strategy.prepare else send
        while True:
            now = clock()
            while in_flight < limit and waiting and waiting[0][0] <= now:
                start(heapq.heappop(waiting)[2])
                in_flight += 1
            while in_flight < limit and follow_ups:
                start(follow_ups.popleft())
                in_flight += 1
            if schedule is None:
                while in_flight < limit and fresh_left:
                    call = next(fresh, None)
                    if call is None:
                        fresh_left = False
                        break
                    call.intended = call.first_intended = clock()
                    start(call)
                    in_flight += 1
            else:
                schedule.apply(now)
                while in_flight < limit and fresh_left and schedule.next_time <= now:
                    if upcoming is not None:
                        call, upcoming = upcoming, None
                    else:
                        call = next(fresh, None)
                        if call is None:
                            fresh_left = False
                            break
                    call.intended = call.first_intended = intended = schedule.take()
                    if intended <= late_horizon:
                        call.late = True
                        totals.late += 1
                    start(call)
                    in_flight += 1
                if fresh_left and schedule.next_time <= now:
                    late_horizon = now  # due, and no slot: such calls start late
            if burst:
                for call in burst:
                    if call.prepared is None:
                        prepare(call)
                for call in burst:
                    send(call)
                burst.clear()
            wake_at = waiting[0][0] if waiting else math.inf
            if schedule is not None and fresh_left:
                if schedule.next_time < wake_at:
                    wake_at = schedule.next_time
                if upcoming is None and in_flight < limit:
                    # About to wait for the next intended start: make that call now (its record,
                    # its signed request), so that only sending it is left when its time comes.
                    upcoming = next(fresh, None)
                    if upcoming is None:
                        fresh_left = False
                    else:
                        prepare(upcoming)
            if in_flight == 0:
                if wake_at == math.inf and not (schedule is not None and fresh_left):
                    return totals
                self.sleep(max(0.0, wake_at - clock()))  # the next retry, the next intended start, a new rate
                continue
            timeout = max(0.0, wake_at - clock()) if in_flight < limit and wake_at != math.inf else None
            for attempt in self.strategy.collect(timeout):
                in_flight -= 1
                retry = self._settle(attempt, follow_ups)
                if retry is not None:
                    retry.intended = ready = clock() + self.policy.delay(retry.attempt)
                    heapq.heappush(waiting, (ready, next(order), retry))

    def _wait_for_rate(self, seconds: float) -> None:
        # Until the next intended start (or a new rate): on time to a tenth of a millisecond under gevent.
        self._alarm.sleep(None if seconds == math.inf else seconds)

    def _settle(self, attempt: Attempt, follow_ups: deque[Call]) -> Call | None:
        """Read one answer, report it, and return what must be sent again."""
        call = attempt.call
        finished = attempt.finished or self.clock()
        attempt.intended_ms = (finished - call.intended) * 1000.0
        retry: Call | None = None
        if attempt.error is not None:
            self.totals.failures += 1
            if attempt.error.kind.retryable and self.policy.allows(call.attempt + 1):
                retry = call.again()
            else:
                attempt.given_up_items = call.items
                self._follow(call, call.abandon(), finished, follow_ups)
        else:
            assert attempt.response is not None
            settlement = call.settle(attempt.response)
            attempt.acked = settlement.acked
            attempt.acked_keys = settlement.acked_keys
            attempt.acked_versions = settlement.acked_versions
            attempt.found = settlement.found
            attempt.not_found = settlement.not_found
            attempt.given_up_items = settlement.given_up
            if settlement.error is not None:  # part of the call refused for good: a failure
                attempt.error = settlement.error
                self.totals.failures += 1
            if settlement.next_calls:
                self._follow(call, settlement.next_calls, finished, follow_ups)
            leftover = settlement.leftover
            if leftover is not None:
                if self.policy.allows(leftover.attempt):
                    retry = leftover
                else:
                    attempt.given_up_items += leftover.items
        if retry is not None:
            retry.first_intended = call.first_intended  # its records still wait since then
            retry.late = False
            attempt.retried_items = retry.items
        if attempt.acked:
            attempt.record_ms = (finished - call.first_intended) * 1000.0
        totals = self.totals
        totals.calls += 1
        totals.acked += attempt.acked
        totals.retried_items += attempt.retried_items
        totals.given_up_items += attempt.given_up_items
        self.on_attempt(attempt)
        return retry

    @staticmethod
    def _follow(parent: Call, calls: list[Call], finished: float, follow_ups: deque[Call]) -> None:
        """Queue the next steps of `parent`: meant to start when its answer came."""
        for call in calls:
            call.intended = finished
            call.first_intended = parent.first_intended
        follow_ups.extend(calls)
