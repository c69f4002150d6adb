"""The open model in the driver (writers/driver.py + writers/pacing.py), on a simulated
clock: servers whose behaviour is known by construction (a FIFO server of known
capacity, a server that stalls at known times), so the right latencies are computed
before the run and the driver must report exactly those.

The simulation stands in for time only: no real server can be told to answer at an
exact microsecond. The end-to-end Locust runs against real stub servers are in
tests/test_rate_mode.py.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import statistics
from collections.abc import Callable, Iterator

import pytest

from writers.calls import Attempt, Call
from writers.driver import Driver
from writers.pacing import NEVER, Schedule
from writers.records import BookRecords
from writers.services import WorkloadOptions
from writers.services.dynamodb import DynamoDBWorkload
from writers.strategies.base import Strategy, StrategyOptions


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds != NEVER, "the simulated sender would wait forever"
        self.now += seconds


class SimulatedServer(Strategy):
    """`servers` parallel FIFO servers; a call's service time is `service(arrival)` seconds.
    Answers come at exact times on the simulated clock; `collect` moves the clock."""

    name = "simulated"

    def __init__(self, clock: Clock, concurrency: int, service: Callable[[float], float], servers: int = 1) -> None:
        super().__init__(None, StrategyOptions(concurrency=concurrency))  # type: ignore[arg-type]
        self.clock = clock
        self.service = service
        self.free_at = [0.0] * servers  # when each server is next free
        self.answers: list[tuple[float, int, Call, float]] = []
        self.order = itertools.count()
        self.sent: list[tuple[float, float]] = []  # (intended, actual start) of every call

    def start(self, call: Call) -> None:
        now = self.clock.now
        self.sent.append((call.intended, now))
        begin = max(now, heapq.heappop(self.free_at))
        done = begin + self.service(begin)
        heapq.heappush(self.free_at, done)
        heapq.heappush(self.answers, (done, next(self.order), call, now))

    def collect(self, timeout: float | None) -> list[Attempt]:
        if not self.answers:
            return []
        first = self.answers[0][0]
        if timeout is not None and self.clock.now + timeout < first:
            self.clock.now += timeout
            return []
        self.clock.now = max(self.clock.now, first)
        done = []
        while self.answers and self.answers[0][0] <= self.clock.now:
            finished, _, call, sent = heapq.heappop(self.answers)
            done.append(Attempt(call, (finished - sent) * 1000, response={}, finished=finished))
        return done


def calls(n: int) -> list[Call]:
    return DynamoDBWorkload(WorkloadOptions("t")).write_calls(BookRecords(seed=1).take(n))


def run(
    rate: float, n: int, service: Callable[[float], float], concurrency: int, servers: int = 1, arrival: str = "uniform"
) -> tuple[Driver, list[Attempt], SimulatedServer]:
    clock = Clock()
    server = SimulatedServer(clock, concurrency, service, servers)
    schedule = Schedule(rate, arrival, random.Random(5), clock=clock)
    attempts: list[Attempt] = []
    driver = Driver(server, attempts.append, schedule=schedule, clock=clock, sleep=clock.sleep)
    driver.run(calls(n))
    return driver, attempts, server


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def test_below_capacity_nothing_is_late_and_latency_is_the_service_time() -> None:
    # 1 ms per call, one server: 1,000 calls/s capacity; offered 500/s.
    driver, attempts, server = run(500, 2000, lambda t: 0.001, concurrency=4)
    assert driver.totals.acked == 2000 and driver.totals.late == 0
    starts = [intended for intended, _ in server.sent]
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(starts)}
    assert gaps == {0.002}  # uniform arrivals, exactly on schedule
    assert all(actual == intended for intended, actual in server.sent)  # no invented delay
    assert {round(a.intended_ms, 6) for a in attempts} == {1.0}
    assert {round(a.record_ms or 0, 6) for a in attempts} == {1.0}


def test_above_capacity_calls_start_late_and_latency_counts_from_the_intended_start() -> None:
    # Capacity 1,000/s, offered 2,000/s for 1 s: the backlog grows by 1,000 calls a second,
    # so the k-th call waits about k/2 ms more than the one before: the last ~1 s.
    n = 2000
    driver, attempts, server = run(2000, n, lambda t: 0.001, concurrency=1)
    assert driver.totals.acked == n
    assert driver.totals.late >= n - 2  # every call but the first found the one slot busy
    last = max(a.intended_ms for a in attempts)
    assert last == pytest.approx(1000, rel=0.01)
    # the service time alone (what a closed loop would show) stays 1 ms
    assert {round(a.response_time_ms, 6) for a in attempts} == {1.0}
    # actual starts: one call at a time, 1 ms apart; intended: 0.5 ms apart
    actual = [started for _, started in server.sent]
    assert all(round(b - a, 9) == 0.001 for a, b in itertools.pairwise(actual))


def test_a_stall_shows_in_the_intended_latency_as_the_construction_implies() -> None:
    """The server stops answering for 1 s every 5 s (20 % of the time); enough slots that the
    sender never runs out. A call intended u s into a stall waits (1 - u) s: the p99 is
    the latency that 1 % of calls exceed, 0.2 (1 - x) = 0.01, x = 0.95 s (+1 ms service)."""

    def service(begin: float) -> float:
        phase = begin % 5.0
        return (1.0 - phase if phase < 1.0 else 0.0) + 0.001

    driver, attempts, _ = run(200, 200 * 20, service, concurrency=1000, servers=1000)
    assert driver.totals.late == 0
    intended = [a.intended_ms for a in attempts]
    assert percentile(intended, 99) == pytest.approx(951, abs=10)
    assert percentile(intended, 50) == pytest.approx(1.0, abs=0.01)
    stalled = sum(1 for value in intended if value > 2)
    assert stalled / len(intended) == pytest.approx(0.2, abs=0.01)


def test_poisson_arrivals_have_the_mean_rate_and_exponential_gaps() -> None:
    clock = Clock()
    schedule = Schedule(1000, "poisson", random.Random(3), clock=clock)
    times = [schedule.take() for _ in range(20_000)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert statistics.fmean(gaps) == pytest.approx(0.001, rel=0.03)
    assert statistics.pstdev(gaps) == pytest.approx(0.001, rel=0.05)  # exponential: sd = mean


def test_a_rate_change_keeps_the_backlog_then_follows_the_new_rate() -> None:
    clock = Clock()
    schedule = Schedule(100, "uniform", random.Random(1), clock=clock)
    first = schedule.take()
    assert 0 <= first < 0.01
    clock.now = 0.5  # ~50 calls are due and not taken: a backlog at 100/s
    schedule.set_rate(1000)
    schedule.apply(clock.now)
    owed = []
    while schedule.next_time < 0.5:
        owed.append(schedule.take())
    assert len(owed) in (49, 50) and all(round(b - a, 9) == 0.01 for a, b in itertools.pairwise(owed))
    after = [schedule.take() for _ in range(10)]
    assert after[0] >= 0.5 and all(round(b - a, 9) == 0.001 for a, b in itertools.pairwise(after))


def test_rate_zero_stops_the_schedule_and_a_new_rate_restarts_it() -> None:
    clock = Clock()
    schedule = Schedule(10, "uniform", random.Random(1), clock=clock)
    schedule.take()
    clock.now = schedule.next_time - 1e-6
    schedule.set_rate(0)
    schedule.apply(clock.now)
    assert schedule.next_time == NEVER
    woken = []
    schedule.on_change(lambda: woken.append(True))
    schedule.set_rate(50)
    assert woken == [True]
    schedule.apply(clock.now)
    assert clock.now <= schedule.next_time < clock.now + 0.02


def test_retries_keep_their_own_backoff_schedule_and_records_their_first_start() -> None:
    """Every call is throttled once, then accepted: the retry's intended start is the end of
    its backoff; the record's latency counts from its first call's intended start."""

    class ThrottleOnce(SimulatedServer):
        def collect(self, timeout: float | None) -> list[Attempt]:
            from writers.errors import AwsCallError

            attempts = super().collect(timeout)
            for attempt in attempts:
                if attempt.call.attempt == 1:
                    attempt.response = None
                    attempt.error = AwsCallError.from_response(400, "ThrottlingException")
            return attempts

    clock = Clock()
    server = ThrottleOnce(clock, 8, lambda t: 0.001, servers=8)
    schedule = Schedule(100, "uniform", random.Random(2), clock=clock)
    attempts: list[Attempt] = []
    driver = Driver(server, attempts.append, schedule=schedule, clock=clock, sleep=clock.sleep)
    driver.run(calls(50))
    assert driver.totals.acked == 50 and driver.totals.failures == 50
    retries = [a for a in attempts if a.call.attempt == 2]
    assert len(retries) == 50
    for attempt in retries:
        assert attempt.intended_ms == pytest.approx(1.0)  # from the end of its backoff
        assert attempt.record_ms is not None and attempt.record_ms > attempt.intended_ms + 1.0
        assert attempt.record_ms == pytest.approx((attempt.finished - attempt.call.first_intended) * 1000)


def owed_until(schedule: Schedule, now: float) -> list[float]:
    owed = []
    while schedule.next_time <= now:
        owed.append(schedule.take())
    return owed


def test_a_rate_change_forgives_the_backlog_beyond_one_second_and_counts_it() -> None:
    """At 100/s a sender that took one start in 5 s owes ~499; at the change to 10/s the
    starts of the last second (100) are still owed, the ~399 before are forgiven, counted."""
    clock = Clock()
    schedule = Schedule(100, "uniform", random.Random(1), clock=clock)
    first = schedule.take()
    due = math.floor((5.0 - first) / 0.01)  # starts after the first one, up to 5 s
    clock.now = 5.0
    schedule.set_rate(10)
    schedule.apply(clock.now)
    kept = owed_until(schedule, clock.now)
    assert all(4.0 <= t < 5.0 for t in kept) and len(kept) in (99, 100, 101), (len(kept), kept[:3])
    assert schedule.missed + len(kept) == due  # every start is sent or counted, none twice
    after = [schedule.take() for _ in range(3)]
    assert after[0] >= 5.0 and all(round(b - a, 9) == 0.1 for a, b in itertools.pairwise(after))


def test_a_paused_sender_forgives_every_start_it_missed() -> None:
    clock = Clock()
    schedule = Schedule(200, "poisson", random.Random(4), clock=clock)
    schedule.take()
    clock.now = 10.0  # paused for 10 s: ~2,000 starts missed
    schedule.set_rate(200, keep_backlog=0.0)
    schedule.apply(clock.now)
    assert schedule.next_time >= clock.now  # nothing owed: no burst
    assert schedule.missed == pytest.approx(2000, rel=0.05)


def test_forgiving_a_backlog_across_a_pending_rate_switch() -> None:
    """A backlog at 100/s, a change to 1,000/s (the last second still owed at 100/s), then
    2 s later a change to 0 that forgives all: each start owed at either rate is counted once."""
    clock = Clock()
    schedule = Schedule(100, "uniform", random.Random(2), clock=clock)
    first = schedule.take()
    old_rate_starts = round((3.0 - first) / 0.01)  # after the first, before the change at 3 s
    clock.now = 3.0
    schedule.set_rate(1000)
    schedule.apply(clock.now)  # still owed: the 100/s starts of [2, 3), then 1,000/s from 3 s
    assert old_rate_starts - 101 <= schedule.missed <= old_rate_starts - 99
    clock.now = 5.0
    schedule.set_rate(0, keep_backlog=0.0)
    schedule.apply(clock.now)
    assert schedule.next_time == NEVER
    assert schedule.missed == pytest.approx(old_rate_starts + 2000, abs=2)  # and the 1,000/s of [3, 5)


def test_a_sender_waiting_at_rate_0_ends_when_told_to_look_and_fed_no_more() -> None:
    """The end of a test (aws_locust.drain): its feeder stops and the schedule is told to
    look now; a sender parked at rate 0 (waiting for a new rate) finds no call and returns."""
    clock = Clock()
    server = SimulatedServer(clock, 4, lambda t: 0.001)
    schedule = Schedule(100, "uniform", random.Random(1), clock=clock)
    fed = calls(50)
    draining: list[bool] = []

    def feeder() -> Iterator[Call]:
        for index, call in enumerate(fed):
            if draining:
                return
            if index == 5:
                schedule.set_rate(0)  # the rate drops to 0 with the 6th call taken
            yield call

    def sleep(seconds: float) -> None:
        if seconds == NEVER:  # parked until a new rate: the drain comes instead
            draining.append(True)
            schedule.look_now()
            return
        clock.sleep(seconds)

    driver = Driver(server, lambda attempt: None, schedule=schedule, clock=clock, sleep=sleep)
    totals = driver.run(feeder())
    assert draining and totals.acked == 6  # and it returned: not parked for ever, no division by zero


class PreparingServer(SimulatedServer):
    """Notes when each call was prepared (made ahead) and started, on the simulated clock."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.prepared: dict[int, float] = {}  # id(call) -> when prepared
        self.started_prepared = 0
        self.events: list[str] = []

    def prepare(self, call: Call) -> None:
        assert call.prepared is None, "a call is made once per attempt"
        self.prepared[id(call)] = self.clock.now
        self.events.append("prepare")
        call.prepared = "made ahead"

    def start(self, call: Call) -> None:
        assert call.prepared is not None, "the driver prepares every call before it starts it"
        assert self.prepared[id(call)] <= max(call.intended, self.clock.now)
        self.started_prepared += 1
        self.events.append("start")
        call.prepared = None
        super().start(call)


