"""All five strategies inside Locust: several processes at once, clean stops."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from helpers import (
    DYNAMODB_LOCUSTFILE,
    PROJECT_ROOT,
    USER_CLASSES,
    LocustProcess,
    LocustResult,
    SharedEmulators,
    own_master_port,
    sigcheck_sink,
)

from writers import young_gc
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.services import WorkloadOptions
from writers.services.dynamodb import SERVICE, DynamoDBWorkload
from writers.strategies import STRATEGIES
from writers.target import Endpoint

CPYTHON_GEN0_DEFAULT = 700

pytestmark = pytest.mark.slow


def locust(args: list[str], cwd: Path, timeout: float = 120, plugins: tuple[str, ...] = ()) -> LocustResult:
    """A headless run of the DynamoDB locustfile (and test plugins) with the local keys, from `cwd`."""
    files = ",".join([str(DYNAMODB_LOCUSTFILE), *(str(PROJECT_ROOT / "tests" / "locustfiles" / p) for p in plugins)])
    return LocustProcess(files, ["--headless", *args], cwd, headless=False).finish(timeout)


@pytest.fixture(scope="module")
def dynalite(local: SharedEmulators) -> RunningEmulator:
    return local.get("dynamodb")


def test_five_user_classes_in_two_processes(dynalite: RunningEmulator, tmp_path: Path) -> None:
    table = "books-processes"
    result = locust(
        [
            "--processes",
            "2",
            *own_master_port(),
            "-u",
            "10",
            "-r",
            "10",
            "-t",
            "60s",
            "--max-records",
            "1500",
            "--records-per-task",
            "20",
            "--target",
            dynalite.endpoint,
            "--table",
            table,
            "--json-file",
            str(tmp_path / "stats"),
            *USER_CLASSES,
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.output[-2000:]
    assert "Traceback" not in result.output
    stats = {row["name"]: row for row in json.loads((tmp_path / "stats.json").read_text())}
    for strategy in STRATEGIES:
        row = stats[f"PutItem [{strategy}]"]
        assert row["num_requests"] > 0 and row["num_failures"] == 0
    assert sum(row["num_requests"] for row in stats.values()) == 1500
    assert "acknowledged records: 1500" in result.output
    endpoint = Endpoint(SERVICE, "us-east-1", dynalite.endpoint, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
    assert len(DynamoDBWorkload(WorkloadOptions(table)).stored_keys(endpoint)) == 1500


def test_run_time_stop_is_clean_with_calls_in_flight(tmp_path: Path) -> None:
    with sigcheck_sink(LOCAL_SECRET_KEY, delay_ms=400) as url:
        started = time.monotonic()
        # No provisioning against the sink: --target URL with a table it "has" (it answers {} to all).
        result = locust(
            ["-u", "5", "-r", "5", "-t", "4s", "--target", url, "--no-provision", "--concurrency", "4", *USER_CLASSES],
            tmp_path,
        )
        took = time.monotonic() - started
    output = result.output
    assert result.returncode == 0, output[-2000:]
    for bad in ("Traceback", "destroyed loop", "Unclosed", "Task was destroyed", "dictionary changed size"):
        assert bad not in output
    assert took < 30


def test_users_relax_the_young_gc_while_writing(tmp_path: Path) -> None:
    """GeventUser (no asyncio loop, which holds it too): the raised threshold while request
    events fire, the default back once every user has let go (writers/young_gc.py)."""
    with sigcheck_sink(LOCAL_SECRET_KEY) as url:
        result = locust(
            ["-u", "3", "-r", "3", "-t", "2s", "--target", url, "--no-provision", "GeventUser"],
            tmp_path,
            plugins=("gc_probe.py",),
        )
    output = result.output
    assert result.returncode == 0, output[-2000:]
    probe = re.search(r"gc-probe: while writing (\d+)-(\d+), at exit (\d+)", output)
    assert probe, output[-2000:]
    assert int(probe[1]) == int(probe[2]) == young_gc.GEN0_THRESHOLD
    assert int(probe[3]) == CPYTHON_GEN0_DEFAULT  # put back (not this test process's own, which other tests may hold)
