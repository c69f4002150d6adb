"""Prometheus' text format as aws_locust/prometheus.py writes it, on constructed values:
numbers, escaped labels, families and label-less gauges, read back with
prometheus-client's own parser. (The scrape of a whole run's figures is in
tests/test_metrics_exports.py; a live scrape in tests/test_ci_checks_and_metrics.py.)"""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from aws_locust.prometheus import Exposition, label_text, number


def test_numbers_as_the_text_format_writes_them() -> None:
    assert [number(v) for v in (0, 7, 2.5, 1e-9, math.nan, math.inf, -math.inf)] == [
        "0", "7", "2.5", "1e-09", "NaN", "+Inf", "-Inf",
    ]  # fmt: skip
    assert float(number(0.1 + 0.2)) == 0.1 + 0.2  # repr: no digit lost


def test_label_values_are_escaped_and_read_back_whole() -> None:
    awkward = 'a "quoted" back\\slash\nnewline'
    text = label_text(("service", "what"), ("S3", awkward))
    assert text == 'service="S3",what="a \\"quoted\\" back\\\\slash\\nnewline"'
    out = Exposition()
    out.family("aws_load_things_total", "counter", "things")
    out.sample("aws_load_things_total", text, 3)
    out.gauge("aws_load_users", "users running", 12)
    out.gauge("aws_load_target_records_per_second", "the target rate now", None)  # no value: no sample
    families = {f.name: f for f in text_string_to_metric_families(out.encode().decode())}
    (thing,) = families["aws_load_things"].samples
    assert thing.labels == {"service": "S3", "what": awkward} and thing.value == 3
    assert [s.value for s in families["aws_load_users"].samples] == [12]
    assert families["aws_load_target_records_per_second"].samples == []
    assert families["aws_load_target_records_per_second"].type == "gauge"
