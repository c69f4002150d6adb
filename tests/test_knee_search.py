"""The knee finder's parts on constructed inputs, without Locust (aws_locust/knee.py): a
step's meter, one step's verdict from the processes' meters, the next rate to try, and
the search's result. The right answers follow from the inputs; the end-to-end runs are in
tests/test_rate_mode.py."""

from __future__ import annotations

from typing import Any

import pytest

from aws_locust.context import RowKey
from aws_locust.knee import ACHIEVED_SHARE, BISECT_WITHIN, MIN_RATE, Search, Step, StepMeter, combine, next_rate
from aws_locust.settings import RateSettings

ROW = RowKey("DynamoDB", "PutItem", "gevent")
SETTINGS = RateSettings(find_max=True, find_max_start=100, find_max_growth=2, slo_p99_ms=20)


def event(acked: int = 1, failure: str = "", intended_ms: float | None = None) -> dict[str, Any]:
    """One request event's keyword arguments, as our users fire them."""
    context = {"row": ROW, "acked": acked, "failure_kind": failure or None, "intended_ms": intended_ms}
    return {"context": context, "exception": RuntimeError(failure) if failure else None}


def measured(step: int, events: list[dict[str, Any]]) -> dict[str, Any]:
    meter = StepMeter()
    meter.start(step)
    for kwargs in events:
        meter.on_request(**kwargs)
    return meter.finish(step)


def test_a_meter_counts_our_calls_while_its_step_is_open() -> None:
    meter = StepMeter()
    meter.on_request(**event(intended_ms=1))  # before any step: not counted
    meter.start(3)
    for ms in range(1, 8):
        meter.on_request(**event(acked=2, intended_ms=ms))
    meter.on_request(**event(acked=0, failure="throttled", intended_ms=50))
    meter.on_request(**event(acked=0, failure="server", intended_ms=60))
    meter.on_request(context={"row": "not ours"}, exception=None)  # another plug-in's event
    meter.on_request(context=None, exception=None)
    figures = meter.finish(3)
    meter.on_request(**event())  # closed: not counted
    assert (figures["step"], figures["calls"], figures["acked"]) == (3, 9, 14)
    assert (figures["throttled"], figures["errors"], figures["late"]) == (1, 1, 0)
    assert figures["histogram"] and figures["seconds"] > 0
    assert meter.finish(4) == {"step": 4, "seconds": 0.0}  # a close for another step: nothing measured


def test_a_step_at_95_percent_of_its_rate_holds_and_below_it_breaches() -> None:
    ok = [
        {"step": 1, "seconds": 2.0, "calls": 1000, "acked": 1000},
        {"step": 1, "seconds": 1.0, "calls": 450, "acked": 450},
    ]
    # 1000 / 2 s + 450 / 1 s = 950 records/s, each process over its own time
    assert combine(1000, ok, RateSettings()).verdict == "ok"
    assert combine(1000, ok, RateSettings()).achieved == 950.0 == ACHIEVED_SHARE * 1000
    short = combine(1001, ok, RateSettings())
    assert short.verdict == "breach: achieved 950 < 95 % of 1001"
    assert not short.ok


def test_a_step_is_judged_on_the_intended_p99_of_every_process_together() -> None:
    # 99 answers at 10 ms in one process, one at 500 ms in the other: the p99 is ~10 ms
    fast = measured(1, [event(intended_ms=10) for _ in range(99)])
    slow = measured(1, [event(intended_ms=500)])
    fast["seconds"] = slow["seconds"] = 1.0
    step = combine(100, [fast, slow], RateSettings(slo_p99_ms=20))
    assert step.p99_intended_ms is not None and 9.9 <= step.p99_intended_ms <= 10.1
    assert step.ok, step.verdict
    # two answers at 500 ms in 100: now the 99th percentile is one of them
    slower = measured(1, [event(intended_ms=500), event(intended_ms=500)])
    slower["seconds"] = 1.0
    fast = measured(1, [event(intended_ms=10) for _ in range(98)])
    fast["seconds"] = 1.0
    step = combine(100, [fast, slower], RateSettings(slo_p99_ms=20))
    assert step.p99_intended_ms is not None and 495 <= step.p99_intended_ms <= 505
    assert step.verdict.startswith("breach: p99 ") and step.verdict.endswith("> 20 ms")


