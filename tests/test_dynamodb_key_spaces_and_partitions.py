"""DynamoDB as it behaves in production: keys from a key space (uniform, zipfian, hotspot),
mixed reads, provisioned tables, --verify of keys written again, and hot partitions
rehearsed with the fault proxy's --partitions in front of dynalite."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    PROJECT_ROOT,
    REGION,
    FaultProxy,
    RunLocust,
    SharedEmulators,
    drive,
    local_endpoint,
    own_master_port,
    stats_totals,
)

# The Locust glue's pure parts, imported without Locust itself (as tests/test_report.py does).
from aws_locust.context import RowKey
from aws_locust.hotkeys import HotKeys
from aws_locust.latency import LatencyHistograms
from aws_locust.live import LiveStats
from aws_locust.tally import AwsTally
from writers.calls import Settlement
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.errors import ConfigError, FailureKind
from writers.retry import RetryPolicy
from writers.services.base import acceptable_versions
from writers.services.dynamodb import (
    BILLING,
    BatchGetItem,
    DynamoDBOptions,
    DynamoDBWorkload,
    batch_get,
    put_item,
    table_capacity,
)
from writers.services.dynamodb.keys import EXACT_ZIPF_MAX, KeySampler, space_key, top_share, zeta
from writers.strategies import STRATEGIES
from writers.target import Endpoint, resolve_endpoint

pytestmark = pytest.mark.timeout(120)

DRAWS = 200_000


def within(observed: int, draws: int, p: float, sigmas: float = 4.5) -> bool:
    """A binomial count within `sigmas` standard errors of draws * p."""
    return abs(observed - draws * p) <= sigmas * math.sqrt(draws * p * (1 - p)) + 1


# --------------------------------------------------------------------------- key distributions


@pytest.mark.parametrize("space", [1000, EXACT_ZIPF_MAX * 2])  # the exact CDF and Gray's approximation
def test_zipfian_top_key_share_matches_theory(space: int) -> None:
    s = 0.99
    ranks = KeySampler(space, "zipfian", s, seed=7).draw(DRAWS)
    counts = Counter(ranks.tolist())
    p0 = 1 / zeta(space, s)
    assert p0 == pytest.approx(top_share("zipfian", space, s))
    assert within(counts[0], DRAWS, p0), (counts[0], DRAWS * p0)
    assert within(counts[1], DRAWS, p0 / 2**s), (counts[1], DRAWS * p0 / 2**s)  # the second key: 1/2^s of the first
    assert counts.most_common(1)[0][0] == 0


@pytest.mark.parametrize("share", [0.5, 0.1, 0.9])
def test_hotspot_share_matches_theory(share: float) -> None:
    ranks = KeySampler(50, "hotspot", hot_share=share, seed=3).draw(DRAWS)
    counts = Counter(ranks.tolist())
    assert within(counts[0], DRAWS, share), (counts[0], DRAWS * share)
    others = [counts[rank] for rank in range(1, 50)]  # the rest, uniform over the 49 others
    assert all(within(count, DRAWS, (1 - share) / 49) for count in others), others


def test_uniform_covers_the_space_evenly() -> None:
    ranks = KeySampler(20, "uniform", seed=1).draw(DRAWS)
    counts = Counter(ranks.tolist())
    assert set(counts) == set(range(20))
    assert all(within(count, DRAWS, 1 / 20) for count in counts.values()), counts


def test_same_seed_same_keys_and_streams_differ() -> None:
    def keys(seed: int, stream: int) -> list[str]:
        workload = DynamoDBWorkload(DynamoDBOptions("t-seed", key_space=1000, key_distribution="zipfian"))
        source = workload.records(seed, stream)
        return [source.next()["isbn"] for _ in range(500)]

    assert keys(5, 0) == keys(5, 0)
    assert keys(5, 0) != keys(5, 1)
    assert keys(5, 0) != keys(6, 0)
    assert len(set(keys(5, 0))) < 500  # keys are written again
    assert all(key.startswith("979") and len(key) == 13 for key in keys(5, 0))
    assert space_key(0) != space_key(1)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"key_space": -1}, "--key-space"),
        ({"key_space": 10, "key_distribution": "hotspot", "hot_key_share": 1.5}, "--hot-key-share must be"),
        ({"key_space": 10, "key_distribution": "hotspot", "hot_key_share": -0.1}, "--hot-key-share must be"),
        ({"key_space": 10, "key_distribution": "zipfian", "hot_key_share": 0.3}, "--hot-key-share is for"),
        ({"zipf_s": 0.0}, "--zipf-s"),
        ({"zipf_s": float("nan")}, "--zipf-s"),
        ({"read_ratio": 1.01}, "--read-ratio"),
        ({"key_distribution": "pareto"}, "--key-distribution"),
        ({"key_distribution": "zipfian"}, "--key-distribution zipfian needs --key-space"),
        ({"billing_mode": "provisioned", "write_capacity": 0}, "--write-capacity"),
        ({"billing_mode": "provisioned", "read_capacity": 0}, "--read-capacity"),
        ({"write_capacity": 5}, "--write-capacity"),  # with on-demand
        ({"batch": 50}, "--batch 50"),  # over BatchWriteItem's 25 while writing
    ],
)
def test_bad_options_are_one_line(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        DynamoDBOptions("t-bad", **changes)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags",
    [
        ["--key-space", "-1"],
        ["--key-space", "10", "--key-distribution", "hotspot", "--hot-key-share", "2"],
        ["--zipf-s", "0"],
        ["--read-ratio", "-0.5"],
        ["--billing-mode", "provisioned", "--write-capacity", "0"],
        ["--read-capacity", "5"],
    ],
)
def test_bad_flags_exit_2_before_the_swarm(run_locust: RunLocust, flags: list[str]) -> None:
    run = run_locust(["-u", "1", "-r", "1", "-t", "5s", *flags, "SequentialUser"], timeout=60)
    assert run.returncode == 2, run.output[-2000:]
    errors = [line for line in run.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and flags[-2] in errors[0], run.output[-2000:]
    assert "Traceback" not in run.output
    assert "DynamoDB ->" not in run.output  # no emulator started: nothing before the check
    assert stats_totals(run.stats) == (0, 0)


# --------------------------------------------------------------------------- reads and mixes


@pytest.fixture(scope="module")
def dynalite(local: SharedEmulators) -> RunningEmulator:
    return local.get("dynamodb", "dynalite")


@pytest.fixture(scope="module")
def dynalite_endpoint(dynalite: RunningEmulator) -> Endpoint:
    return local_endpoint(dynalite)


def made_table(endpoint: Endpoint, name: str, **options: Any) -> DynamoDBWorkload:
    workload = DynamoDBWorkload(DynamoDBOptions(name, **options))
    workload.provision(endpoint)
    return workload


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("batch", [1, 10])
def test_mixed_run_every_strategy_no_failures(
    strategy: str, batch: int, dynalite_endpoint: Endpoint, table_name: str
) -> None:
    workload = made_table(
        dynalite_endpoint, table_name, batch=batch, key_space=60, key_distribution="zipfian",
        read_ratio=0.4, consistent_read=batch == 1,
    )  # fmt: skip
    records = workload.records(11, 0)
    calls = workload.write_calls(records.take(400))
    reads = [call for call in calls if call.is_read]
    assert reads and len(reads) < len(calls)
    assert {call.operation for call in reads} == {"GetItem" if batch == 1 else "BatchGetItem"}
    totals, attempts = drive(strategy, calls, dynalite_endpoint, concurrency=8)
    assert totals.failures == 0
    read_attempts = [a for a in attempts if a.call.is_read]
    assert sum(a.found + a.not_found for a in read_attempts) == sum(call.items for call in reads)
    assert sum(a.found for a in read_attempts) > 0  # zipfian keys: the hot ones were written
    written = workload.stored_keys(dynalite_endpoint)
    assert written and all(key.startswith("979") for key in written)
    for attempt in read_attempts:
        bill = BILLING.bill(attempt.call, attempt.response)
        assert bill.units > 0 and bill.pico_usd > 0  # read units at list price


def test_unique_keys_read_what_was_written(dynalite_endpoint: Endpoint, table_name: str) -> None:
    workload = made_table(dynalite_endpoint, table_name, read_ratio=0.5)
    records = workload.records(1, 0)
    first = workload.write_calls(records.take(20))
    assert all(not call.is_read for call in first[:1])  # nothing written yet: the first call writes
    drive("gevent", first, dynalite_endpoint, concurrency=1)
    later = workload.write_calls(records.take(40))
    totals, attempts = drive("gevent", later, dynalite_endpoint, concurrency=1)
    reads = [a for a in attempts if a.call.is_read]
    assert totals.failures == 0 and reads
    assert sum(a.not_found for a in reads) == 0  # reads ask for keys this process wrote
    assert sum(a.found for a in reads) == len(reads)


def test_unprocessed_keys_are_asked_again() -> None:
    """No emulator leaves keys unprocessed: the settlement of such an answer, as AWS sends it."""
    call = batch_get("t", ["a", "b", "c"], consistent=True)
    answer = {
        "Responses": {"t": [{"isbn": {"S": "a"}}]},
        "UnprocessedKeys": {"t": {"Keys": [{"isbn": {"S": "c"}}], "ConsistentRead": True}},
    }
    settled = call.settle(answer)
    assert isinstance(settled, Settlement)
    assert (settled.found, settled.not_found) == (1, 1)
    assert isinstance(settled.leftover, BatchGetItem) and settled.leftover.items == 1
    assert settled.leftover.attempt == 2
    assert settled.leftover.params["RequestItems"]["t"]["Keys"] == [{"isbn": {"S": "c"}}]


def test_read_units_billed_strongly_and_eventually() -> None:
    from writers.services.dynamodb import get_item

    strong, eventual = get_item("t", "k", consistent=True), get_item("t", "k")
    item = {"isbn": {"S": "k"}, "blurb": {"S": "x" * 5000}}  # two 4 KB units
    assert BILLING.bill(strong, {"Item": item}).units == 2.0
    assert BILLING.bill(eventual, {"Item": item}).units == 1.0
    assert BILLING.bill(eventual, {}).units == 0.5  # not found: still a read
    price = BILLING.prices["GetItem"]
    assert BILLING.bill(strong, {"Item": item}).pico_usd == round(2 * price.pico_usd_per_unit)


# --------------------------------------------------------------------------- verify of keys written again


def test_verify_checks_the_last_acknowledged_version(dynalite_endpoint: Endpoint, table_name: str) -> None:
    workload = made_table(dynalite_endpoint, table_name, key_space=3, key_distribution="uniform")
    records = workload.records(2, 0).take(30)
    calls = workload.write_calls(records)
    assert all(call.versions for call in calls)
    totals, attempts = drive("sequential", calls, dynalite_endpoint, concurrency=1)
    assert totals.failures == 0
    clock = iter(range(1000))
    writes = [(a.acked_keys[0], a.acked_versions[0], float(next(clock)), float(next(clock))) for a in attempts]
    expected = acceptable_versions(writes)
    assert len(expected) == len({r["isbn"] for r in records}) and all(len(v) == 1 for v in expected.values())
    workload.expect_versions(expected)
    result = workload.verify(dynalite_endpoint, [a.acked_keys[0] for a in attempts])
    assert result.ok and result.acknowledged == len(expected), result

    # An older version of a key written back: its last acknowledged write is gone.
    key = records[-1]["isbn"]
    older = next(r for r in records[:-1] if r["isbn"] == key and r["crc"] != records[-1]["crc"])
    drive("sequential", [put_item(table_name, older)], dynalite_endpoint, concurrency=1)
    result = workload.verify(dynalite_endpoint, [a.acked_keys[0] for a in attempts])
    assert result.lost == 1 and result.examples == [f"stale {key}"], result

    # The same, when some writes were never answered (the run ended first): one of them may have put it there.
    workload.expect_versions(expected, newer_may_exist=True)
    result = workload.verify(dynalite_endpoint, [a.acked_keys[0] for a in attempts])
    assert result.lost == 0 and result.uncertain == 1 and not result.examples, result


def test_overlapping_writes_accept_either_version() -> None:
    writes = [
        ("k", "v1", 0.0, 1.0),
        ("k", "v2", 2.0, 5.0),  # sent after v1 was acknowledged: v1 can no longer be stored
        ("k", "v3", 3.0, 4.0),  # in flight with v2: either may be applied last
        ("j", "w1", 0.0, 9.0),
    ]
    assert acceptable_versions(writes) == {"k": frozenset({"v2", "v3"}), "j": frozenset({"w1"})}


def test_batches_never_carry_a_key_twice() -> None:
    workload = DynamoDBWorkload(DynamoDBOptions("t-dup", batch=25, key_space=5, key_distribution="uniform"))
    records = workload.records(1, 0).take(200)
    calls = workload.write_calls(records)
    assert sum(call.items for call in calls) == 200  # every record still written
    for call in calls:
        assert len(set(call.keys)) == len(call.keys) and len(call.versions) == len(call.keys)


# --------------------------------------------------------------------------- provisioned tables


def test_provisioned_table_created_with_the_asked_units(dynamodb_endpoint: Endpoint, table_name: str) -> None:
    """dynalite and moto both report the units asked for."""
    options = DynamoDBOptions(table_name, billing_mode="provisioned", write_capacity=7, read_capacity=3)
    workload = DynamoDBWorkload(options)
    assert workload.provision(dynamodb_endpoint)
    description = dynamodb_endpoint.admin_client().describe_table(TableName=table_name)["Table"]
    assert description["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    assert description["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    found = DynamoDBWorkload(DynamoDBOptions(table_name))  # --no-provision: the table's own mode is read
    found.preflight(dynamodb_endpoint)
    assert found.discovered() == {"billing_mode": "provisioned", "write_capacity": 7, "read_capacity": 3}
    charges = BILLING.hourly(options)
    assert [(c.what, c.quantity) for c in charges] == [("WCU-hour", 7), ("RCU-hour", 3)]
    assert sum(c.cost_usd(3600) for c in charges) == pytest.approx(7 * 0.00065 + 3 * 0.00013)
    call = workload.write_calls(workload.records(1, 0).take(1))[0]
    assert BILLING.bill(call, {"ConsumedCapacity": {"CapacityUnits": 1.0}}).pico_usd == 0  # paid by the hour
    assert workload.capacity() == {"WRU": 7.0, "RRU": 3.0}


def test_on_demand_table_is_read_as_such() -> None:
    assert table_capacity({"BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}})["billing_mode"] == "on-demand"
    assert table_capacity({"ProvisionedThroughput": {"WriteCapacityUnits": 0}})["billing_mode"] == "on-demand"
    assert BILLING.hourly(DynamoDBOptions("t")) == []


# --------------------------------------------------------------------------- hot partitions in the proxy


@pytest.fixture(scope="module")
def partitioned_proxy(dynalite: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultProxy]:
    proxy = FaultProxy(
        dynalite.endpoint, "--partitions", "4", "--partition-write-units", "50", "--seed", "1",
        tmp_dir=tmp_path_factory.mktemp("partitions"),
    )  # fmt: skip
    yield proxy
    assert proxy.stop() == 0
    assert "Traceback" not in proxy.stderr()


def proxied(proxy: FaultProxy) -> Endpoint:
    return resolve_endpoint(
        "local", DynamoDBWorkload.service, REGION, local_url=proxy.url,
        local_credentials=(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY),
    )  # fmt: skip


def test_hot_key_throttles_its_partition_alone(
    partitioned_proxy: FaultProxy, dynalite_endpoint: Endpoint, table_name: str
) -> None:
    made_table(dynalite_endpoint, table_name)
    partitioned_proxy.stats(reset=True)
    hot = space_key(0)
    cold = [space_key(rank) for rank in range(1, 121)]
    hot_partition = zlib.crc32(hot.encode()) % 4
    cold = [key for key in cold if zlib.crc32(key.encode()) % 4 != hot_partition][:80]  # ~27 per other partition
    records = [{"isbn": hot, "n": str(i)} for i in range(300)] + [{"isbn": key, "n": "1"} for key in cold]
    calls = [put_item(table_name, r) for r in records]
    _totals, attempts = drive("gevent", calls, proxied(partitioned_proxy), policy=RetryPolicy(max_attempts=1))
    throttled = [a for a in attempts if a.error is not None]
    assert throttled and all(a.error.kind is FailureKind.THROTTLED for a in throttled)  # type: ignore[union-attr]
    assert {a.call.keys[0] for a in throttled} == {hot}  # the hot key's calls alone
    assert all(a.error is None for a in attempts if a.call.keys[0] != hot)
    stats = partitioned_proxy.stats()["by_partition"]
    assert stats[f"DynamoDB:{table_name}#{hot_partition}"]["throttled"] == len(throttled)
    others = {name: entry for name, entry in stats.items() if name != f"DynamoDB:{table_name}#{hot_partition}"}
    assert others and all(entry["throttled"] == 0 and entry["requests"] > 0 for entry in others.values()), stats


def test_table_capacity_stacks_on_partitions(
    partitioned_proxy: FaultProxy, dynalite_endpoint: Endpoint, table_name: str
) -> None:
    made_table(dynalite_endpoint, table_name)
    partitioned_proxy.configure(capacity=20)
    try:
        keys = [space_key(rank) for rank in range(1, 200)]  # spread: no partition is short
        calls = [put_item(table_name, {"isbn": key}) for key in keys[:120]]
        totals, _attempts = drive("gevent", calls, proxied(partitioned_proxy), policy=RetryPolicy(max_attempts=1))
        assert 0 < totals.failures and totals.acked <= 60  # the table's 20 units/s (burst 20) limits first
    finally:
        partitioned_proxy.configure(capacity=None)


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_locust_mixed_zipfian_run_verified_with_hot_keys(run_locust: RunLocust, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    run = run_locust(
        [
            "-u", "5", "-r", "5", "-t", "40s", "--max-records", "400", "--records-per-task", "20",
            "--key-space", "50", "--key-distribution", "zipfian", "--read-ratio", "0.3", "--verify",
            "--billing-mode", "provisioned", "--write-capacity", "100", "--read-capacity", "100",
            "--summary-json", str(summary), "--report-dir", str(tmp_path / "reports"),
            *[name.capitalize() + "User" for name in STRATEGIES],
        ],
        timeout=100,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    requests, failures = stats_totals(run.stats)
    assert requests > 0 and failures == 0, run.output[-3000:]
    assert "provisioned: 100 write and 100 read capacity units/s" in run.output
    assert "reads:" in run.output and "found" in run.output
    assert "hottest keys of DynamoDB" in run.output
    assert "verify DynamoDB:" in run.output and " 0 lost, 0 corrupt" in run.output, run.output[-3000:]
    data = json.loads(summary.read_text())
    assert data["found"] + data["not_found"] > 0
    hot = data["hot_keys"][0]
    assert hot["writes"][0][0] == space_key(0)  # zipfian: rank 0 is written most
    assert data["provisioned_units_per_s"] == {"DynamoDB": {"RRU": 100.0, "WRU": 100.0}}
    reports = list((tmp_path / "reports").glob("*.json"))
    assert reports and json.loads(reports[0].read_text())["cost"]["hourly"][0]["what"] == "WCU-hour"


# --------------------------------------------------------------------------- the glue: hot keys, capacity


def _event(keys: tuple[str, ...], acked: tuple[str, ...], kind: str | None) -> dict[str, Any]:
    return {"row": RowKey("DynamoDB", "PutItem", "gevent"), "keys": keys, "acked_keys": acked, "failure_kind": kind}


def test_hot_keys_merge_across_workers() -> None:
    workers = [HotKeys(), HotKeys()]
    for index, worker in enumerate(workers):
        for _ in range(5 + index):
            worker.on_request("DynamoDB", _event(("hot",), ("hot",), None))
        worker.on_request("DynamoDB", _event((f"cold{index}",), (f"cold{index}",), None))
        for _ in range(3):
            worker.on_request("DynamoDB", _event(("hot",), (), "throttled"))
        worker.on_request("DynamoDB", {"row": RowKey("DynamoDB", "PutItem", "gevent"), "keys": ()})  # unique keys
    master = HotKeys()
    master.resources["DynamoDB"] = "books"
    for worker in workers:
        master.merge(json.loads(json.dumps(worker.take())))  # as it travels with the stats report
        assert not worker.writes and not worker.throttles  # sent once
    top = master.top()
    assert top == [
        {
            "service": "DynamoDB", "resource": "books",
            "writes": [["hot", 11], ["cold0", 1], ["cold1", 1]],
            "throttles": [["hot", 6]],
        }
    ]  # fmt: skip
    assert "hottest keys of DynamoDB books by throttles: hot 6" in master.summary()


def test_hot_key_counters_stay_bounded() -> None:
    hot = HotKeys()
    for n in range(30_000):
        hot.on_request("DynamoDB", _event((str(n),), (str(n),), None))
        if n % 3 == 0:
            hot.on_request("DynamoDB", _event(("hot",), ("hot",), None))
    assert len(hot.writes["DynamoDB"]) <= 20_001
    assert hot.top()[0]["writes"][0][0] == "hot"


def test_live_table_shows_consumed_against_provisioned() -> None:
    tally = AwsTally()
    live = LiveStats(tally, LatencyHistograms())
    live.capacity = lambda: {"DynamoDB": {"WRU": 100.0, "RRU": 50.0}}
    live.start_test()
    put, get = RowKey("DynamoDB", "PutItem", "gevent"), RowKey("DynamoDB", "GetItem", "gevent")
    start = live.snapshots[0][0]
    live.snapshots.clear()
    live.snapshots.append((start, {}))
    current = {
        put: Counter({"calls": 800, "billed_milliunits": 800_000}),
        get: Counter({"calls": 200, "billed_milliunits": 100_000}),
    }
    rates = live.rates(start + 10, current)["rows"]
    lines = {line["unit"]: line for line in live.consumed_vs_provisioned(rates)}
    assert lines["WRU"]["consumed_per_s"] == pytest.approx(80.0) and lines["WRU"]["used"] == pytest.approx(0.8)
    assert lines["RRU"]["consumed_per_s"] == pytest.approx(10.0) and lines["RRU"]["provisioned_per_s"] == 50.0


# ---------------------------------------------------------------- end to end: the table's own mode, hot partitions


@pytest.mark.slow
def test_no_provision_reads_the_tables_own_mode(
    run_locust: RunLocust, dynalite: RunningEmulator, dynalite_endpoint: Endpoint, table_name: str, tmp_path: Path
) -> None:
    made_table(dynalite_endpoint, table_name, billing_mode="provisioned", write_capacity=9, read_capacity=4)
    summary = tmp_path / "summary.json"
    run = run_locust(
        [
            "-u", "2", "-r", "2", "-t", "30s", "--max-records", "100", "--target", dynalite.endpoint,
            "--table", table_name, "--no-provision", "--summary-json", str(summary), "--report-dir", "",
            "SequentialUser", "GeventUser",
        ],
        timeout=90,
        env={"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY},
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    assert f"DynamoDB table '{table_name}': provisioned: 9 write and 4 read capacity units/s" in run.output
    data = json.loads(summary.read_text())
    assert data["provisioned_units_per_s"] == {"DynamoDB": {"WRU": 9.0, "RRU": 4.0}}
    rows = data["rows"].values()
    assert sum(row.get("billed_milliunits", 0) for row in rows) >= 100_000  # units counted
    assert sum(row.get("cost_pusd", 0) for row in rows) == 0  # but paid by the capacity-hour


@pytest.mark.slow
def test_locust_through_partitions_names_the_hot_key(
    run_locust: RunLocust, partitioned_proxy: FaultProxy, dynalite_endpoint: Endpoint, table_name: str, tmp_path: Path
) -> None:
    made_table(dynalite_endpoint, table_name)
    summary = tmp_path / "summary.json"
    run = run_locust(
        [
            "-u", "2", "-r", "2", "-t", "8s", "--concurrency", "16", "--target", partitioned_proxy.url,
            "--table", table_name, "--no-provision", "--key-space", "1000", "--key-distribution", "hotspot",
            "--hot-key-share", "0.6", "--rate", "150", "--summary-json", str(summary), "--report-dir", "",
            "--exit-code-on-error", "0", "--check-given-up", "off", "GeventUser",
        ],  # the hot partition is overloaded on purpose: records given up there are expected
        timeout=90,
        env={"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY},
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    data = json.loads(summary.read_text())
    hot = data["hot_keys"][0]
    assert hot["resource"] == table_name
    assert hot["writes"][0][0] == space_key(0)
    assert hot["throttles"] and hot["throttles"][0][0] == space_key(0), hot  # 90 writes/s on a 50/s partition
    hot_partition = zlib.crc32(space_key(0).encode()) % 4
    throttled_keys = {key for key, _ in hot["throttles"]}
    assert all(zlib.crc32(key.encode()) % 4 == hot_partition for key in throttled_keys), hot


@pytest.mark.slow
def test_workers_send_versions_and_hot_keys_to_the_master(run_locust: RunLocust, tmp_path: Path) -> None:
    """--processes 2: the keys' versions (--verify) and hot keys travel with the workers' reports."""
    summary = tmp_path / "summary.json"
    run = run_locust(
        [
            "--processes", "2", *own_master_port(),
            "-u", "4", "-r", "4", "-t", "40s", "--max-records", "600", "--records-per-task", "30",
            "--key-space", "40", "--key-distribution", "zipfian", "--batch", "5", "--read-ratio", "0.2", "--verify",
            "--summary-json", str(summary), "--report-dir", "", "GeventUser", "AiohttpUser",
        ],
        timeout=100,
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    assert stats_totals(run.stats)[1] == 0
    data = json.loads(summary.read_text())
    assert data["acked"] == 600 and len(data["acked_by_worker"]) == 2
    verified = [line for line in run.output.splitlines() if "verify DynamoDB:" in line]
    assert verified and " 0 lost, 0 corrupt" in verified[0], run.output[-3000:]
    acknowledged = int(verified[0].split("verify DynamoDB: ")[1].split()[0])
    assert 0 < acknowledged <= 40  # distinct keys, each checked once against its last version
    writes = dict(data["hot_keys"][0]["writes"])
    assert max(writes, key=writes.__getitem__) == space_key(0)
    counts = list(writes.values())
    assert len(counts) == 10 and counts == sorted(counts, reverse=True) and sum(counts) <= 600  # the top 10


VERIFY_ORDER_SCRIPT = """
import sys, time
import locust  # patches the standard library first, as in a real run
from aws_locust.verify import Verifier

verifier = Verifier()
def report(version, answered_at):
    context = {{"acked_keys": ("k",), "acked_versions": (version,), "answered_at": answered_at}}
    verifier.on_request("DynamoDB", context=context, response_time=10.0)
now = time.time()
report("v2", now)  # v2's answer came last, and was reported at once
time.sleep(0.1)
report("v1", now - 0.5)  # v1 was answered 0.5 s earlier but reported only now (a busy driver)
print(sorted(verifier.versions["DynamoDB"].acceptable()["k"]))
"""


def test_versions_are_ordered_by_when_answers_came_not_when_reported() -> None:
    """v1 was acknowledged before v2 was sent, so only v2 may be stored. Ordering writes by
    when their events were fired (late on a busy machine) expected v1, and --verify called a
    correct table "stale". Locust must be imported first, so this runs in a fresh interpreter."""
    script = VERIFY_ORDER_SCRIPT.format(locustfiles=str(PROJECT_ROOT / "locustfiles"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['v2']", done.stdout
