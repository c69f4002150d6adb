"""Several services in one run (locustfiles/mixed.py): user classes of every service and
strategy, every service's flags, per-service rates and checks, bad input.

The runs go to the local emulators the run starts itself (the default `--target local`),
except where a service of known capacity is needed: there DynamoDB goes to a FIFO stub
server (tests/helpers/stubs.py) through `--target aws` and AWS_ENDPOINT_URL_DYNAMODB,
while SQS goes to a fauxqs the test starts.
"""

from __future__ import annotations

import json
import time
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from helpers import PROJECT_ROOT, LocustCluster, LocustProcess, SharedEmulators, headless_locust
from helpers.stubs import DelayServer, FifoServer
from prometheus_client.parser import text_string_to_metric_families

from aws_locust.checks import read_check_settings
from aws_locust.mix import parse_per_service
from aws_locust.outcome import Verdicts
from aws_locust.pace import ProcessPace
from aws_locust.settings import read_rate_settings
from aws_locust.shares import SHARE, Distributor, ProcessShare
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, free_ports
from writers.errors import ConfigError
from writers.services import SERVICES, available_emulators

MIXED = PROJECT_ROOT / "locustfiles" / "mixed.py"
SWARM_STARTED = ("Ramping to", "All users spawned", "Run time limit set")
EMULATOR_STARTED = ("local emulators", "started dynalite", "started fauxqs")

pytestmark = pytest.mark.timeout(240)


def run_mixed(
    args: Sequence[str], tmp_path: Path, timeout: float = 120, env: dict[str, str] | None = None, reports: str = ""
) -> Any:
    summary = tmp_path / f"summary-{len(list(tmp_path.iterdir()))}.json"
    outputs = ["--summary-json", str(summary), "--report-dir", reports]
    run = headless_locust(MIXED, [*args, *outputs], tmp_path, timeout, env)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return run, data


