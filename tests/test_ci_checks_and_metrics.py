"""Fitting the pipelines people run (issue 17), each through real Locust processes against
a real dynalite (and the fault proxy where faults are needed):

- every flag of ours set by its LOCUST_* variable or in a locust.conf, with the same checks;
- --check-* thresholds that pass (exit 0) and that fail (exit 4, one `check failed:` line
  per breach), a worse exit code winning, the rate mode judging the intended-time p99,
  checks on the master of a distributed run;
- scripts/diff_reports.py on real reports: equal, regressed, and reports that do not compare;
- --otel with OpenTelemetry's console exporter through every user class;
- --metrics-port scraped over HTTP, single process and master + workers, and the Grafana
  dashboard querying only metrics that a real scrape has.

Every server binds 127.0.0.1; every run is bounded by -t, --max-records and a timeout.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    PROJECT_ROOT,
    USER_CLASSES,
    FaultProxy,
    LocustCluster,
    LocustProcess,
    LocustResult,
    SharedEmulators,
    assert_no_traceback,
    locustfile,
    run_locust,
    unique,
)
from helpers.stubs import DelayServer
from prometheus_client.parser import text_string_to_metric_families

from aws_locust.buckets import percentile_from_buckets
from writers.emulators import RunningEmulator, free_ports

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

DIFF = PROJECT_ROOT / "scripts" / "diff_reports.py"
DASHBOARDS = PROJECT_ROOT / "k8s" / "dashboards"
SWARM_STARTED = ("Ramping to", "All users spawned")
CHECK_NAMES = {"p99_ms", "error_ratio", "throttle_ratio", "min_rate", "max_cost_usd", "given_up"}


@pytest.fixture(scope="module")
def dynalite(local: SharedEmulators) -> RunningEmulator:
    return local.get("dynamodb", "dynalite")


def lines_with(result: LocustResult, prefix: str) -> list[str]:
    """The message part of every log line whose message starts with `prefix`."""
    found = []
    for line in result.output.splitlines():
        message = line.split(": ", 1)[1] if line.startswith("[") and ": " in line else line
        if message.startswith(prefix):
            found.append(message)
    return found


def dynamo(dynalite: RunningEmulator, *flags: str) -> list[str]:
    return ["--target", dynalite.endpoint, "--table", unique("ci"), *flags]


# --------------------------------------------------------------------------- LOCUST_* and locust.conf


def test_locust_max_records_variable_is_honoured(dynalite: RunningEmulator, tmp_path: Path) -> None:
    """Before: LOCUST_MAX_RECORDS=50 was ignored and the run wrote 100,564 records."""
    result = run_locust(
        "dynamodb",
        ["-u", "2", "-r", "2", "-t", "40s", "--concurrency", "2", *dynamo(dynalite), "GeventUser"],
        tmp_path,
        timeout=60,
        env={"LOCUST_MAX_RECORDS": "50", "LOCUST_RECORDS_PER_TASK": "5"},
    )
    assert result.returncode == 0, result.tail()
    assert_no_traceback(result)
    assert "--max-records reached" in result.output, result.tail()
    assert 50 <= result.summary["acked"] < 60, result.summary
    assert result.elapsed < 30


@pytest.mark.parametrize(
    ("variable", "value", "flag"),
    [
        ("LOCUST_CONCURRENCY", "0", "--concurrency"),
        ("LOCUST_BATCH", "26", "--batch"),
        ("LOCUST_CHECK_ERROR_RATIO", "2", "--check-error-ratio"),
        ("LOCUST_CHECK_P99_MS", "fast", "--check-p99-ms"),
        ("LOCUST_METRICS_PORT", "70000", "--metrics-port"),
        ("LOCUST_REPORT_S3_URI", "https://bucket/reports/", "--report-s3-uri"),
    ],
)
def test_a_bad_variable_exits_2_like_its_flag(tmp_path: Path, variable: str, value: str, flag: str) -> None:
    args = ["-u", "1", "-r", "1", "-t", "10s", "--max-records", "10", "--target", "local", "SequentialUser"]
    by_flag = run_locust("dynamodb", [flag, value, *args], tmp_path, timeout=45)
    by_variable = run_locust("dynamodb", args, tmp_path, timeout=45, env={variable: value})

    for result in (by_flag, by_variable):
        assert result.returncode == 2, result.tail()
        assert_no_traceback(result)
        errors = [line for line in result.output.splitlines() if flag in line]
        assert len(errors) == 1 and errors[0].startswith("error: "), result.tail()
        assert not [s for s in SWARM_STARTED if s in result.output], result.tail()
    assert lines_with(by_flag, "error: ") == lines_with(by_variable, "error: ")


def test_locust_conf_sets_our_flags(dynalite: RunningEmulator, tmp_path: Path) -> None:
    conf = tmp_path / "locust.conf"
    conf.write_text(
        f"target = {dynalite.endpoint}\ntable = {unique('conf')}\nmax-records = 40\nrecords-per-task = 4\n"
        "concurrency = 1\nkeep-alive = false\ncheck-p99-ms = 60000\ncheck-min-rate = 1\n"
    )
    result = run_locust("dynamodb", ["--config", str(conf), "-u", "1", "-r", "1", "-t", "30s", "GeventUser"], tmp_path)

    assert result.returncode == 0, result.tail()
    assert result.summary["acked"] == 40, result.summary
    assert {check["name"] for check in result.summary["checks"]} == {"p99_ms", "min_rate", "given_up"}
    assert all(check["passed"] for check in result.summary["checks"]), result.summary["checks"]


# --------------------------------------------------------------------------- --check-*


def test_checks_that_pass_exit_0(dynalite: RunningEmulator, tmp_path: Path) -> None:
    checks = ["--check-p99-ms", "60000", "--check-error-ratio", "0", "--check-throttle-ratio", "0",
              "--check-min-rate", "1", "--check-max-cost-usd", "1"]  # fmt: skip
    result = run_locust(
        "dynamodb",
        ["-u", "2", "-r", "2", "-t", "30s", "--max-records", "300", *dynamo(dynalite), *checks,
         "GeventUser", "SequentialUser"],
        tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.tail()
    assert_no_traceback(result)
    assert not lines_with(result, "check failed"), result.tail()
    recorded = result.summary["checks"]
    assert {check["name"] for check in recorded} == CHECK_NAMES
    assert [c["row"] for c in recorded if c["name"] == "p99_ms"] == [
        "DynamoDB PutItem [gevent]", "DynamoDB PutItem [sequential]"
    ]  # fmt: skip
    assert all(c["kind"] == "service" for c in recorded if c["name"] == "p99_ms")
    assert all(check["passed"] for check in recorded), recorded
    assert len(lines_with(result, "check passed: ")) == len(recorded) == 7
    rate = next(c for c in recorded if c["name"] == "min_rate")
    assert rate["limit"] == 1 and rate["value"] > 1


def test_checks_that_fail_exit_4_with_one_line_each(
    dynalite: RunningEmulator, tmp_path: Path, fault_proxy: Callable[..., FaultProxy]
) -> None:
    """A third of the calls throttled and no retry (--max-attempts 1): records are given up.
    Errors other than throttles stay at 0, so --check-error-ratio 0 passes."""
    proxy = fault_proxy(dynalite.endpoint, "--throttle-rate", "0.3", "--seed", "7")
    checks = ["--check-p99-ms", "0.001", "--check-error-ratio", "0", "--check-throttle-ratio", "0.05",
              "--check-min-rate", "1000000", "--check-max-cost-usd", "0"]  # fmt: skip
    result = run_locust(
        "dynamodb",
        ["-u", "2", "-r", "2", "-t", "4s", "--concurrency", "2", "--max-attempts", "1", "--exit-code-on-error", "0",
         "--target", proxy.url, "--table", unique("fail"), *checks, "--report-dir", str(tmp_path / "reports"),
         "GeventUser", "ThreadedUser"],
        tmp_path,
    )  # fmt: skip

    assert result.returncode == 4, result.tail()
    assert_no_traceback(result)
    failed = lines_with(result, "check failed: ")
    by_name = {c["name"]: c for c in result.summary["checks"] if c["name"] != "p99_ms"}
    assert [c["passed"] for c in result.summary["checks"] if c["name"] == "p99_ms"] == [False, False]
    assert by_name["error_ratio"]["passed"] and by_name["error_ratio"]["value"] == 0
    for name in ("throttle_ratio", "min_rate", "max_cost_usd", "given_up"):
        assert not by_name[name]["passed"], by_name[name]
    assert len(failed) == 6, failed  # two rows' p99, throttles, rate, cost, given up: one line each
    throttled = result.total("failed_throttled")
    calls = result.total("calls")
    assert throttled > 0 and by_name["throttle_ratio"]["value"] == pytest.approx(throttled / calls, abs=1e-6)
    assert by_name["given_up"]["value"] == result.summary["given_up"] > 0
    for flag in ("--check-p99-ms", "--check-throttle-ratio", "--check-min-rate", "--check-max-cost-usd",
                 "--check-given-up"):  # fmt: skip
        line = next(line for line in failed if flag in line)
        assert "limit" in line and re.search(r"\d", line.split("limit")[0]), line  # the figure, then the limit
    assert result.summary["verdicts"].keys() == {"4"}
    report = json.loads(next((tmp_path / "reports").glob("aws-report-*.json")).read_text())
    assert report["checks"] == result.summary["checks"]
    html = next((tmp_path / "reports").glob("aws-report-*.html")).read_text()
    assert 'id="checks"' in html and html.count("FAILED") == 6


def test_a_worse_exit_code_wins_over_a_failed_check(dynalite: RunningEmulator, tmp_path: Path) -> None:
    """--max-records not reached (6) is worse news than a check (4); both are said."""
    result = run_locust(
        "dynamodb",
        ["-u", "1", "-r", "1", "-t", "3s", "--max-records", "10000000", "--check-p99-ms", "0.001",
         *dynamo(dynalite), "GeventUser"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 6, result.tail()
    assert len(lines_with(result, "check failed: p99 of DynamoDB PutItem [gevent]")) == 1, result.tail()
    assert result.summary["verdicts"].keys() == {"4", "6"}


@pytest.mark.timing  # a server of known latency: one timing test at a time under xdist
def test_rate_mode_judges_the_intended_time_p99(dynalite: RunningEmulator, tmp_path: Path) -> None:
    result = run_locust(
        "dynamodb",
        ["-u", "2", "-r", "2", "-t", "4s", "--rate", "200", "--check-p99-ms", "60000", *dynamo(dynalite),
         "--check-given-up", "off", "GeventUser"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.tail()
    p99 = [c for c in result.summary["checks"] if c["name"] == "p99_ms"]
    assert len(p99) == 1 and p99[0]["kind"] == "intended", result.summary["checks"]
    assert p99[0]["value"] == result.summary["intended_latency_ms"]["DynamoDB PutItem [gevent]"]["p99"]
    assert "given_up" not in {c["name"] for c in result.summary["checks"]}  # off
    passed = lines_with(result, "check passed: p99 of DynamoDB PutItem [gevent] (intended-time)")
    assert len(passed) == 1, result.tail()


# --------------------------------------------------------------------------- --metrics-port


def scrape_text(port: int) -> str:
    """GET /metrics as served."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Content-Type", "").startswith("text/plain; version=0.0.4")
        return response.read().decode()
    finally:
        connection.close()


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """GET /metrics: sample name -> [(labels, value)], parsed by prometheus-client's parser."""
    return parse_metrics(scrape_text(port))


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        # served, even without a sample yet (no hourly charge, no worker in a single process)
        samples.setdefault(family.name + ("_total" if family.type == "counter" else ""), [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for found, v in samples.get(name, []) if all(found.get(k) == w for k, w in labels.items()))


def dashboard_metrics() -> set[str]:
    """Every metric name the dashboards' queries use."""
    names: set[str] = set()
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                names.update(re.findall(r"\baws_load_[a-z0-9_]+", target["expr"]))
    return names


def test_metrics_port_single_process(dynalite: RunningEmulator, tmp_path: Path) -> None:
    port = free_ports(1)[0]
    run = LocustProcess(
        locustfile("dynamodb"),
        ["-u", "2", "-r", "2", "-t", "8s", "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
         "--concurrency", "2", *dynamo(dynalite), "GeventUser", "ThreadedUser"],
        tmp_path / "single",
    )  # fmt: skip
    try:
        run.wait_for("All users spawned", timeout=40)
        time.sleep(2.5)
        first = scrape(port)
        time.sleep(2.5)
        second = scrape(port)
        result = run.finish(timeout=40)
    finally:
        run.kill()

    assert result.returncode == 0, result.tail()
    for strategy in ("gevent", "threaded"):
        labels = {"service": "DynamoDB", "operation": "PutItem", "strategy": strategy}
        acked = total(first, "aws_load_records_acked_total", **labels)
        assert 0 < acked < total(second, "aws_load_records_acked_total", **labels)  # counting as it runs
        count = total(second, "aws_load_latency_seconds_count", kind="service", **labels)
        infinite = total(second, "aws_load_latency_seconds_bucket", kind="service", le="+Inf", **labels)
        assert count == infinite == total(second, "aws_load_calls_total", **labels) > 0
        assert total(second, "aws_load_cost_usd_total", **labels) > 0
        assert total(second, "aws_load_billed_units_total", unit="WRU", **labels) > 0
        assert total(second, "aws_load_calls_failed_total", kind="throttled", **labels) == 0
    # every metric the Grafana dashboard queries is one this endpoint serves
    queried = dashboard_metrics()
    assert queried, "the dashboard queries no aws_load_ metric"
    assert queried <= set(second), sorted(queried - set(second))


def test_metrics_port_in_use_is_one_line_before_the_swarm(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_locust(
            "dynamodb",
            ["-u", "1", "-r", "1", "-t", "5s", "--target", "local", "--metrics-port", str(port),
             "--metrics-host", "127.0.0.1", "SequentialUser"],
            tmp_path,
            timeout=60,
        )  # fmt: skip
    assert result.returncode == 2, result.tail()
    assert_no_traceback(result)
    errors = [line for line in result.output.splitlines() if "--metrics-port" in line]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.tail()
    assert not [s for s in SWARM_STARTED if s in result.output], result.tail()


def test_metrics_port_and_checks_on_the_master_of_two_workers(dynalite: RunningEmulator, tmp_path: Path) -> None:
    """The master scrapes and judges for both workers; the workers (with --otel) export their
    own figures, each labelled with its own worker id."""
    master_port, metrics_port = free_ports(2)
    args = [
        "-u", "2", "-r", "2", "-t", "8s", "--concurrency", "2", "--metrics-port", str(metrics_port),
        "--metrics-host", "127.0.0.1", "--check-p99-ms", "0.001", "--check-error-ratio", "0", *dynamo(dynalite),
        "GeventUser",
    ]  # fmt: skip
    with LocustCluster.on_loopback(
        locustfile("dynamodb"),
        args,
        tmp_path,
        workers=2,
        worker_args=["--otel"],
        worker_env=OTEL_CONSOLE,
        port=master_port,
    ) as cluster:
        cluster.master.wait_for("All users spawned", timeout=40)
        time.sleep(5)  # workers report every 3 s
        samples = scrape(metrics_port)
        result, worker_results = cluster.finish(timeout=40, workers_timeout=30)

    by_worker = samples["aws_load_worker_records_acked_total"]
    assert len(by_worker) == 2 and all(value > 0 for _, value in by_worker), by_worker
    acked = total(samples, "aws_load_records_acked_total", strategy="gevent")
    assert acked == sum(value for _, value in by_worker)  # the master's figures: both workers together
    assert result.returncode == 4, result.tail()
    assert len(lines_with(result, "check failed: ")) == 1 and len(lines_with(result, "check passed: ")) == 2
    assert result.summary["acked"] == sum(result.summary["acked_by_worker"].values()) > acked
    exported: dict[str, float] = {}  # worker label -> its last exported acked count
    for worker in worker_results:
        assert "check " not in worker.output and "Prometheus" not in worker.output, worker.tail()
        assert "Traceback" not in worker.output, worker.tail()
        for attributes, value in otel_points(worker.output, "aws_load.records.acked"):
            assert attributes["worker"] != "local" and attributes["strategy"] == "gevent"
            exported[attributes["worker"]] = value
    assert sorted(exported) == sorted(result.summary["acked_by_worker"])  # one label per worker: its client id
    for worker_id, value in exported.items():
        assert 0 < value <= result.summary["acked_by_worker"][worker_id]


def one_value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    found = [v for have, v in samples.get(name, []) if all(have.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def promtool_check(text: str) -> None:
    """`promtool check metrics` (Debian's prometheus, installed by scripts/setup.sh) finds nothing."""
    if shutil.which("promtool") is None:
        return  # tests/test_metrics_exports.py::test_promtool_accepts_the_metrics says it was skipped
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


@pytest.fixture
def known_latency() -> Iterator[DelayServer]:
    """Every write answered 20 ms after it arrived."""
    server = DelayServer(0.020)
    yield server
    server.close()


STUB = ["--no-provision", "--table", "stub", "--exit-code-on-error", "0"]


@pytest.mark.timing  # a server of known latency: one timing test at a time under xdist
def test_metrics_values_of_a_paced_run_against_a_server_of_known_latency(
    known_latency: DelayServer, tmp_path: Path
) -> None:
    """Read back by value: users, workers, the target and achieved rate, when the test started,
    and latency buckets that put nothing below the server's 20 ms."""
    port = free_ports(1)[0]
    run = LocustProcess(
        locustfile("dynamodb"),
        [*STUB, "--target", known_latency.url, "-u", "2", "-r", "2", "-t", "10s", "--rate", "200",
         "--metrics-port", str(port), "--metrics-host", "127.0.0.1", "GeventUser"],
        tmp_path / "run",
    )  # fmt: skip
    try:
        run.wait_for("All users spawned", timeout=40)
        spawned = time.time()
        time.sleep(5)
        text = scrape_text(port)
        scraped = time.time()
        result = run.finish(timeout=40)
    finally:
        run.kill()

    assert result.returncode == 0, result.tail()
    promtool_check(text)
    samples = parse_metrics(text)
    assert one_value(samples, "aws_load_users") == 2
    assert one_value(samples, "aws_load_workers") == 1  # a single local process
    assert one_value(samples, "aws_load_target_records_per_second") == 200
    assert 150 <= one_value(samples, "aws_load_achieved_records_per_second") <= 230
    assert spawned - 5 <= one_value(samples, "aws_load_run_start_time_seconds") <= spawned + 1
    row = {"service": "DynamoDB", "operation": "PutItem", "strategy": "gevent"}
    count = one_value(samples, "aws_load_latency_seconds_count", kind="service", **row)
    assert 0.5 * 200 * (scraped - spawned) <= count <= one_value(samples, "aws_load_calls_total", **row)
    assert one_value(samples, "aws_load_latency_seconds_bucket", kind="service", le="0.015", **row) == 0
    assert one_value(samples, "aws_load_latency_seconds_bucket", kind="service", le="0.02", **row) <= 0.01 * count
    assert one_value(samples, "aws_load_latency_seconds_bucket", kind="service", le="+Inf", **row) == count
    mean = one_value(samples, "aws_load_latency_seconds_sum", kind="service", **row) / count
    assert 0.020 <= mean <= 0.25, mean  # seconds: never below the server's delay (a ms/s mix-up would be 20)
    intended = one_value(samples, "aws_load_latency_seconds_count", kind="intended", **row)
    assert intended == count and one_value(samples, "aws_load_latency_seconds_count", kind="lag", **row) == count
    assert 0 <= one_value(samples, "aws_load_start_lag_p99_seconds", **row) < 0.5
    late = one_value(samples, "aws_load_late_starts_total", **row)
    assert late <= result.total("late")  # counted as it runs, never more than the final figure
    assert samples["aws_load_find_max_step"] == []  # no knee finder in this run


@pytest.mark.timing  # a server of known latency: one timing test at a time under xdist
def test_metrics_follow_the_knee_finder_step_by_step(known_latency: DelayServer, tmp_path: Path) -> None:
    """Scraped every 0.5 s while --find-max searches: each (step, rate) served is the rate that
    step was measured at, as the summary lists them afterwards."""
    port = free_ports(1)[0]
    run = LocustProcess(
        locustfile("dynamodb"),
        [*STUB, "--target", known_latency.url, "-u", "2", "-r", "2", "-t", "11s", "--find-max", "--find-max-start",
         "40", "--step-time", "3s", "--slo-p99-ms", "1000", "--concurrency", "32", "--check-given-up", "off",
         "--metrics-port", str(port),
         "--metrics-host", "127.0.0.1", "GeventUser"],
        tmp_path / "run",
    )  # fmt: skip
    seen: set[tuple[int, float]] = set()
    try:
        run.wait_for("All users spawned", timeout=40)
        deadline = time.monotonic() + 9
        while time.monotonic() < deadline and run.process.poll() is None:
            samples = scrape(port)
            if samples["aws_load_find_max_step"]:
                step = one_value(samples, "aws_load_find_max_step")
                seen.add((int(step), one_value(samples, "aws_load_find_max_records_per_second")))
            time.sleep(0.5)
        result = run.finish(timeout=40)
    finally:
        run.kill()

    steps = result.summary["find_max"]["steps"]
    assert len(steps) >= 2, result.tail()
    assert {1, 2} <= {step for step, _ in seen}, seen
    for step, rate in seen:
        if step <= len(steps) and rate > 0:  # 0: catching up after a breach
            assert rate == steps[step - 1]["rate"], (step, rate, steps)
    assert (1, 40.0) in seen, seen  # the first step at --find-max-start


# --------------------------------------------------------------------------- --otel


OTEL_CONSOLE = {
    "OTEL_METRICS_EXPORTER": "console",
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
}


def otel_points(output: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(attributes, value) of every exported data point of our metric `name`, in order."""
    return [
        (point["attributes"], point.get("value", point.get("count", 0)))
        for document in console_metrics(output)
        for resource in document["resource_metrics"]
        for scope in resource["scope_metrics"]
        if scope["scope"]["name"] == "aws_load"
        for metric in scope["metrics"]
        if metric["name"] == name
        for point in metric["data"]["data_points"]
    ]


def console_metrics(output: str) -> list[dict[str, Any]]:
    """The JSON documents OpenTelemetry's console exporter printed (a '{' line to a '}' line)."""
    documents, current = [], []
    for line in output.splitlines():
        if line == "{":
            current = [line]
        elif current:
            current.append(line)
            if line == "}":
                documents.append(json.loads("\n".join(current)))
                current = []
    return documents


def test_otel_console_exporter_with_every_user_class(
    dynalite: RunningEmulator, tmp_path: Path, fault_proxy: Callable[..., FaultProxy]
) -> None:
    """A fifth of the calls throttled by the proxy: retries and failures by kind are exported too."""
    proxy = fault_proxy(dynalite.endpoint, "--throttle-rate", "0.2", "--seed", "3")
    env = OTEL_CONSOLE
    result = run_locust(
        "dynamodb",
        ["--otel", "-u", str(len(USER_CLASSES)), "-r", str(len(USER_CLASSES)), "-t", "5s", "--concurrency", "2",
         "--exit-code-on-error", "0", "--target", proxy.url, "--table", unique("otel"), *USER_CLASSES],
        tmp_path,
        env=env,
    )  # fmt: skip

    assert result.returncode == 0, result.tail()
    assert_no_traceback(result)
    assert "OpenTelemetry enabled" in result.output
    latest: dict[tuple[str, str, str], float] = {}  # (metric, strategy, failure kind) -> the last exported value
    histograms: dict[tuple[str, str, str], int] = {}
    for document in console_metrics(result.output):
        for resource in document["resource_metrics"]:
            for scope in resource["scope_metrics"]:
                if scope["scope"]["name"] != "aws_load":
                    continue
                for metric in scope["metrics"]:
                    for point in metric["data"]["data_points"]:
                        attributes = point["attributes"]
                        assert attributes["rpc.system"] == "aws-api" and attributes["rpc.service"] == "DynamoDB"
                        assert attributes["rpc.method"] == "PutItem" and attributes["cloud.region"] == "us-east-1"
                        assert attributes["worker"] == "local"
                        key = (metric["name"], attributes["strategy"], attributes.get("error.type", ""))
                        if "count" in point:
                            histograms[key] = point["count"]
                        else:
                            latest[key] = point["value"]
    rows = result.summary["rows"]
    for user_class in USER_CLASSES:
        strategy = user_class.removesuffix("User").lower()
        row = rows[f"DynamoDB PutItem [{strategy}]"]
        assert 0 < latest[("aws_load.records.acked", strategy, "")] <= row["acked"], strategy
        assert 0 < latest[("aws_load.calls", strategy, "")] <= row["calls"], strategy
        assert 0 < latest[("aws_load.records.retried", strategy, "")] <= row["retried_items"], strategy
        assert 0 < latest[("aws_load.calls.failed", strategy, "throttled")] <= row["failed_throttled"], strategy
        assert ("aws_load.calls.failed", strategy, "server") not in latest  # none but throttles
        assert latest[("aws_load.cost", strategy, "")] > 0 and latest[("aws_load.billed_units", strategy, "")] > 0
        assert 0 < histograms[("aws_load.latency.service", strategy, "")] <= row["calls"]
        assert 0 < histograms[("aws_load.latency.service", strategy, "throttled")] <= row["failed_throttled"]
        assert histograms[("aws_load.latency.record", strategy, "")] > 0


@pytest.mark.timing  # a server of known latency: one timing test at a time under xdist
def test_otel_buckets_give_the_percentiles_of_a_server_of_known_latency(
    known_latency: DelayServer, tmp_path: Path
) -> None:
    """Issue 24: with the SDK's default bounds (0, 5, 10 ... 10,000) every call of a run landed
    in the (0, 5] s bucket. Now the exported buckets put the 20 ms server where it is: the
    bucket holding each percentile holds the HdrHistogram's figure of the same calls."""
    result = run_locust(
        "dynamodb",
        ["--otel", *STUB, "--target", known_latency.url, "-u", "2", "-r", "2", "-t", "5s", "--rate", "150",
         "GeventUser"],
        tmp_path,
        env=OTEL_CONSOLE,
    )  # fmt: skip
    assert result.returncode == 0, result.tail()
    points = [
        point
        for document in console_metrics(result.output)
        for resource in document["resource_metrics"]
        for scope in resource["scope_metrics"]
        if scope["scope"]["name"] == "aws_load"
        for metric in scope["metrics"]
        if metric["name"] == "aws_load.latency.service"
        for point in metric["data"]["data_points"]
    ]
    assert points, result.tail()
    last = points[-1]  # cumulative: the export at exit holds every call
    assert last["count"] == result.summary["rows"]["DynamoDB PutItem [gevent]"]["calls"]
    bounds, counts = last["explicit_bounds"], last["bucket_counts"]
    assert bounds[0] == 0.00025 and bounds[-1] == 60.0 and len(counts) == len(bounds) + 1
    assert sum(counts[: bounds.index(0.015) + 1]) == 0  # nothing faster than the server's 20 ms
    hdr = result.summary["latency_ms"]["DynamoDB PutItem [gevent]"]
    for percentile in (50.0, 99.0):
        upper = percentile_from_buckets(bounds, counts, percentile)
        lower = max([b for b in bounds if b < upper], default=0.0)
        assert lower * 0.999 <= hdr[f"p{percentile:g}"] / 1000 <= upper * 1.001, (percentile, lower, upper, hdr)
    assert percentile_from_buckets(bounds, counts, 50.0) >= 0.025  # above the server's 20 ms


# --------------------------------------------------------------------------- scripts/diff_reports.py


def diff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(DIFF), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def reports(local: SharedEmulators, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two real reports of the same runs: straight to dynalite, then 30 ms slower per direction."""
    emulator = local.get("dynamodb", "dynalite")
    folder = tmp_path_factory.mktemp("reports")
    made = []
    proxy = FaultProxy(emulator.endpoint, "--latency-ms", "30", tmp_dir=folder)
    try:
        for name, target in (("base", emulator.endpoint), ("slow", proxy.url)):
            out = folder / name
            args = ["-u", "2", "-r", "2", "-t", "30s", "--max-records", "200", "--concurrency", "2",
                    "--target", target, "--table", unique("diff"), "--report-dir", str(out),
                    "GeventUser", "SequentialUser"]  # fmt: skip
            LocustProcess(locustfile("dynamodb"), args, folder / f"run-{name}").finish(timeout=60)
            made.append(next(out.glob("aws-report-*.json")))
    finally:
        proxy.stop()
    return made[0], made[1]


def test_diff_of_a_report_with_itself_is_clean(reports: tuple[Path, Path]) -> None:
    base, _ = reports
    result = diff(str(base), str(base))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no figure regressed beyond 10%" in result.stdout
    for row in ("DynamoDB PutItem [gevent]", "DynamoDB PutItem [sequential]", "whole run"):
        assert row in result.stdout
    for figure in ("records/s", "p99 ms (service)", "p50 ms (record)", "failures", "retries",
                   "CPU seconds per 1,000 records", "cost USD per million records"):  # fmt: skip
        assert figure in result.stdout, figure


def test_diff_of_a_slower_run_regresses(reports: tuple[Path, Path]) -> None:
    base, slow = reports
    result = diff(str(base), str(slow), "--tolerance", "10%")
    assert result.returncode == 4, result.stdout + result.stderr
    regressed = [line for line in result.stdout.splitlines() if line.startswith("regressed: ")]
    assert any("DynamoDB PutItem [sequential]: p50 ms (service)" in line for line in regressed), regressed
    assert any("records/s" in line for line in regressed), regressed
    assert not any("cost USD per million" in line for line in regressed), regressed  # same records, same bill

    markdown = diff(str(base), str(slow), "--markdown")
    assert markdown.returncode == 4
    table = [line for line in markdown.stdout.splitlines() if line.startswith("|")]
    assert table[0].startswith("| row | figure | base | new | change |") and "REGRESSED" in markdown.stdout
    assert all(line.count("|") == table[0].count("|") for line in table)

    tolerant = diff(str(base), str(slow), "--tolerance", "9000%")
    assert tolerant.returncode == 0, tolerant.stdout


def test_diff_of_reports_that_do_not_compare_exits_2(reports: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = reports
    data = json.loads(base.read_text())
    other_format = tmp_path / "format.json"
    other_format.write_text(json.dumps({**data, "format": 2}))
    other_service = tmp_path / "service.json"
    other_service.write_text(json.dumps({**data, "rows": [{**row, "service": "S3"} for row in data["rows"]]}))
    not_json = tmp_path / "text.json"
    not_json.write_text("not json")
    cases = {
        str(other_format): "format",
        str(other_service): "different services",
        str(not_json): "not JSON",
        str(tmp_path / "missing.json"): "cannot read",
    }
    for path, reason in cases.items():
        result = diff(str(base), path)
        assert result.returncode == 2, (path, result.stdout, result.stderr)
        assert result.stdout == "" and len(result.stderr.splitlines()) == 1 and reason in result.stderr, result.stderr
    bad_tolerance = diff(str(base), str(base), "--tolerance", "ten")
    assert bad_tolerance.returncode == 2 and "--tolerance" in bad_tolerance.stderr


def test_dashboards_are_valid_grafana_json() -> None:
    paths = list(DASHBOARDS.glob("*.json"))
    assert paths, "no dashboard in k8s/dashboards"
    for path in paths:
        dashboard = json.loads(path.read_text())
        titles = {panel["title"] for panel in dashboard["panels"]}
        assert {"target vs achieved rate", "users and workers", "p50 and p99 by latency kind", "throttles and errors",
                "cost", "records/s per strategy"} <= titles  # fmt: skip
        assert "__inputs" not in dashboard  # the datasource is a variable: file provisioning and the sidecar load it


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing (Debian's prometheus; scripts/setup.sh)")
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Every query of the dashboards, with Grafana's variables filled in, parsed by promtool
    (as the expressions of recording rules: `promtool check rules` parses each one)."""
    exprs = [
        target["expr"].replace("$__rate_interval", "1m").replace("$job", ".*")
        for path in DASHBOARDS.glob("*.json")
        for panel in json.loads(path.read_text())["panels"]
        for target in panel["targets"]
    ]
    assert len(exprs) >= 10 and not [e for e in exprs if "$" in e], exprs
    rules = tmp_path / "rules.yml"
    rules.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(exprs)
    ]}]}))  # fmt: skip
    done = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and f"SUCCESS: {len(exprs)} rules found" in done.stdout, done.stdout + done.stderr


