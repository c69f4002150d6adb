"""Latency percentiles that merge correctly across workers, for each kind of latency.

Locust rounds response times to two significant digits, and averaging per-worker
percentiles is simply wrong. Each process keeps an HdrHistogram per kind and row
(microseconds, 3 significant digits); workers send what they recorded since their last
report to the master as a custom message, and the master adds the histograms up: its
percentiles are those of the union of every worker's calls.

Kinds (never to be confused, so each has its own name everywhere):
- `service`: service time, from sending a call to its answer (Locust's response time);
- `intended`: intended-time latency, from when a call was meant to start (rate mode) to
  its answer: what a steady sender experiences, stalls included;
- `record`: record latency, from a record's first intended start to its acknowledgement,
  across retries and a batch's unprocessed leftovers;
- `lag`: start lag (rate mode), intended start to actual start: the load generator's
  own delay (high values mean it cannot keep its schedule).

A value beyond the range (1 h) is recorded as 1 h and counted as over the range, so no
percentile is silently made smaller.

Histograms hold about 200 KB each and, in the hdrh package, a reference cycle
(histogram <-> encoder): every one dropped here is released explicitly, or memory would
grow until a full collection, which the raised young-generation GC threshold
(writers/young_gc.py) makes rare.

A worker's histograms travel in its stats report as their non-zero buckets (`sparse`:
bucket indexes and counts, min and max), not hdrh's compressed encoding: a histogram of
1 us .. 1 h has ~23,500 buckets, and encoding, decoding and adding all of them for every
worker every 3 s was most of what a master spent per worker; a worker's few seconds of
calls fill tens to hundreds of buckets. The master keeps the workers' buckets as they come
and adds them, all workers at once (numpy), when its histograms are read.

Per call, the request listener only appends each latency to an array of its kind and row
(~0.1 us); the values are folded into the HdrHistograms in bulk with numpy (`record_all`,
the same counts `HdrHistogram.record_value` makes, ~1.3 us a value in Python) whenever
the histograms are read or sent, and at the latest every `FOLD_AT` values.
"""

from __future__ import annotations

import functools
from array import array
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from hdrh.histogram import HdrHistogram

from aws_locust.context import RowKey

if TYPE_CHECKING:  # importing locust monkey-patches the process: only where Locust runs (attach)
    from locust.env import Environment

MESSAGE = "aws_latency"
LOWEST_US, HIGHEST_US, DIGITS = 1, 3_600_000_000, 3  # 1 us .. 1 h
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
KINDS = ("service", "intended", "record", "lag")
SUMMARY_KEYS = {  # --summary-json's key for each kind
    "service": "latency_ms",
    "intended": "intended_latency_ms",
    "record": "record_latency_ms",
    "lag": "start_lag_ms",
}
Key = tuple[str, RowKey]  # (kind, row)
_SEP = "\x1f"
FOLD_AT = 65_536  # values of one kind and row held before they are folded (512 KB)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def release(histograms: Iterable[HdrHistogram]) -> None:
    """Break each histogram's reference cycle, so that dropping it frees it at once."""
    for histogram in histograms:
        encoder = getattr(histogram, "encoder", None)
        if encoder is not None:
            encoder.histogram = None


def record_all(histogram: HdrHistogram, values_ms: array[float]) -> int:
    """Record every value (ms) as `record` does one: microseconds, rounded half to even, below
    the range as its lowest value, above it as its highest; returns how many were above it.
    Values that are not numbers (NaN) are left out, as `record` refuses them."""
    us = np.rint(np.frombuffer(values_ms, dtype=np.float64) * 1000.0)
    us = us[~np.isnan(us)]
    if not us.size:
        return 0
    over = int(np.count_nonzero(us > HIGHEST_US))
    values = np.clip(us, LOWEST_US, HIGHEST_US).astype(np.int64)
    # HdrHistogram's counts index of each value (hdrh's _counts_index_for, vectorised): the
    # bucket is set by the value's bit length (frexp's exponent: exact below 2**53).
    h = histogram
    bit_length = np.frexp((values | h.sub_bucket_mask).astype(np.float64))[1].astype(np.int64)
    bucket = bit_length - h.unit_magnitude - (h.sub_bucket_half_count_magnitude + 1)
    sub_bucket = values >> (bucket + h.unit_magnitude)
    index = ((bucket + 1) << h.sub_bucket_half_count_magnitude) + sub_bucket - h.sub_bucket_half_count
    counts = np.frombuffer(h.counts, dtype=np.uint64)  # the histogram's own counters, in place
    counts += np.bincount(index, minlength=h.counts_len).astype(np.uint64)
    h.total_count += int(values.size)
    h.min_value = min(h.min_value, int(values.min()))
    h.max_value = max(h.max_value, int(values.max()))
    return over


class RowValues:
    """One row's latencies as they come, by kind, until they are folded."""

    __slots__ = ("intended", "lag", "record", "service")

    def __init__(self) -> None:
        self.service: array[float] = array("d")
        self.intended: array[float] = array("d")
        self.record: array[float] = array("d")
        self.lag: array[float] = array("d")


