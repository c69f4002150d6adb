"""The benchmark sink answers every write with a minimal answer each strategy accepts.

scripts/bench/sink.py is nginx with canned answers (DynamoDB PutItem/BatchWriteItem, S3
PutObject, SQS GetQueueUrl/SendMessage/SendMessageBatch). If an answer were not valid
for a client, every benchmark row of that strategy would be measuring failures: here all
five strategies write through the library against it and must get zero failures and
every record acknowledged. Then one short end-to-end run of scripts/bench_strategies.py.
Skipped where nginx is not installed (apt-get install nginx-light).
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from writers.driver import Driver
from writers.services import WorkloadOptions
from writers.services.dynamodb import DynamoDBWorkload
from writers.services.s3 import S3Options, S3Workload
from writers.services.sqs import SQSOptions, SQSWorkload
from writers.strategies import STRATEGIES, StrategyOptions, strategy_class
from writers.target import Endpoint

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "bench"))

from sink import Sink, nginx_binary  # noqa: E402
from wrk_ceiling import wrk_binary  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
import bench_strategies  # noqa: E402

pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (apt-get install nginx-light)")

WORKLOADS = {
    "dynamodb-1": lambda: DynamoDBWorkload(WorkloadOptions("books", batch=1)),
    "dynamodb-25": lambda: DynamoDBWorkload(WorkloadOptions("books", batch=25)),
    "s3-1": lambda: S3Workload(S3Options("books-load-test")),
    "sqs-1": lambda: SQSWorkload(SQSOptions("messages", batch=1)),
    "sqs-10": lambda: SQSWorkload(SQSOptions("messages", batch=10)),
}


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def test_canned_answers_are_minimal_and_routed(sink: Sink) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=5)

    def ask(method: str, path: str, target: str = "") -> tuple[int, dict[str, str], bytes]:
        headers = {"X-Amz-Target": target} if target else {}
        connection.request(method, path, body=b'{"x":1}', headers=headers)
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()

    # DynamoDB answers what the workload asks for (ReturnConsumedCapacity=TOTAL), as DynamoDB does.
    put = json.loads(ask("POST", "/", "DynamoDB_20120810.PutItem")[2])
    assert put == {"ConsumedCapacity": {"TableName": "books", "CapacityUnits": 1.0}}
    batch_write = json.loads(ask("POST", "/", "DynamoDB_20120810.BatchWriteItem")[2])
    assert batch_write["UnprocessedItems"] == {} and batch_write["ConsumedCapacity"][0]["CapacityUnits"] == 25.0
    table = json.loads(ask("POST", "/", "DynamoDB_20120810.DescribeTable")[2])["Table"]  # checked before the swarm
    assert table["KeySchema"] == [{"AttributeName": "isbn", "KeyType": "HASH"}] and table["TableStatus"] == "ACTIVE"
    assert ask("POST", "/", "DynamoDB_20120810.ListTables")[2] == b"{}"  # anything else JSON
    assert json.loads(ask("POST", "/", "AmazonSQS.GetQueueUrl")[2])["QueueUrl"].startswith(sink.url)
    assert set(json.loads(ask("POST", "/", "AmazonSQS.SendMessage")[2])) == {"MD5OfMessageBody", "MessageId"}
    batch = json.loads(ask("POST", "/", "AmazonSQS.SendMessageBatch")[2])
    assert [entry["Id"] for entry in batch["Successful"]] == [str(i) for i in range(10)] and batch["Failed"] == []
    status, headers, body = ask("PUT", "/books-load-test/p00/key")
    assert (status, body) == (200, b"") and headers["ETag"].startswith('"')
    assert "ETag" not in ask("POST", "/", "DynamoDB_20120810.PutItem")[1]  # the S3 header only on S3 writes


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("workload_name", list(WORKLOADS))
def test_every_strategy_accepts_the_sink_with_zero_failures(sink: Sink, workload_name: str, strategy: str) -> None:
    workload: Any = WORKLOADS[workload_name]()
    endpoint = Endpoint(workload.service, "us-east-1", sink.url, "AKIDBENCHTEST", "bench-test-secret")
    workload.prepare(endpoint)  # SQS: GetQueueUrl, answered by the sink
    records = workload.records(1, 0).take(workload.options.batch * 4)
    instance = strategy_class(strategy)(endpoint, StrategyOptions(concurrency=4))
    attempts: list[Any] = []
    try:
        totals = Driver(instance, attempts.append).run(workload.write_calls(records))
    finally:
        instance.close()
    errors = [str(a.error) for a in attempts if a.error is not None]
    assert errors == [] and totals.failures == 0
    assert totals.acked == len(records) and totals.given_up_items == 0 and totals.retried_items == 0


def test_bench_script_end_to_end(tmp_path: Path) -> None:
    """A one-second run of two strategies and the anchors: figures, zero failures, the sink idle."""
    runners = "sequential,gevent,FastHttpUser" + (",wrk" if wrk_binary() else "")
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_strategies.py"), "--service", "sqs", "--sections", "cpu",
         "--runners", runners, "--seconds", "1", "--warmup", "0.3", "--repeats", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(out.read_text())["runs"]
    assert set(runs) == {f"cpu/sqs/1/{r}" for r in runners.split(",")}
    for key, (run,) in runs.items():
        assert run["failures"] == 0 and run["requests"] > 0 and run["cpu"] > 0, key
        assert "warning" not in run, run.get("warning")  # probe and --summary-json agree on items
    gevent, sequential = runs["cpu/sqs/1/gevent"][0], runs["cpu/sqs/1/sequential"][0]
    assert gevent["requests"] / gevent["cpu"] > sequential["requests"] / sequential["cpu"]
    assert 0.9 < gevent["wall"] < 1.5  # the probe ends the measured window on time
    assert "| gevent |" in done.stdout and "FastHttpUser" in done.stdout


def test_ratios_pair_each_round_with_its_own_anchor_run() -> None:
    """Ratios are medians of per-round ratios, not a ratio of medians: a slow round slows both
    runs of it and must not count. Here the two disagree (1.0x paired, 1.5x of medians); a
    round whose anchor failed is left out."""
    cfg = {runner: bench_strategies.Config("cpu", "sqs", 1, runner) for runner in ("aiohttp", "FastHttpUser")}
    rates: dict[str, list[int | None]] = {"aiohttp": [100, 200, 300, 300], "FastHttpUser": [100, 200, 200, None]}
    runs = {
        cfg[runner]: [{"requests": r, "cpu": 1.0, "wall": 1.0} if r else {"error": "x"} for r in values]
        for runner, values in rates.items()
    }
    paired = bench_strategies.paired_ratios(runs[cfg["aiohttp"]], runs[cfg["FastHttpUser"]], "requests")
    assert paired == [1.0, 1.0, 1.5]
    table = bench_strategies.throughput_table(runs, "sqs", 1, "cpu", 4)
    row = next(line for line in table.splitlines() if line.startswith("| aiohttp |"))
    assert "| 1.00x | 1.00-1.50 |" in row, row
    assert bench_strategies.spread([0.8, 1.0, 1.1, 1.2, 2.0]) == "0.90-1.60"


def test_rounds_alternate_their_order() -> None:
    configs = [bench_strategies.Config("cpu", "sqs", 1, r) for r in ("sequential", "gevent", "FastHttpUser")]
    assert bench_strategies.round_order(configs, 0) == configs
    assert bench_strategies.round_order(configs, 1) == configs[::-1]


def test_aiohttp_parts_script_measures_each_mode() -> None:
    """One short round of two modes: every request answered (the child asserts status 200
    and no failed attempt), a rate per mode, and the ratio line."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench" / "aiohttp_parts.py"), "--rounds", "1", "--calls", "300",
         "fixed", "send"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    medians = re.findall(r"^(fixed|send)\s+median\s+([\d,]+) requests per CPU-second", done.stdout, re.MULTILINE)
    assert [mode for mode, _ in medians] == ["fixed", "send"], done.stdout
    assert all(int(rate.replace(",", "")) > 0 for _, rate in medians)
