"""Pipelines (locustfiles/pipeline.py): each record through an ordered chain of services.

Against the local emulators (the default pipeline, alone and distributed, --verify finding
every record at every step) and against the fault proxy in front of them, whose behaviour
is known by construction: a step that fails at random (it alone is written again), a step
that always fails (its records are given up there, and counted there), a step with a token
bucket of known capacity (--find-max names it the bottleneck, at about that rate), and
steps with known added latency (the record latency is their sum).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import (
    HEADLESS,
    PROJECT_ROOT,
    LocustProcess,
    LocustRun,
    SharedEmulators,
    headless_locust,
    own_master_port,
    require_chromium,
)
from helpers.stubs import DelayServer
from prometheus_client.parser import text_string_to_metric_families

from writers.calls import Attempt
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, free_ports
from writers.errors import ConfigError
from writers.pipeline import StepRouter, parse_pipeline
from writers.services import WorkloadOptions
from writers.services.dynamodb import DynamoDBWorkload
from writers.services.s3 import S3Options, S3Workload
from writers.strategies import StrategyOptions, strategy_class
from writers.target import Endpoint

LOCUSTFILE = PROJECT_ROOT / "locustfiles" / "pipeline.py"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY}
ENDPOINT_ENV = {"dynamodb": "AWS_ENDPOINT_URL_DYNAMODB", "s3": "AWS_ENDPOINT_URL_S3", "sqs": "AWS_ENDPOINT_URL_SQS"}


def names() -> list[str]:
    """Fresh resource names for one run: --table, --bucket, --queue."""
    tag = uuid.uuid4().hex[:8]
    return ["--table", f"pipe-{tag}", "--bucket", f"pipe-{tag}", "--queue", f"pipe-{tag}"]


def run(tmp_path: Path, args: Sequence[str], timeout: float = 120.0, env: Mapping[str, str] | None = None) -> LocustRun:
    return headless_locust(LOCUSTFILE, args, tmp_path, timeout, env)


def summary_of(path: Path, result: LocustRun) -> dict[str, Any]:
    assert path.exists(), result.output[-3000:]
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def rows_of(data: dict[str, Any], service: str) -> list[dict[str, Any]]:
    return [row for name, row in data["rows"].items() if name.startswith(service + " ")]


def through_proxies(
    local: SharedEmulators, fault_proxy: Callable[..., Any], flags: Mapping[str, Sequence[str]]
) -> tuple[dict[str, str], dict[str, Any]]:
    """The environment that sends each step to its emulator, through a fault proxy with
    `flags[step]` where given (directly otherwise); and the proxies by step."""
    env = dict(CREDENTIALS)
    proxies = {}
    for step, variable in ENDPOINT_ENV.items():
        upstream = local.get(step).endpoint
        if step in flags:
            proxies[step] = fault_proxy(upstream, *flags[step])
            env[variable] = proxies[step].url
        else:
            env[variable] = upstream
    return env, proxies


# --------------------------------------------------------------------------- bad input


def test_a_pipeline_is_services_each_once() -> None:
    assert parse_pipeline("dynamodb,s3,sqs") == ("dynamodb", "s3", "sqs")
    assert parse_pipeline(" SQS , kinesis ") == ("sqs", "kinesis")
    for text, said in (("dynamodb,redis", "unknown service 'redis'"), ("s3,sqs,s3", "s3 appears more than once"),
                       ("", "give services"), ("dynamodb,,sqs", "give services")):  # fmt: skip
        with pytest.raises(ConfigError, match=said):
            parse_pipeline(text)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--pipeline", "dynamodb,redis"], "unknown service 'redis'"),
        (["--pipeline", "sqs,dynamodb,sqs"], "sqs appears more than once"),
        (["--batch", "10"], "--batch must be 1"),
        (["--pipeline", ""], "give services"),  # not the default pipeline in its place
        (["--pipeline", "dynamodb,sqs", "--sqs-mode", "consume"], "sqs cannot run with --sqs-mode consume"),
        (["--pipeline", "dynamodb,sqs", "--sqs-mode", "both"], "sqs cannot run with --sqs-mode both"),
        (["--pipeline", "dynamodb,s3", "--read-ratio", "0.5"], "dynamodb cannot run with --read-ratio 0.5"),
        (["--pipeline", "s3,sqs", "--read-ratio", "0.25"], "s3 cannot run with --read-ratio 0.25"),
    ],
)
def test_bad_pipeline_is_one_line_and_exit_2_before_the_swarm(tmp_path: Path, flags: list[str], said: str) -> None:
    result = run(tmp_path, ["-u", "1", "-t", "5s", *flags], timeout=60)
    assert result.returncode == 2, result.output[-2000:]
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and said in errors[0], result.output[-2000:]
    assert "Traceback" not in result.output
    assert "local emulators" not in result.output  # nothing started


def test_web_ui_start_refuses_a_bad_pipeline_and_takes_a_new_one(tmp_path: Path) -> None:
    """The web UI's Start: a repeated step is refused with its reason (no test starts); another
    pipeline than the command line's is written, its services alone."""
    port = free_ports(1)[0]
    args = ["--web-host", "127.0.0.1", "--web-port", str(port), "--report-dir", "", *names()]
    web = LocustProcess(LOCUSTFILE, args, tmp_path, headless=False, credentials=False)
    base = f"http://127.0.0.1:{port}"
    start = {"user_count": "1", "spawn_rate": "1", "user_classes": "GeventUser", "concurrency": "2"}
    try:
        web.wait_for_http(f"{base}/aws/stats", timeout=60)
        refused = requests.post(f"{base}/swarm", data={**start, "pipeline": "s3,sqs,s3"}, timeout=10).json()
        started = requests.post(f"{base}/swarm", data={**start, "pipeline": "sqs,dynamodb"}, timeout=10).json()
        time.sleep(4)
        rows = requests.get(f"{base}/aws/stats", timeout=10).json()["rows"]
    finally:
        output = web.stop(timeout=60).output
    assert not refused["success"] and "s3 appears more than once" in refused["message"], refused
    assert started["success"], started
    assert {row["name"].split()[0] for row in rows if row["calls"]} == {"SQS", "DynamoDB"}, rows
    assert "Traceback" not in output
    assert "pipeline sqs -> dynamodb:" in output, output[-2000:]