def test_a_paced_sender_makes_each_call_ahead_of_its_intended_start() -> None:
    """While it waits for the next intended start, the driver takes that call and has the
    strategy prepare it (record, signature), so only sending is left when its time comes.
    Every call still starts at its intended time, none early, and the count is unchanged."""
    clock = Clock()
    server = PreparingServer(clock, 8, lambda t: 0.001)
    schedule = Schedule(100, "uniform", random.Random(3), clock=clock)
    attempts: list[Attempt] = []
    driver = Driver(server, attempts.append, schedule=schedule, clock=clock, sleep=clock.sleep)
    totals = driver.run(calls(50))
    assert totals.calls == totals.acked == 50 and totals.late == 0
    assert server.started_prepared >= 49  # the first may start at once, before any wait
    assert all(actual >= intended for intended, actual in server.sent)


def test_a_closed_loop_makes_each_burst_of_calls_then_sends_it_back_to_back() -> None:
    """The calls a driver can start at once (every free slot) are all made and signed first,
    then sent one after another: the sends of a burst leave together (one wake-up of the
    server instead of one per call). Each call is made when its slot is free, not before."""
    clock = Clock()
    server = PreparingServer(clock, 4, lambda t: 0.001)
    totals = Driver(server, lambda attempt: None, clock=clock, sleep=clock.sleep).run(calls(20))
    assert totals.acked == 20 and server.started_prepared == 20
    runs = [(kind, len(list(group))) for kind, group in itertools.groupby(server.events)]
    assert runs[0] == ("prepare", 4) and runs[1] == ("start", 4)  # four free slots: four made, then four sent
    kinds = [kind for kind, _ in runs]
    assert kinds == ["prepare", "start"] * (len(runs) // 2)  # always a burst made, then the same burst sent
    assert all(runs[i][1] == runs[i + 1][1] for i in range(0, len(runs), 2))
