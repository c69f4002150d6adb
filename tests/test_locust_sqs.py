"""The SQS locustfile end to end: headless Locust runs of every user class, bounded by
--max-records (and by -t and a subprocess timeout), against a fauxqs this module
started (`--target URL`, so the queue can be checked afterwards), against moto, and
against an emulator the locustfile starts itself (`--target local`); a produce run
drained by a consume run; bad flags rejected with one line.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import (
    LOCUST,
    PROJECT_ROOT,
    REGION,
    USER_CLASSES,
    LocustRun,
    SharedEmulators,
    headless_locust,
    local_endpoint,
    locust_env,
    stats_totals,
)

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.services.sqs import SQSOptions, SQSWorkload
from writers.target import Endpoint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SQS_LOCUSTFILE = PROJECT_ROOT / "locustfiles" / "sqs.py"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY}
ENDED_BY_MAX_RECORDS = "--max-records reached"
SUMMARY_ROW = re.compile(r"^SQS (\w+) \[(\w+)\]\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", re.MULTILINE)


def summary_rows(run: LocustRun) -> dict[str, dict[str, int]]:
    """The AWS summary: 'Operation [strategy]' -> calls, items, acked, retried, given_up."""
    fields = ("calls", "items", "acked", "retried", "given_up")
    return {
        f"{m[0]} [{m[1]}]": dict(zip(fields, map(int, m[2:]), strict=True)) for m in SUMMARY_ROW.findall(run.output)
    }


def run_locust(
    tmp_path: Path, args: Sequence[str], timeout: float = 60, env: dict[str, str] | None = None
) -> LocustRun:
    """The SQS locustfile, headless, from a fresh folder; never longer than `timeout`."""
    return headless_locust(SQS_LOCUSTFILE, args, tmp_path, timeout, env)


def assert_clean_run(run: LocustRun, acked: int) -> None:
    """Exit 0, requests without failures, `acked` acknowledged records and none given up."""
    tail = run.output[-3000:]
    assert run.returncode == 0, tail
    assert "Traceback" not in run.output, tail
    requests, failures = stats_totals(run.stats)
    assert requests > 0 and failures == 0, tail
    assert f"acknowledged records: {acked}, given up: 0" in run.output, tail
    assert {entry["method"] for entry in run.stats or []} == {"SQS"}


@pytest.fixture(scope="module")
def fauxqs(local: SharedEmulators) -> RunningEmulator:
    return local.get("sqs", "fauxqs")


def unique_queue(hint: str, fifo: bool = False) -> str:
    return f"{hint}-{uuid.uuid4().hex[:8]}" + (".fifo" if fifo else "")


def queue_counts(endpoint: Endpoint, queue: str) -> tuple[int, int]:
    client = endpoint.admin_client()
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    url = client.get_queue_url(QueueName=queue)["QueueUrl"]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


# --------------------------------------------------------------------------- every user class


# (user class, extra flags, request name): single sends and batches, standard and FIFO.
USER_RUNS = [
    ("SequentialUser", [], "SendMessage [sequential]"),
    ("ThreadedUser", ["--batch", "10"], "SendMessageBatch [threaded]"),
    ("Aioboto3User", ["--batch", "10", "--payload-bytes", "2000"], "SendMessageBatch [aioboto3]"),
    ("AiohttpUser", ["--fifo", "--message-groups", "4"], "SendMessage [aiohttp]"),
    ("GeventUser", ["--fifo", "--batch", "10"], "SendMessageBatch [gevent]"),
]


@pytest.mark.parametrize(("user_class", "flags", "request_name"), USER_RUNS, ids=[u[0] for u in USER_RUNS])
def test_each_user_class_sends_exactly_max_records(
    tmp_path: Path, fauxqs: RunningEmulator, user_class: str, flags: list[str], request_name: str
) -> None:
    fifo = "--fifo" in flags
    flags = [f for f in flags if f != "--fifo"]
    queue = unique_queue(user_class.lower(), fifo)
    args = [
        "--target", fauxqs.endpoint, "--region", REGION, "--queue", queue, "--max-records", "200",
        "--records-per-task", "20", "-u", "2", "-r", "2", "-t", "30s", *flags, user_class,
    ]  # fmt: skip
    run = run_locust(tmp_path, args, env=CREDENTIALS)

    assert_clean_run(run, acked=200)
    assert ENDED_BY_MAX_RECORDS in run.output
    assert {entry["name"] for entry in run.stats or []} == {request_name}
    received = SQSWorkload(SQSOptions(queue)).drain(local_endpoint(fauxqs, "sqs"), wait_seconds=0)
    assert len(received) == len(set(received)) == 200  # the queue holds exactly the acknowledged sends


def test_local_target_starts_fauxqs_and_teardown_deletes_the_queue(tmp_path: Path) -> None:
    queue = unique_queue("local")
    args = ["--target", "local", "--queue", queue, "--max-records", "100", "--teardown", "-u", "2", "-t", "30s"]
    run = run_locust(tmp_path, [*args, "GeventUser"])

    assert_clean_run(run, acked=100)
    banner = re.search(r"SQS -> fauxqs at (http://127\.0\.0\.1:\d+)", run.output)
    assert banner is not None, run.output[-3000:]
    assert f"SQS created queue {queue!r}" in run.output
    assert f"deleted SQS queue {queue!r}" in run.output
    assert f"stopped fauxqs (SQS) at {banner.group(1)}" in run.output


def test_against_moto(tmp_path: Path, local: SharedEmulators) -> None:
    """moto slows as a queue grows: a small run."""
    moto = local.get("sqs", "moto")
    queue = unique_queue("moto")
    args = ["--target", moto.endpoint, "--region", REGION, "--queue", queue, "--batch", "10"]
    args += ["--max-records", "60", "--records-per-task", "20", "-u", "2", "-t", "30s", "Aioboto3User"]
    run = run_locust(tmp_path, args, env=CREDENTIALS)
    assert_clean_run(run, acked=60)
    assert len(set(SQSWorkload(SQSOptions(queue)).drain(local_endpoint(moto, "sqs"), wait_seconds=0))) == 60


# --------------------------------------------------------------------------- produce, consume, both


def test_consume_mode_drains_a_produced_queue(tmp_path: Path, fauxqs: RunningEmulator) -> None:
    queue = unique_queue("drain")
    common = ["--target", fauxqs.endpoint, "--region", REGION, "--queue", queue]
    produced = run_locust(
        tmp_path,
        [*common, "--batch", "10", "--max-records", "300", "-u", "2", "-t", "30s", "GeventUser"],
        env=CREDENTIALS,
    )
    assert_clean_run(produced, acked=300)
    endpoint = local_endpoint(fauxqs, "sqs")
    assert queue_counts(endpoint, queue) == (300, 0)

    args = [*common, "--sqs-mode", "consume", "--wait-seconds", "1", "-u", "2", "-r", "2", "-t", "4s", "AiohttpUser"]
    consumed = run_locust(tmp_path, args, env=CREDENTIALS)

    assert_clean_run(consumed, acked=0)  # consuming writes no records
    rows = summary_rows(consumed)
    assert rows["DeleteMessageBatch [aiohttp]"]["items"] == 300
    assert rows["ReceiveMessage [aiohttp]"]["calls"] >= 30
    assert queue_counts(endpoint, queue) == (0, 0)  # nothing left, nothing in flight


def test_both_mode_sends_then_receives_and_deletes(tmp_path: Path, fauxqs: RunningEmulator) -> None:
    queue = unique_queue("both")
    args = ["--target", fauxqs.endpoint, "--region", REGION, "--queue", queue, "--sqs-mode", "both"]
    args += ["--wait-seconds", "1", "--batch", "10", "--max-records", "100", "--records-per-task", "20"]
    run = run_locust(tmp_path, [*args, "-u", "1", "-t", "30s", "SequentialUser"], env=CREDENTIALS)

    assert_clean_run(run, acked=100)
    assert ENDED_BY_MAX_RECORDS in run.output
    rows = summary_rows(run)
    assert rows["SendMessageBatch [sequential]"]["acked"] == 100
    # One user, one call at a time: each task's sends are in before its receives start.
    assert rows["DeleteMessageBatch [sequential]"]["items"] == 100
    assert queue_counts(local_endpoint(fauxqs, "sqs"), queue) == (0, 0)


# --------------------------------------------------------------------------- bad input


BAD_FLAGS = [
    (["--payload-bytes", "262145"], "--payload-bytes"),
    (["--batch", "11"], "--batch"),
    (["--batch", "10", "--payload-bytes", "30000"], "--batch 10 x --payload-bytes 30000"),
    (["--sqs-mode", "consume", "--max-records", "10"], "--max-records"),
    (["--sqs-mode", "drain"], "--sqs-mode"),
    (["--sqs-mode", "both", "--wait-seconds", "21"], "--wait-seconds"),
    (["--sqs-mode", "consume", "--wait-seconds", "15", "--timeout", "10"], "--wait-seconds"),
    (["--message-groups", "4"], "--message-groups"),
    (["--max-messages", "0"], "--max-messages"),
    (["--queue", "no spaces"], "--queue"),
]


@pytest.fixture(scope="module")
def bad_flag_runs(tmp_path_factory: pytest.TempPathFactory) -> list[LocustRun]:
    """Every bad-flag run, a few at a time (each is ~2 s of Locust start-up, mostly waiting)."""
    tmp_path = tmp_path_factory.mktemp("bad-flags")

    def run(flags: list[str]) -> LocustRun:
        bounds = ["--target", "local", "-u", "1", "-t", "10s", "--queue", "bad-input-test"]
        return run_locust(tmp_path, [*bounds, *flags, "SequentialUser"], timeout=45)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(run, [flags for flags, _ in BAD_FLAGS]))


@pytest.mark.parametrize("case", range(len(BAD_FLAGS)), ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_are_rejected_with_one_line(bad_flag_runs: list[LocustRun], case: int) -> None:
    run, (_, names) = bad_flag_runs[case], BAD_FLAGS[case]
    assert run.returncode != 0, run.output
    assert "Traceback" not in run.output, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and names in errors[0] and len(errors[0]) < 200, run.output
    assert "SQS -> " not in run.output and "Ramping to" not in run.output  # before any emulator or user
    assert stats_totals(run.stats) == (0, 0)


def test_no_provision_with_a_missing_queue_is_one_line(tmp_path: Path, fauxqs: RunningEmulator) -> None:
    queue = unique_queue("absent")
    args = ["--target", fauxqs.endpoint, "--region", REGION, "--queue", queue, "--no-provision", "-u", "1", "-t", "10s"]
    run = run_locust(tmp_path, [*args, "SequentialUser"], timeout=45, env=CREDENTIALS)
    assert run.returncode == 2, run.output
    assert "Traceback" not in run.output, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: SQS queue {queue!r} does not exist at {fauxqs.endpoint}"], run.output
    assert "Ramping to" not in run.output


def test_list_shows_one_user_class_per_strategy(tmp_path: Path) -> None:
    run = subprocess.run(
        [str(LOCUST), "-f", str(SQS_LOCUSTFILE), "--list"],
        cwd=tmp_path,
        env=locust_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    listed = {line.strip() for line in run.stdout.splitlines()[1:] if line.strip()}
    assert listed == set(USER_CLASSES)
