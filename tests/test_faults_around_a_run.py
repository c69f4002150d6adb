"""Faults around a run: the emulator killed and restarted mid-run, a worker
killed, an endpoint that refuses or never answers, wrong credentials against a
signature-checking server, and bad input not covered by test_bad_input.py.

Every server binds 127.0.0.1 and every run is bounded by -t, --max-records (where the
test allows it) and a subprocess timeout. Helpers come from tests/helpers/.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import (
    CREDENTIALS,
    USER_CLASSES,
    FaultProxy,
    LocustCluster,
    LocustProcess,
    LocustResult,
    SharedEmulators,
    assert_no_traceback,
    locust_env,
    locustfile,
    run_locust,
    unique,
)
from helpers.raw_servers import Blackhole

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator, free_ports
from writers.services import SERVICES, WorkloadOptions, start_emulator
from writers.services.dynamodb import SERVICE as DYNAMODB
from writers.services.dynamodb import DynamoDBWorkload
from writers.services.s3 import SERVICE as S3
from writers.services.s3 import S3Options, S3Workload
from writers.strategies import STRATEGIES
from writers.target import Endpoint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

SWARM_STARTED = ("Ramping to", "All users spawned")


def error_lines(result: LocustResult) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    return free_ports(1)[0]


@pytest.fixture(scope="module")
def dynalite(local: SharedEmulators) -> RunningEmulator:
    return local.get("dynamodb", "dynalite")


@pytest.fixture(scope="module")
def seaweedfs(local: SharedEmulators) -> RunningEmulator:
    return local.get("s3", "seaweedfs")


def dynamodb_endpoint(url: str) -> Endpoint:
    return Endpoint(DYNAMODB, "us-east-1", url, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)


def create_table(url: str, table: str) -> None:
    DynamoDBWorkload(WorkloadOptions(table)).provision(dynamodb_endpoint(url))


def history(cwd: Path, prefix: str) -> list[dict[str, str]]:
    """Locust's --csv-full-history rows (one per second and request name, plus Aggregated)."""
    with (cwd / f"{prefix}_stats_history.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def successes(row: dict[str, str]) -> int:
    return int(row["Total Request Count"]) - int(row["Total Failure Count"])


# --------------------------------------------------------------------------- the emulator dies


def test_emulator_killed_and_restarted_mid_run(tmp_path: Path) -> None:
    """dynalite is SIGKILLed ~4 s into the run and started again on the same port ~3 s
    later (empty: in memory). Calls fail as network errors meanwhile; every user keeps
    going, and every strategy writes again once the table is back."""
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    table = unique("killed")
    emulator = start_emulator("dynamodb", prefer="dynalite", port=port)
    run: LocustProcess | None = None
    try:
        create_table(url, table)
        args = [
            "-u", "5", "-r", "5", "-t", "16s", "--records-per-task", "20",
            "--concurrency", "2", "--timeout", "2", "--target", url, "--no-provision", "--table", table,
            "--exit-code-on-error", "0", "--csv", "stats", "--csv-full-history", *USER_CLASSES,
            "--check-given-up", "off",  # records in flight when the emulator died are given up: not judged here
        ]  # fmt: skip
        run = LocustProcess(locustfile("dynamodb"), args, tmp_path / "run")
        spawned = run.wait_for("All users spawned", timeout=30)
        time.sleep(max(0.0, spawned + 4 - (time.monotonic() - run.started)))
        os.killpg(emulator.pid or 0, signal.SIGKILL)  # the emulator leads its own process group
        emulator.stop()  # reaps it and removes its files
        killed_at = time.time()
        time.sleep(3)
        emulator = start_emulator("dynamodb", prefer="dynalite", port=port)
        create_table(url, table)
        back_at = time.time()
        result = run.finish(timeout=60)
    finally:
        if run is not None:
            run.kill()
        emulator.stop()

    assert result.returncode == 0, result.tail()
    assert_no_traceback(result)
    assert "--run-time limit reached" in result.output, result.tail()
    assert result.total("failed_network") > 0, result.rows  # the outage, classified as network failures
    assert result.summary["acked"] > 0
    rows = history(result.cwd, "stats")
    aggregated = [row for row in rows if row["Name"] == "Aggregated"]
    # no user died with the server (the last rows, written while the run ends, count none)
    assert {int(r["User Count"]) for r in aggregated if back_at <= float(r["Timestamp"]) <= back_at + 5} == {5}
    for strategy in STRATEGIES:
        name = f"PutItem [{strategy}]"
        mine = [row for row in rows if row["Name"] == name]
        before = [row for row in mine if float(row["Timestamp"]) <= killed_at]
        after = [row for row in mine if float(row["Timestamp"]) >= back_at + 1]
        assert before and after, (strategy, back_at, [r["Timestamp"] for r in mine])
        # written before the kill, and written again after the restart: throughput recovered
        assert successes(before[-1]) > 0, strategy
        assert successes(after[-1]) > successes(after[0]) or successes(after[0]) > successes(before[-1]), (
            strategy, before[-1], after[0], after[-1],
        )  # fmt: skip
    assert successes(aggregated[-1]) > max(successes(r) for r in aggregated if float(r["Timestamp"]) <= back_at)


THREADED_AFTER_NETWORK_ERROR = """
from gevent import monkey

monkey.patch_all()  # as Locust does

import gc
import sys

from writers.driver import Driver
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from writers.records import BookRecords
from writers.retry import RetryPolicy
from writers.services import WorkloadOptions
from writers.services.dynamodb import SERVICE, DynamoDBWorkload
from writers.strategies import StrategyOptions, shutdown_process, strategy_class
from writers.target import Endpoint

gc.disable()  # what happens when no full collection comes between the error and the exit
endpoint = Endpoint(SERVICE, "us-east-1", sys.argv[1], LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
workload = DynamoDBWorkload(WorkloadOptions(sys.argv[2]))
strategy = strategy_class("threaded")(endpoint, StrategyOptions(concurrency=1, timeout=2))
records = BookRecords(seed=1)
once = Driver(strategy, on_attempt=lambda attempt: None, policy=RetryPolicy(max_attempts=1))
print("dropped", once.run(workload.write_calls(records.take(1))), flush=True)
sys.stdin.readline()  # the proxy forwards again
print("written", Driver(strategy, on_attempt=lambda attempt: None).run(workload.write_calls(records.take(2))))
strategy.close()
shutdown_process()  # what Locust's quitting does: ends the native threads, closing their clients
"""


def test_threaded_strategy_closes_its_sockets_after_a_network_error(dynalite: RunningEmulator, tmp_path: Path) -> None:

    table = unique("threaded-close")
    create_table(dynalite.endpoint, table)
    proxy = FaultProxy(dynalite.endpoint, "--drop-rate", "1", tmp_dir=tmp_path)
    script = tmp_path / "threaded_after_network_error.py"
    script.write_text(THREADED_AFTER_NETWORK_ERROR)
    try:
        process = subprocess.Popen(
            [sys.executable, str(script), proxy.url, table],
            cwd=tmp_path, env=locust_env(CREDENTIALS), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        assert process.stdout is not None
        first = process.stdout.readline()
        proxy.configure(drop_rate=0)
        try:
            rest, _ = process.communicate("go\n", timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    finally:
        proxy.stop()
    output = first + rest
    assert "failures=1" in first and "acked=2" in rest, output  # the error happened, then writes worked
    assert process.returncode == 0, output
    assert "destroyed loop" not in output and "Traceback" not in output, output


# --------------------------------------------------------------------------- a worker dies


def test_worker_killed_mid_run(dynalite: RunningEmulator, tmp_path: Path) -> None:
    """Master and two workers on loopback; one worker is SIGKILLed ~5 s in. The master
    notices it is missing, keeps running with the other until -t ends, and exits 0."""
    summary = tmp_path / "master" / "summary.json"
    args = [
        "-u", "4", "-r", "4", "-t", "15s", "--records-per-task", "20", "--concurrency", "2",
        "--target", dynalite.endpoint, "--table", unique("workers"), "--exit-code-on-error", "0",
        "--csv", "stats", "--csv-full-history", "GeventUser", "AiohttpUser",
    ]  # fmt: skip
    with LocustCluster.on_loopback(locustfile("dynamodb"), args, tmp_path, workers=2) as cluster:
        master = cluster.master
        spawned = master.wait_for("All users spawned", timeout=40)
        time.sleep(max(0.0, spawned + 5 - (time.monotonic() - master.started)))
        victim, survivor = cluster.workers
        os.kill(victim.process.pid, signal.SIGKILL)
        killed_at = time.time()
        result = master.finish(timeout=60)
        survivor_result = survivor.finish(timeout=30)

    assert result.returncode == 0, result.tail()
    assert_no_traceback(result)
    assert "--run-time limit reached" in result.output, result.tail()
    missing = re.findall(r"Worker (\S+) failed to send heartbeat, setting state to missing", result.output)
    assert len(missing) == 1, result.tail()
    assert survivor_result.returncode == 0 and "Traceback" not in survivor_result.output, survivor_result.tail()

    by_worker: dict[str, int] = result.summary["acked_by_worker"]
    assert set(by_worker) >= {missing[0]} and len(by_worker) == 2, by_worker
    dead = by_worker[missing[0]]
    alive = next(acked for worker, acked in by_worker.items() if worker != missing[0])
    assert dead > 0 and alive > 1.5 * dead, by_worker  # the survivor wrote ~10 s longer
    assert summary.exists()
    aggregated = [row for row in history(result.cwd, "stats") if row["Name"] == "Aggregated"]
    at_kill = max((successes(r) for r in aggregated if float(r["Timestamp"]) <= killed_at + 4), default=0)
    assert successes(aggregated[-1]) > at_kill, aggregated[-3:]  # writes went on after the master noticed


# --------------------------------------------------------------------------- unreachable or silent endpoints


def test_unreachable_endpoint_is_one_error_line_when_provisioning(tmp_path: Path) -> None:
    """Nothing listens on the port: one `error:` line, exit 2, before any user starts.
    Every service is tried at once (they mostly wait in botocore's backoff)."""
    port = closed_port()
    args = [
        "-u", "1", "-r", "1", "-t", "10s", "--max-records", "10", "--target", f"http://127.0.0.1:{port}",
        "SequentialUser",
    ]  # fmt: skip
    with ThreadPoolExecutor(len(SERVICES)) as pool:
        outcomes = pool.map(lambda service: run_locust(service, args, tmp_path, timeout=60), SERVICES)
        runs = dict(zip(SERVICES, outcomes, strict=True))
    for service, result in runs.items():
        lines = error_lines(result)
        assert result.returncode == 2, (service, result.tail())
        assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], (service, result.tail())
        assert_no_traceback(result)
        assert not [s for s in SWARM_STARTED if s in result.output], (service, result.tail())
        # botocore's retries with backoff before giving up: seconds, never a hang
        assert result.elapsed < 30, (service, result.elapsed)


def test_unreachable_endpoint_without_provisioning_is_one_error_line_too(tmp_path: Path) -> None:
    """--no-provision still checks the table before the swarm: nothing listens, so one line,
    exit 2, instead of a run of refused connections."""
    port = closed_port()
    args = [
        "-u", "5", "-r", "5", "-t", "10s", "--max-records", "500", "--target", f"http://127.0.0.1:{port}",
        "--no-provision", *USER_CLASSES,
    ]  # fmt: skip
    result = run_locust("dynamodb", args, tmp_path, timeout=40)

    assert result.returncode == 2, result.tail()
    lines = error_lines(result)
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], result.tail()
    assert not [s for s in SWARM_STARTED if s in result.output], result.tail()
    assert_no_traceback(result)


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    server = Blackhole()
    yield server
    server.close()


SILENT_RUNS = [
    pytest.param(["SequentialUser", "ThreadedUser", "AiohttpUser", "GeventUser"], id="four-strategies"),
    pytest.param(
        ["Aioboto3User"],
        id="aioboto3",
    ),
]


@pytest.mark.parametrize("classes", SILENT_RUNS)
def test_server_that_never_answers_times_out_calls(blackhole: Blackhole, tmp_path: Path, classes: list[str]) -> None:
    """S3 PutObject against a server that reads the request and never answers: each call
    fails as a network error after --timeout, and is retried."""
    args = [
        "-u", str(len(classes)), "-r", str(len(classes)), "-t", "7s",
        "--records-per-task", "5", "--concurrency", "2", "--timeout", "1", "--target", blackhole.url,
        "--no-provision", "--exit-code-on-error", "0", *classes,
    ]  # fmt: skip
    result = run_locust("s3", args, tmp_path, timeout=40)

    assert result.returncode == 0, result.tail()
    assert_no_traceback(result)
    for user_class in classes:
        strategy = user_class.removesuffix("User").lower()
        row = result.rows.get(f"S3 PutObject [{strategy}]", {})
        assert row.get("failed_network", 0) > 0 and row.get("acked") == 0, (strategy, result.rows)
        # 1 s read timeout (+ boto3's 1 s wait for a 100 Continue): never the whole run
        assert result.summary["latency_ms"][f"S3 PutObject [{strategy}]"]["max"] < 4000


# --------------------------------------------------------------------------- wrong credentials


WRONG_SECRET = "not-the-secret-0123456789abcdef"
WRONG_CREDENTIALS = {**CREDENTIALS, "AWS_SECRET_ACCESS_KEY": WRONG_SECRET}


def test_wrong_secret_key_when_provisioning_is_one_error_line(seaweedfs: RunningEmulator, tmp_path: Path) -> None:
    args = ["-u", "1", "-t", "5s", "--max-records", "10", "--target", seaweedfs.endpoint,
            "--bucket", unique("wrong-key"), "SequentialUser"]  # fmt: skip
    result = run_locust("s3", args, tmp_path, env=WRONG_CREDENTIALS, timeout=40)

    assert result.returncode == 2, result.tail()
    lines = error_lines(result)
    assert len(lines) == 1 and "SignatureDoesNotMatch" in lines[0], result.tail()
    assert_no_traceback(result)
    assert not [s for s in SWARM_STARTED if s in result.output]
    assert WRONG_SECRET not in result.output


def test_wrong_secret_key_error_names_the_cause(seaweedfs: RunningEmulator, tmp_path: Path) -> None:
    bucket = unique("wrong-key-cause")  # does not exist
    args = ["-u", "1", "-t", "5s", "--max-records", "10", "--target", seaweedfs.endpoint, "--bucket", bucket,
            "SequentialUser"]  # fmt: skip
    result = run_locust("s3", args, tmp_path, env=WRONG_CREDENTIALS, timeout=40)
    lines = error_lines(result)
    assert len(lines) == 1, result.tail()
    assert "exists" not in lines[0], lines[0]  # it does not
    assert re.search(r"signature|secret", lines[0], re.IGNORECASE), lines[0]


def test_wrong_secret_key_without_provisioning_is_one_error_line_before_the_swarm(
    seaweedfs: RunningEmulator, tmp_path: Path
) -> None:
    """Every call would be refused (SignatureDoesNotMatch, a client error): the bucket check
    before the swarm says so once, instead of a run of refused calls."""
    bucket = unique("wrong-key-calls")
    endpoint = Endpoint(S3, "us-east-1", seaweedfs.endpoint, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
    S3Workload(S3Options(bucket)).provision(endpoint)  # with the right keys
    args = [
        "-u", "5", "-r", "5", "-t", "10s", "--max-records", "200", "--target", seaweedfs.endpoint,
        "--bucket", bucket, "--no-provision", *USER_CLASSES,
    ]  # fmt: skip
    result = run_locust("s3", args, tmp_path, env=WRONG_CREDENTIALS, timeout=40)

    assert result.returncode == 2, result.tail()
    lines = error_lines(result)
    assert len(lines) == 1 and "SignatureDoesNotMatch" in lines[0], result.tail()
    assert not [s for s in SWARM_STARTED if s in result.output]
    assert WRONG_SECRET not in result.output
    assert_no_traceback(result)
    assert S3Workload(S3Options(bucket)).stored_keys(endpoint) == set()


# --------------------------------------------------------------------------- bad input


def check_rejected(result: LocustResult, names: str) -> None:
    assert result.returncode != 0, result.tail()
    assert_no_traceback(result)
    assert not [s for s in SWARM_STARTED if s in result.output], result.tail()
    assert not re.search(r"-> (dynalite|moto|SeaweedFS|fauxqs) at", result.output), result.tail()  # no emulator
    assert names in result.output, result.tail()


def test_unknown_user_class(tmp_path: Path) -> None:
    args = ["-u", "1", "-t", "5s", "--max-records", "10", "FooUser"]
    result = run_locust("dynamodb", args, tmp_path, timeout=40)
    check_rejected(result, "FooUser")
    # Locust's own check: one ERROR line naming it, exit 1
    lines = [line for line in result.output.splitlines() if "FooUser" in line]
    assert len(lines) == 1 and "Unknown User(s): FooUser" in lines[0], result.tail()
    assert result.returncode == 1


BAD_URLS = [
    "http://",
    "http://host:99999",
    pytest.param(
        "http://[::1",
    ),
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_malformed_endpoint_url(tmp_path: Path, url: str) -> None:
    args = ["-u", "1", "-t", "5s", "--max-records", "10", "--target", url, "SequentialUser"]
    result = run_locust("dynamodb", args, tmp_path, timeout=40)
    check_rejected(result, "--target")
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "--target" in lines[0] and url in lines[0], result.tail()


BAD_SERVICE_FLAGS = [
    ("sqs", ["--payload-bytes", "300000"], "--payload-bytes"),
    ("s3", ["--part-size", "1MiB"], "--part-size"),
]


@pytest.mark.parametrize(("service", "flags", "flag"), BAD_SERVICE_FLAGS, ids=[f[2] for f in BAD_SERVICE_FLAGS])
def test_service_limits(tmp_path: Path, service: str, flags: list[str], flag: str) -> None:
    args = ["-u", "1", "-t", "5s", "--max-records", "10", *flags, "SequentialUser"]
    result = run_locust(service, args, tmp_path, timeout=40)
    check_rejected(result, flag)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and flag in lines[0] and len(lines[0]) < 200, result.tail()


# --------------------------------------------------------------------------- the end of a run


def sigterm_when(run: LocustProcess, text: str, after: float, timeout: float = 40) -> float:
    """SIGTERM to Locust (only its main process, as Kubernetes does) `after` s past `text`."""
    seen = run.wait_for(text, timeout=timeout)
    time.sleep(max(0.0, seen + after - (time.monotonic() - run.started)))
    os.kill(run.process.pid, signal.SIGTERM)
    return time.monotonic()


def once(result: LocustResult, text: str) -> None:
    assert result.output.count(text) == 1, (text, result.tail())


def test_sigterm_stops_every_strategy_at_once_and_ends_cleanly(dynalite: RunningEmulator, tmp_path: Path) -> None:
    """Five strategies write flat out; SIGTERM: every one stops sending, the summary and the
    report are written once, no traceback, well within Kubernetes' 30 s grace period."""
    table = unique("sigterm")
    args = [
        "-u", "5", "-r", "5", "-t", "120s", "--concurrency", "4", "--target", dynalite.endpoint, "--table", table,
        "--report-dir", "reports", *USER_CLASSES,
    ]  # fmt: skip
    run = LocustProcess(locustfile("dynamodb"), args, tmp_path / "run")
    signalled = sigterm_when(run, "All users spawned", after=3)
    result = run.finish(timeout=40)
    stopped_after = time.monotonic() - signalled

    assert stopped_after < 15, (stopped_after, result.tail())
    assert result.returncode == 0, result.tail()  # no target was set, nothing failed
    assert_no_traceback(result)
    for text in ("Got SIGTERM", "AWS summary:", "Shutting down (exit code 0)", "report: "):
        once(result, text)
    assert result.summary["acked"] > 0
    for strategy in STRATEGIES:
        assert result.rows[f"DynamoDB PutItem [{strategy}]"]["acked"] > 0, strategy
    endpoint = dynamodb_endpoint(dynalite.endpoint)
    stored = len(DynamoDBWorkload(WorkloadOptions(table)).stored_keys(endpoint))
    assert stored >= result.summary["acked"]  # every acknowledged write is there...
    time.sleep(2)
    assert len(DynamoDBWorkload(WorkloadOptions(table)).stored_keys(endpoint)) == stored  # ...and no more come


def test_sigterm_with_verify_reads_back_once_after_the_writers_stopped(tmp_path: Path, local: SharedEmulators) -> None:
    """SQS: the read-back drains the queue; while users wrote on during it (the bug), it never
    ended or counted false losses. Now: one read-back, after every writer stopped, nothing lost."""
    fauxqs = local.get("sqs", "fauxqs")
    args = [
        "-u", "5", "-r", "5", "-t", "120s", "--concurrency", "2", "--target", fauxqs.endpoint,
        "--queue", unique("sigterm-verify"), "--verify", *USER_CLASSES,
    ]  # fmt: skip
    run = LocustProcess(locustfile("sqs"), args, tmp_path / "run")
    signalled = sigterm_when(run, "All users spawned", after=3)
    result = run.finish(timeout=60)

    assert time.monotonic() - signalled < 30, result.tail()
    assert result.returncode == 0, result.tail()
    assert_no_traceback(result)
    acked = result.summary["acked"]
    assert acked > 0
    assert result.verify_lines() == {"SQS": {"acknowledged": acked, "lost": 0, "corrupt": 0, "duplicates": 0}}
    once(result, "verify SQS:")


def test_sigterm_to_a_master_with_two_workers_verifies_once(dynalite: RunningEmulator, tmp_path: Path) -> None:
    args = [
        "-u", "4", "-r", "4", "-t", "120s", "--concurrency", "2", "--target", dynalite.endpoint,
        "--table", unique("sigterm-workers"), "--verify", "GeventUser", "ThreadedUser",
    ]  # fmt: skip
    with LocustCluster.on_loopback(locustfile("dynamodb"), args, tmp_path, workers=2) as cluster:
        sigterm_when(cluster.master, "All users spawned", after=4)
        result, worker_results = cluster.finish(timeout=60, workers_timeout=30)

    assert result.returncode == 0, result.tail()
    assert_no_traceback(result)
    assert result.verify_lines() == {
        "DynamoDB": {"acknowledged": result.summary["acked"], "lost": 0, "corrupt": 0, "duplicates": 0}
    }, result.tail()
    once(result, "verify DynamoDB:")
    assert result.summary["acked"] == sum(result.summary["acked_by_worker"].values()) > 0
    for worker in worker_results:
        assert "verify" not in worker.output and "Traceback" not in worker.output, worker.tail()


# --------------------------------------------------------------------------- errors that repeat


def test_a_table_keyed_otherwise_is_refused_before_the_swarm(dynalite: RunningEmulator, tmp_path: Path) -> None:
    table = unique("other-key")
    client = dynamodb_endpoint(dynalite.endpoint).admin_client()
    client.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )  # fmt: skip
    args = ["-u", "1", "-t", "20s", "--max-records", "100", "--target", dynalite.endpoint, "--table", table,
            "--no-provision", "GeventUser"]  # fmt: skip
    result = run_locust("dynamodb", args, tmp_path, timeout=40)

    assert result.returncode == 2, result.tail()
    lines = error_lines(result)
    assert len(lines) == 1 and "keyed by id (HASH S)" in lines[0] and "'isbn'" in lines[0], result.tail()
    assert not [s for s in SWARM_STARTED if s in result.output]
    assert_no_traceback(result)


MISSING = [("dynamodb", "--table", "table"), ("s3", "--bucket", "bucket"), ("sqs", "--queue", "queue")]


@pytest.mark.parametrize(("service", "flag", "kind"), MISSING, ids=[m[0] for m in MISSING])
def test_a_missing_resource_with_no_provision_is_one_line(tmp_path: Path, service: str, flag: str, kind: str) -> None:
    name = unique("missing")
    args = ["-u", "1", "-t", "20s", "--max-records", "100", flag, name, "--no-provision", "GeventUser"]
    result = run_locust(service, args, tmp_path, timeout=60)

    assert result.returncode == 2, result.tail()
    lines = error_lines(result)
    assert len(lines) == 1 and name in lines[0] and "does not exist" in lines[0], result.tail()
    assert not [s for s in SWARM_STARTED if s in result.output]
    assert_no_traceback(result)


def test_a_client_error_on_every_call_ends_the_run_with_exit_2(dynalite: RunningEmulator, tmp_path: Path) -> None:
    """The table is deleted under a running test: every call is refused (ResourceNotFound), and
    retrying cannot help. After --abort-after seconds the run ends with one line naming it."""
    table = unique("deleted")

    def delete_when_running(line: str) -> None:
        if "All users spawned" in line:
            time.sleep(1)
            dynamodb_endpoint(dynalite.endpoint).admin_client().delete_table(TableName=table)

    args = [
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "60s",
        "--max-records",
        "1000000",
        "--concurrency",
        "2",
        "--target",
        dynalite.endpoint,
        "--table",
        table,
        "--abort-after",
        "3s",
        "GeventUser",
        "SequentialUser",
    ]
    result = run_locust("dynamodb", args, tmp_path, timeout=60, on_line=delete_when_running)

    assert result.returncode == 2, result.tail()
    assert result.elapsed < 25, result.elapsed  # seconds after the table went, not -t
    lines = [line for line in result.output.splitlines() if "every call failed with a client error" in line]
    assert len(lines) == 1 and "ResourceNotFoundException" in lines[0], result.tail()
    assert_no_traceback(result)


@pytest.mark.parametrize("service", ["dynamodb", "sqs"])
def test_a_dead_endpoint_ends_the_run_and_verify_says_it_could_not_run(tmp_path: Path, service: str) -> None:
    """The emulator is killed mid-run and stays dead: every call fails; after --abort-after
    the run stops (exit 5) and --verify says why it could not read back, in one line each."""
    emulator = start_emulator(service, prefer="dynalite" if service == "dynamodb" else "fauxqs")
    resource = unique("dead")

    def kill_when_running(line: str) -> None:
        if "All users spawned" in line:
            time.sleep(2)
            os.killpg(emulator.pid or 0, signal.SIGKILL)

    try:
        args = ["-u", "2", "-r", "2", "-t", "60s", "--concurrency", "2", "--timeout", "1", "--target",
                emulator.endpoint, {"dynamodb": "--table", "sqs": "--queue"}[service], resource,
                "--abort-after", "4s", "--verify", "GeventUser", "ThreadedUser"]  # fmt: skip
        result = run_locust(service, args, tmp_path, timeout=60, on_line=kill_when_running)
    finally:
        emulator.stop()

    assert result.returncode == 5, result.tail()
    assert result.elapsed < 30, result.elapsed
    assert_no_traceback(result)
    assert "ConfigError" not in result.output
    aborts = [line for line in result.output.splitlines() if "every call failed for 4 s" in line]
    assert len(aborts) == 1 and "network" in aborts[0], result.tail()
    name = {"dynamodb": "DynamoDB", "sqs": "SQS"}[service]
    assert f"verify {name}: {result.summary['acked']} acknowledged records cannot be checked" in result.output
    assert result.summary["verdicts"].keys() >= {"5", "8"}


# --------------------------------------------------------------------------- a lost worker


def distributed(tmp_path: Path, master_flags: list[str], workers: int) -> LocustCluster:
    return LocustCluster.on_loopback(locustfile("dynamodb"), master_flags, tmp_path, workers=workers)


def test_a_lost_workers_records_go_to_the_survivor(dynalite: RunningEmulator, tmp_path: Path) -> None:
    """--max-records 6000 over two workers; one is SIGKILLed after it wrote some: the master
    names it, hands its unwritten records to the other, and the run still reaches 6000."""
    records = 6000
    cluster = distributed(
        tmp_path,
        ["-u", "2", "-r", "2", "-t", "90s", "--max-records", str(records), "--rate", "400", "--concurrency", "8",
         "--target", dynalite.endpoint, "--table", unique("lost-worker"), "GeventUser"],
        workers=2,
    )  # fmt: skip
    with cluster:
        master = cluster.master
        master.wait_for("All users spawned", timeout=40)
        time.sleep(4)  # each worker has written ~800 of its 3000
        os.kill(cluster.workers[0].process.pid, signal.SIGKILL)
        result = master.finish(timeout=80)

    assert result.returncode == 0, result.tail()
    assert_no_traceback(result)
    lost = [line for line in result.output.splitlines() if "was lost after" in line]
    handed = [line for line in result.output.splitlines() if "unwritten records of worker" in line]
    assert len(lost) == 1 and len(handed) == 1 and "go to 1 other worker(s)" in handed[0], result.tail()
    assert "--max-records reached" in result.output and "--run-time limit" not in result.output, result.tail()
    assert result.summary["acked"] >= records, result.summary
    assert len(result.summary["acked_by_worker"]) == 2


@pytest.mark.timeout(120)
def test_a_lost_worker_with_none_left_is_never_a_success(dynalite: RunningEmulator, tmp_path: Path) -> None:
    cluster = distributed(
        tmp_path,
        ["-u", "1", "-r", "1", "-t", "90s", "--max-records", "100000", "--rate", "200", "--target", dynalite.endpoint,
         "--table", unique("last-worker"), "GeventUser"],
        workers=1,
    )  # fmt: skip
    with cluster:
        master = cluster.master
        master.wait_for("All users spawned", timeout=40)
        time.sleep(3)
        os.kill(cluster.workers[0].process.pid, signal.SIGKILL)
        result = master.finish(timeout=90)  # missed heartbeats (~4 s), then 30 s of grace for a worker to come back

    assert result.returncode == 6, result.tail()
    assert_no_traceback(result)
    assert result.elapsed < 60, result.tail()  # not until -t (90 s): missed heartbeats, then the 30 s grace
    # the run ends once, by whichever notices first at the end of the 30 s grace: Locust's
    # stop after its grace ("no worker is left") or the distributor's watch ("every worker was lost")
    ends = [
        line
        for line in result.output.splitlines()
        if re.search(r"(no worker is left|every worker was lost): quitting", line)
    ]
    assert len(ends) == 1, result.tail()


# --------------------------------------------------------------------------- limits


def test_a_huge_records_per_task_stays_small_in_memory(dynalite: RunningEmulator, tmp_path: Path) -> None:
    """--records-per-task 1000000 used to build every record and call of a task first (1.9 GB
    per user); records are made as their calls go out now."""
    import psutil

    args = ["-u", "2", "-r", "2", "-t", "6s", "--records-per-task", "1000000", "--target", dynalite.endpoint,
            "--table", unique("huge-task"), "GeventUser"]  # fmt: skip
    run = LocustProcess(locustfile("dynamodb"), args, tmp_path / "run")
    peak = 0
    process = psutil.Process(run.process.pid)
    while run.process.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    result = run.finish(timeout=30)

    assert result.returncode == 0, result.tail()
    assert result.summary["acked"] > 1000
    assert peak < 400 * 2**20, f"peak RSS {peak / 2**20:.0f} MiB"


UNWRITABLE = [
    ("--summary-json", "{file}/summary.json"),  # a folder that is a file
    ("--report-dir", "{file}/reports"),
]


@pytest.mark.parametrize(("flag", "value"), UNWRITABLE, ids=[u[0] for u in UNWRITABLE])
def test_outputs_that_cannot_be_written_are_refused_before_the_swarm(tmp_path: Path, flag: str, value: str) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    args = ["-u", "1", "-t", "5s", "--max-records", "10", flag, value.format(file=blocker), "GeventUser"]
    run = LocustProcess(locustfile("dynamodb"), ["--headless", *args], tmp_path / "run", headless=False)
    result = run.finish(timeout=40)

    assert result.returncode == 2, result.tail()
    lines = error_lines(result)
    assert len(lines) == 1 and flag in lines[0], result.tail()
    assert not [s for s in SWARM_STARTED if s in result.output]
    assert_no_traceback(result)


def test_zero_users_says_so(tmp_path: Path) -> None:
    result = run_locust("dynamodb", ["-u", "0", "-t", "5s", "GeventUser"], tmp_path, timeout=40)

    assert result.returncode == 2, result.tail()
    lines = error_lines(result)
    assert len(lines) == 1 and "-u" in lines[0], result.tail()
    assert not [s for s in SWARM_STARTED if s in result.output]


def test_verify_of_a_run_that_consumed_its_own_messages_says_it_cannot_check(
    tmp_path: Path, local: SharedEmulators
) -> None:
    """--sqs-mode both receives and deletes what it sent: a read-back would call those lost
    (exit 3). They cannot be checked, and the run says so: exit 8."""
    fauxqs = local.get("sqs", "fauxqs")
    args = ["-u", "1", "-r", "1", "-t", "30s", "--max-records", "50", "--sqs-mode", "both", "--wait-seconds", "0",
            "--target", fauxqs.endpoint, "--queue", unique("both-verify"), "--verify", "GeventUser"]  # fmt: skip
    result = run_locust("sqs", args, tmp_path, timeout=60)

    assert result.returncode == 8, result.tail()
    lines = [line for line in result.output.splitlines() if "cannot be checked" in line]
    assert len(lines) == 1 and "50 acknowledged" in lines[0] and "--sqs-mode both" in lines[0], result.tail()
    assert "lost" not in lines[0]
    assert_no_traceback(result)