# --------------------------------------------------------------------------- the defaults


def test_given_up_is_judged_by_default_except_while_searching_the_knee() -> None:
    from argparse import Namespace

    from aws_locust.checks import read_check_settings

    assert read_check_settings(Namespace(check_given_up="")).given_up == 0
    assert read_check_settings(Namespace(check_given_up="", find_max=True)).given_up is None
    assert read_check_settings(Namespace(check_given_up="5", find_max=True)).given_up == 5
    assert read_check_settings(Namespace(check_given_up="off")).given_up is None


ENV_VAR_AUDIT = """
import locust  # monkey-patches first, as the locust command does
import importlib.util, json, sys
from locust.argument_parser import get_parser
locusts = {a.dest for a in get_parser(default_config_files=[])._actions}  # before the locustfile adds its flags
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location("under_test", sys.argv[2])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
parser = get_parser(default_config_files=[])
print(json.dumps({a.dest: [a.option_strings, getattr(a, "env_var", None), a.help == "==SUPPRESS=="]
                  for a in parser._actions if a.dest not in locusts}))
"""


@pytest.mark.parametrize("service", sorted(p.stem for p in (PROJECT_ROOT / "locustfiles").glob("*.py")))
def test_every_flag_of_ours_has_its_locust_variable(service: str) -> None:
    """Locust's parser after each locustfile added its flags: every flag the locustfile
    added (common, checks, metrics, --verify, the service's own) has LOCUST_<FLAG>, as
    Locust's own options have theirs; only the hidden master-to-worker ones have none."""
    done = subprocess.run(
        [sys.executable, "-c", ENV_VAR_AUDIT, str(PROJECT_ROOT / "locustfiles"), str(locustfile(service))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    ours = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {"--target", "--concurrency", "--max-records", "--check-p99-ms", "--metrics-port", "--verify", "--rate"}
    assert {flag for flags, _, _ in ours.values() for flag in flags} >= expected
    for flags, env_var, hidden in ours.values():
        if hidden:
            assert env_var is None, flags
            continue
        long_flag = next(flag for flag in flags if flag.startswith("--"))
        assert env_var == "LOCUST_" + long_flag[2:].upper().replace("-", "_"), (service, flags, env_var)