def endpoints(**urls: str) -> dict[str, str]:
    """A run's environment with each service at its URL (`--target aws`: a stub's, an emulator's)."""
    env = {f"AWS_ENDPOINT_URL_{service.upper()}": url for service, url in urls.items()}
    return {**env, "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY}


def needs(*services: str) -> None:
    for service in services:
        if not available_emulators(service):
            pytest.skip(f"no emulator for {service} can run here")


# --------------------------------------------------------------------------- the user classes


def test_every_service_and_strategy_has_its_class(tmp_path: Path) -> None:
    run = headless_locust(MIXED, ["--list"], tmp_path, timeout=60)
    listed = {line.strip() for line in run.output.splitlines()}
    for name in ("DynamoDBGeventUser", "S3AiohttpUser", "SQSThreadedUser", "KinesisGeventUser", "DynamoDBAioboto3User"):
        assert name in listed, run.output
    assert len([n for n in listed if n.endswith("User")]) == len(SERVICES) * 5, run.output


# --------------------------------------------------------------------------- bad input


def test_per_service_figures_are_parsed_and_checked() -> None:
    assert parse_per_service("--rate", "200") is None
    assert parse_per_service("--rate", " DynamoDB=200 , sqs=100") == {"dynamodb": "200", "sqs": "100"}
    for text, says in (
        ("dynamo=200", "unknown service 'dynamo'"),
        ("dynamodb=1,dynamodb=2", "dynamodb is given twice"),
        ("dynamodb=200,100", "SERVICE=FIGURE"),
    ):
        with pytest.raises(ConfigError, match=says):
            parse_per_service("--rate", text)
    options = Namespace(
        rate="dynamodb=200,sqs=100", arrival="uniform", rate_steps="", find_max=False, find_max_start="100",
        find_max_growth="2", step_time="15s", slo_p99_ms="", slo_throttle_ratio="", slo_error_ratio="",
    )  # fmt: skip
    settings = read_rate_settings(options)
    assert settings.rate == 300 and settings.by_service == {"dynamodb": 200, "sqs": 100} and settings.paced
    options.rate = "dynamodb=0"
    with pytest.raises(ConfigError, match="--rate dynamodb must be above 0"):
        read_rate_settings(options)
    checks = read_check_settings(Namespace(check_p99_ms="dynamodb=20,s3=80", check_min_rate="5"))
    assert checks.p99_ms is None and checks.min_rate == 5
    assert {s: c.p99_ms for s, c in checks.by_service.items()} == {"dynamodb": 20, "s3": 80}
    assert checks.named() == {"--check-p99-ms": ["dynamodb", "s3"]}


# --------------------------------------------------------------------------- the rate, one part per worker


def test_each_services_rate_follows_its_users_as_soon_as_every_worker_has_spawned() -> None:
    """Before the workers report their users, each service's rate is split evenly: w2, with
    no DynamoDB user, would leave half of DynamoDB's rate unused until the next tick (a
    distributed mixed run fell ~0.6 s of records short per service). When every worker has
    reported (Locust's spawning_complete), each service's rate goes to its users at once."""
    nodes = {w: SimpleNamespace(state="running", user_count=0, user_classes_count={}) for w in ("w1", "w2")}
    sent: list[tuple[str, dict[str, Any], str]] = []
    master = SimpleNamespace(
        clients=SimpleNamespace(_worker_nodes=nodes),
        send_message=lambda kind, data, client_id: sent.append((kind, data, client_id)),
    )
    environment = SimpleNamespace(runner=master, parsed_options=SimpleNamespace(headless=True))
    distributor = Distributor(environment, ProcessShare(ProcessPace()), Verdicts(), master)  # type: ignore[arg-type]
    classes = {"DynamoDBGeventUser": "DynamoDB", "SQSGeventUser": "SQS"}
    distributor.start(None, 300.0, True, "uniform", {"DynamoDB": 2 / 3, "SQS": 1 / 3}, classes)
    first = {worker: data["by_service"] for kind, data, worker in sent if kind == SHARE}
    assert first == {"w1": {"DynamoDB": 100.0, "SQS": 50.0}, "w2": {"DynamoDB": 100.0, "SQS": 50.0}}
    assert all(data["services"] == ["DynamoDB", "SQS"] for _, data, _ in sent)  # the run's services
    nodes["w1"].user_classes_count, nodes["w1"].user_count = {"DynamoDBGeventUser": 1}, 1
    nodes["w2"].user_classes_count, nodes["w2"].user_count = {"SQSGeventUser": 1}, 1
    distributor.on_users_spawned()
    now = {worker: data["by_service"] for kind, data, worker in sent[2:] if kind == SHARE}
    assert now == {"w1": {"DynamoDB": 200.0, "SQS": 0.0}, "w2": {"DynamoDB": 0.0, "SQS": 100.0}}
    distributor.on_test_stop()


def test_each_worker_is_sent_each_services_part_in_its_one_share_message() -> None:
    """--rate dynamodb=300,sqs=100 on a master with two workers: each service's rate is divided
    by the workers' users of that service, and goes out with the worker's part (SHARE), once."""
    users = {"w1": {"DynamoDBGeventUser": 1, "SQSGeventUser": 2}, "w2": {"DynamoDBGeventUser": 3}}
    nodes = {w: SimpleNamespace(state="running", user_count=3, user_classes_count=c) for w, c in users.items()}
    sent: list[tuple[str, dict[str, Any], str]] = []

    def send(kind: str, data: dict[str, Any], client_id: str) -> None:
        sent.append((kind, data, client_id))

    master = SimpleNamespace(clients=SimpleNamespace(_worker_nodes=nodes), send_message=send)
    environment = SimpleNamespace(runner=master, parsed_options=SimpleNamespace(headless=True))
    distributor = Distributor(environment, ProcessShare(ProcessPace()), Verdicts(), master)  # type: ignore[arg-type]
    classes = {"DynamoDBGeventUser": "DynamoDB", "SQSGeventUser": "SQS"}
    distributor.start(None, 400.0, True, "uniform", {"DynamoDB": 0.75, "SQS": 0.25}, classes)
    parts = {worker: data for kind, data, worker in sent if kind == SHARE}
    assert len(sent) == 2 and set(parts) == {"w1", "w2"}
    assert parts["w1"]["by_service"] == {"DynamoDB": 75.0, "SQS": 100.0} and parts["w1"]["rate"] == 175.0
    assert parts["w2"]["by_service"] == {"DynamoDB": 225.0, "SQS": 0.0} and parts["w2"]["rate"] == 225.0
    distributor.set_rate(800.0)  # the web UI: the proportions stay
    assert sent[-1][1]["by_service"] == {"DynamoDB": 450.0, "SQS": 0.0}
    distributor.on_test_stop()

    pace = ProcessPace()  # the worker w1: each service's part over its own users
    ProcessShare(pace).assign({**parts["w1"], "paced": True})
    dynamodb, sqs_1, sqs_2 = (
        pace.join("uniform", 1, "DynamoDB"),
        pace.join("uniform", 1, "SQS"),
        pace.join("uniform", 5, "SQS"),
    )
    assert (dynamodb.target_rate, sqs_1.target_rate, sqs_2.target_rate) == (75.0, 50.0, 10.0)  # 50 records/s in 5s
    for schedule in (dynamodb, sqs_1, sqs_2):
        pace.leave(schedule)


def test_a_pipeline_takes_one_rate_only(tmp_path: Path) -> None:
    """A pipeline's --rate is records/s through every step: per-service figures are refused."""
    pipeline = PROJECT_ROOT / "locustfiles" / "pipeline.py"
    args = ["-u", "1", "-t", "5s", "--pipeline", "dynamodb,sqs", "--rate", "dynamodb=100,sqs=100", "GeventUser"]
    run = headless_locust(pipeline, args, tmp_path, timeout=60)
    assert run.returncode == 2, run.output
    assert "one figure, not one per service" in run.output and "Traceback" not in run.output, run.output
    assert not any(marker in run.output for marker in (*SWARM_STARTED, *EMULATOR_STARTED)), run.output


BAD = [
    (["--rate", "dynamo=100", "DynamoDBGeventUser"], "unknown service 'dynamo'"),
    (["--rate", "dynamodb=100,s3=50", "DynamoDBGeventUser"], "no S3 user class is in this run"),
    (["--rate", "dynamodb=100", "DynamoDBGeventUser", "SQSGeventUser"], "gives no figure for sqs"),
    (["--check-p99-ms", "kinesis=20", "DynamoDBGeventUser"], "no Kinesis user class is in this run"),
    (["--check-p99-ms", "dynamodb=fast", "DynamoDBGeventUser"], "--check-p99-ms dynamodb must be a number"),
]


@pytest.mark.parametrize(("args", "says"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2_before_the_swarm(args: list[str], says: str, tmp_path: Path) -> None:
    run = headless_locust(MIXED, ["-u", "2", "-r", "2", "-t", "5s", *args], tmp_path, timeout=60)

    assert run.returncode == 2, run.output
    assert "Traceback" not in run.output, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and says in errors[0], run.output
    assert not [s for s in (*SWARM_STARTED, *EMULATOR_STARTED) if s in run.output], run.output


# --------------------------------------------------------------------------- runs on the emulators


def achieved(data: dict[str, Any], service: str) -> float:
    value: float = data["rate"]["by_service"][service]["achieved"]
    return value


def distributed(args: Sequence[str], tmp_path: Path, timeout: float) -> tuple[int, str, dict[str, Any]]:
    """A master and two worker processes on a free port of 127.0.0.1 (not Locust's default
    port: other runs on this machine must not join): the master's exit code, output, summary."""
    with LocustCluster.on_loopback(MIXED, args, tmp_path, workers=2, credentials=False) as cluster:
        master, _ = cluster.finish(timeout, workers_timeout=30)
    return master.returncode, master.output, master.summary


def test_two_services_distributed_each_at_its_own_rate(tmp_path: Path) -> None:
    needs("dynamodb", "sqs")
    args = ["-u", "2", "-r", "2", "-t", "12s", "--rate", "dynamodb=120,sqs=60", "--verify",
            "DynamoDBGeventUser", "SQSGeventUser"]  # fmt: skip
    code, output, data = distributed(args, tmp_path, timeout=150)

    assert code == 0, output[-4000:]
    assert "Traceback" not in output
    by_service = data["rate"]["by_service"]
    assert set(by_service) == {"dynamodb", "sqs"}, by_service
    assert by_service["dynamodb"]["target"] == 120 and by_service["sqs"]["target"] == 60, by_service
    # the workers start after the master's clock: up to ~2.5 s of 12 on a busy machine; never above the target
    for service, target in (("dynamodb", 120), ("sqs", 60)):
        assert target * (12 - 2.5) / 12 <= achieved(data, service) <= target * 1.05, (service, by_service)
    # one user each: Locust gives each worker one of the two classes, and each service's rate must go
    # wholly to the worker running its users (split by workers alone, each service would get half)
    assert len(data["acked_by_worker"]) == 2, data["acked_by_worker"]
    # only the services of the classes picked: their emulators, their read-back
    assert "dynalite" in output and "fauxqs" in output
    assert "weed" not in output and "kinesalite" not in output, output[-4000:]
    for name in ("DynamoDB", "SQS"):
        assert f"verify {name}: " in output and f"verify {name}: 0 acknowledged" not in output
    assert {row.split()[0] for row in data["rows"]} == {"DynamoDB", "SQS"}


def test_four_services_in_one_run_every_record_read_back(tmp_path: Path) -> None:
    needs(*SERVICES)
    classes = ["DynamoDBGeventUser", "S3GeventUser", "SQSGeventUser", "KinesisGeventUser"]
    args = ["-u", "4", "-r", "4", "-t", "20s", "--max-records", "400", "--verify", "--table", "mixed-four",
            "--bucket", "mixed-four", "--queue", "mixed-four", "--stream", "mixed-four", *classes]  # fmt: skip
    run, data = run_mixed(args, tmp_path, timeout=200)

    assert run.returncode == 0, run.output[-4000:]
    assert "Traceback" not in run.output
    assert data["acked"] == 400, data["acked"]
    by_service = data["by_service"]  # each service's counts, adding up to the run's
    assert set(by_service) == {"dynamodb", "s3", "sqs", "kinesis"}, by_service
    assert sum(counts["acked"] for counts in by_service.values()) == 400, by_service
    assert all(counts["acked"] > 0 and counts["calls"] >= counts["acked"] for counts in by_service.values()), by_service
    services = {row.split()[0] for row in data["rows"]}
    assert services == {"DynamoDB", "S3", "SQS", "Kinesis"}, data["rows"]
    verified = [line for line in run.output.splitlines() if "verify " in line and " acknowledged, " in line]
    for name in services:
        lines = [line for line in verified if f"verify {name}: " in line]
        assert len(lines) == 1 and ", 0 lost, 0 corrupt, 0 duplicates" in lines[0], verified


# --------------------------------------------------------------------------- a service of known capacity


@pytest.fixture
def fifo() -> Any:
    server = FifoServer(capacity=100)
    yield server
    server.close()


def test_a_slow_service_misses_its_rate_and_its_check_the_other_keeps_both(
    fifo: FifoServer, local: SharedEmulators, tmp_path: Path
) -> None:
    """DynamoDB: a FIFO server of 100 calls/s, asked 200 records/s (it achieves ~100);
    SQS: fauxqs at 60. The slow service must not slow the other; its per-service check
    fails the run (exit 4), the other's passes."""
    needs("sqs")
    sqs = local.get("sqs")
    env = endpoints(dynamodb=fifo.url, sqs=sqs.endpoint)
    args = ["--target", "aws", "--table", "stub", "--queue", "mixed-fifo", "-u", "4", "-r", "4", "-t", "10s",
            "--concurrency", "4", "--rate", "dynamodb=200,sqs=60", "--check-min-rate", "dynamodb=150,sqs=45",
            "--check-given-up", "off", "DynamoDBGeventUser", "SQSGeventUser"]  # fmt: skip
    run, data = run_mixed(args, tmp_path, timeout=120, env=env, reports=str(tmp_path / "reports"))

    assert run.returncode == 4, run.output[-4000:]
    assert "Traceback" not in run.output
    assert 80 <= achieved(data, "dynamodb") <= 105, data["rate"]  # the server's capacity, not the target
    assert data["rate"]["by_service"]["dynamodb"]["late"] > 0, data["rate"]
    assert 60 * (10 - 1.5) / 10 <= achieved(data, "sqs") <= 63, data["rate"]  # its own rate, untouched
    failed = [line for line in run.output.splitlines() if "check failed" in line]
    assert len(failed) == 1 and "dynamodb" in failed[0] and "--check-min-rate" in failed[0], failed
    checks = {check["service"]: check for check in data["checks"] if check.get("service")}
    assert not checks["dynamodb"]["passed"] and checks["sqs"]["passed"], data["checks"]
    # the report: each service's target and achieved rate, and the service of each per-service check
    (page,) = (tmp_path / "reports").glob("*.html")
    html = page.read_text()
    table = html[html.index('id="rate-by-service"') :].split("</table>")[0]
    for service in ("dynamodb", "sqs"):
        figures = data["rate"]["by_service"][service]
        assert f'<td class="name">{service}</td><td>{figures["target"]}</td><td>{figures["achieved"]}</td>' in table
    checks_table = html[html.index('id="checks"') :].split("</table>")[0]
    assert '<td class="name">dynamodb</td>' in checks_table and '<td class="name">sqs</td>' in checks_table


def test_find_max_raises_both_rates_in_proportion_and_names_the_service_that_breaks(
    fifo: FifoServer, local: SharedEmulators, tmp_path: Path
) -> None:
    """DynamoDB (a FIFO server of 100 calls/s) and SQS (fauxqs) at equal parts: the run's
    rate is sustainable up to ~200 (DynamoDB's 100), and DynamoDB is named, not SQS. The
    search starts at 180 and grows by 1.25 (one step below the knee, one above): from 50
    by doubling it took ~92 s here, from 180 ~48 s, to the same knee."""
    needs("sqs")
    env = endpoints(dynamodb=fifo.url, sqs=local.get("sqs").endpoint)
    args = ["--target", "aws", "--table", "stub", "--queue", "mixed-knee", "-u", "2", "-r", "2", "--concurrency", "64",
            "--rate", "dynamodb=1,sqs=1", "--find-max", "--find-max-start", "180", "--find-max-growth", "1.25",
            "--step-time", "3s",
            "--slo-p99-ms", "100", "DynamoDBGeventUser", "SQSGeventUser"]  # fmt: skip
    run, data = run_mixed(args, tmp_path, timeout=220, env=env, reports=str(tmp_path / "reports"))

    assert run.returncode == 0, run.output[-4000:]
    search = data["find_max"]
    # the knee at 200 (DynamoDB's 100 x 2), never above; below it by at most a bisection or two: on a busy
    # machine a stall of the load generator can make a step near the knee breach (seen at load average 60)
    assert search["complete"] and 120 <= search["sustainable_rate"] <= 215, json.dumps(search, indent=1)
    assert search["first_breach"] == ["dynamodb"], json.dumps(search, indent=1)
    assert "first to break its objective: dynamodb" in run.output
    (page,) = (tmp_path / "reports").glob("*.html")
    assert '<b id="first-breach">dynamodb</b>' in page.read_text()
    assert search["steps"], json.dumps(search, indent=1)
    for step in search["steps"]:  # every step: each service at half the run's rate
        assert step["by_service"]["dynamodb"]["rate"] == step["by_service"]["sqs"]["rate"] == round(step["rate"] / 2, 1)


def test_one_global_rate_is_shared_by_every_user_whatever_its_service(tmp_path: Path) -> None:
    needs("dynamodb", "sqs")
    args = ["-u", "2", "-r", "2", "-t", "10s", "--rate", "80", "DynamoDBGeventUser", "SQSGeventUser"]
    run, data = run_mixed(args, tmp_path)

    assert run.returncode == 0, run.output[-4000:]
    by_service = data["rate"]["by_service"]
    assert data["rate"]["target"] == 80 and set(by_service) == {"dynamodb", "sqs"}, data["rate"]
    for figures in by_service.values():  # one user of each: half the rate each; no per-service target
        assert figures["target"] is None and 40 * (10 - 1.5) / 10 <= figures["achieved"] <= 42, by_service


def service_gauges(port: int) -> dict[str, dict[str, float]]:
    """/metrics' per-service gauges: {"target": {service: records/s}, "achieved": {...}}."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    found: dict[str, dict[str, float]] = {"target": {}, "achieved": {}}
    for family in text_string_to_metric_families(text):
        for kind in found:
            if family.name == f"aws_load_service_{kind}_records_per_second":
                found[kind] = {sample.labels["service"]: sample.value for sample in family.samples}
    return found


def test_the_aws_tab_shows_each_service_and_keeps_the_parts_when_the_rate_changes(tmp_path: Path) -> None:
    """The web UI with two classes named on the command line: the class picker's test with a
    per-service rate; the AWS tab's rate and /metrics show each service's part, and a new rate
    from the tab keeps the proportions. After it, a Start with a bad per-service figure is
    refused, and one that fails at its start is stopped (both once ran the last test's rate)."""
    needs("dynamodb", "sqs")
    port, metrics_port = free_ports(2)
    base = f"http://127.0.0.1:{port}"
    web = LocustProcess(
        MIXED,
        ["--web-host", "127.0.0.1", "--web-port", str(port), "--report-dir", "", "--metrics-port", str(metrics_port),
         "--metrics-host", "127.0.0.1", "DynamoDBGeventUser", "SQSGeventUser"],
        tmp_path, headless=False, credentials=False,
    )  # fmt: skip
    try:
        web.wait_for_http(f"{base}/aws/stats", timeout=60)
        form = {"user_count": "2", "spawn_rate": "2", "host": "", "rate": "dynamodb=40,sqs=20",
                "user_classes": ["DynamoDBGeventUser", "SQSGeventUser"]}  # fmt: skip
        started = requests.post(f"{base}/swarm", data=form, timeout=30).json()
        time.sleep(4)
        first = requests.get(f"{base}/aws/stats", timeout=10).json()
        first_metrics = service_gauges(metrics_port)
        changed = requests.post(f"{base}/aws/rate", data={"rate": "90"}, timeout=10)
        second = requests.get(f"{base}/aws/stats", timeout=10).json()
        second_metrics = service_gauges(metrics_port)
        requests.post(f"{base}/stop", timeout=60)
        stopped_at = wait_for_state(base, "stopped")
        # a Start naming a service with no class in the run is refused, and nothing runs
        refused = requests.post(f"{base}/swarm", data={**form, "rate": "s3=10,dynamodb=10"}, timeout=30).json()
        time.sleep(1)
        after_refusal = requests.get(f"{base}/stats/requests", timeout=10).json()
        # a Start that passes the form's checks and fails at the test's start (its summary
        # file is a folder) is stopped: no user writes with the last test's rate
        failed = requests.post(f"{base}/swarm", data={**form, "summary_json": str(tmp_path)}, timeout=30).json()
        failed_stopped_at = wait_for_state(base, "stopped", after=3)
        after_failure = requests.get(f"{base}/stats/requests", timeout=10).json()
    finally:
        output = web.stop(timeout=60).output

    assert stopped_at and failed_stopped_at, (stopped_at, failed_stopped_at, output[-3000:])
    assert refused["success"] is False and "s3" in refused["message"] and "S3 user class" in refused["message"], refused
    assert after_refusal["state"] == "stopped", after_refusal["state"]
    assert failed["success"] is True, failed  # Locust's answer: the form's checks passed
    assert "cannot start the test: --summary-json" in output, output[-3000:]
    assert after_failure["state"] == "stopped" and after_failure["total_rps"] == 0, after_failure["state"]
    assert sum(row["num_requests"] for row in after_failure["stats"]) == 0, after_failure["stats"]

    assert started["success"] is True, started
    assert first["rate"]["target"] == 60 and first["rate"]["by_service"] == {"dynamodb": 40, "sqs": 20}, first["rate"]
    assert {row["service"] for row in first["rows"]} == {"DynamoDB", "SQS"}, first["rows"]
    assert changed.status_code == 200, changed.text
    assert second["rate"]["by_service"] == {"dynamodb": 60, "sqs": 30}, second["rate"]
    # /metrics: each service's target, and what it achieved over the last seconds (up to it)
    assert first_metrics["target"] == {"DynamoDB": 40, "SQS": 20}, first_metrics
    assert second_metrics["target"] == {"DynamoDB": 60, "SQS": 30}, second_metrics
    for service, target in (("DynamoDB", 40), ("SQS", 20)):
        assert 0 < first_metrics["achieved"][service] <= target * 1.1, first_metrics
    assert "weed" not in output and "kinesalite" not in output  # only the services of the classes named
    assert "Traceback" not in output, output[-3000:]


def wait_for_state(base: str, state: str, after: float = 0.0, timeout: float = 30.0) -> bool:
    """Whether the web UI's runner reaches `state` within `timeout` (looked at after `after` s)."""
    time.sleep(after)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if requests.get(f"{base}/stats/requests", timeout=10).json()["state"] == state:
            return True
        time.sleep(0.2)
    return False


def test_a_service_slow_to_finish_does_not_lower_the_others_achieved_rate(
    local: SharedEmulators, tmp_path: Path
) -> None:
    """DynamoDB answers every call after 3 s (a stub), so its last calls are answered ~3 s
    after the test stops; SQS (fauxqs) is done at once. Each service's achieved rate is over
    its own time: SQS's 40 records/s are not divided by the time DynamoDB took to finish (a
    user saw DynamoDB's 50 of 50 reported as 33.8, and its --check-min-rate fail: exit 4)."""
    needs("sqs")
    sqs = local.get("sqs")
    slow = DelayServer(3.0)
    env = endpoints(dynamodb=slow.url, sqs=sqs.endpoint)
    args = ["--target", "aws", "--table", "stub", "--queue", "mixed-drain", "-u", "2", "-r", "2", "-t", "8s",
            "--rate", "dynamodb=2,sqs=40", "--check-min-rate", "sqs=36", "--check-given-up", "off",
            "DynamoDBGeventUser", "SQSGeventUser"]  # fmt: skip
    try:
        run, data = run_mixed(args, tmp_path, timeout=120, env=env)
    finally:
        slow.close()
    assert run.returncode == 0, run.output[-4000:]
    assert 36 <= achieved(data, "sqs") <= 41, data["rate"]  # over its own ~8 s, not ~11
    # DynamoDB's own time runs to its last answer, ~3 s after the stop
    dynamodb_seconds = data["by_service"]["dynamodb"]["acked"] / achieved(data, "dynamodb")
    assert dynamodb_seconds >= 9.5, (dynamodb_seconds, data["rate"], data["by_service"])


def test_a_run_calls_only_the_services_of_its_user_classes(tmp_path: Path) -> None:
    """With --target aws and DynamoDB's class alone, S3, SQS and Kinesis are never called (a
    run's start once prepared every service: real AWS calls for services the run left out,
    seconds of the run's time spent on them). Their endpoints point at a stub that counts."""
    dynamodb, others = DelayServer(0.0), DelayServer(0.0)
    env = endpoints(dynamodb=dynamodb.url, s3=others.url, sqs=others.url, kinesis=others.url)
    args = ["--target", "aws", "--table", "stub", "-u", "1", "-r", "1", "-t", "3s", "--rate", "20",
            "DynamoDBGeventUser"]  # fmt: skip
    try:
        run, data = run_mixed(args, tmp_path, timeout=90, env=env)
    finally:
        dynamodb.close()
        others.close()
    assert run.returncode == 0, run.output[-4000:]
    assert data["acked"] > 0 and dynamodb.requests > data["acked"], (data["acked"], dynamodb.requests)
    assert others.requests == 0
