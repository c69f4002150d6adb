"""Master and workers as separate processes: on separate network "hosts" when network
namespaces can be made, and always on loopback. Only the master provisions and starts
emulators; custom flags reach the workers; every worker carries load; totals add up."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers.netns import namespaces_available, network

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, free_ports, node_modules_dir
from writers.services import WorkloadOptions
from writers.services.dynamodb import SERVICE, DynamoDBWorkload
from writers.target import Endpoint

ROOT = Path(__file__).resolve().parent.parent
LOCUST = str(ROOT / ".venv" / "bin" / "locust")
LOCUSTFILE = str(ROOT / "locustfiles" / "dynamodb.py")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY}
RECORDS = 1200

pytestmark = pytest.mark.slow


def master_args(summary: Path, target: str, table: str) -> list[str]:
    return [
        LOCUST, "-f", LOCUSTFILE, "--master", "--headless", "--expect-workers", "2", "-u", "6", "-r", "6",
        "-t", "90s", "--max-records", str(RECORDS), "--records-per-task", "20", "--concurrency", "4",
        "--target", target, "--table", table, "--summary-json", str(summary),
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


def wait_all(processes: list[subprocess.Popen[str]], timeout: float) -> list[str]:
    outputs = []
    for process in processes:
        out, _ = process.communicate(timeout=timeout)
        outputs.append(out)
    return outputs


@pytest.mark.skipif(bool(namespaces_available()), reason=namespaces_available() or "")
def test_master_and_two_workers_on_separate_network_hosts(tmp_path: Path) -> None:
    with network(["locust-master", "worker-1", "worker-2", "dynamodb-emulator"]) as net:
        dynalite = str(node_modules_dir() / "dynalite" / "cli.js")
        emulator_address = net.addresses["dynamodb-emulator"]
        net.start("dynamodb-emulator", ["node", dynalite, "--host", emulator_address, "--port", "8000",
                                        "--createTableMs", "0"])  # fmt: skip
        summary = tmp_path / "summary.json"
        # Workers and master find each other and the emulator by host name only.
        master = net.start(
            "locust-master",
            [*master_args(summary, "http://dynamodb-emulator:8000", "books-netns"),
             "--master-bind-host", net.addresses["locust-master"]],
            env=CREDENTIALS, cwd=tmp_path,
        )  # fmt: skip
        workers = [
            net.start(host, [LOCUST, "-f", LOCUSTFILE, "--worker", "--master-host", "locust-master"],
                      env=CREDENTIALS, cwd=tmp_path)
            for host in ("worker-1", "worker-2")
        ]  # fmt: skip
        master_out, *worker_outs = wait_all([master, *workers], timeout=150)
        assert master.returncode == 0, master_out[-3000:]
        check_summary(summary)
        for out in worker_outs:
            assert "Traceback" not in out, out[-2000:]
            assert "created table" not in out  # only the master provisions
        endpoint = Endpoint(SERVICE, "us-east-1", f"http://{emulator_address}:8000", LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
        assert len(DynamoDBWorkload(WorkloadOptions("books-netns")).stored_keys(endpoint)) == RECORDS


def test_master_and_two_workers_on_loopback(tmp_path: Path) -> None:
    """The fallback where namespaces cannot be made; also: only the master starts the emulator."""
    summary = tmp_path / "summary.json"
    env = {**os.environ, **CREDENTIALS}
    port = free_ports(1)[0]
    master = subprocess.Popen(
        [*master_args(summary, "local", "books-loopback"), "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    workers: list[subprocess.Popen[str]] = []
    try:
        workers = [
            subprocess.Popen(
                [LOCUST, "-f", LOCUSTFILE, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = wait_all([master, *workers], timeout=150)
    finally:
        for process in [master, *workers]:
            if process.poll() is None:
                process.kill()
    master_out = outputs[0]
    assert master.returncode == 0, master_out[-3000:]
    check_summary(summary)
    assert master_out.count("writers.emulators: DynamoDB -> dynalite at") == 1  # one emulator, by the master
    for out in outputs[1:]:
        assert "-> dynalite at" not in out and "Traceback" not in out, out[-2000:]
