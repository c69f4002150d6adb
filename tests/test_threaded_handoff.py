"""The threaded strategy's hand-over from native threads to the user's greenlet (issue 18):
no lost wake-up, whatever order a call's completion and the greenlet's wait come in; a
strategy made right after another was closed still gets its calls run; and ThreadedUsers
stop writing promptly when Locust stops.

The stress tests repeat the hand-over thousands of times in a few seconds; each wait is
bounded, so a lost wake-up fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
from helpers import LocustProcess, locustfile, sigcheck_sink

from writers.calls import Attempt, Call
from writers.driver import Driver
from writers.emulators import LOCAL_SECRET_KEY
from writers.records import BookRecords
from writers.services import WorkloadOptions
from writers.services.dynamodb import SERVICE, DynamoDBWorkload
from writers.strategies import StrategyOptions, threaded
from writers.strategies.threaded import ThreadedStrategy
from writers.target import Endpoint

pytestmark = pytest.mark.timeout(60)

SECRET = "test-secret-key"
ENDPOINT = Endpoint(SERVICE, "us-east-1", "http://127.0.0.1:9", "AKIDTEST", SECRET)  # never reached: see below
STRESS_SECONDS = 3.0
WAKE_UP_WITHIN = 2.0  # seconds; a call that returns at once is handed over in microseconds


def one_call() -> Call:
    return DynamoDBWorkload(WorkloadOptions("books")).write_calls(BookRecords(seed=1).take(1))[0]


@pytest.fixture
def instant_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The boto3 call each native thread makes is replaced by one that returns at once: the
    hand-over is what is under test, and thousands of rounds must fit in seconds (a real
    server answers in milliseconds; the tests below with one run far fewer rounds)."""

    def answer_at_once(endpoint: Endpoint, session: Any, options: StrategyOptions, call: Call) -> Attempt:
        return Attempt(call, 0.0, response={})

    monkeypatch.setattr(threaded, "_call_in_thread", answer_at_once)
    yield


def collect_all(strategy: ThreadedStrategy, expected: int, use_timeout: bool) -> list[Attempt]:
    """What the driver does: collect until every started call is back; never longer than WAKE_UP_WITHIN."""
    got: list[Attempt] = []
    give_up = time.monotonic() + WAKE_UP_WITHIN
    while len(got) < expected and time.monotonic() < give_up:
        if use_timeout:
            got += strategy.collect(max(0.0, give_up - time.monotonic()))
        else:  # the driver's usual wait: no timeout of its own
            with gevent.Timeout(max(0.001, give_up - time.monotonic()), False):
                got += strategy.collect(None)
    return got


def test_a_strategy_made_right_after_another_was_closed_gets_its_calls_run(instant_calls: None) -> None:
    """What hung `test_consume_mode_drains_what_was_produced[fauxqs-threaded]`: one strategy
    closes, the next is made at once (a producer then a consumer; a Locust user stopped and
    another started) and starts a call."""
    call = one_call()
    rounds = 0
    deadline = time.monotonic() + STRESS_SECONDS
    while rounds < 5000 and time.monotonic() < deadline:
        strategy = ThreadedStrategy(ENDPOINT, StrategyOptions(concurrency=2))
        try:
            strategy.start(call)
            strategy.start(call)
            got = collect_all(strategy, 2, use_timeout=rounds % 2 == 0)
        finally:
            strategy.close()
        assert len(got) == 2, f"round {rounds}: {len(got)} of 2 calls came back within {WAKE_UP_WITHIN} s"
        rounds += 1
    assert rounds >= 200  # enough hand-overs to mean something, even on a loaded machine


def test_completions_racing_the_wait_are_never_lost(instant_calls: None) -> None:
    """One long-lived strategy; calls finish (on native threads) before, while and after
    the greenlet starts waiting for them, thousands of times."""
    call = one_call()
    strategy = ThreadedStrategy(ENDPOINT, StrategyOptions(concurrency=4))
    handed_over = rounds = 0
    deadline = time.monotonic() + STRESS_SECONDS
    try:
        while rounds < 10_000 and time.monotonic() < deadline:
            started = 1 + rounds % 4
            for _ in range(started):
                strategy.start(call)
            got = collect_all(strategy, started, use_timeout=rounds % 3 == 0)
            assert len(got) == started, f"round {rounds}: {len(got)} of {started} came back within {WAKE_UP_WITHIN} s"
            handed_over += started
            rounds += 1
    finally:
        strategy.close()
    assert handed_over >= 500


def test_back_to_back_strategies_against_a_real_server() -> None:
    """The same as the first test with real boto3 calls (fewer rounds: each makes real calls)."""
    with sigcheck_sink(SECRET) as url:
        endpoint = Endpoint(SERVICE, "us-east-1", url, "AKIDTEST", SECRET)
        workload = DynamoDBWorkload(WorkloadOptions("books"))
        records = BookRecords(seed=2)
        for round_ in range(20):
            strategy = ThreadedStrategy(endpoint, StrategyOptions(concurrency=3))
            attempts: list[Attempt] = []
            runner = gevent.spawn(Driver(strategy, attempts.append).run, workload.write_calls(records.take(6)))
            try:
                runner.join(timeout=10)
                finished = runner.ready()
            finally:
                runner.kill()
                strategy.close()
            assert finished, f"round {round_}: {len(attempts)} of 6 calls came back within 10 s"
            assert runner.value.acked == 6


# --------------------------------------------------------------------------- inside Locust


def sink_requests(url: str) -> int:
    with urllib.request.urlopen(f"{url}/__stats", timeout=5) as answer:
        return int(json.load(answer)["requests"])


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["sigterm", "run-time"])
def test_threaded_users_stop_writing_promptly(tmp_path: Path, stop: str) -> None:
    """ThreadedUsers with 32 one-second calls in flight. Stopped by SIGTERM (Locust fires
    `quitting`, where the process's native threads are shut down, before it kills the
    users) or by the run-time limit (users killed first): the process exits within seconds
    and no call begins once it has stopped. Before, on SIGTERM, gevent's ThreadPool.kill()
    waited for its threads to reach 0 while the users kept adding threads: it went on
    writing until the run-time limit (~57 s here, ~290 s in the reported run)."""
    with sigcheck_sink(LOCAL_SECRET_KEY, delay_ms=1000) as url:
        args = ["-u", "4", "-r", "4", "-t", "60s" if stop == "sigterm" else "4s", "--target", url, "--no-provision"]
        run = LocustProcess(locustfile("dynamodb"), [*args, "--concurrency", "8", "ThreadedUser"], tmp_path / "run")
        try:
            if stop == "sigterm":
                spawned = run.wait_for("All users spawned", timeout=30)
                time.sleep(max(0.0, spawned + 3 - (time.monotonic() - run.started)))
                run.process.send_signal(signal.SIGTERM)
            else:
                run.wait_for("--run-time limit reached", timeout=30)
            stopped = time.monotonic()
            time.sleep(1.5)  # calls begun just before the stop are in; any later one would be new
            at_stop = sink_requests(url)
            result = run.finish(timeout=30)
            took = time.monotonic() - stopped
            time.sleep(1.5)
            at_end = sink_requests(url)
        finally:
            run.kill()
    assert at_stop >= 32, result.output[-2000:]  # it was writing
    assert at_end == at_stop, f"{at_end - at_stop} calls began more than 1.5 s after the stop"
    assert took < 10, f"exited {took:.1f} s after the stop"
    assert "Traceback" not in result.output, result.output[-3000:]
