"""The one way tests run calls through a strategy: a Driver with test-speed retries."""

from __future__ import annotations

from collections.abc import Sequence

from writers.calls import Attempt, Call
from writers.driver import Driver, Totals
from writers.retry import RetryPolicy
from writers.strategies import Strategy, StrategyOptions, strategy_class
from writers.target import Endpoint

# Retries in tests: the production policy's shape, without its waits.
FAST_RETRIES = RetryPolicy(max_attempts=8, base_delay=0.001, max_delay=0.005)


def drive(
    strategy: str | Strategy,
    calls: Sequence[Call],
    endpoint: Endpoint | None = None,
    *,
    policy: RetryPolicy = FAST_RETRIES,
    concurrency: int = 4,
) -> tuple[Totals, list[Attempt]]:
    """Run calls through a Driver and a strategy (a name, made at `endpoint`, or one already
    made), closed after; returns the totals and every reported attempt."""
    if isinstance(strategy, str):
        assert endpoint is not None, "a strategy named by its name needs an endpoint"
        strategy = strategy_class(strategy)(endpoint, StrategyOptions(concurrency))
    reported: list[Attempt] = []
    try:
        totals = Driver(strategy, reported.append, policy).run(calls)
    finally:
        strategy.close()
    return totals, reported
