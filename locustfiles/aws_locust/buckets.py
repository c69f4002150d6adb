"""Latency buckets for the exports, and bucket counts read from an HdrHistogram in bounded time.

`BOUNDS_SECONDS` are the upper bounds of both exports' latency buckets (Prometheus'
`aws_load_latency_seconds`, OpenTelemetry's `aws_load.latency.*`): 0.25 ms to 60 s, eight
a decade (1, 1.5, 2, 2.5, 3, 4, 5, 7.5), so a percentile read from the buckets is the
HdrHistogram's to within one bucket, never more than 1.5x wide.

A scrape must not walk every recorded value in Python (that cost ~0.2 s of the gevent
loop per scrape, issue 22): `BucketReader` reads a histogram's counts array as numpy
(no copy), takes its cumulative sum and picks it at each bound's index. The work is
fixed by the histogram's size (23,552 counters), whatever the number of values recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

BOUNDS_SECONDS: tuple[float, ...] = (
    0.00025, 0.0003, 0.0004, 0.0005, 0.00075,
    0.001, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.0075,
    0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075,
    0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75,
    1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5,
    10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
)  # fmt: skip
US_PER_SECOND = 1_000_000  # the histograms hold microseconds (aws_locust.latency)


class BucketReader:
    """Cumulative counts at fixed bounds and the sum of values, for histograms of one layout
    (the lowest and highest trackable value and significant digits; every histogram of the
    run shares the one of aws_locust.latency). The index arithmetic is HdrHistogram's own
    (`get_value_from_index`), done once for the whole counts array."""

    def __init__(self, bounds_seconds: tuple[float, ...] = BOUNDS_SECONDS) -> None:
        self.bounds_seconds = bounds_seconds
        self._layout: tuple[int, ...] | None = None
        self._starts: np.ndarray[Any, np.dtype[np.intp]] = np.zeros(0, dtype=np.intp)
        self._middle: np.ndarray[Any, np.dtype[np.uint64]] = np.zeros(0, dtype=np.uint64)

    def _prepare(self, histogram: HdrHistogram) -> None:
        layout = (histogram.counts_len, histogram.sub_bucket_half_count_magnitude, histogram.unit_magnitude)
        if layout == self._layout:
            return
        index = np.arange(histogram.counts_len, dtype=np.int64)
        half = histogram.sub_bucket_half_count
        bucket = (index >> histogram.sub_bucket_half_count_magnitude) - 1
        sub_bucket = (index & (half - 1)) + half
        first = bucket < 0  # the first bucket's lower half: values 0 .. half-1
        sub_bucket = np.where(first, sub_bucket - half, sub_bucket)
        shift = np.maximum(bucket, 0) + histogram.unit_magnitude
        lowest = sub_bucket << shift  # the lowest value each counter holds
        # the middle of each counter's range, as HdrHistogram's mean takes its values
        self._middle = (lowest + ((np.int64(1) << shift) >> 1)).astype(np.uint64)
        bounds_us = np.array([round(bound * US_PER_SECOND) for bound in self.bounds_seconds], dtype=np.int64)
        # the counter holding each bound: values up to it are counted (to the histogram's resolution)
        holding = np.searchsorted(lowest, bounds_us, side="right") - 1
        if np.any(np.diff(holding) <= 0):
            raise ValueError("two bucket bounds fall in one HdrHistogram counter")
        self._starts = np.concatenate(([0], holding + 1)).astype(np.intp)  # where each bucket's counters start
        self._layout = layout

    def read(self, histogram: HdrHistogram) -> tuple[list[int], float]:
        """(values <= each bound, cumulative, one per bound; the sum of the values in seconds)."""
        self._prepare(histogram)
        counts = np.ctypeslib.as_array(histogram.counts)  # the histogram's own memory, no copy
        per_bucket = np.add.reduceat(counts, self._starts)[:-1]  # the last: above every bound
        below = [int(count) for count in np.cumsum(per_bucket)]
        # Integers throughout: exact, and no BLAS (np.dot of floats went to OpenBLAS, whose
        # threads took ~10 ms a call on a busy 2-core machine).
        total_us = int(np.dot(counts, self._middle))
        return below, total_us / US_PER_SECOND


def percentile_from_buckets(bounds: list[float], counts: list[int], percentile: float) -> float:
    """The upper bound of the bucket holding `percentile` (0-100), from per-bucket (not
    cumulative) counts with one more count than bounds (the last: above every bound):
    how a percentile is read from exported buckets. inf when it is above the last bound.
    The rank is HdrHistogram's (`get_target_count_at_percentile`: the nearest, at least the
    first), so the bucket named holds the value the summary reports for the same calls."""
    total = sum(counts)
    if not total:
        return float("nan")
    wanted = max(1, int(min(percentile, 100.0) * total / 100 + 0.5))
    seen = 0
    for bound, count in zip([*bounds, float("inf")], counts, strict=True):
        seen += count
        if seen >= wanted:
            return bound
    return float("inf")
