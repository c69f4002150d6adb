"""The latency histograms (locustfiles/aws_locust/latency.py) without Locust: kinds kept
apart, values over the range counted, and no memory kept by histograms already dropped.

Memory (issue 18): the hdrh package's histograms hold a reference cycle (histogram <->
encoder), so a dropped one is freed only by a full collection of the cycle collector,
which the raised young-generation threshold (writers/young_gc.py) makes rare: RSS grew
~10 MB a minute at full speed. The test runs the master's and a worker's cycle of
record, send, merge and rotate with the collector off and counts live histograms.
"""

from __future__ import annotations

import gc

import pytest
from hdrh.histogram import HdrHistogram
from helpers import PROJECT_ROOT

LOCUSTFILES = str(PROJECT_ROOT / "locustfiles")
from aws_locust.context import RowKey  # noqa: E402
from aws_locust.latency import HIGHEST_US, LatencyHistograms, release  # noqa: E402

ROW = RowKey("DynamoDB", "PutItem", "gevent")


def live_histograms() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, HdrHistogram))


def test_dropped_histograms_are_freed_without_the_cycle_collector() -> None:
    worker, master = LatencyHistograms(), LatencyHistograms()
    gc.collect()
    before = live_histograms()
    gc.disable()
    try:
        for round_ in range(300):  # ~15 minutes of a worker's reports, 3 s apart
            for kind in ("service", "intended", "record", "lag"):
                worker.record((kind, ROW), 1.0 + round_, worker.unsent, worker.unsent_over_range)
                master.record((kind, ROW), 2.0, master.pending, master.over_range)
            master.merge_message(worker.take_message())
            release(master.rotate_window().values())  # what the live charts' sampler does
        kept = live_histograms() - before
    finally:
        gc.enable()
    assert kept <= 4, f"{kept} histograms still alive"  # the merged ones, one per kind
    assert master.percentiles(ROW)["count"] == 600


def test_kinds_are_kept_apart_and_summarized_under_their_own_keys() -> None:
    histograms = LatencyHistograms()
    over = histograms.over_range
    for ms in (1.0, 2.0, 3.0):
        histograms.record(("service", ROW), ms, histograms.pending, over)
        histograms.record(("intended", ROW), ms * 100, histograms.pending, over)
    summary = histograms.summary()
    assert set(summary) == {"latency_ms", "intended_latency_ms"}  # no record latency was measured
    assert summary["latency_ms"][ROW.name]["max"] == 3.0
    assert summary["intended_latency_ms"][ROW.name]["max"] == 300.0


def test_values_over_the_range_are_counted_not_hidden() -> None:
    histograms = LatencyHistograms()
    over = histograms.over_range
    histograms.record(("intended", ROW), 2 * HIGHEST_US / 1000, histograms.pending, over)  # two hours
    histograms.record(("intended", ROW), 5.0, histograms.pending, over)
    values = histograms.percentiles(ROW, "intended")
    assert values["over_range"] == 1 and values["count"] == 2
    assert values["max"] == pytest.approx(HIGHEST_US / 1000, rel=0.01)  # recorded as 1 h, never less


def test_over_range_counts_travel_with_the_worker_messages() -> None:
    worker, master = LatencyHistograms(), LatencyHistograms()
    worker.record(("record", ROW), 3 * HIGHEST_US / 1000, worker.unsent, worker.unsent_over_range)
    master.merge_message(worker.take_message())
    assert master.percentiles(ROW, "record")["over_range"] == 1
    assert worker.take_message() == {}  # sent once


def test_sparse_messages_merge_exactly_as_hdrh_adds() -> None:
    """Workers send only their non-zero buckets (a master spent most of its per-worker CPU
    decoding and adding ~23,500-bucket arrays); the merge must be hdrh's, value for value."""
    import random

    from aws_locust.latency import new_histogram

    rng = random.Random(3)
    master, reference = LatencyHistograms(), new_histogram()
    for _ in range(5):  # five workers' reports
        worker = LatencyHistograms()
        for _ in range(2000):
            ms = rng.lognormvariate(1.0, 1.5)  # 0.01 ms .. seconds: many buckets, several decades
            worker.record(("service", ROW), ms, worker.unsent, worker.unsent_over_range)
        alone = new_histogram()
        alone.add(worker.unsent[("service", ROW)])
        reference.add(alone)
        release([alone])
        master.merge_message(worker.take_message())
    master.fold()
    merged = master.merged[("service", ROW)]
    assert merged.get_total_count() == reference.get_total_count() == 10_000
    for p in (1, 10, 50, 90, 99, 99.9, 99.99, 100):
        assert merged.get_value_at_percentile(p) == reference.get_value_at_percentile(p), p
    assert merged.get_max_value() == reference.get_max_value()
    assert list(merged.counts) == list(reference.counts)


def test_bulk_recording_counts_exactly_what_one_by_one_recording_counts() -> None:
    """The request listener buffers values and folds them with numpy (record_all): every
    count, the total, min, max and the values over the range must be those of hdrh's own
    record_value, one value at a time, at every bucket boundary and beyond the range."""
    import random
    from array import array

    from aws_locust.latency import record_all

    rng = random.Random(7)
    edges = [-5.0, 0.0, 0.0004, 0.0005, 0.0006, 0.001, 1.0, 2.047, 2.048, 2.049, 4.095, 4.096, 4.097]
    edges += [HIGHEST_US / 1000, HIGHEST_US / 1000 + 0.001, 3 * HIGHEST_US / 1000, float("nan")]
    values = edges + [10 ** rng.uniform(-3, 7) for _ in range(20_000)]
    one_by_one, bulk = LatencyHistograms(), LatencyHistograms()
    for ms in values:
        if ms == ms:  # record() refuses NaN (round() raises); record_all leaves it out
            one_by_one.record(("service", ROW), ms, one_by_one.pending, one_by_one.over_range)
    histogram = HdrHistogram(1, HIGHEST_US, 3)
    over = record_all(histogram, array("d", values))
    expected = one_by_one.pending[("service", ROW)]
    assert list(histogram.counts) == list(expected.counts)
    assert (histogram.total_count, histogram.min_value, histogram.max_value) == (
        expected.total_count,
        expected.min_value,
        expected.max_value,
    )
    assert over == one_by_one.over_range[("service", ROW)] > 0
    assert histogram.get_value_at_percentile(99.0) == expected.get_value_at_percentile(99.0)
    bulk_values = bulk.row_values(ROW)
    bulk_values.service.extend(values)
    assert bulk.percentiles(ROW) == one_by_one.percentiles(ROW)
    assert not bulk_values.service  # folded once, then empty


def test_percentiles_are_hdrhs_value_for_value() -> None:
    """Percentiles are read with numpy (hdrh walks ~23,500 buckets in Python: milliseconds a
    percentile, for every row and kind of every table and chart point)."""
    import random

    from aws_locust.latency import new_histogram, value_at_percentile

    rng = random.Random(11)
    histogram = new_histogram()
    for _ in range(20_000):
        histogram.record_value(max(1, int(10 ** rng.uniform(0, 9.5))))  # 1 us .. ~1 h, every decade
    for p in (0, 0.001, 1, 25, 50, 90, 99, 99.9, 99.99, 99.999, 100):
        assert value_at_percentile(histogram, p) == histogram.get_value_at_percentile(p), p
    empty = new_histogram()
    assert value_at_percentile(empty, 99) == empty.get_value_at_percentile(99) == 0