def three_digits(ms: float) -> float:
    return float(f"{ms:.3g}")


def wire_key(key: Key) -> str:
    kind, row = key
    return _SEP.join((kind, *row))


@functools.lru_cache(maxsize=4096)  # the same few keys in every worker report
def from_wire_key(text: str) -> Key:
    kind, service, operation, strategy = text.split(_SEP)
    return kind, RowKey(service, operation, strategy)


def sparse(histogram: HdrHistogram) -> list[Any]:
    """A histogram as its non-zero buckets: [indexes, counts, min, max], the indexes and counts
    as packed arrays (uint16: 1 us .. 1 h has ~23,500 buckets; uint32 a bucket: a report
    covers seconds), what `add_sparse` adds."""
    counts = np.ctypeslib.as_array(histogram.counts)
    index = np.flatnonzero(counts)
    return [
        index.astype(np.uint16).tobytes(),
        counts[index].astype(np.uint32).tobytes(),
        histogram.get_min_value(),
        histogram.get_max_value(),
    ]


def add_sparse(targets: list[HdrHistogram], parts: list[list[Any]]) -> None:
    """Add `sparse` histograms (of many workers at once) to each of `targets` (made by
    `new_histogram`: the same layout): the counts, total, min and max hdrh's add would make."""
    index = np.concatenate([np.frombuffer(part[0], dtype=np.uint16) for part in parts])
    counts = np.concatenate([np.frombuffer(part[1], dtype=np.uint32) for part in parts]).astype(np.uint64)
    total, low, high = int(counts.sum()), min(part[2] for part in parts), max(part[3] for part in parts)
    for target in targets:
        np.add.at(np.ctypeslib.as_array(target.counts), index, counts)  # an index may come from several parts
        target.total_count += total
        target.min_value = min(target.min_value, low)
        target.max_value = max(target.max_value, high)


def _add_into(into: dict[Key, HdrHistogram], key: Key, histogram: HdrHistogram) -> None:
    target = into.get(key)
    if target is None:
        target = into[key] = new_histogram()
    target.add(histogram)


class LatencyHistograms:
    def __init__(self) -> None:
        self.merged: dict[Key, HdrHistogram] = {}  # what this process reports on
        self.unsent: dict[Key, HdrHistogram] = {}  # a worker's calls since its last message
        # Master or local: what arrived since the last rotation (live charts' per-interval percentiles).
        self.window: dict[Key, HdrHistogram] = {}
        # Master or local: this process's own calls, recorded once and added to `merged` and
        # `window` when either is read (one histogram update per call instead of two).
        self.pending: dict[Key, HdrHistogram] = {}
        # Master: the workers' `sparse` histograms since the last read, added all at once when read
        # (one numpy addition per histogram and read, not two per worker and report).
        self.incoming: dict[Key, list[list[Any]]] = {}
        self.over_range: Counter[Key] = Counter()  # merged (master) or this process's (local)
        self.unsent_over_range: Counter[Key] = Counter()  # a worker's, since its last message
        # This process's calls since the last fold, by row (the request listener appends here),
        # and where a fold puts them: `unsent` on a worker, `pending` elsewhere (attach says).
        self.values: dict[RowKey, RowValues] = {}
        self.worker = False

    def record(self, key: Key, ms: float, into: dict[Key, HdrHistogram], over: Counter[Key]) -> None:
        histogram = into.get(key)
        if histogram is None:
            histogram = into[key] = new_histogram()
        value = round(ms * 1000)
        if value > HIGHEST_US:
            over[key] += 1
            value = HIGHEST_US
        histogram.record_value(value if value >= LOWEST_US else LOWEST_US)

    def row_values(self, row: RowKey) -> RowValues:
        values = self.values.get(row)
        if values is None:
            values = self.values[row] = RowValues()
        return values

    def flush(self) -> None:
        """Fold the values of this process's calls into its histograms."""
        into, over = (self.unsent, self.unsent_over_range) if self.worker else (self.pending, self.over_range)
        for row, values in self.values.items():
            for kind in KINDS:
                recorded: array[float] = getattr(values, kind)
                if recorded:
                    key = (kind, row)
                    histogram = into.get(key)
                    if histogram is None:
                        histogram = into[key] = new_histogram()
                    beyond = record_all(histogram, recorded)
                    if beyond:
                        over[key] += beyond
                    del recorded[:]

    def take_message(self) -> dict[str, Any]:
        """A worker's message: the histograms and over-range counts since the last one."""
        self.flush()
        encoded = {wire_key(key): sparse(h) for key, h in self.unsent.items() if h.get_total_count()}
        over = {wire_key(key): n for key, n in self.unsent_over_range.items()}
        release(self.unsent.values())
        self.unsent.clear()
        self.unsent_over_range.clear()
        return {"histograms": encoded, "over_range": over} if encoded or over else {}

    def merge_message(self, data: dict[str, Any]) -> None:
        incoming = self.incoming
        for text, part in (data.get("histograms") or {}).items():
            key = from_wire_key(text)
            parts = incoming.get(key)
            if parts is None:
                incoming[key] = [part]
            else:
                parts.append(part)
        for text, count in (data.get("over_range") or {}).items():
            self.over_range[from_wire_key(text)] += int(count)

    def fold(self) -> None:
        self.flush()
        for key, parts in self.incoming.items():
            targets = []
            for into in (self.merged, self.window):
                target = into.get(key)
                if target is None:
                    target = into[key] = new_histogram()
                targets.append(target)
            add_sparse(targets, parts)
        self.incoming.clear()
        for key, histogram in self.pending.items():
            for into in (self.merged, self.window):
                _add_into(into, key, histogram)
        release(self.pending.values())
        self.pending.clear()

    def rotate_window(self) -> dict[Key, HdrHistogram]:
        """The histograms recorded or merged since the last rotation; a new window starts.
        The caller reads them, then hands them to `release`."""
        self.fold()
        window, self.window = self.window, {}
        return window

    def clear(self) -> None:
        self.values.clear()
        self.incoming.clear()
        for histograms in (self.merged, self.unsent, self.pending, self.window):
            release(histograms.values())
            histograms.clear()
        self.over_range.clear()
        self.unsent_over_range.clear()

    def percentiles(self, row: RowKey, kind: str = "service") -> dict[str, float]:
        """p50/p90/p99/p99.9/max in ms, 3 significant digits, the count, and how many
        values were over the range (recorded as 1 h) when any were."""
        self.fold()
        key = (kind, row)
        return summarize(self.merged.get(key), self.over_range.get(key, 0))

    def rows(self, kind: str = "service") -> list[RowKey]:
        self.fold()
        return sorted(row for (k, row), h in self.merged.items() if k == kind and h.get_total_count())

    def all_percentiles(self, kind: str = "service") -> dict[str, dict[str, float]]:
        """Row name -> percentiles, for one kind (--summary-json's `latency_ms` and siblings)."""
        return {row.name: self.percentiles(row, kind) for row in self.rows(kind)}

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """Every kind that has values, under its --summary-json key."""
        kinds = [kind for kind in KINDS if kind == "service" or self.rows(kind)]
        return {SUMMARY_KEYS[kind]: self.all_percentiles(kind) for kind in kinds}


