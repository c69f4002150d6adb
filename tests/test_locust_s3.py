"""The S3 locustfile end to end: headless Locust runs bounded by --max-records (and by -t
and a subprocess timeout) against SeaweedFS and moto servers these tests start
(`--target URL`) or that the locustfile starts itself (`--target local`), plus bad
flags refused with one line before anything starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from helpers import USER_CLASSES, LocustRun, SharedEmulators, headless_locust, local_endpoint, stats_totals

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.services.s3 import KiB, MiB, S3Options, S3Workload
from writers.strategies import STRATEGIES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

S3_LOCUSTFILE = Path(__file__).resolve().parent.parent / "locustfiles" / "s3.py"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY}
REGION = "us-east-1"


def run_locust(
    tmp_path: Path, args: Sequence[str], timeout: float = 90, env: dict[str, str] | None = None
) -> LocustRun:
    """Run the S3 locustfile headless from a fresh folder; killed with all it started after `timeout`."""
    return headless_locust(S3_LOCUSTFILE, args, tmp_path, timeout, env)


def assert_clean(run: LocustRun, records: int) -> None:
    tail = run.output[-4000:]
    assert run.returncode == 0, tail
    assert "Traceback" not in run.output, tail
    requests, failures = stats_totals(run.stats)
    assert requests > 0 and failures == 0, tail
    assert "--max-records reached" in run.output, tail
    assert f"acknowledged records: {records}, given up: 0" in run.output, tail
    assert {row["method"] for row in run.stats} == {"S3"}


@pytest.fixture(scope="module")
def seaweedfs(local: SharedEmulators) -> RunningEmulator:
    return local.get("s3", "seaweedfs")


@pytest.fixture(scope="module")
def moto(local: SharedEmulators) -> RunningEmulator:
    return local.get("s3", "moto")


def bucket_name(hint: str) -> str:
    return f"locust-{hint}-{uuid.uuid4().hex[:8]}"


def test_five_user_classes_with_multipart_on_seaweedfs(tmp_path: Path, seaweedfs: RunningEmulator) -> None:
    bucket = bucket_name("five")
    args = [
        "--target", seaweedfs.endpoint, "--bucket", bucket, "-u", "5", "-r", "5", "-t", "60s",
        "--max-records", "60", "--records-per-task", "4", "--concurrency", "4",
        "--object-size", "1KiB:85,6MiB:15", "--multipart-threshold", "5MiB", "--part-size", "5MiB",
        "--content", "random", "--content-md5", "--payload-signing", "signed", *USER_CLASSES,
    ]  # fmt: skip
    run = run_locust(tmp_path, args, env=CREDENTIALS)
    assert_clean(run, 60)
    rows = run.stat_rows()
    for strategy in STRATEGIES:
        assert rows[f"PutObject [{strategy}]"]["num_requests"] > 0
    stored = S3Workload(S3Options(bucket)).stored_objects(local_endpoint(seaweedfs, "s3"))
    assert len(stored) == 60 and set(stored.values()) <= {KiB, 6 * MiB}
    multipart = sum(1 for size in stored.values() if size == 6 * MiB)
    completes = sum(row["num_requests"] for name, row in rows.items() if name.startswith("CompleteMultipartUpload"))
    parts = sum(row["num_requests"] for name, row in rows.items() if name.startswith("UploadPart"))
    assert completes == multipart and parts == 2 * multipart  # 6 MiB: a 5 MiB part and a 1 MiB part
    puts = sum(row["num_requests"] for name, row in rows.items() if name.startswith("PutObject"))
    assert puts == 60 - multipart
    # response_length: bytes sent for puts and parts
    put_bytes = sum(row["total_content_length"] for name, row in rows.items() if name.startswith("PutObject"))
    part_bytes = sum(row["total_content_length"] for name, row in rows.items() if name.startswith("UploadPart"))
    assert put_bytes == puts * KiB and part_bytes == multipart * 6 * MiB


def test_mixed_reads_and_teardown_on_moto(tmp_path: Path, moto: RunningEmulator) -> None:
    bucket = bucket_name("mixed")
    args = [
        "--target", moto.endpoint, "--bucket", bucket, "-u", "2", "-r", "2", "-t", "60s",
        "--max-records", "40", "--records-per-task", "10", "--object-size", "2KiB", "--read-ratio", "0.5",
        "--teardown", "GeventUser", "SequentialUser",
    ]  # fmt: skip
    run = run_locust(tmp_path, args, env=CREDENTIALS)
    assert_clean(run, 40)
    rows = run.stat_rows()
    gets = [row for name, row in rows.items() if name.startswith("GetObject")]
    assert gets and all(row["num_failures"] == 0 for row in gets)
    reads = sum(row["num_requests"] for row in gets)
    assert 10 <= reads <= 40  # one GET per PUT once the process has written its first objects
    assert sum(row["total_content_length"] for row in gets) == reads * 2 * KiB  # bytes received
    assert f"deleted S3 bucket {bucket!r}" in run.output
    with pytest.raises(ClientError):
        local_endpoint(moto, "s3").admin_client().head_bucket(Bucket=bucket)


def test_local_target_starts_and_stops_seaweedfs(tmp_path: Path) -> None:
    args = ["--target", "local", "-u", "1", "-r", "1", "-t", "30s", "--max-records", "10", "GeventUser"]
    run = run_locust(tmp_path, args)
    assert_clean(run, 10)
    assert "S3 -> seaweedfs at http://127.0.0.1:" in run.output
    assert "stopped seaweedfs (S3)" in run.output
    assert set(run.stat_rows()) == {"PutObject [gevent]"}


BAD_FLAGS = [
    ("--object-size", "1KiB:x"),
    ("--object-size", "6TiB"),
    ("--part-size", "4MiB"),
    ("--multipart-threshold", "6GiB"),
    ("--read-ratio", "1.5"),
    ("--bucket", "Bad_Bucket"),
    ("--batch", "2"),
    ("--payload-signing", "maybe"),
]


@pytest.mark.parametrize(("flag", "value"), BAD_FLAGS, ids=[f"{f}={v}" for f, v in BAD_FLAGS])
def test_bad_flag_is_one_line_before_anything_starts(tmp_path: Path, flag: str, value: str) -> None:
    args = ["--target", "local", "-u", "1", "-r", "1", "-t", "10s", "--max-records", "5", flag, value, "GeventUser"]
    run = run_locust(tmp_path, args, timeout=45)
    assert run.returncode != 0, run.output
    assert "Traceback" not in run.output, run.output
    messages = [line for line in run.output.splitlines() if flag in line]
    assert len(messages) == 1 and messages[0].startswith("error: ") and len(messages[0]) < 200, run.output
    assert "S3 -> " not in run.output and "Ramping to" not in run.output, run.output  # no emulator, no swarm
    assert stats_totals(run.stats) == (0, 0)
