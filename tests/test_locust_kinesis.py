"""The Kinesis locustfile end to end: headless Locust runs of every user class, bounded by
--max-records (and by -t and a subprocess timeout), against the session's kinesalite
(`--target URL`, so the shards can be read back afterwards), against moto, and against
an emulator the locustfile starts itself (`--target local`, with --verify and
--teardown); provisioned streams billed by their shard-hours; bad flags rejected with
one line before the swarm.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import (
    PROJECT_ROOT,
    REGION,
    USER_CLASSES,
    LocustRun,
    SharedEmulators,
    headless_locust,
    local_endpoint,
    stats_totals,
)

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.services.kinesis import KinesisOptions, KinesisWorkload

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

KINESIS_LOCUSTFILE = PROJECT_ROOT / "locustfiles" / "kinesis.py"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY}
ENDED_BY_MAX_RECORDS = "--max-records reached"


def run_locust(
    tmp_path: Path, args: Sequence[str], timeout: float = 60, env: dict[str, str] | None = None
) -> LocustRun:
    """The Kinesis locustfile, headless, from a fresh folder; never longer than `timeout`."""
    return headless_locust(KINESIS_LOCUSTFILE, args, tmp_path, timeout, env)


def assert_clean_run(run: LocustRun, acked: int) -> None:
    """Exit 0, requests without failures, `acked` acknowledged records and none given up."""
    tail = run.output[-3000:]
    assert run.returncode == 0, tail
    assert "Traceback" not in run.output, tail
    requests, failures = stats_totals(run.stats)
    assert requests > 0 and failures == 0, tail
    assert f"acknowledged records: {acked}, given up: 0" in run.output, tail
    assert {entry["method"] for entry in run.stats or []} == {"Kinesis"}


def unique_stream(hint: str) -> str:
    return f"locust-{hint}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def kinesalite(local: SharedEmulators) -> RunningEmulator:
    return local.get("kinesis", "kinesalite")


def stored(emulator: RunningEmulator, stream: str) -> set[str]:
    return KinesisWorkload(KinesisOptions(stream)).stored_keys(local_endpoint(emulator, "kinesis"))


# --------------------------------------------------------------------------- every user class


def test_five_user_classes_put_exactly_max_records(tmp_path: Path, kinesalite: RunningEmulator) -> None:
    stream = unique_stream("five")
    args = [
        "--target", kinesalite.endpoint, "--region", REGION, "--stream", stream, "--batch", "50",
        "--max-records", "1000", "--records-per-task", "100", "-u", "5", "-r", "5", "-t", "40s", *USER_CLASSES,
    ]  # fmt: skip
    run = run_locust(tmp_path, args, env=CREDENTIALS)

    assert_clean_run(run, acked=1000)
    assert ENDED_BY_MAX_RECORDS in run.output
    strategies = {name.removesuffix("User").lower() for name in USER_CLASSES}
    assert {entry["name"] for entry in run.stats} == {f"PutRecords [{s}]" for s in strategies}
    assert len(stored(kinesalite, stream)) == 1000  # the shards hold exactly the acknowledged records


def test_provisioned_stream_single_records_and_shard_hours(tmp_path: Path, kinesalite: RunningEmulator) -> None:
    stream = unique_stream("shards")
    summary = tmp_path / "summary.json"
    args = [
        "--target", kinesalite.endpoint, "--region", REGION, "--stream", stream, "--shards", "3",
        "--max-records", "200", "--records-per-task", "20", "-u", "2", "-r", "2", "-t", "30s",
        "--report-dir", str(tmp_path / "reports"), "--summary-json", str(summary), "GeventUser",
    ]  # fmt: skip
    run = run_locust(tmp_path, args, env=CREDENTIALS)

    assert_clean_run(run, acked=200)
    assert {entry["name"] for entry in run.stats} == {"PutRecord (provisioned) [gevent]"}
    workload = KinesisWorkload(KinesisOptions(stream))
    assert len(workload.shard_ids(local_endpoint(kinesalite, "kinesis"))) == 3
    (report_file,) = (tmp_path / "reports").glob("aws-report-*.json")
    report = json.loads(report_file.read_text())
    (charge,) = report["cost"]["hourly"]
    assert (charge["service"], charge["what"], charge["quantity"]) == ("Kinesis", "shard-hour", 3)
    (row,) = report["rows"]
    assert row["billed_unit"] == "PUT payload unit" and row["billed_units"] == 200  # small records: one unit each
    assert report["cost"]["total_usd"] == pytest.approx(row["cost_usd"] + charge["cost_usd"])
    assert report["settings"]["shards"] == 3 and report["settings"]["stream"] == stream


def test_local_target_starts_kinesalite_verifies_and_tears_down(tmp_path: Path) -> None:
    stream = unique_stream("local")
    args = [
        "--target", "local", "--stream", stream, "--batch", "100", "--max-records", "500", "--verify",
        "--teardown", "-u", "2", "-r", "2", "-t", "30s", "AiohttpUser", "ThreadedUser",
    ]  # fmt: skip
    run = run_locust(tmp_path, args)

    assert_clean_run(run, acked=500)
    banner = re.search(r"Kinesis -> kinesalite at (http://127\.0\.0\.1:\d+)", run.output)
    assert banner is not None, run.output[-3000:]
    assert f"Kinesis created stream {stream!r}" in run.output
    assert "verify Kinesis: 500 acknowledged, 0 lost, 0 corrupt, 0 duplicates" in run.output
    assert f"deleted Kinesis stream {stream!r}" in run.output
    assert f"stopped kinesalite (Kinesis) at {banner.group(1)}" in run.output


def test_against_moto(tmp_path: Path, local: SharedEmulators) -> None:
    """A small run, one call at a time (moto loses records put to a shard concurrently)."""
    moto = local.get("kinesis", "moto")
    stream = unique_stream("moto")
    args = ["--target", moto.endpoint, "--region", REGION, "--stream", stream, "--batch", "25"]
    # one user, one call at a time: moto's Kinesis loses records written to a shard concurrently
    args += ["--max-records", "100", "--records-per-task", "25", "-u", "1", "-t", "30s", "SequentialUser"]
    run = run_locust(tmp_path, args, env=CREDENTIALS)
    assert_clean_run(run, acked=100)
    assert len(stored(moto, stream)) == 100


# --------------------------------------------------------------------------- bad input


# (flags, what the one error line names)
BAD_FLAGS = [
    (["--batch", "501"], "--batch"),
    (["--payload-bytes", "1048576"], "--payload-bytes"),  # a record over 1 MiB with its key
    (["--batch", "500", "--payload-bytes", "20000"], "5 MiB"),  # a PutRecords over 5 MiB
    (["--stream", "not a name!"], "--stream"),
    (["--shards", "-1"], "--shards"),
    (["--shards", "100001"], "--shards"),
]


@pytest.fixture(scope="module")
def bad_flag_runs(tmp_path_factory: pytest.TempPathFactory) -> list[LocustRun]:
    """Every bad-flag run, a few at a time (each is ~2 s of Locust start-up, mostly waiting)."""
    tmp_path = tmp_path_factory.mktemp("bad-flags")

    def run(flags: list[str]) -> LocustRun:
        bounds = ["--target", "local", "-u", "1", "-t", "10s", "--stream", "bad-input-test"]
        return run_locust(tmp_path, [*bounds, *flags, "SequentialUser"], timeout=45)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(run, [flags for flags, _ in BAD_FLAGS]))


@pytest.mark.parametrize("case", range(len(BAD_FLAGS)), ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_are_rejected_with_one_line(bad_flag_runs: list[LocustRun], case: int) -> None:
    run, (_, names) = bad_flag_runs[case], BAD_FLAGS[case]
    assert run.returncode == 2, run.output
    assert "Traceback" not in run.output, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and names in errors[0] and len(errors[0]) < 200, run.output
    assert "Kinesis -> " not in run.output and "Ramping to" not in run.output  # before any emulator or user
    assert stats_totals(run.stats) == (0, 0)


def test_no_provision_with_a_missing_stream_is_one_line(tmp_path: Path, kinesalite: RunningEmulator) -> None:
    stream = unique_stream("absent")
    args = ["--target", kinesalite.endpoint, "--region", REGION, "--stream", stream, "--no-provision"]
    run = run_locust(tmp_path, [*args, "-u", "1", "-t", "10s", "SequentialUser"], timeout=45, env=CREDENTIALS)
    assert run.returncode == 2, run.output
    assert "Traceback" not in run.output, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: Kinesis stream {stream!r} does not exist at {kinesalite.endpoint}"], run.output
    assert "Ramping to" not in run.output