# --------------------------------------------------------------------------- waiting for several steps


@pytest.mark.parametrize("strategy", ["gevent", "aiohttp", "threaded"])
def test_a_user_waits_once_for_the_answers_of_every_step(strategy: str) -> None:
    """Two steps' calls in flight (DynamoDB and S3 stubs that answer after 100 ms): the user's
    collect waits for either answer in one wait (the steps' strategies share one multiplexer
    or inbox), where the router used to wait on one step at a time, 0.5 ms each (~100 waits
    on each strategy here)."""
    servers = [DelayServer(0.1), DelayServer(0.1)]
    options = StrategyOptions(concurrency=2, timeout=10)
    workloads = [DynamoDBWorkload(WorkloadOptions("books")), S3Workload(S3Options("books"))]
    strategies = {
        w.service.name: strategy_class(strategy)(Endpoint(w.service, "us-east-1", server.url, "AKIDTEST", "secret"),
                                                 options)
        for w, server in zip(workloads, servers, strict=True)
    }  # fmt: skip
    collects: list[float | None] = []
    for instance in strategies.values():
        own = instance.collect

        def counted(timeout: float | None, own: Callable[[float | None], list[Attempt]] = own) -> list[Attempt]:
            collects.append(timeout)
            return own(timeout)

        instance.collect = counted  # type: ignore[method-assign]
    router = StepRouter(strategies)
    try:
        for workload in workloads:
            (call,) = workload.write_calls(workload.records(1, 0).take(1))
            router.start(call)
        answered: list[Attempt] = []
        while len(answered) < 2:
            answered += router.collect(5.0)
    finally:
        router.close()
        for server in servers:
            server.close()
    assert sorted(a.call.service.name for a in answered) == ["DynamoDB", "S3"]
    assert all(server.requests == 1 for server in servers)
    assert 1 <= len(collects) <= 4, collects


# --------------------------------------------------------------------------- the local emulators

RECORDS = 150


