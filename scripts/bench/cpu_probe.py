"""A locustfile plug-in for benchmarks: load it beside any locustfile
(`-f locustfiles/dynamodb.py,scripts/bench/cpu_probe.py`) and it writes, to the file in
$CPU_PROBE_JSON at test stop, what this process did:

- `all`: from test start to test stop: request events, failures, items, CPU seconds
  (all threads of the process: `time.process_time`), wall seconds;
- `window`: the same from $CPU_PROBE_WARMUP seconds after test start (default 0) to test
  stop, so that start-up work inside the test (threads, clients and connections made on
  first use) is left out of the measured rate;
- `latency_ms`: p50/p99/p99.9/max of the window's request events, from an HdrHistogram
  made like the project's own (1 us to 1 h, 3 significant digits).

With $CPU_PROBE_STOP_AFTER (seconds), the probe itself ends the run that long after test
start (`runner.quit()`, as Locust's own --run-time does), to the tenth of a second: Locust's
-t takes whole seconds and its clock starts before test start.

Items: our calls carry `items` in the event's context (the same count the `--summary-json`
rows add up); the anchors carry `bench_items`; an event with neither counts one item.
Imports, emulators and provisioning happen before test start and are never counted.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import gevent
from hdrh.histogram import HdrHistogram
from locust import events

WARMUP = float(os.environ.get("CPU_PROBE_WARMUP", "0") or 0)
STOP_AFTER = float(os.environ.get("CPU_PROBE_STOP_AFTER", "0") or 0)
_COUNTERS = ("requests", "failures", "items")


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, 3_600_000_000, 3)


_state: dict[str, Any] = {name: 0 for name in _COUNTERS}
_marks: dict[str, dict[str, float]] = {}
_latency = [_histogram()]
_windowed = [False]
_environment: list[Any] = [None]


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    _environment[0] = environment


def _quit() -> None:
    runner = getattr(_environment[0], "runner", None)
    if runner is not None:
        runner.quit()


def _snapshot() -> dict[str, float]:
    return {**{name: _state[name] for name in _COUNTERS}, "cpu": time.process_time(), "wall": time.monotonic()}


@events.request.add_listener
def _count(response_time: float = 0.0, exception: Any = None, context: Any = None, **_: Any) -> None:
    _state["requests"] += 1
    if exception is not None:
        _state["failures"] += 1
    context = context or {}
    _state["items"] += int(context.get("items", context.get("bench_items", 1)) or 0)
    if _windowed[0]:
        _latency[0].record_value(min(3_600_000_000, max(1, round((response_time or 0) * 1000))))


def _start_window() -> None:
    _marks["window"] = _snapshot()
    _latency[0] = _histogram()
    _windowed[0] = True


@events.test_start.add_listener
def _start(**_: Any) -> None:
    _state.update({name: 0 for name in _COUNTERS})
    _marks["all"] = _snapshot()
    _windowed[0] = False
    if WARMUP > 0:
        gevent.spawn_later(WARMUP, _start_window)
    else:
        _start_window()
    if STOP_AFTER > 0:
        gevent.spawn_later(STOP_AFTER, _quit)


def _since(mark: dict[str, float], end: dict[str, float]) -> dict[str, float]:
    return {name: end[name] - mark[name] for name in end}


@events.test_stop.add_listener
def _stop(**_: Any) -> None:
    end = _snapshot()
    if "window" not in _marks:  # the run was shorter than the warm-up
        _start_window()
    histogram = _latency[0]
    latency = {}
    if histogram.get_total_count():
        latency = {f"p{p:g}": histogram.get_value_at_percentile(p) / 1000 for p in (50.0, 99.0, 99.9)}
        latency["max"] = histogram.get_max_value() / 1000
        latency["count"] = histogram.get_total_count()
    result = {"all": _since(_marks["all"], end), "window": _since(_marks["window"], end), "latency_ms": latency}
    # The flat figures earlier versions wrote (whole test): requests, failures, cpu, wall.
    result.update({k: result["all"][k] for k in ("requests", "failures", "cpu", "wall")})
    path = os.environ.get("CPU_PROBE_JSON")
    if path:
        with open(path, "w") as out:
            json.dump(result, out)
