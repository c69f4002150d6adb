"""Latency percentiles that merge correctly across workers.

Locust rounds response times to two significant digits, and averaging per-worker
percentiles is simply wrong. Each process keeps an HdrHistogram per request name
(microseconds, 3 significant digits); workers send what they recorded since their last
report to the master as a custom message, and the master adds the histograms up: its
percentiles are those of the union of every worker's calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hdrh.histogram import HdrHistogram

if TYPE_CHECKING:  # importing locust monkey-patches the process: only where Locust runs (attach)
    from locust.env import Environment

MESSAGE = "aws_latency"
LOWEST_US, HIGHEST_US, DIGITS = 1, 3_600_000_000, 3  # 1 us .. 1 h
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def three_digits(ms: float) -> float:
    return float(f"{ms:.3g}")


class LatencyHistograms:
    def __init__(self) -> None:
        self.merged: dict[str, HdrHistogram] = {}  # what this process reports on
        self.unsent: dict[str, HdrHistogram] = {}  # a worker's calls since its last message
        # Master or local: what arrived since the last rotation (live charts' per-interval percentiles).
        self.window: dict[str, HdrHistogram] = {}
        # Master or local: this process's own calls, recorded once and added to `merged` and
        # `window` when either is read (one histogram update per call instead of two).
        self.pending: dict[str, HdrHistogram] = {}

    def record(self, name: str, response_time_ms: float, into: dict[str, HdrHistogram]) -> None:
        histogram = into.get(name)
        if histogram is None:
            histogram = into[name] = new_histogram()
        histogram.record_value(min(HIGHEST_US, max(LOWEST_US, round(response_time_ms * 1000))))

    def take_encoded(self) -> dict[str, str]:
        encoded = {name: h.encode().decode("ascii") for name, h in self.unsent.items() if h.get_total_count()}
        self.unsent.clear()
        return encoded

    def fold(self) -> None:
        for name, histogram in self.pending.items():
            for into in (self.merged, self.window):
                target = into.get(name)
                if target is None:
                    target = into[name] = new_histogram()
                target.add(histogram)
        self.pending.clear()

    def merge_encoded(self, encoded: dict[str, str]) -> None:
        for name, text in encoded.items():
            decoded = HdrHistogram.decode(text.encode("ascii"))
            for into in (self.merged, self.window):
                histogram = into.get(name)
                if histogram is None:
                    histogram = into[name] = new_histogram()
                histogram.add(decoded)

    def rotate_window(self) -> dict[str, HdrHistogram]:
        """The histograms recorded or merged since the last rotation; a new window starts."""
        self.fold()
        window, self.window = self.window, {}
        return window

    def clear(self) -> None:
        self.merged.clear()
        self.unsent.clear()
        self.pending.clear()
        self.window = {}

    def percentiles(self, name: str) -> dict[str, float]:
        """p50/p90/p99/p99.9/max in ms, 3 significant digits, and the count."""
        self.fold()
        histogram = self.merged.get(name)
        if histogram is None or not histogram.get_total_count():
            return {}
        result = {f"p{p:g}": three_digits(histogram.get_value_at_percentile(p) / 1000) for p in PERCENTILES}
        result["max"] = three_digits(histogram.get_max_value() / 1000)
        result["count"] = histogram.get_total_count()
        return result

    def all_percentiles(self) -> dict[str, dict[str, float]]:
        self.fold()
        return {name: self.percentiles(name) for name in sorted(self.merged)}


def attach(environment: Environment, histograms: LatencyHistograms) -> None:
    from locust.runners import MasterRunner, WorkerRunner

    runner = environment.runner
    worker = isinstance(runner, WorkerRunner)
    into = histograms.unsent if worker else histograms.pending

    def on_request(request_type: str, name: str, response_time: float, **_: Any) -> None:
        histograms.record(f"{request_type} {name}", response_time, into)

    def report_to_master(client_id: str, data: dict[str, Any]) -> None:
        # Sent just before each stats report, so the master has it before the final one.
        encoded = histograms.take_encoded()
        if encoded and isinstance(runner, WorkerRunner):
            runner.send_message(MESSAGE, encoded)

    def test_start(**_: Any) -> None:
        if not isinstance(runner, WorkerRunner):
            histograms.clear()  # a new test: Locust clears its stats too

    environment.events.request.add_listener(on_request)
    environment.events.report_to_master.add_listener(report_to_master)
    environment.events.test_start.add_listener(test_start)
    environment.events.reset_stats.add_listener(histograms.clear)
    if isinstance(runner, MasterRunner):
        runner.register_message(MESSAGE, lambda msg, **_: histograms.merge_encoded(msg.data))
