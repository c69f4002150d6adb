"""The DynamoDB locustfile end to end: headless Locust runs, bounded by --max-records
(and by -t and a subprocess timeout), against an emulator the locustfile starts
itself (`--target local`) and against a moto server this test started (`--target URL`).
"""

from __future__ import annotations

import re
import subprocess

import psutil
import pytest
from botocore.exceptions import ClientError
from helpers import (
    DYNAMODB_LOCUSTFILE,
    LOCUST,
    REGION,
    LocustRun,
    RunLocust,
    local_endpoint,
    locust_env,
    stats_totals,
    unique_table_name,
)

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.services.base import WorkloadOptions
from writers.services.dynamodb import DynamoDBWorkload
from writers.target import Endpoint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

USER_CLASSES = ("SequentialUser", "ThreadedUser")
RUN_TIME = "30s"
RUN_ARGS = ["--max-records", "300", "--records-per-task", "20", "-u", "3", "-r", "3", "-t", RUN_TIME]
ENDED_BY_MAX_RECORDS = "--max-records reached"
MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY}
BANNER = re.compile(r"DynamoDB -> (\w+) at http://127\.0\.0\.1:(\d+)")


def assert_clean_run(run: LocustRun, records: int = 300) -> None:
    """Requests without failures, ended by --max-records well before -t, all acknowledged.
    (The exit code is checked last, by assert_exit_code_zero.)"""
    output = run.output
    assert "Traceback" not in output, output[-3000:]
    requests, failures = stats_totals(run.stats)
    assert requests > 0, output[-3000:]
    assert failures == 0, output[-3000:]
    assert ENDED_BY_MAX_RECORDS in output, output[-3000:]
    assert run.elapsed < 20, f"took {run.elapsed:.1f} s: not ended by --max-records"
    assert f"acknowledged records: {records}, given up: 0" in output, output[-3000:]


def assert_exit_code_zero(run: LocustRun, user_class: str) -> None:
    """Exit code 0: also catches a crash at exit (ThreadedUser's native threads once
    outlived the interpreter and died of SIGSEGV after "Shutting down")."""
    output = run.output
    assert run.returncode == 0, output[-3000:]