def value_at_percentile(histogram: HdrHistogram, percentile: float) -> int:
    """hdrh's `get_value_at_percentile`, value for value, with numpy: hdrh walks the ~23,500
    buckets in Python (up to ~20 ms for a percentile in seconds), this sums them at once."""
    target = histogram.get_target_count_at_percentile(percentile)
    index = int(np.searchsorted(np.cumsum(np.ctypeslib.as_array(histogram.counts)), target))
    if index >= histogram.counts_len:
        return 0
    value = histogram.get_value_from_index(index)
    if percentile:
        return int(histogram.get_highest_equivalent_value(value))
    return int(histogram.get_lowest_equivalent_value(value))


def summarize(histogram: HdrHistogram | None, over_range: int = 0) -> dict[str, float]:
    if histogram is None or not histogram.get_total_count():
        return {}
    result = {f"p{p:g}": three_digits(value_at_percentile(histogram, p) / 1000) for p in PERCENTILES}
    result["max"] = three_digits(histogram.get_max_value() / 1000)
    result["count"] = histogram.get_total_count()
    if over_range:
        result["over_range"] = over_range  # values beyond 1 h, counted as 1 h
    return result


def attach(environment: Environment, histograms: LatencyHistograms) -> None:
    from locust.runners import MasterRunner, WorkerRunner

    runner = environment.runner
    histograms.worker = isinstance(runner, WorkerRunner)
    buffered = histograms.values

    def on_request(response_time: float, context: Any = None, **_: Any) -> None:
        # Once per call: appends only (the fold is in bulk). is_ours(), inlined.
        if context.__class__ is not dict:
            return
        row = context.get("row")
        if row.__class__ is not RowKey:
            return
        values = buffered.get(row) or histograms.row_values(row)
        service = values.service
        service.append(response_time)
        intended = context.get("intended_ms")
        if intended is not None:
            values.intended.append(intended)
            values.lag.append(intended - response_time)
        record_ms = context.get("record_ms")
        if record_ms is not None:
            values.record.append(record_ms)
        if len(service) >= FOLD_AT:
            histograms.flush()

    def report_to_master(client_id: str, data: dict[str, Any]) -> None:
        # In the stats report itself: one message per worker per report, not two, for the master to read.
        message = histograms.take_message()
        if message and isinstance(runner, WorkerRunner):
            data[MESSAGE] = message

    def worker_report(client_id: str, data: dict[str, Any]) -> None:
        message = data.get(MESSAGE)
        if message:
            histograms.merge_message(message)

    def test_start(**_: Any) -> None:
        if not isinstance(runner, WorkerRunner):
            histograms.clear()  # a new test: Locust clears its stats too

    environment.events.request.add_listener(on_request)
    environment.events.report_to_master.add_listener(report_to_master)
    environment.events.test_start.add_listener(test_start)
    environment.events.reset_stats.add_listener(histograms.clear)
    if isinstance(runner, MasterRunner):
        environment.events.worker_report.add_listener(worker_report)