def check_every_step(data: dict[str, Any], records: int, output: str) -> None:
    pipeline = data["pipeline"]
    assert pipeline["steps"] == ["dynamodb", "s3", "sqs"]
    assert pipeline["acked"] == records, pipeline
    assert data["acked"] == records, data["acked"]  # each record once, not once per step
    assert f"acknowledged records: {records}," in output, output[-3000:]
    assert pipeline["given_up_by_step"] == {"dynamodb": 0, "s3": 0, "sqs": 0}
    for service in ("DynamoDB", "S3", "SQS"):  # each step wrote each record once
        assert sum(row["acked"] for row in rows_of(data, service)) == records, data["rows"]
        assert f"verify {service}: {records} acknowledged, 0 lost, 0 corrupt, 0 duplicates" in output, output[-3000:]
    assert pipeline["missing_by_step"] == {"dynamodb": 0, "s3": 0, "sqs": 0}
    latency = pipeline["record_latency_ms"]
    assert set(latency) == {"p50", "p90", "p99", "p99.9", "max"}
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    # the last step's acknowledgement ends a record: its record latency is the pipeline's
    last = data["record_latency_ms"]["SQS SendMessage [gevent]"]
    assert last["p50"] == latency["p50"] and last["count"] == records


def test_default_pipeline_on_the_local_emulators_with_verify(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    args = ["-u", "2", "-r", "2", "-t", "60s", "--max-records", str(RECORDS), "--records-per-task", "10",
            "--concurrency", "4", "--verify", "--summary-json", str(summary), "--report-dir", "", *names(),
            "GeventUser"]  # fmt: skip
    result = run(tmp_path, args)
    assert result.returncode == 0, result.output[-3000:]
    assert "Traceback" not in result.output
    check_every_step(summary_of(summary, result), RECORDS, result.output)
    assert f"pipeline dynamodb -> s3 -> sqs: {RECORDS} records through" in result.output


def test_default_pipeline_distributed_master_and_two_workers(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    args = ["--processes", "2", *own_master_port(), "-u", "4", "-r", "4", "-t", "90s", "--max-records", str(RECORDS),
            "--records-per-task", "10", "--concurrency", "4", "--verify", "--summary-json", str(summary),
            "--report-dir", "", *names(), "GeventUser", "AiohttpUser"]  # fmt: skip
    result = run(tmp_path, args, timeout=180)
    assert result.returncode == 0, result.output[-3000:]
    assert "Traceback" not in result.output
    data = summary_of(summary, result)
    assert len(data["acked_by_worker"]) == 2, data["acked_by_worker"]  # both workers wrote
    rows = data["rows"]
    assert any(name.endswith("[aiohttp]") for name in rows) and any(name.endswith("[gevent]") for name in rows)
    pipeline = data["pipeline"]
    assert pipeline["acked"] == RECORDS and pipeline["missing_by_step"] == {"dynamodb": 0, "s3": 0, "sqs": 0}
    # the record latency histogram is the workers' merged: one value per record through
    counted = sum(v["count"] for k, v in data["record_latency_ms"].items() if k.startswith("SQS "))
    assert counted == RECORDS
    for service in ("DynamoDB", "S3", "SQS"):
        assert f"verify {service}: {RECORDS} acknowledged, 0 lost" in result.output, result.output[-3000:]


# --------------------------------------------------------------------------- constructed behaviour


def test_a_failing_step_is_retried_alone(
    tmp_path: Path, local: SharedEmulators, fault_proxy: Callable[..., Any]
) -> None:
    """S3 throttles 30 % of its calls and fails 5 % with a 5xx: those are sent again, and
    DynamoDB (the step before) is written exactly once per record, as its own proxy counts."""
    faulty = ["--throttle-rate", "0.3", "--error-rate", "0.05", "--seed", "7"]
    env, proxies = through_proxies(local, fault_proxy, {"dynamodb": ["--partitions", "1"], "s3": faulty})
    summary = tmp_path / "summary.json"
    args = ["-u", "2", "-r", "2", "-t", "60s", "--max-records", "100", "--records-per-task", "10",
            "--concurrency", "4", "--max-attempts", "20", "--exit-code-on-error", "0", "--target", "aws",
            "--summary-json", str(summary), "--report-dir", "", *names(), "GeventUser"]  # fmt: skip
    result = run(tmp_path, args, env=env)
    assert result.returncode == 0, result.output[-3000:]
    data = summary_of(summary, result)
    s3_rows = rows_of(data, "S3")
    assert sum(r["failed_throttled"] for r in s3_rows) > 0  # the step failed ...
    assert sum(r["calls"] for r in s3_rows) == 100 + sum(r["retried_items"] for r in s3_rows)  # ... and was retried
    assert data["pipeline"]["acked"] == 100 and data["pipeline"]["given_up_by_step"]["s3"] == 0
    dynamodb_rows = rows_of(data, "DynamoDB")
    assert sum(r["calls"] for r in dynamodb_rows) == 100  # the step before: once per record, here ...
    writes = {k: v for k, v in proxies["dynamodb"].stats()["by_partition"].items() if k.startswith("DynamoDB:")}
    # ... and at its server, with the one conditional PutItem of the check before the swarm (it stores nothing)
    assert sum(v["requests"] for v in writes.values()) == 100 + 1, writes
    assert sum(r["calls"] for r in rows_of(data, "SQS")) == 100


def test_a_record_given_up_at_a_step_is_counted_at_that_step(
    tmp_path: Path, local: SharedEmulators, fault_proxy: Callable[..., Any]
) -> None:
    """Once records flow, S3 fails every call: each record DynamoDB acknowledged from then on
    is given up at S3 (and counted there), and SQS sees only the records S3 took."""
    env, proxies = through_proxies(local, fault_proxy, {"s3": []})
    summary = tmp_path / "summary.json"
    args = ["-u", "1", "-r", "1", "-t", "8s", "--rate", "30", "--concurrency", "4", "--max-attempts", "2",
            "--exit-code-on-error", "0", "--target", "aws", "--summary-json", str(summary), "--report-dir", "",
            *names(), "GeventUser"]  # fmt: skip
    finished: list[LocustRun] = []
    runner = threading.Thread(target=lambda: finished.append(run(tmp_path, args, env=env)))
    runner.start()
    deadline = time.monotonic() + 60
    while proxies["s3"].stats()["requests"] < 20 and time.monotonic() < deadline:  # writes flow
        time.sleep(0.1)
    proxies["s3"].configure(error_rate=1.0)
    runner.join(120)
    result = finished[0]
    assert "Traceback" not in result.output
    data = summary_of(summary, result)
    pipeline = data["pipeline"]
    written = sum(r["acked"] for r in rows_of(data, "DynamoDB"))
    given_up = pipeline["given_up_by_step"]
    assert given_up["s3"] > 0 and given_up["dynamodb"] == given_up["sqs"] == 0, pipeline
    assert given_up["s3"] + pipeline["acked"] == written, (pipeline, written)  # every record accounted for once
    assert sum(r["calls"] for r in rows_of(data, "SQS")) == pipeline["acked"]
    assert pipeline["bottleneck"] == "s3"
    assert result.returncode != 0  # records given up: never a success


def test_record_latency_is_the_sum_of_the_steps(
    tmp_path: Path, local: SharedEmulators, fault_proxy: Callable[..., Any]
) -> None:
    """Each step's proxy adds a known delay (5, 10 and 20 ms a call): a record's latency is
    at least their sum, and the sum of the steps' own service times."""
    delays = {"dynamodb": 5.0, "s3": 10.0, "sqs": 20.0}
    env, _ = through_proxies(local, fault_proxy, {s: ["--latency-ms", str(ms / 2)] for s, ms in delays.items()})
    summary = tmp_path / "summary.json"
    args = ["-u", "1", "-r", "1", "-t", "8s", "--rate", "20", "--concurrency", "8", "--target", "aws",
            "--summary-json", str(summary), "--report-dir", "", *names(), "GeventUser"]  # fmt: skip
    result = run(tmp_path, args, env=env)
    assert result.returncode == 0, result.output[-3000:]
    data = summary_of(summary, result)
    record = data["pipeline"]["record_latency_ms"]
    steps = sum(data["latency_ms"][f"{row} [gevent]"]["p50"] for row in ("DynamoDB PutItem", "S3 PutObject",
                                                                           "SQS SendMessage"))  # fmt: skip
    print(f"record latency {record}, the steps' service-time p50s add up to {steps:.1f} ms")  # shown with -s
    assert record["p50"] >= sum(delays.values()), (record, steps)
    assert abs(record["p50"] - steps) <= 3.0 + 0.1 * steps, (record, steps)


def test_find_max_names_the_throttled_step_at_its_rate(
    tmp_path: Path, local: SharedEmulators, fault_proxy: Callable[..., Any]
) -> None:
    """S3 behind a token bucket of 40 requests/s (the other steps unlimited): the pipeline
    sustains about 40 records/s, and S3 is named the bottleneck. The search starts at 30 and
    grows by 1.25 (from 10 by doubling it took ~75 s here, from 30 ~41 s)."""
    capacity = 40.0
    env, proxies = through_proxies(local, fault_proxy, {"s3": ["--capacity", str(capacity), "--burst", "10"]})
    summary = tmp_path / "summary.json"
    args = ["-u", "2", "-r", "2", "-t", "240s", "--find-max", "--find-max-start", "30", "--find-max-growth", "1.25",
            "--step-time", "3s",
            "--slo-throttle-ratio", "0.01", "--concurrency", "16", "--target", "aws", "--summary-json",
            str(summary), "--report-dir", "", *names(), "GeventUser"]  # fmt: skip
    result = run(tmp_path, args, timeout=300, env=env)
    assert "Traceback" not in result.output
    data = summary_of(summary, result)
    assert data["find_max"]["complete"], data["find_max"]
    rate = data["find_max"]["sustainable_rate"]
    print(f"sustainable {rate} records/s, bottleneck {data['pipeline']['bottleneck']}")  # shown with -s
    assert 0.6 * capacity <= rate <= 1.15 * capacity, data["find_max"]
    assert data["pipeline"]["bottleneck"] == "s3", data["pipeline"]
    assert proxies["s3"].stats()["throttled"] > 0


# --------------------------------------------------------------------------- the pipeline row everywhere

STEP_DELAYS_MS = {"dynamodb": 5.0, "s3": 10.0, "sqs": 20.0}  # added by each step's proxy (half each way)


def js_number(value: float) -> str:
    """A JSON number as JavaScript prints it (41.0 -> "41")."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def metric_samples(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def one(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    found = [v for have, v in samples.get(name, []) if all(have.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_pipeline_row_in_the_aws_tab_the_metrics_and_the_report(
    tmp_path: Path, local: SharedEmulators, fault_proxy: Callable[..., Any]
) -> None:
    """A distributed web-UI run (a master, two workers), each step behind a proxy that adds a
    known delay (5, 10, 20 ms a call), S3 failing 30 % of its calls once records flow
    (--max-attempts 1: those records are given up at S3). Once the test has stopped, the
    figures are frozen: the AWS tab's row (/aws/stats and the tab in Chromium), the /metrics
    scrape and the report (its HTML opened in Chromium) show the same pipeline row, the row
    the workers' counts add up to (records through = SQS's acknowledgements, given up at S3 =
    S3's given-up records), and no record came through faster than the steps' delays."""
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    env, proxies = through_proxies(
        local, fault_proxy, {step: ["--latency-ms", str(ms / 2)] for step, ms in STEP_DELAYS_MS.items()}
    )
    web_port, metrics_port = free_ports(2)
    reports = tmp_path / "reports"
    args = ["--autostart", "--processes", "2", *own_master_port(), "-u", "2", "-r", "2", "-t", "10s", "--rate", "40",
            "--concurrency", "4", "--max-attempts", "1", "--target", "aws", "--web-host", "127.0.0.1", "--web-port",
            str(web_port), "--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1", "--report-dir",
            str(reports), *names(), "GeventUser"]  # fmt: skip
    web = LocustProcess(LOCUSTFILE, args, tmp_path, env=env, headless=False, credentials=False)
    base = f"http://127.0.0.1:{web_port}"

    def until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                found = condition()
            except (requests.RequestException, ValueError, KeyError):
                found = None
            if found:
                return found
            time.sleep(0.3)
        pytest.fail(f"timed out waiting for {what}\n{web.output()[-3000:]}")

    try:
        until(lambda: proxies["s3"].stats()["requests"] >= 10, 90, "records at S3")
        proxies["s3"].configure(error_rate=0.3)
        until(lambda: requests.get(f"{base}/aws/stats", timeout=5).json()["state"] == "stopped", 60, "the stop")
        html_path = until(lambda: next(reports.glob("aws-report-*.html"), None), 30, "the report")
        time.sleep(1)  # written atomically, and the JSON beside it
        table = requests.get(f"{base}/aws/stats", timeout=10).json()
        samples = metric_samples(metrics_port)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=HEADLESS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(base + "/")
                page.get_by_role("tab", name="AWS").click()
                tab = page.locator("#aws-pipeline")
                tab.get_by_text("records through").wait_for(timeout=20_000)
                tab_text = tab.inner_text().strip()
                page.goto(html_path.as_uri())
                cells = page.locator("#pipeline tr").nth(1).locator("td").all_inner_texts()
                heads = page.locator("#pipeline tr").nth(0).locator("th").all_inner_texts()
                steps = page.locator("#pipeline-steps tr").all()[1:]
                step_cells = [step.locator("td").all_inner_texts() for step in steps]
            finally:
                browser.close()
    finally:
        output = web.stop(timeout=30).output  # then its workers, if any is left
    assert "Traceback" not in output, output[-3000:]

    # /aws/stats: the row the workers' counts add up to
    row = table["pipeline"]
    by_name = {r["name"]: r for r in table["rows"]}
    sqs = sum(r["acked"] for name, r in by_name.items() if name.startswith("SQS "))
    s3_given_up = sum(r["given_up_items"] for name, r in by_name.items() if name.startswith("S3 "))
    written = sum(r["acked"] for name, r in by_name.items() if name.startswith("DynamoDB "))
    assert row["steps"] == ["dynamodb", "s3", "sqs"] and len(table["workers"]) == 2, table["workers"]
    assert row["acked"] == sqs > 100, row
    assert row["given_up_by_step"] == {"dynamodb": 0, "s3": s3_given_up, "sqs": 0} and s3_given_up > 0, row
    assert row["acked"] + s3_given_up == written, (row, written)  # every record accounted for once
    assert row["bottleneck"] == "s3", row
    latency = row["record_latency_ms"]
    assert sum(STEP_DELAYS_MS.values()) <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]

    # /metrics: the same figures, the record latency as buckets of the values recorded
    pipeline = {"pipeline": "dynamodb,s3,sqs"}
    assert one(samples, "aws_load_pipeline_records_acked_total", **pipeline) == row["acked"]
    for step, count in row["given_up_by_step"].items():
        assert one(samples, "aws_load_pipeline_records_given_up_total", step=step, **pipeline) == count
    name = "aws_load_pipeline_record_latency_seconds"
    assert one(samples, f"{name}_count", **pipeline) == row["acked"]  # one latency per record through
    buckets = sorted((float(labels["le"]), v) for labels, v in samples[f"{name}_bucket"] if labels["le"] != "+Inf")
    assert all(count == 0 for bound, count in buckets if bound < sum(STEP_DELAYS_MS.values()) / 1000)
    above = [bound for bound, count in buckets if count >= row["acked"] / 2]  # the bucket holding the median
    below = [bound for bound, count in buckets if count < row["acked"] / 2]
    assert below and above and max(below) <= latency["p50"] / 1000 <= min(above) * 1.01, (buckets, latency)
    mean_seconds = one(samples, f"{name}_sum", **pipeline) / row["acked"]
    assert latency["p50"] / 1000 / 2 < mean_seconds <= latency["max"] / 1000

    # the AWS tab in Chromium: the row as /aws/stats has it
    figures = ", ".join(f"{k} {js_number(latency[k])}" for k in ("p50", "p90", "p99", "p99.9", "max"))
    given_up = ", ".join(f"{step} {n}" for step, n in row["given_up_by_step"].items())
    assert tab_text == (
        f"pipeline dynamodb \u2192 s3 \u2192 sqs: {row['acked']} records through ({js_number(row['records_per_s'])}/s "
        f"over the run); record latency ms {figures}; given up by step: {given_up}; bottleneck: s3"
    ), tab_text

    # the report (its HTML in Chromium): the same row, and the steps in order
    shown = dict(zip(heads, cells, strict=True))
    assert shown["steps"] == "dynamodb \u2192 s3 \u2192 sqs" and shown["records through"] == str(row["acked"])
    assert [shown[f"given up at {step}"] for step in row["steps"]] == [str(n) for n in row["given_up_by_step"].values()]
    for key in ("p50", "p90", "p99", "p99.9", "max"):
        assert float(shown[f"{key} ms"]) == latency[key], (key, shown)
    assert shown["bottleneck"] == "s3"
    assert [cells[1] for cells in step_cells] == ["dynamodb", "s3", "sqs"]
    assert [int(cells[5]) for cells in step_cells] == list(row["given_up_by_step"].values())
