"""Reports and the cost estimate.

Unit tests of the price table's arithmetic (DynamoDB units from ConsumedCapacity or item
sizes, S3 request classes, SQS 64 KiB chunks), of secret masking, of the live rates and
of the HTML rendering (one file: plotly.js inside, nothing loaded from elsewhere); then
real headless Locust runs (local, and --processes 2) whose JSON and HTML reports are
checked against the AWS summary and Locust's own totals, and searched for secrets; and a
run against a stub whose throttles and errors come in known shares, on a known schedule,
whose timeline and charts (read back in an offline Chromium) must hold those figures.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import boto3
import pytest
from botocore.config import Config
from helpers import (
    DYNAMODB_LOCUSTFILE,
    HEADLESS,
    PROJECT_ROOT,
    LocustProcess,
    RunLocust,
    SharedEmulators,
    headless_locust,
    legend_overlaps,
    require_chromium,
    stats_totals,
)
from helpers.raw_servers import ReadOnlyBucket
from helpers.stubs import PatternServer

from writers import pricing
from writers import services as registry
from writers.calls import Call, ServiceInfo
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator, free_ports
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.records import BookRecords
from writers.services import SERVICES, dynamodb, sqs, workload_class
from writers.services.dynamodb import BatchWriteItem, batch_write, get_item, put_item, to_item
from writers.services.sqs import SendMessage, SendMessageBatch

# The Locust glue's pure parts, imported without Locust itself (importing locust would
# monkey-patch this whole test process): test_glue_modules_do_not_import_locust guards that.
LOCUSTFILES = str(PROJECT_ROOT / "locustfiles")
from aws_locust import report  # noqa: E402
from aws_locust.context import RowKey  # noqa: E402
from aws_locust.keep import S3Location, parse_uri, summary_name_for  # noqa: E402
from aws_locust.latency import LatencyHistograms  # noqa: E402
from aws_locust.live import LiveStats, table_row, total_row  # noqa: E402
from aws_locust.tally import AwsTally  # noqa: E402

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "report"
ENV_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYREPORTTESTKEY"  # a fake, AWS-shaped secret for the env
ENV_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKENFORTHEREPORTTEST"


def test_glue_modules_do_not_import_locust() -> None:
    code = (
        "import sys; "
        "import aws_locust.live, aws_locust.report, aws_locust.tally, aws_locust.latency, aws_locust.keep, "
        "aws_locust.prometheus, aws_locust.buckets, aws_locust.otel; "
        "print(sorted(m for m in sys.modules if m == 'locust' or m.startswith('locust.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- prices


def test_price_table_holds_region_and_date_and_known_prices() -> None:
    table = registry.price_table()
    assert table["region"] == "us-east-1" and table["as_of"] == registry.prices_as_of()
    assert registry.price_for("DynamoDB", "PutItem") == registry.price_for("DynamoDB", "BatchWriteItem")
    prices = {(p["service"], p["operation"]): p["usd_per_million"] for p in table["prices"]}
    assert prices[("DynamoDB", "PutItem")] == 0.625
    assert prices[("DynamoDB", "GetItem")] == 0.125
    assert prices[("S3", "PutObject")] == 5.0 and prices[("S3", "GetObject")] == 0.4
    assert prices[("S3", "AbortMultipartUpload")] == 0.0
    assert prices[("SQS", "SendMessageBatch")] == 0.40
    assert sqs.BILLING.price_for("SendMessage", fifo=True).usd_per_million == 0.50  # type: ignore[union-attr]
    assert registry.price_for("DynamoDB", "Scan") is None


def test_cost_arithmetic() -> None:
    wru = registry.price_for("DynamoDB", "PutItem")
    assert pricing.cost_usd(1_000_000, wru) == pytest.approx(0.625)
    assert pricing.cost_usd(2_000_000, registry.price_for("S3", "PutObject")) == pytest.approx(10.0)
    assert pricing.cost_usd(5, None) == 0.0
    assert wru is not None and wru.pico_usd_per_unit == 625_000  # 0.625e-6 USD in 1e-12 USD
    # A million one-WRU bills add up to exactly $0.625 (integers of pico-dollars: no float drift).
    bill = registry.bill(put_item("books", {"isbn": "1"}), {})
    assert bill.units == 1.0 and not bill.reported
    assert bill.pico_usd * 1_000_000 == 625_000 * 10**6 == int(0.625 * pricing.PICO_PER_USD)


def _item_of_bytes(size: int) -> dict[str, dict[str, str]]:
    return {"k": {"S": "x" * (size - 1)}}  # 1 byte of attribute name + the string


@pytest.mark.parametrize(("size", "units"), [(1, 1), (1024, 1), (1025, 2), (2048, 2), (2049, 3), (400 * 1024, 400)])
def test_dynamodb_write_units_are_per_started_kilobyte(size: int, units: int) -> None:
    item = _item_of_bytes(size)
    assert dynamodb.item_bytes(item) == size
    assert dynamodb.write_units(item) == units


def test_dynamodb_sizes_follow_the_documented_rules() -> None:
    assert dynamodb.value_bytes({"S": "héllo"}) == 6  # UTF-8 bytes
    assert dynamodb.value_bytes({"N": "12345"}) == 4  # (5 significant digits + 1) // 2 + 1
    assert dynamodb.value_bytes({"N": "-0.00100"}) == 2
    assert dynamodb.value_bytes({"BOOL": True}) == 1
    assert dynamodb.item_bytes(to_item({"isbn": "978", "year": 2024})) == 4 + 3 + 4 + 3
    assert dynamodb.read_units(_item_of_bytes(4096)) == 0.5  # eventually consistent
    assert dynamodb.read_units(_item_of_bytes(4097), consistent=True) == 2.0
    assert dynamodb.read_units(None) == 0.5  # an item not found still costs half a unit


def test_dynamodb_bill_prefers_the_consumed_capacity_the_service_reports() -> None:
    records = BookRecords(seed=3, payload_bytes=2500).take(3)
    call = put_item("books", records[0])
    assert call.params["ReturnConsumedCapacity"] == "TOTAL"  # asked of the service
    estimated = registry.bill(call, {})
    assert estimated.units == 3.0 and not estimated.reported  # ~2.5 KB: 3 WRU
    reported = registry.bill(call, {"ConsumedCapacity": {"TableName": "books", "CapacityUnits": 7.0}})
    assert reported.units == 7.0 and reported.reported and reported.pico_usd == 7 * 625_000

    batch = batch_write("books", records)
    assert batch.params["ReturnConsumedCapacity"] == "TOTAL"
    listed = {"ConsumedCapacity": [{"TableName": "books", "CapacityUnits": 6}, {"TableName": "b", "CapacityUnits": 3}]}
    assert registry.bill(batch, listed).units == 9.0
    # Without a figure from the service: unprocessed items are not billed.
    requests = batch.params["RequestItems"]["books"]
    partial = registry.bill(batch, {"UnprocessedItems": {"books": requests[2:]}})
    assert partial.units == 6.0 and not partial.reported
    leftover = BatchWriteItem({"RequestItems": {"books": requests[2:]}}, 1, attempt=2)
    assert registry.bill(leftover, {}).units == 3.0


def test_failed_calls_are_billed_as_aws_bills_them() -> None:
    throttled = AwsCallError(FailureKind.THROTTLED, "ProvisionedThroughputExceededException", status=400)
    assert registry.bill(put_item("books", {"isbn": "1"}), None, throttled) == pricing.NOTHING
    network = AwsCallError(FailureKind.NETWORK, "ConnectionRefused")
    send = SendMessage({"QueueUrl": "http://q/1/q", "MessageBody": "hi"})
    assert registry.bill(send, None, network) == pricing.NOTHING  # never reached SQS
    server = AwsCallError(FailureKind.SERVER, "InternalError", status=500)
    assert registry.bill(send, None, server).units == 1.0  # reached SQS: a request


@pytest.mark.parametrize(("body_bytes", "requests"), [(0, 1), (1, 1), (65536, 1), (65537, 2), (262144, 4)])
def test_sqs_bills_each_started_64_kib_chunk(body_bytes: int, requests: int) -> None:
    call = SendMessage({"QueueUrl": "http://q/1/q", "MessageBody": "m" * body_bytes})
    bill = registry.bill(call, {"MessageId": "1"})
    assert bill.units == requests and bill.pico_usd == requests * 400_000


def test_sqs_batch_payloads_add_up_and_fifo_costs_more() -> None:
    entries = [{"Id": str(i), "MessageBody": "m" * 20_000} for i in range(10)]  # 200,000 bytes
    standard = SendMessageBatch({"QueueUrl": "http://q/1/q", "Entries": entries}, 10)
    assert registry.bill(standard, {"Successful": []}).units == math.ceil(200_000 / 65536) == 4
    fifo = SendMessageBatch({"QueueUrl": "http://q/1/q.fifo", "Entries": entries}, 10)
    assert registry.bill(fifo, {"Successful": []}).pico_usd == 4 * 500_000


S3 = ServiceInfo(name="S3", boto3_name="s3", signing_name="s3", endpoint_env="S3", s3_signing=True)


def _s3_call(operation: str) -> Call:
    """An S3 call as the price table sees it: its service and operation only."""
    return cast(Call, SimpleNamespace(service=S3, operation=operation))


def test_s3_request_classes() -> None:
    assert registry.bill(_s3_call("PutObject"), {}).pico_usd == 5_000_000  # $0.005 per 1,000
    assert registry.bill(_s3_call("UploadPart"), {}).pico_usd == 5_000_000
    assert registry.bill(_s3_call("GetObject"), {}).pico_usd == 400_000  # $0.0004 per 1,000
    assert registry.bill(_s3_call("AbortMultipartUpload"), {}).pico_usd == 0
    network = AwsCallError(FailureKind.NETWORK, "ConnectionReset")
    assert registry.bill(_s3_call("PutObject"), None, network) == pricing.NOTHING
    client = AwsCallError(FailureKind.CLIENT, "AccessDenied", status=403)
    assert registry.bill(_s3_call("PutObject"), None, client).units == 1.0


@pytest.mark.parametrize(("status", "code"), [(503, "SlowDown"), (503, "ServiceUnavailable"), (500, "InternalError")])
def test_s3_does_not_bill_server_errors(status: int, code: str) -> None:
    """Billing for Amazon S3 error responses: 5xx answers, 503 Slow Down included, are not billed."""
    error = AwsCallError.from_response(status, code)
    for operation in ("PutObject", "UploadPart", "GetObject"):
        assert registry.bill(_s3_call(operation), None, error) == pricing.NOTHING
    assert registry.bill(_s3_call("PutObject"), {"ETag": '"x"'}).units == 1.0  # the retry that succeeds is


def test_get_item_estimate() -> None:
    call = get_item("books", "978")
    assert registry.bill(call, {"Item": _item_of_bytes(5000)}).units == 1.0  # 2 x 4 KB, eventually consistent


def test_hourly_charges_add_to_the_cost_for_as_long_as_the_run_lasted() -> None:
    """A resource billed by the hour (a provisioned stream's shards) costs its rate x the run's hours."""
    live = LiveStats(AwsTally(), LatencyHistograms())
    live.start_test()
    live._started_mono -= 1800  # the run began half an hour ago
    live.stop_test(final_reports_pending=False)
    shard_hour = pricing.Price("shard-hour", 0.015 * 1_000_000, "$0.015 per shard-hour")
    live.hourly = lambda: [pricing.HourlyCharge("Kinesis", "shard-hour", 4, shard_hour)]
    table = live.table(live=False)
    (charge,) = table["hourly_charges"]
    assert charge["hours"] == pytest.approx(0.5, abs=0.01)
    assert charge["cost_usd"] == pytest.approx(4 * 0.5 * 0.015, rel=0.02)
    assert table["cost_usd"] == pytest.approx(charge["cost_usd"])  # no calls: the hours are the whole cost
    assert pricing.Billing("X", "", "", {}).hourly(object()) == []  # most services bill no hours


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_reports_exactly_the_flags_it_adds(name: str) -> None:
    workload = workload_class(name)
    parser = argparse.ArgumentParser()
    workload.add_arguments(parser)
    added = [action.dest for action in parser._actions if action.dest != "help"]
    assert list(workload.report_flags()) == added
    assert set(added) <= set(report.setting_names())


def test_report_settings_name_real_flags() -> None:
    """The settings list once named flags that do not exist and missed real ones."""
    names = set(report.setting_names())
    assert {"sqs_mode", "object_size", "part_size", "content", "prefixes", "read_ratio", "verify"} <= names
    assert {"table", "bucket", "queue", "message_groups", "multipart_threshold", "wait_seconds"} <= names
    assert not {"mode", "object_bytes", "part_bytes", "addressing_style"} & names


# --------------------------------------------------------------------------- secrets


def test_mask_argv_hides_secret_looking_values() -> None:
    argv = [
        "locust", "-f", "x.py", "--aws-secret-access-key", "abc123", "--session-token=tok-value",
        "--target", "http://user:hunter22@127.0.0.1:8000", "AWS_SECRET_ACCESS_KEY=s3cr3tvalue",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "--table", "books", "known-secret-value-123",
    ]  # fmt: skip
    masked = report.mask_argv(argv, ["known-secret-value-123"])
    text = " ".join(masked)
    for secret in ("abc123", "tok-value", "hunter22", "s3cr3tvalue", "EXAMPLEKEY", "known-secret-value-123"):
        assert secret not in text, text
    assert masked[:3] == ["locust", "-f", "x.py"] and "--table" in masked and "books" in masked
    assert "http://user:***@127.0.0.1:8000" in masked


def test_known_secrets_come_from_the_environment_and_the_emulators() -> None:
    secrets = report.known_secrets({"AWS_SECRET_ACCESS_KEY": ENV_SECRET, "AWS_SESSION_TOKEN": "short"})
    assert ENV_SECRET in secrets and LOCAL_SECRET_KEY in secrets
    assert "short" not in secrets  # too short to scrub without mangling ordinary words
    assert report.scrub(f"a {ENV_SECRET} b", secrets) == "a *** b"


# --------------------------------------------------------------------------- live figures


ROW = RowKey("S", "Op", "x")


def test_a_row_key_names_its_row_as_locust_shows_it() -> None:
    key = RowKey("S3", "Upload Part", "aioboto3")  # a space in an operation's label is no trouble
    assert key.name == "S3 Upload Part [aioboto3]" and key.request_name == "Upload Part [aioboto3]"
    assert (key.service, key.operation, key.strategy) == ("S3", "Upload Part", "aioboto3")


def _row(calls: int, items: int, bytes_: int = 0, **extra: int) -> Counter[str]:
    return Counter({"calls": calls, "items": items, "acked": items, "bytes": bytes_, **extra})


def test_rates_are_over_the_recent_window() -> None:
    tally, latency = AwsTally(), LatencyHistograms()
    live = LiveStats(tally, latency)
    live.start_test()
    start = live.snapshots[0][0]
    # Cumulative counts as the master saw them: 10 calls/s for 20 s, then 50 calls/s.
    live.snapshots.clear()
    for second in range(0, 31, 2):
        calls = 10 * min(second, 20) + 50 * max(0, second - 20)
        live.snapshots.append((start + second, {ROW: _row(calls, calls * 25, calls * 1000)}))
    now = start + 30
    current = {ROW: _row(700, 700 * 25, 700_000)}
    rates = live.rates(now, current)
    assert rates["window_seconds"] == 10.0
    row = rates["rows"][ROW]
    assert row["calls_per_s"] == pytest.approx(50.0)
    assert row["items_per_s"] == pytest.approx(1250.0)
    assert row["mb_per_s"] == pytest.approx(0.05)


def test_sample_rotates_the_latency_window() -> None:
    tally, latency = AwsTally(), LatencyHistograms()
    live = LiveStats(tally, latency)
    live.start_test()
    tally.rows[ROW].update(_row(100, 100))
    over = latency.over_range
    for ms in [1.0] * 98 + [100.0, 100.0]:
        latency.record(("service", ROW), ms, latency.merged, over)
        latency.record(("service", ROW), ms, latency.window, over)
        latency.record(("intended", ROW), ms * 10, latency.window, over)
    live.sample()
    latency.record(("service", ROW), 5.0, latency.window, over)
    live.sample()
    first, second = (point["rows"]["S Op [x]"] for point in live.timeline)
    assert first["p99"] == 100.0 and first["calls"] == 100
    assert first["p99_intended"] == 1000.0  # each kind of latency has its own line
    assert second["p99"] == 5.0 and second["calls"] == 1  # only the calls of its own interval
    assert "p99_intended" not in second


def test_table_rows_and_total() -> None:
    row = _row(10, 250, 2_000_000, failed_throttled=2, failed_network=1, retried_items=50)
    row.update({"billed_milliunits": 250_000, "cost_pusd": 250 * 625_000, "units_reported": 7})
    latencies = {"service": {"p99": 3.0}, "intended": {"p50": 4.0, "p99": 900.0}, "record": {"p99": 950.0}}
    shown = table_row(RowKey("DynamoDB", "BatchWriteItem", "gevent"), row, {"calls_per_s": 5.0}, latencies)
    assert shown["throttled"] == 2 and shown["network"] == 1 and shown["retried_items"] == 50
    assert shown["billed_units"] == 250.0 and shown["billed_unit"] == "WRU" and shown["units_source"] == "reported"
    assert shown["cost_usd"] == pytest.approx(250 * 0.625e-6)
    assert shown["p99_ms"] == 3.0 and shown["p50_ms"] is None
    assert (shown["p50_intended_ms"], shown["p99_intended_ms"], shown["p99_record_ms"]) == (4.0, 900.0, 950.0)
    sqs_row = _row(1, 10, billed_milliunits=1000, cost_pusd=400_000)
    sqs = table_row(RowKey("SQS", "SendMessageBatch", "gevent"), sqs_row, {}, {})
    assert sqs["units_source"] == "counted" and sqs["billed_unit"] == "request"
    throttled_row = _row(4, 4, billed_milliunits=4000, failed_throttled=1)
    estimated = table_row(RowKey("DynamoDB", "PutItem", "x"), throttled_row, {}, {})
    assert estimated["units_source"] == "estimated"
    total = total_row([shown, shown])
    assert total["calls"] == 20 and total["cost_usd"] == pytest.approx(2 * 250 * 0.625e-6)


def _synthetic_report() -> dict[str, Any]:
    latencies = {"service": {"p50": 1.0, "p99": 2.0, "p99.9": 3.0}}
    row = table_row(RowKey("DynamoDB", "PutItem", "gevent"), _row(100, 100, 10_000), {}, latencies)
    return {
        "run": {"started": "s", "stopped": "e", "duration_seconds": 1.0, "role": "local", "workers": 0,
                "locustfile": "dynamodb.py", "user_classes": ["GeventUser"]},
        "rows": [row], "total": total_row([row]), "failures": {"throttled": 0}, "retried_items": 0,
        "given_up_items": 0, "cost": {"total_usd": 0.0, "prices": registry.price_table()}, "workers": {},
        "locust": {"requests": 100, "failures": 0, "errors": []}, "aws_summary": {"acked": 100, "cpu_seconds": 0.1},
        "summary_text": "AWS calls", "command_line": "locust -f x.py", "settings": {}, "versions": {"python": "3"},
        "generated": "now", "timeline": [{"t": 2.0, "rows": {"DynamoDB PutItem [gevent]": {"items_per_s": 50.0,
                                                                                          "p99": 2.0}}}],
    }  # fmt: skip


class Page(HTMLParser):
    """What a page loads from elsewhere (every src, and <link href>), its inline scripts, and
    the text of each cell of the tables that have an id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.references: list[tuple[str, str, str]] = []
        self.scripts: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._script: list[str] | None = None
        self._table: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name, value in attrs:
            if name == "src" or (tag == "link" and name == "href"):
                self.references.append((tag, name, value or ""))
        if tag == "script":
            self._script = []
        elif tag == "table" and found.get("id"):
            self._table = str(found["id"])
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table and self.tables[self._table]:
            self.tables[self._table][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append("".join(self._script))
            self._script = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        elif self._table and self.tables[self._table] and self.tables[self._table][-1]:
            self.tables[self._table][-1][-1] += data.strip()


def assert_one_file(html: str) -> Page:
    """The report loads nothing from anywhere (no src, no <link href>) and holds plotly.js once,
    exactly as the plotly wheel ships it (scrubbing secrets must not touch its code)."""
    page = Page(html)
    assert page.references == []
    wheel = report.plotly_js_path()
    assert wheel is not None
    plotly = [script for script in page.scripts if script.startswith("/**\n* plotly.js v")]
    assert len(plotly) == 1 and plotly[0] == wheel.read_text(encoding="utf-8")
    assert html.count("* plotly.js v") == 1
    return page


def test_html_is_one_file_with_the_table_and_plotly_charts() -> None:
    html = report.render_html(_synthetic_report())
    assert '<table id="aws-table">' in html and "DynamoDB PutItem [gevent]" in html
    assert 'class="plotly-graph-div"' in html and 'id="chart-items"' in html and 'id="chart-p99"' in html
    for chart in ("faults", "rate"):  # throttles and errors/s; target vs achieved records/s and users
        assert f'id="chart-{chart}"' in html
    assert 'id="chart-late"' not in html  # a closed loop has no schedule to start late against
    assert_one_file(html)


def test_the_cost_rows_name_only_the_services_the_run_used() -> None:
    tally = AwsTally()
    live = LiveStats(tally, LatencyHistograms())
    live.start_test()
    tally.rows[RowKey("DynamoDB", "PutItem", "gevent")].update(_row(3, 3))
    prices = live.table(live=False)["prices"]
    assert {row["service"] for row in prices["prices"]} == {"DynamoDB"} == set(prices["sources"])
    assert len(registry.price_table()["sources"]) == len(SERVICES) > 1  # all of them, unless asked
    shard_hour = pricing.Price("shard-hour", 0.015 * 1_000_000, "$0.015 per shard-hour")
    live.hourly = lambda: [pricing.HourlyCharge("Kinesis", "shard-hour", 1, shard_hour)]  # billed, not called
    assert set(live.table(live=False)["prices"]["sources"]) == {"DynamoDB", "Kinesis"}

    synthetic = {**_synthetic_report(), "cost": {"total_usd": 0.0, "prices": registry.price_table(["DynamoDB"])}}
    page = Page(report.render_html(synthetic))
    (header, *rows) = page.tables["prices"]
    assert header[0] == "service" and rows and {row[0] for row in rows} == {"DynamoDB"}


def test_a_sample_holds_what_happened_during_its_interval() -> None:
    """Throttles, other errors and late starts per second of each row, and for the run its
    users, target rate and records acknowledged per second, over the sample's own interval."""
    tally = AwsTally()
    live = LiveStats(tally, LatencyHistograms())
    live.users, live.target_rate = (lambda: 7), (lambda: 250.0)
    live.start_test()
    live.snapshots[-1] = (time.monotonic() - 4.0, {})  # the test started 4 s ago
    other = RowKey("S", "Op", "y")
    tally.rows[ROW].update(
        _row(100, 100, failed_throttled=12, failed_client=2, failed_server=3, failed_network=1, late=8)
    )
    tally.rows[ROW]["acked"] = 80
    tally.rows[other].update(_row(40, 40))
    live.sample()
    live.snapshots[-1] = (live.snapshots[-1][0] - 2.0, live.snapshots[-1][1])  # the next sample, 2 s later
    tally.rows[ROW].update({"calls": 10, "failed_throttled": 4, "acked": 6})
    live.sample()
    first, second = live.timeline
    assert first["interval_s"] == pytest.approx(4.0, abs=0.01) and second["interval_s"] == pytest.approx(2.0, abs=0.01)
    row = first["rows"][ROW.name]
    assert row["throttled_per_s"] == pytest.approx(12 / 4, rel=0.01)
    assert row["errors_per_s"] == pytest.approx((2 + 3 + 1) / 4, rel=0.01)
    assert row["late_per_s"] == pytest.approx(8 / 4, rel=0.01)
    assert first["rows"][other.name]["throttled_per_s"] == 0
    assert first["achieved_rate"] == pytest.approx((80 + 40) / 4, rel=0.01)
    assert (first["users"], first["target_rate"]) == (7, 250.0)
    row = second["rows"][ROW.name]
    assert row["throttled_per_s"] == pytest.approx(4 / 2, rel=0.01)
    assert row["errors_per_s"] == 0 and row["late_per_s"] == 0  # only what happened since the last sample
    assert second["achieved_rate"] == pytest.approx(6 / 2, rel=0.01)


# --------------------------------------------------------------------------- real runs


def _reports(folder: Path) -> tuple[dict[str, Any], str, Path]:
    jsons = sorted(folder.glob("aws-report-*.json"))
    htmls = sorted(folder.glob("aws-report-*.html"))
    assert len(jsons) == 1 and len(htmls) == 1, list(folder.iterdir())
    assert jsons[0].stem == htmls[0].stem
    return json.loads(jsons[0].read_text()), htmls[0].read_text(), jsons[0]


def _assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in (LOCAL_SECRET_KEY, ENV_SECRET, ENV_TOKEN):
            assert secret not in text


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_headless_run_writes_json_and_html_reports(run_locust: RunLocust, tmp_path: Path) -> None:
    reports, summary = tmp_path / "reports", tmp_path / "summary.json"
    run = run_locust(
        ["-u", "2", "-r", "2", "-t", "30s", "--max-records", "1500", "--records-per-task", "50", "--batch", "5",
         "--target", "local", "--report-dir", str(reports), "--summary-json", str(summary),
         "GeventUser", "SequentialUser"],
        timeout=90,
        env={"AWS_SECRET_ACCESS_KEY": ENV_SECRET, "AWS_SESSION_TOKEN": ENV_TOKEN},
    )  # fmt: skip
    output: str = run.output  # type: ignore[attr-defined]
    assert run.returncode == 0, output[-3000:]
    data, html, json_path = _reports(reports)
    _assert_no_secrets(json_path.read_text(), html, output)

    # The AWS summary, verbatim, and consistent with the table and Locust's own totals.
    assert data["aws_summary"] == json.loads(summary.read_text())
    requests, failures = stats_totals(run.stats)  # type: ignore[attr-defined]
    assert data["locust"]["requests"] == requests == data["aws_summary"]["calls"] == data["total"]["calls"]
    assert sum(row["calls"] for row in data["rows"]) == requests and failures == 0
    assert data["total"]["acked"] == data["aws_summary"]["acked"] == 1500
    assert {row["name"] for row in data["rows"]} == set(data["aws_summary"]["rows"])
    assert {row["strategy"] for row in data["rows"]} == {"gevent", "sequential"}
    for row in data["rows"]:
        assert row["operation"] == "BatchWriteItem" and row["calls_per_s"] > 0 and row["mb_per_s"] > 0
        assert row["p99_ms"] == data["latency_ms"][row["name"]]["p99"] > 0
        # dynalite reports the consumed capacity: ~100 B records cost 1 WRU each.
        assert row["units_source"] == "reported" and row["billed_units"] == row["acked"]
        assert row["cost_usd"] == pytest.approx(row["acked"] * 0.625e-6)
    assert data["cost"]["total_usd"] == pytest.approx(1500 * 0.625e-6)
    assert data["failures"] == {"throttled": 0, "client": 0, "server": 0, "network": 0}
    assert data["cost"]["prices"]["region"] == "us-east-1" and data["cost"]["prices"]["as_of"]
    assert data["timeline"], "no timeline sample"
    assert data["run"]["role"] == "local" and data["run"]["headless"] is True
    assert "--report-dir" in data["command"] and data["command_line"].startswith(str(Path(data["command"][0])))
    for name in ("python", "locust", "boto3", "botocore", "aiohttp", "gevent", "aws-load-writers"):
        assert data["versions"][name] and data["versions"][name] != "not installed"

    assert '<table id="aws-table">' in html and 'class="plotly-graph-div"' in html
    for row in data["rows"]:
        assert row["name"] in html
    assert not (reports / "plotly.min.js").exists()  # the HTML is one file: plotly.js is inside
    assert_one_file(html)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_distributed_run_reports_rows_from_both_workers(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (port,) = free_ports(1)
    args = [
        "--headless", "--processes", "2", "-u", "2", "-r", "2",
        "-t", "30s", "--max-records", "2000", "--records-per-task", "50", "--target", "local",
        "--report-dir", str(reports), "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--master-port", str(port), "GeventUser",
    ]  # fmt: skip
    started = time.monotonic()
    secret = {"AWS_SECRET_ACCESS_KEY": ENV_SECRET}
    run = LocustProcess(DYNAMODB_LOCUSTFILE, args, tmp_path, env=secret, headless=False, credentials=False)
    result = run.finish(timeout=90)
    output = result.output
    assert result.returncode == 0, output[-3000:]
    assert time.monotonic() - started < 60
    data, html, json_path = _reports(reports)
    _assert_no_secrets(json_path.read_text(), html)
    assert data["run"]["role"] == "master" and data["run"]["workers"] == 2
    workers = data["workers"]
    assert len(workers) == 2, workers  # both workers' deltas reached the master's table
    assert all(counts["calls"] > 0 for counts in workers.values()), workers
    assert sum(counts["calls"] for counts in workers.values()) == data["total"]["calls"]
    assert sum(counts["acked"] for counts in workers.values()) == data["total"]["acked"] == 2000
    assert data["aws_summary"]["acked_by_worker"] == {k: v["acked"] for k, v in workers.items()}


# --------------------------------------------------------------------------- timelines of a known run

# Of every 10 writes, the stub throttles 2 and fails 1 (HTTP 500); one attempt per call, on a
# schedule of 200 records/s with 2 users: ~40 throttles/s, ~20 errors/s, ~140 records/s acked.
PATTERN = ["ok", "throttle", "ok", "error", "ok", "ok", "throttle", "ok", "ok", "ok"]
KNOWN_RATE, KNOWN_USERS, ROW_NAME = 200, 2, "DynamoDB PutItem [gevent]"


@dataclass
class KnownRun:
    data: dict[str, Any]
    html_path: Path
    html: str
    server_requests: int


@pytest.fixture(scope="module")
def known_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnownRun]:
    folder = tmp_path_factory.mktemp("known")
    server = PatternServer(PATTERN)
    try:
        run = headless_locust(
            DYNAMODB_LOCUSTFILE,
            ["-u", str(KNOWN_USERS), "-r", str(KNOWN_USERS), "-t", "12s", "--rate", str(KNOWN_RATE),
             "--target", server.url, "--no-provision", "--table", "stub", "--max-attempts", "1",
             "--check-given-up", "off", "--exit-code-on-error", "0", "--report-dir", str(folder / "reports"),
             "GeventUser"],
            folder,
            timeout=90,
            env={"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY},
        )  # fmt: skip
    finally:
        server.close()
    assert run.returncode == 0, run.output[-3000:]
    data, html, json_path = _reports(folder / "reports")
    yield KnownRun(data, json_path.with_suffix(".html"), html, server.requests)


def _row_series(timeline: list[dict[str, Any]], field: str) -> tuple[list[float], list[Any]]:
    points = [p for p in timeline if ROW_NAME in p["rows"]]
    return [p["t"] for p in points], [p["rows"][ROW_NAME][field] for p in points]


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_the_timeline_holds_the_throttles_errors_users_and_rates_the_run_produced(known_run: KnownRun) -> None:
    data, timeline = known_run.data, known_run.data["timeline"]
    (row,) = data["rows"]
    assert row["name"] == ROW_NAME and row["calls"] > 1000
    errors = row["client_4xx"] + row["server_5xx"] + row["network"]
    # The client saw the stub's shares (the probe before the swarm and calls cut by the end aside).
    assert row["throttled"] / row["calls"] == pytest.approx(0.2, abs=0.01)
    assert row["server_5xx"] / row["calls"] == pytest.approx(0.1, abs=0.01) and errors == row["server_5xx"]
    # Each sample's figures are those of its interval: over the run they add up to the totals.
    assert sum(p["rows"][ROW_NAME]["throttled_per_s"] * p["interval_s"] for p in timeline) == pytest.approx(
        row["throttled"], abs=1
    )
    assert sum(p["rows"][ROW_NAME]["errors_per_s"] * p["interval_s"] for p in timeline) == pytest.approx(errors, abs=1)
    assert sum(p["achieved_rate"] * p["interval_s"] for p in timeline) == pytest.approx(row["acked"], abs=1)
    # Once the users run (the first and last samples aside): the figures the stub and the schedule make.
    steady = [p for p in timeline if 3 <= p["t"] <= 11]
    assert len(steady) >= 3, timeline
    assert all(p["target_rate"] == KNOWN_RATE and p["users"] == KNOWN_USERS for p in steady), steady
    median = statistics.median
    assert median(p["rows"][ROW_NAME]["throttled_per_s"] for p in steady) == pytest.approx(0.2 * KNOWN_RATE, rel=0.2)
    assert median(p["rows"][ROW_NAME]["errors_per_s"] for p in steady) == pytest.approx(0.1 * KNOWN_RATE, rel=0.25)
    assert median(p["achieved_rate"] for p in steady) == pytest.approx(0.7 * KNOWN_RATE, rel=0.15)
    assert timeline[-1]["users"] == 0  # the last sample, taken once the users stopped

    page = assert_one_file(known_run.html)
    (_, *prices) = page.tables["prices"]
    assert {cells[0] for cells in prices} == {"DynamoDB"}  # the only service the run used


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_the_report_draws_its_charts_offline_in_a_browser(known_run: KnownRun) -> None:
    """Opened from disk with the browser offline: nothing requested but the file itself, every
    chart holds the series of the JSON report's timeline, value for value, and no legend
    covers an axis title."""
    chromium = require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (Python) is not installed")
    timeline = known_run.data["timeline"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=HEADLESS)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1400, "height": 900})
            page = context.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(known_run.html_path.as_uri())
            page.wait_for_function(
                "typeof Plotly === 'object' && document.querySelectorAll('.js-plotly-plot').length >= 5"
            )
            assert requested == [known_run.html_path.as_uri()]
            charts = page.evaluate(
                "Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot')).map(div => "
                "[div.id, Object.fromEntries(div.data.map(t => [t.name, [Array.from(t.x), Array.from(t.y)]]))]))"
            )
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            with_legend, overlaps = legend_overlaps(page)
            assert with_legend >= 6 and overlaps == [], overlaps  # a legend on every chart, one trace or more
            # The check sees an overlap where there is one: plotly's own place for a horizontal legend.
            page.evaluate("Plotly.relayout('chart-p99', {'legend.y': -0.1, 'legend.yanchor': 'top'})")
            assert any(overlap.startswith("chart-p99:") for overlap in legend_overlaps(page)[1])
        finally:
            browser.close()
    assert {"chart-items", "chart-p99", "chart-faults", "chart-rate", "chart-late"} <= set(charts)
    faults = charts["chart-faults"]
    assert faults[f"{ROW_NAME} (throttled)"] == list(_row_series(timeline, "throttled_per_s"))
    assert faults[f"{ROW_NAME} (errors)"] == list(_row_series(timeline, "errors_per_s"))
    assert charts["chart-late"][ROW_NAME] == list(_row_series(timeline, "late_per_s"))
    assert charts["chart-items"][ROW_NAME] == list(_row_series(timeline, "items_per_s"))
    times = [p["t"] for p in timeline]
    rate = charts["chart-rate"]
    assert rate["target records/s"] == [times, [p["target_rate"] for p in timeline]]
    assert rate["achieved records/s (acknowledged)"] == [times, [p["achieved_rate"] for p in timeline]]
    assert rate["users"] == [times, [p["users"] for p in timeline]]
    assert max(rate["achieved records/s (acknowledged)"][1]) > 0 and max(faults[f"{ROW_NAME} (throttled)"][1]) > 0


# --------------------------------------------------------------------------- --report-s3-uri


def test_report_s3_uri_names_a_bucket_and_a_prefix() -> None:
    assert parse_uri("s3://reports/nightly/dynamodb/") == S3Location("reports", "nightly/dynamodb/")
    assert parse_uri("s3://reports/nightly") == S3Location("reports", "nightly/")  # a folder either way
    assert parse_uri("s3://reports") == S3Location("reports", "") == parse_uri("s3://reports/")
    assert str(parse_uri("s3://my.reports-1/a/b")) == "s3://my.reports-1/a/b/"
    for bad in ("reports/x", "https://reports/x", "s3://", "s3://Reports/x", "s3://a/x", "s3://bad..name/x"):
        with pytest.raises(ConfigError, match="--report-s3-uri"):
            parse_uri(bad)
    reports = [Path("r/aws-report-20260101T000000Z.json"), Path("r/aws-report-20260101T000000Z.html")]
    assert summary_name_for(reports) == "aws-summary-20260101T000000Z.json"


S3_KEYS = {"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY}


@pytest.fixture
def report_bucket(local: SharedEmulators) -> Iterator[tuple[RunningEmulator, Any, str]]:
    """A new bucket on SeaweedFS (which checks signatures), its client and its name."""
    seaweedfs = local.get("s3", "seaweedfs")
    client = boto3.client(
        "s3", endpoint_url=seaweedfs.endpoint, region_name="us-east-1", aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY, config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip
    bucket = f"reports-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    yield seaweedfs, client, bucket


def stored(client: Any, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    """name -> {"body", "type"} of every object under the prefix."""
    found = {}
    for item in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        answer = client.get_object(Bucket=bucket, Key=item["Key"])
        found[item["Key"].removeprefix(prefix)] = {"body": answer["Body"].read(), "type": answer["ContentType"]}
    return found


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_reports_and_summary_are_kept_in_s3(
    run_locust: RunLocust, report_bucket: tuple[RunningEmulator, Any, str], tmp_path: Path
) -> None:
    """No --report-dir: the reports go through a temporary folder to the bucket, with the summary
    (the HTML is one file: nothing beside it); every object as written (the summary equals
    --summary-json's file)."""
    seaweedfs, client, bucket = report_bucket
    summary = tmp_path / "summary.json"
    run = run_locust(
        ["-u", "2", "-r", "2", "-t", "30s", "--max-records", "300", "--target", "local", "--summary-json",
         str(summary), "--report-s3-uri", f"s3://{bucket}/nightly/run-1", "GeventUser"],
        env={"AWS_ENDPOINT_URL_S3": seaweedfs.endpoint, **S3_KEYS},
    )  # fmt: skip
    output: str = run.output  # type: ignore[attr-defined]
    assert run.returncode == 0, output[-3000:]
    objects = stored(client, bucket, "nightly/run-1/")
    reports = sorted(name for name in objects if name.startswith("aws-report-"))
    assert len(reports) == 2 and {Path(name).suffix for name in reports} == {".json", ".html"}, sorted(objects)
    stamp = Path(reports[0]).stem.removeprefix("aws-report-")
    assert set(objects) == {*reports, f"aws-summary-{stamp}.json"}
    kept_summary = json.loads(objects[f"aws-summary-{stamp}.json"]["body"])
    assert kept_summary == json.loads(summary.read_text()) and kept_summary["acked"] == 300
    report_data = json.loads(objects[f"aws-report-{stamp}.json"]["body"])
    assert report_data["aws_summary"] == kept_summary and report_data["total"]["acked"] == 300
    html = objects[f"aws-report-{stamp}.html"]
    assert html["type"].startswith("text/html") and b'<table id="aws-table">' in html["body"]
    assert_one_file(html["body"].decode())  # its charts need nothing beside it
    assert objects[f"aws-report-{stamp}.json"]["type"] == "application/json"
    kept = [line for line in output.splitlines() if "reports kept in s3://" in line]
    assert len(kept) == 1 and f"s3://{bucket}/nightly/run-1/" in kept[0], output[-2000:]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_failed_upload_is_one_line_and_exit_9_after_the_result(run_locust: RunLocust) -> None:
    """The bucket is there before the swarm, the writes are refused at the end: the run's
    summary is printed and written all the same, then one error line, and exit 9."""
    bucket = ReadOnlyBucket()
    try:
        run = run_locust(
            ["-u", "1", "-r", "1", "-t", "4s", "--target", "local", "--report-s3-uri", "s3://reports/runs/",
             "GeventUser"],
            timeout=60,
            env={"AWS_ENDPOINT_URL_S3": bucket.url, **S3_KEYS},
        )  # fmt: skip
    finally:
        bucket.close()
    output: str = run.output  # type: ignore[attr-defined]
    assert run.returncode == 9, output[-3000:]
    errors = [line for line in output.splitlines() if "--report-s3-uri" in line]
    assert len(errors) == 1 and "ERROR" in errors[0], errors
    assert "could not upload aws-report-" in errors[0] and "Access Denied" in errors[0], errors
    assert "Traceback" not in output
    assert output.index("AWS summary:") < output.index(errors[0])  # the run's own result first
    assert bucket.puts and bucket.puts[0].startswith("/reports/runs/aws-report-")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_missing_report_bucket_is_one_line_before_the_swarm(
    run_locust: RunLocust, report_bucket: tuple[RunningEmulator, Any, str]
) -> None:
    seaweedfs, _, bucket = report_bucket
    run = run_locust(
        ["-u", "1", "-r", "1", "-t", "5s", "--target", "local", "--report-s3-uri", f"s3://{bucket}-missing/x/",
         "GeventUser"],
        timeout=60,
        env={"AWS_ENDPOINT_URL_S3": seaweedfs.endpoint, **S3_KEYS},
    )  # fmt: skip
    output: str = run.output  # type: ignore[attr-defined]
    assert run.returncode == 2, output[-3000:]
    errors = [line for line in output.splitlines() if "--report-s3-uri" in line]
    assert errors == [f"error: --report-s3-uri s3://{bucket}-missing/x/: no such bucket"], output[-3000:]
    assert "All users spawned" not in output and "Traceback" not in output