def processes_mentioning(port: int) -> list[psutil.Process]:
    """Every process whose command line mentions this port (whoever its parent is)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if re.search(rf"\b{port}\b", cmdline):
            found.append(process)
    return found


def table_exists(endpoint: Endpoint, table: str) -> bool:
    try:
        endpoint.admin_client().describe_table(TableName=table)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


# --------------------------------------------------------------------------- --target local


@pytest.mark.parametrize("user_class", USER_CLASSES)
def test_local_target_run(run_locust: RunLocust, user_class: str) -> None:
    table = unique_table_name(f"local-{user_class}")
    run = run_locust(["--target", "local", "--table", table, *RUN_ARGS, user_class], timeout=90)
    assert_clean_run(run)

    names = {entry["name"] for entry in run.stats}
    strategy = user_class.removesuffix("User").lower()
    assert names == {f"PutItem [{strategy}]"}
    assert {entry["method"] for entry in run.stats} == {"DynamoDB"}

    # The locustfile started dynalite itself, said where, and stopped it at the end.
    banner = BANNER.search(run.output)
    assert banner is not None, run.output
    assert banner.group(1) == "dynalite"
    port = int(banner.group(2))
    assert f"stopped dynalite (DynamoDB) at http://127.0.0.1:{port}" in run.output
    leftovers = processes_mentioning(port)
    assert not leftovers, [(p.pid, p.info["cmdline"]) for p in leftovers]
    assert_exit_code_zero(run, user_class)


# --------------------------------------------------------------------------- --target URL (moto)


@pytest.mark.parametrize("user_class", USER_CLASSES)
def test_url_target_run_against_moto(run_locust: RunLocust, moto_server: RunningEmulator, user_class: str) -> None:
    table = unique_table_name(f"moto-{user_class}")
    args = ["--target", moto_server.endpoint, "--region", REGION, "--table", table, *RUN_ARGS, user_class]
    run = run_locust(args, timeout=90, env=MOTO_CREDENTIALS)
    assert_clean_run(run)
    requests, _ = stats_totals(run.stats)
    assert requests == 300  # one PutItem per record, nothing retried
    assert "DynamoDB -> " not in run.output  # no emulator started for a URL

    endpoint = local_endpoint(moto_server)
    assert len(DynamoDBWorkload(WorkloadOptions(table)).stored_keys(endpoint)) == 300
    assert table_exists(endpoint, table)  # no --teardown: the table stays
    assert_exit_code_zero(run, user_class)


def test_batch_run_against_moto(run_locust: RunLocust, moto_server: RunningEmulator) -> None:
    table = unique_table_name("moto-batch")
    args = [
        "--target", moto_server.endpoint, "--region", REGION, "--table", table,
        "--batch", "25", "--max-records", "300", "--records-per-task", "50",
        "-u", "3", "-r", "3", "-t", RUN_TIME, "SequentialUser",
    ]  # fmt: skip
    run = run_locust(args, timeout=90, env=MOTO_CREDENTIALS)
    assert_clean_run(run)
    stats = run.stats
    assert {entry["name"] for entry in stats} == {"BatchWriteItem [sequential]"}
    assert stats_totals(stats) == (12, 0)  # 300 records in batches of 25
    assert len(DynamoDBWorkload(WorkloadOptions(table)).stored_keys(local_endpoint(moto_server))) == 300
    assert_exit_code_zero(run, "SequentialUser")


def test_a_small_max_records_is_spread_over_the_strategies(run_locust: RunLocust, moto_server: RunningEmulator) -> None:
    """With --max-records below one task's worth (the default --records-per-task is 100),
    every user class of a mixed run still writes: no first user takes all the records."""
    table = unique_table_name("moto-spread")
    classes = ["SequentialUser", "AiohttpUser", "GeventUser"]
    args = ["--target", moto_server.endpoint, "--region", REGION, "--table", table, "--max-records", "60"]
    run = run_locust([*args, "-u", "3", "-r", "3", "-t", RUN_TIME, *classes], timeout=90, env=MOTO_CREDENTIALS)
    assert_clean_run(run, records=60)
    per_strategy = {entry["name"]: entry["num_requests"] for entry in run.stats}
    assert set(per_strategy) == {f"PutItem [{c.removesuffix('User').lower()}]" for c in classes}, per_strategy
    assert all(count > 0 for count in per_strategy.values()) and sum(per_strategy.values()) == 60
    assert_exit_code_zero(run, "mixed")


def test_teardown_run_deletes_the_table(run_locust: RunLocust, moto_server: RunningEmulator) -> None:
    table = unique_table_name("moto-teardown")
    endpoint = local_endpoint(moto_server)
    args = ["--target", moto_server.endpoint, "--region", REGION, "--table", table, "--teardown", *RUN_ARGS]
    run = run_locust([*args, "SequentialUser"], timeout=90, env=MOTO_CREDENTIALS)
    assert_clean_run(run)
    assert f"deleted DynamoDB table {table!r}" in run.output
    assert not table_exists(endpoint, table)
    assert_exit_code_zero(run, "SequentialUser")


# --------------------------------------------------------------------------- listing


def test_list_shows_one_user_class_per_strategy(tmp_path: object) -> None:
    run = subprocess.run(
        [str(LOCUST), "-f", str(DYNAMODB_LOCUSTFILE), "--list"],
        cwd=str(tmp_path),
        env=locust_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    listed = {line.strip() for line in run.stdout.splitlines()[1:] if line.strip()}
    assert {"SequentialUser", "ThreadedUser"} <= listed
    assert "DynamoDB -> " not in run.stdout + run.stderr  # listing starts no emulator
