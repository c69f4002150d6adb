"""Master and workers as separate processes: on separate network "hosts" when network
namespaces can be made, and always on loopback. Only the master provisions and starts
emulators; custom flags reach the workers; every worker carries load; totals add up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import DYNAMODB_LOCUSTFILE, LocustCluster, LocustProcess
from helpers.netns import namespaces_available, network

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, node_modules_dir
from writers.services import WorkloadOptions
from writers.services.dynamodb import SERVICE, DynamoDBWorkload
from writers.target import Endpoint

RECORDS = 1200

pytestmark = pytest.mark.slow


def master_args(summary: Path, target: str, table: str) -> list[str]:
    return [
        "--headless", "-u", "6", "-r", "6", "-t", "90s", "--max-records", str(RECORDS), "--records-per-task", "20",
        "--concurrency", "4", "--target", target, "--table", table, "--summary-json", str(summary),
        "GeventUser", "AiohttpUser", "SequentialUser",
    ]  # fmt: skip


def check_summary(summary: Path) -> dict[str, int]:
    data = json.loads(summary.read_text())
    by_worker: dict[str, int] = data["acked_by_worker"]
    assert data["acked"] == RECORDS and data["given_up"] == 0
    assert len(by_worker) == 2, by_worker
    assert all(acked > 0 for acked in by_worker.values()), by_worker  # both workers carried load
    assert sum(by_worker.values()) == RECORDS  # and the totals add up
    return by_worker


@pytest.mark.skipif(bool(namespaces_available()), reason=namespaces_available() or "")
def test_master_and_two_workers_on_separate_network_hosts(tmp_path: Path) -> None:
    with network(["locust-master", "worker-1", "worker-2", "dynamodb-emulator"]) as net:
        dynalite = str(node_modules_dir() / "dynalite" / "cli.js")
        emulator_address = net.addresses["dynamodb-emulator"]
        net.start("dynamodb-emulator", ["node", dynalite, "--host", emulator_address, "--port", "8000",
                                        "--createTableMs", "0"])  # fmt: skip
        summary = tmp_path / "summary.json"
        # Workers and master find each other and the emulator by host name only.
        master = LocustProcess(
            DYNAMODB_LOCUSTFILE,
            [*master_args(summary, "http://dynamodb-emulator:8000", "books-netns"), "--master", "--expect-workers",
             "2", "--master-bind-host", net.addresses["locust-master"]],
            tmp_path / "master", headless=False, prefix=net.on_host("locust-master"),
        )  # fmt: skip
        workers = [
            LocustProcess(DYNAMODB_LOCUSTFILE, ["--worker", "--master-host", "locust-master"], tmp_path / host,
                          headless=False, prefix=net.on_host(host))
            for host in ("worker-1", "worker-2")
        ]  # fmt: skip
        with LocustCluster(master, workers) as cluster:
            ran, worker_runs = cluster.finish(timeout=150, workers_timeout=150)
        assert ran.returncode == 0, ran.tail(3000)
        check_summary(summary)
        for run in worker_runs:
            assert "Traceback" not in run.output, run.tail(2000)
            assert "created table" not in run.output  # only the master provisions
        endpoint = Endpoint(SERVICE, "us-east-1", f"http://{emulator_address}:8000", LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
        assert len(DynamoDBWorkload(WorkloadOptions("books-netns")).stored_keys(endpoint)) == RECORDS


def test_master_and_two_workers_on_loopback(tmp_path: Path) -> None:
    """The fallback where namespaces cannot be made; also: only the master starts the emulator."""
    summary = tmp_path / "summary.json"
    args = master_args(summary, "local", "books-loopback")
    with LocustCluster.on_loopback(DYNAMODB_LOCUSTFILE, args, tmp_path, workers=2, headless=False) as cluster:
        ran, worker_runs = cluster.finish(timeout=150, workers_timeout=150)
    assert ran.returncode == 0, ran.tail(3000)
    check_summary(summary)
    assert ran.output.count("writers.emulators: DynamoDB -> dynalite at") == 1  # one emulator, by the master
    for run in worker_runs:
        assert "-> dynalite at" not in run.output and "Traceback" not in run.output, run.tail(2000)
