"""The loop every strategy shares: keep calls in flight, read answers, retry.

Strategies decide *how* calls travel and how many can be in flight; the driver decides
*what* happens with each answer, once for all of them: partial batch failures and
retryable errors are sent again after a jittered backoff, each attempt is reported on
its own (a retried call is never merged into one latency), and items are given up
only after the last attempt, and counted.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from writers.calls import Attempt, Call
from writers.retry import RetryPolicy
from writers.strategies.base import Strategy


@dataclass
class Totals:
    calls: int = 0
    acked: int = 0
    retried_items: int = 0
    given_up_items: int = 0
    failures: int = 0


class Driver:
    def __init__(
        self,
        strategy: Strategy,
        on_attempt: Callable[[Attempt], None],
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.strategy = strategy
        self.on_attempt = on_attempt
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.totals = Totals()

    def run(self, calls: Iterable[Call]) -> Totals:
        """Send every call (and its retries) with at most `strategy.concurrency` in flight."""
        self.totals = Totals()
        fresh = iter(calls)
        follow_ups: deque[Call] = deque()  # next steps of calls already made: before fresh ones
        waiting: list[tuple[float, int, Call]] = []  # retries, by the time they may go
        order = itertools.count()
        in_flight = 0
        limit = self.strategy.concurrency
        fresh_left = True
        while True:
            now = time.monotonic()
            while in_flight < limit and waiting and waiting[0][0] <= now:
                self.strategy.start(heapq.heappop(waiting)[2])
                in_flight += 1
            while in_flight < limit and follow_ups:
                self.strategy.start(follow_ups.popleft())
                in_flight += 1
            while in_flight < limit and fresh_left:
                call = next(fresh, None)
                if call is None:
                    fresh_left = False
                    break
                self.strategy.start(call)
                in_flight += 1
            if in_flight == 0:
                if not waiting:
                    return self.totals
                self.sleep(max(0.0, waiting[0][0] - now))
                continue
            timeout = max(0.0, waiting[0][0] - now) if waiting and in_flight < limit else None
            for attempt in self.strategy.collect(timeout):
                in_flight -= 1
                retry = self._settle(attempt, follow_ups)
                if retry is not None:
                    ready = time.monotonic() + self.policy.delay(retry.attempt)
                    heapq.heappush(waiting, (ready, next(order), retry))

    def _settle(self, attempt: Attempt, follow_ups: deque[Call]) -> Call | None:
        """Read one answer, report it, and return what must be sent again."""
        call = attempt.call
        retry: Call | None = None
        if attempt.error is not None:
            self.totals.failures += 1
            if attempt.error.kind.retryable and self.policy.allows(call.attempt + 1):
                retry = call.again()
            else:
                attempt.given_up_items = call.items
                follow_ups.extend(call.abandon())
        else:
            assert attempt.response is not None
            settlement = call.settle(attempt.response)
            attempt.acked = settlement.acked
            attempt.acked_keys = settlement.acked_keys
            attempt.given_up_items = settlement.given_up
            if settlement.error is not None:  # part of the call refused for good: a failure
                attempt.error = settlement.error
                self.totals.failures += 1
            follow_ups.extend(settlement.next_calls)
            leftover = settlement.leftover
            if leftover is not None:
                if self.policy.allows(leftover.attempt):
                    retry = leftover
                else:
                    attempt.given_up_items += leftover.items
        if retry is not None:
            attempt.retried_items = retry.items
        self.totals.calls += 1
        self.totals.acked += attempt.acked
        self.totals.retried_items += attempt.retried_items
        self.totals.given_up_items += attempt.given_up_items
        self.on_attempt(attempt)
        return retry
