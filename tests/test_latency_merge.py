"""Percentiles merged from workers' HdrHistograms are those of the union of their calls.

Two real worker processes (--processes 2) fire request events with known, different
latencies: worker 0 900 events of 10 ms, worker 1 100 events of 1,000 ms. The union's
p99 is 1,000 ms; averaging the workers' own p99s (10 and 1,000) would give 505 ms.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import DYNAMODB_LOCUSTFILE, PROJECT_ROOT, LocustProcess, own_master_port

pytestmark = pytest.mark.slow


def test_two_workers_merge_to_the_percentiles_of_the_union(tmp_path: Path) -> None:
    files = f"{DYNAMODB_LOCUSTFILE},{PROJECT_ROOT / 'tests' / 'locustfiles' / 'synthetic_latency.py'}"
    args = ["--processes", "2", "-u", "2", "-r", "2", "-t", "6s", *own_master_port(), "SyntheticLatencyUser"]
    keys = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test"}
    result = LocustProcess(files, args, tmp_path, env=keys, credentials=False).finish(90)  # --summary-json, no report
    assert result.returncode == 0, result.output[-2000:]
    merged = result.summary["latency_ms"]["TEST known [synthetic]"]
    assert merged["count"] == 1000  # both workers' histograms arrived
    assert merged["p50"] == 10.0 and merged["p90"] == 10.0
    assert merged["p99"] == 1000.0 and merged["max"] == 1000.0
    average_of_worker_p99s = (10.0 + 1000.0) / 2
    assert merged["p99"] != average_of_worker_p99s
