"""The process loop's hand-off: calls submitted in bursts by many greenlets all run, in
order, on a bounded set of worker tasks, and the loop leaves the GC as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import gevent
import pytest
from helpers import sigcheck_sink

from writers import young_gc
from writers.calls import Attempt
from writers.driver import Driver
from writers.records import BookRecords
from writers.services import WorkloadOptions
from writers.services.dynamodb import SERVICE, DynamoDBWorkload
from writers.strategies import StrategyOptions, aioloop, strategy_class
from writers.target import Endpoint

SECRET = "async-secret"


@pytest.fixture(scope="module")
def sink() -> Iterator[str]:
    with sigcheck_sink(SECRET, delay_ms=5) as url:
        yield url


def test_submitted_work_runs_in_order_on_the_loop() -> None:
    loop = aioloop.acquire_loop()
    try:
        seen: list[int] = []
        inbox = aioloop.Inbox()
        for i in range(500):  # one burst: one wake-up of the loop, every item run once, in order
            loop.submit(seen.append, i)
        loop.submit(inbox.post_threadsafe, "drained")
        assert inbox.take(5) == ["drained"]
        inbox.close()
        assert seen == list(range(500))
    finally:
        aioloop.release_loop(loop)
        assert loop.join(5)


def test_many_users_share_the_loop_with_bounded_workers(sink: str) -> None:
    endpoint = Endpoint(SERVICE, "us-east-1", sink, "AKIDASYNC", SECRET)
    workload = DynamoDBWorkload(WorkloadOptions("books"))
    strategies = [strategy_class("aiohttp")(endpoint, StrategyOptions(concurrency=4)) for _ in range(5)]
    attempts: list[Attempt] = []
    try:
        runs = [
            gevent.spawn(Driver(s, attempts.append).run, workload.write_calls(BookRecords(seed=i).take(40)))
            for i, s in enumerate(strategies)
        ]
        gevent.joinall(runs, timeout=60, raise_error=True)
        assert all(run.successful() for run in runs)
        assert [run.value.acked for run in runs] == [40] * 5
        assert len(attempts) == 200 and all(a.error is None for a in attempts)
        assert all(1 <= len(s._workers) <= 4 for s in strategies)  # type: ignore[attr-defined]
    finally:
        loop = strategies[0].process_loop  # type: ignore[attr-defined]
        for s in strategies:
            s.close()
        assert loop.join(5)


def test_gc_threshold_is_raised_while_the_loop_runs_and_put_back() -> None:
    before = gc.get_threshold()
    loop = aioloop.acquire_loop()
    assert gc.get_threshold()[0] >= young_gc.GEN0_THRESHOLD
    aioloop.release_loop(loop)
    assert loop.join(5)
    assert gc.get_threshold() == before
