"""Every writer strategy, against a signature-checking server and the DynamoDB emulators.

The signature-checking server (tests/helpers/sigcheck_server.py) recomputes each request's
SigV4 signature with botocore, so a signing bug in our own signer cannot pass; it also
counts TCP connections (keep-alive on/off) and calls in flight (concurrency).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import gevent
import psutil
import pytest
from helpers import SharedEmulators, sigcheck_sink

from writers.calls import Attempt
from writers.driver import Driver
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from writers.errors import FailureKind
from writers.records import BookRecords
from writers.services import WorkloadOptions, available_emulators
from writers.services.dynamodb import SERVICE, DynamoDBWorkload
from writers.strategies import STRATEGIES, StrategyOptions, aioloop, strategy_class
from writers.strategies.threaded import process_pool
from writers.target import Endpoint

SECRET = "test-secret-key"
ALL = list(STRATEGIES)


@pytest.fixture(scope="module")
def sink() -> Iterator[str]:
    with sigcheck_sink(SECRET, delay_ms=20) as url:  # 20 ms per call: calls overlap, so concurrency shows
        yield url


def sink_stats(url: str, reset: bool = False) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/__reset" if reset else f"{url}/__stats", timeout=5) as answer:
        return json.load(answer)  # type: ignore[no-any-return]


def write(
    endpoint: Endpoint, strategy: str, records: list[dict[str, Any]], **options: Any
) -> tuple[Any, list[Attempt]]:
    workload = DynamoDBWorkload(WorkloadOptions("books", batch=options.pop("batch", 1)))
    instance = strategy_class(strategy)(endpoint, StrategyOptions(**options))
    attempts: list[Attempt] = []
    try:
        totals = Driver(instance, attempts.append).run(workload.write_calls(records))
    finally:
        instance.close()
    return totals, attempts


@pytest.mark.parametrize("keep_alive", [True, False], ids=["keep-alive", "no-keep-alive"])
@pytest.mark.parametrize("strategy", ALL)
def test_signed_correctly_with_concurrency_and_keep_alive(sink: str, strategy: str, keep_alive: bool) -> None:
    endpoint = Endpoint(SERVICE, "us-east-1", sink, "AKIDTEST", SECRET)
    sink_stats(sink, reset=True)
    totals, attempts = write(endpoint, strategy, BookRecords(seed=3).take(32), concurrency=4, keep_alive=keep_alive)
    stats = sink_stats(sink)
    assert stats["bad_signatures"] == 0
    assert totals.acked == 32 and totals.failures == 0
    assert len(attempts) == stats["requests"] == 32  # one attempt reported per call made
    in_flight = 1 if strategy == "sequential" else 4
    assert stats["max_in_flight"] <= in_flight  # never more than --concurrency
    assert stats["max_in_flight"] >= min(in_flight, 2)  # and really concurrent (a loaded box may not reach 4)
    if keep_alive:
        # one connection per slot; the threaded strategy's native threads are shared by the
        # whole process and keep a client each, so there: at most one per thread (earlier
        # tests in this process may have grown the threads beyond this test's 4)
        slots = max(in_flight, process_pool().threads) if strategy == "threaded" else in_flight
        assert stats["connections"] <= slots < 32
    else:
        assert stats["connections"] == 32  # Connection: close -> a new connection per call


@pytest.mark.parametrize("strategy", ALL)
def test_wrong_secret_is_a_client_error_not_retried(sink: str, strategy: str) -> None:
    endpoint = Endpoint(SERVICE, "us-east-1", sink, "AKIDTEST", "not-the-secret")
    totals, attempts = write(endpoint, strategy, BookRecords(seed=4).take(3), concurrency=2)
    assert totals.acked == 0 and totals.given_up_items == 3 and totals.retried_items == 0
    assert {a.error.kind for a in attempts if a.error} == {FailureKind.CLIENT}
    assert {a.error.code for a in attempts if a.error} == {"InvalidSignatureException"}


@pytest.fixture(scope="module", params=available_emulators("dynamodb"))
def emulator_endpoint(request: pytest.FixtureRequest, local: SharedEmulators) -> Endpoint:
    emulator = local.get("dynamodb", request.param)
    return Endpoint(SERVICE, "us-east-1", emulator.endpoint, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)


@pytest.mark.parametrize("batch", [1, 25], ids=["PutItem", "BatchWriteItem"])
@pytest.mark.parametrize("strategy", ALL)
def test_every_strategy_stores_exactly_what_it_acknowledged(
    emulator_endpoint: Endpoint, strategy: str, batch: int
) -> None:
    table = f"t-{strategy}-{batch}"
    workload = DynamoDBWorkload(WorkloadOptions(table, batch=batch))
    workload.provision(emulator_endpoint)
    records = BookRecords(seed=5, stream=ALL.index(strategy)).take(60)
    instance = strategy_class(strategy)(emulator_endpoint, StrategyOptions(concurrency=4))
    try:
        totals = Driver(instance, lambda attempt: None).run(workload.write_calls(records))
    finally:
        instance.close()
    assert totals.acked == 60 and totals.failures == 0
    assert workload.stored_keys(emulator_endpoint) == {r["isbn"] for r in records}


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def connections_to(url: str) -> int:
    port = int(url.rsplit(":", 1)[1])
    return sum(1 for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port)


@pytest.mark.parametrize("strategy", ["aioboto3", "aiohttp", "gevent", "threaded"])
def test_stopping_mid_flight_leaves_no_loop_thread_or_socket(strategy: str) -> None:
    with sigcheck_sink(SECRET, delay_ms=3000) as url:  # calls hang long enough to be cut off
        threads_before = native_threads()
        endpoint = Endpoint(SERVICE, "us-east-1", url, "AKIDTEST", SECRET)
        instance = strategy_class(strategy)(endpoint, StrategyOptions(concurrency=3, timeout=30))
        workload = DynamoDBWorkload(WorkloadOptions("books"))
        attempts: list[Attempt] = []
        runner = gevent.spawn(Driver(instance, attempts.append).run, workload.write_calls(BookRecords(seed=6).take(9)))
        deadline = time.monotonic() + 10
        while sink_stats(url)["in_flight"] < 3 and time.monotonic() < deadline:
            gevent.sleep(0.05)
        assert sink_stats(url)["in_flight"] == 3  # all three calls really in flight
        started = time.monotonic()
        runner.kill()  # what Locust does to a stopped user's greenlet
        instance.close()
        loop = getattr(instance, "process_loop", None)
        if loop is not None:
            assert loop.join(timeout=5), "the loop's thread did not end"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
            connections_to(url) or (strategy != "threaded" and native_threads() > threads_before)
        ):
            gevent.sleep(0.05)
        if strategy != "threaded":  # native threads finish their boto3 call; they are not interruptible
            assert connections_to(url) == 0
            assert native_threads() <= threads_before
            assert time.monotonic() - started < 3  # cancelled, not waited for
        assert attempts == []  # nothing reported for cancelled calls


def test_loop_is_made_again_after_it_stopped(sink: str) -> None:
    endpoint = Endpoint(SERVICE, "us-east-1", sink, "AKIDTEST", SECRET)
    first = strategy_class("aiohttp")(endpoint, StrategyOptions(concurrency=1))
    loop_one = first.process_loop  # type: ignore[attr-defined]
    first.close()
    assert loop_one.join(5)
    totals, _ = write(endpoint, "aiohttp", BookRecords(seed=7).take(2), concurrency=1)
    assert totals.acked == 2
    assert aioloop._current.peek(None) is None  # released again by the last user