def test_throttles_and_errors_are_judged_as_shares_of_the_calls() -> None:
    meters = [{"step": 1, "seconds": 1.0, "calls": 100, "acked": 100, "throttled": 3, "errors": 1, "late": 2}]
    step = combine(100, meters, RateSettings(slo_throttle_ratio=0.02, slo_error_ratio=0.01))
    assert (step.throttle_ratio, step.error_ratio, step.late) == (0.03, 0.01, 2)
    assert step.verdict == "breach: throttled 3.00% > 2.00%"  # 1 % of errors is allowed: not a breach
    no_p99 = combine(100, meters, RateSettings(slo_p99_ms=5))
    assert no_p99.p99_intended_ms is None and "p99 None ms > 5 ms" in no_p99.verdict  # nothing measured: not a pass


def test_next_rate_grows_halves_and_bisects() -> None:
    assert next_rate(None, None, 100, SETTINGS) == 200  # no breach yet: times the growth
    assert next_rate(None, 100, 100, SETTINGS) == 50  # the first rate breached: halve
    assert next_rate(None, 1.5, 1.5, SETTINGS) is None  # halved below the minimum rate: done
    assert MIN_RATE == 1.0
    assert next_rate(400, 800, 800, SETTINGS) == 600  # between the last good and the first bad
    assert next_rate(400, 400 * (1 + BISECT_WITHIN), 420, SETTINGS) is None  # within 5 %: done


@pytest.mark.parametrize("knee", [730.0, 100.0, 37.0, 5000.0])
def test_the_search_ends_within_5_percent_below_a_known_knee(knee: float) -> None:
    """A service that holds any rate up to `knee` and no more: the search's good rate ends
    below the knee and within 5 % of it, in a bounded number of steps."""
    good = bad = None
    rate: float | None = SETTINGS.find_max_start
    tried = []
    while rate is not None:
        tried.append(rate)
        if rate <= knee:
            good = rate if good is None else max(good, rate)
        else:
            bad = rate if bad is None else min(bad, rate)
        rate = next_rate(good, bad, rate, SETTINGS)
    assert good is not None and knee * (1 - BISECT_WITHIN) <= good <= knee, (good, tried)
    assert len(tried) <= 20, tried


def test_the_result_of_a_finished_and_of_a_stopped_search() -> None:
    search = Search(SETTINGS)
    search.steps = [
        Step(100, achieved=100, verdict="ok", cpu_seconds=0.5, acked=1000),
        Step(200, achieved=200, verdict="ok", cpu_seconds=2.0, acked=4000),
        Step(400, achieved=300, verdict="breach: achieved 300 < 95 % of 400"),
    ]
    stopped = search.result(cost_per_record_usd=1e-6)
    assert stopped["complete"] is False
    assert stopped["sustainable_rate"] == 200  # the best step that passed so far
    assert stopped["cpu_per_1000_records"] == 0.5  # that step's: 2 s of CPU for 4,000 records
    assert stopped["cores_per_10000_records_per_s"] == 5.0
    assert stopped["cost_per_hour_usd"] == pytest.approx(1e-6 * 200 * 3600)
    assert [s["rate"] for s in stopped["steps"]] == [100, 200, 400]
    assert stopped["objectives"]["p99_intended_ms"] == 20
    search.sustainable, search.done = 300.0, True
    finished = search.result(cost_per_record_usd=None)
    assert (finished["complete"], finished["sustainable_rate"], finished["cost_per_hour_usd"]) == (True, 300, None)
    assert Search(SETTINGS).result(None)["sustainable_rate"] == 0  # nothing passed: 0, not a guess
