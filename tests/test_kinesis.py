"""Kinesis Data Streams and every writer strategy through the Driver, against real local
servers (kinesalite and moto, shared by the session): what is acknowledged is exactly
what the shards hold, read back record by record; the raw wire request says what boto3
is told; records a PutRecords failed are sent again on their own, never dropped, those
refused for good are given up and counted; streams are on demand or provisioned; the
bill follows each mode's rules; bad options are one line.
"""

from __future__ import annotations

import argparse
import base64
import functools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import botocore.session
import orjson
import pytest
from botocore.serialize import create_serializer
from helpers import SharedEmulators, drive, local_endpoint

from writers import pricing
from writers import services as registry
from writers.calls import Attempt, Call
from writers.driver import Totals
from writers.emulators import RunningEmulator
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.records import BookRecords
from writers.services import emulator_names, workload_class
from writers.services.kinesis import (
    MAX_BATCH,
    MAX_CALL_BYTES,
    MAX_RECORD_BYTES,
    RECORD_OVERHEAD,
    KinesisOptions,
    KinesisWorkload,
    PutRecord,
    PutRecords,
    put_record,
    put_records,
    record_data,
)
from writers.strategies import STRATEGIES, Strategy, StrategyOptions, strategy_class
from writers.target import Endpoint

pytestmark = pytest.mark.timeout(60)

ALL = list(STRATEGIES)


# --------------------------------------------------------------------------- servers and helpers


@pytest.fixture(scope="module", params=emulator_names("kinesis"))
def kinesis_emulator(request: pytest.FixtureRequest, local: SharedEmulators) -> RunningEmulator:
    """kinesalite, then moto."""
    return local.get("kinesis", request.param)


@pytest.fixture(scope="module")
def endpoint(kinesis_emulator: RunningEmulator) -> Endpoint:
    return local_endpoint(kinesis_emulator, "kinesis")


@pytest.fixture(scope="module")
def in_flight(kinesis_emulator: RunningEmulator) -> int:
    """Calls in flight: moto's Kinesis is not safe for concurrent writes to a shard (two
    puts can take one sequence number, one record overwriting the other: acknowledged and
    lost), so against moto one at a time; that race is moto's emulator warning."""
    return 1 if kinesis_emulator.name == "moto" else 4


def stream_name(hint: str) -> str:
    return f"{hint}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def new_stream(endpoint: Endpoint) -> Iterator[Any]:
    """`new_stream(hint, **options)`: a workload on a new ACTIVE stream, deleted after the test."""
    made: list[KinesisWorkload] = []

    def make(hint: str, **options: Any) -> KinesisWorkload:
        workload = KinesisWorkload(KinesisOptions(stream_name(hint), **options))
        assert workload.provision(endpoint, timeout=20) is True
        workload.prepare(endpoint)
        made.append(workload)
        return workload

    yield make
    for workload in made:
        workload.teardown(endpoint)


def keys_of(records: list[dict[str, Any]]) -> list[str]:
    return [str(r["isbn"]) for r in records]


@functools.cache
def _kinesis_model() -> Any:
    return botocore.session.get_session().get_service_model("kinesis")


def assert_wire_matches_boto3(call: Call) -> None:
    """The raw request says exactly what botocore would put on the wire for these params."""
    model = _kinesis_model()
    expected = create_serializer(model.metadata["protocol"]).serialize_to_request(
        call.params, model.operation_model(call.operation)
    )
    wire = call.wire()
    assert (wire.method, wire.path, wire.query) == ("POST", "/", "")
    assert wire.headers == expected["headers"]  # X-Amz-Target, application/x-amz-json-1.1
    assert orjson.loads(wire.body) == orjson.loads(expected["body"])
    assert call.request_bytes == len(wire.body)


# --------------------------------------------------------------------------- protocol


def test_boto3_speaks_json_1_1_to_kinesis() -> None:
    metadata = _kinesis_model().metadata
    assert (metadata["protocol"], metadata["jsonVersion"], metadata["targetPrefix"]) == (
        "json",
        "1.1",
        "Kinesis_20131202",
    )


def test_wire_requests_match_botocore_with_base64_data() -> None:
    records = BookRecords(seed=1, payload_bytes=300).take(3)
    for call in (put_record("s", records[0]), put_records("s", records), put_records("s", records, provisioned=True)):
        assert_wire_matches_boto3(call)
        assert call.wire().headers["X-Amz-Target"] == "Kinesis_20131202." + call.operation
    body = orjson.loads(put_record("s", records[0]).wire().body)
    assert base64.b64decode(body["Data"]) == record_data(records[0]) and body["PartitionKey"] == records[0]["isbn"]


def test_registered_as_a_service_with_its_own_rows_per_mode() -> None:
    assert workload_class("kinesis") is KinesisWorkload
    record = BookRecords(seed=2).next()
    assert put_records("s", [record]).label == "PutRecords"
    assert put_records("s", [record], provisioned=True).label == "PutRecords (provisioned)"  # billed otherwise
    assert put_record("s", record, provisioned=True).again().provisioned  # a retry keeps the mode


# --------------------------------------------------------------------------- options


def cli(**overrides: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    KinesisWorkload.add_arguments(parser)
    return parser.parse_args([f"--{k.replace('_', '-')}={v}" for k, v in overrides.items()])


def test_read_options_from_flags() -> None:
    assert KinesisWorkload.read_options(cli(), 1, 0) == KinesisOptions("books-stream", 1, 0, shards=0)
    options = KinesisWorkload.read_options(cli(stream="s.1_x-y", shards=3), 500, 0)
    assert options == KinesisOptions("s.1_x-y", 500, 0, shards=3) and options.provisioned


@pytest.mark.parametrize(
    ("flags", "batch", "payload", "message"),
    [
        ({"stream": "no spaces"}, 1, 0, "--stream 'no spaces' is not a valid Kinesis stream name"),
        ({"stream": "x" * 129}, 1, 0, "is not a valid Kinesis stream name"),
        ({"shards": -1}, 1, 0, "--shards must be 0 (on-demand) or a shard count up to 100000, not -1"),
        ({"shards": 100_001}, 1, 0, "--shards must be 0 (on-demand) or a shard count up to 100000"),
        ({}, 500, 20_000, "--batch 500 records of --payload-bytes 20000 go over the 5 MiB one PutRecords"),
    ],
)
def test_bad_options_are_one_clear_line(flags: dict[str, Any], batch: int, payload: int, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        KinesisWorkload.read_options(cli(**flags), batch, payload)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_limits_are_kinesis_own() -> None:
    assert KinesisWorkload.max_batch == MAX_BATCH == 500
    assert KinesisWorkload.max_payload_bytes == MAX_RECORD_BYTES - RECORD_OVERHEAD  # data + key within 1 MiB
    fits = MAX_CALL_BYTES // (10_000 + RECORD_OVERHEAD)
    assert KinesisWorkload.read_options(cli(), fits, 10_000).batch == fits  # exactly what fits is fine
    with pytest.raises(ConfigError, match=f"use --batch {fits} or less"):
        KinesisWorkload.read_options(cli(), fits + 1, 10_000)
    with pytest.raises(ConfigError, match="PutRecords takes 1 to 500 records"):
        put_records("s", BookRecords(seed=3).take(501))


# --------------------------------------------------------------------------- settling a PutRecords


def test_records_the_service_failed_are_sent_again_alone_and_refused_ones_given_up() -> None:
    records = BookRecords(seed=4).take(5)
    call = put_records("s", records, provisioned=True)
    stored = {"ShardId": "shardId-000000000000", "SequenceNumber": "1"}
    answer = {
        "FailedRecordCount": 3,
        "Records": [
            stored,
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"},
            stored,
            {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service failure."},
            {"ErrorCode": "KMSAccessDeniedException", "ErrorMessage": "no"},
        ],
    }
    settled = call.settle(answer)
    keys = keys_of(records)
    assert (settled.acked, settled.acked_keys) == (2, (keys[0], keys[2]))
    leftover = settled.leftover
    assert isinstance(leftover, PutRecords) and leftover.attempt == 2 and leftover.provisioned
    assert leftover.keys == (keys[1], keys[3]) and leftover.params["Records"] == [
        call.params["Records"][1],
        call.params["Records"][3],
    ]
    assert settled.given_up == 1 and settled.error is not None and settled.error.kind is FailureKind.CLIENT
    assert call.settle({"FailedRecordCount": 0, "Records": [stored] * 5}).acked == 5


# --------------------------------------------------------------------------- billing


def test_on_demand_bills_each_record_by_started_kilobyte_provisioned_by_25_kb_payload_units() -> None:
    def sized(size: int, provisioned: bool) -> PutRecord:
        params = {"StreamName": "s", "Data": b"x" * (size - 13), "PartitionKey": "9780000000000"}  # 13-byte key
        return PutRecord(params, keys=("9780000000000",), provisioned=provisioned)

    stored = {"ShardId": "shardId-000000000000", "SequenceNumber": "1"}
    for size, kilobytes, payload_units in [(100, 1, 1), (1024, 1, 1), (1025, 2, 1), (25_600, 25, 1), (25_601, 26, 2)]:
        assert registry.bill(sized(size, False), stored).units == kilobytes
        assert registry.bill(sized(size, True), stored).units == payload_units
    per_kb = registry.price_for("Kinesis", "PutRecord")
    assert per_kb is not None and per_kb.usd_per_million * 2**20 / 1_000_000 == pytest.approx(0.08)  # $0.08 per GB
    per_unit = registry.price_for("Kinesis", "PutRecord (provisioned)")
    assert per_unit is not None and per_unit.usd_per_million == 0.014
    # failed records store nothing: only the stored ones are billed; a failed call costs nothing
    call = put_records("s", BookRecords(seed=5).take(3))
    half = {"FailedRecordCount": 1, "Records": [stored, {"ErrorCode": "InternalFailure"}, stored]}
    assert registry.bill(call, half).units == 2
    throttled = AwsCallError.from_response(400, "ProvisionedThroughputExceededException")
    assert registry.bill(call, None, throttled) == pricing.NOTHING


def test_streams_bill_their_hours_by_mode() -> None:
    billing = KinesisWorkload.billing
    (on_demand,) = billing.hourly(KinesisOptions("s"))
    (provisioned,) = billing.hourly(KinesisOptions("s", shards=4))
    assert (on_demand.what, on_demand.quantity, on_demand.price.usd_per_million) == ("stream-hour", 1, 40_000)
    assert (provisioned.what, provisioned.quantity, provisioned.price.usd_per_million) == ("shard-hour", 4, 15_000)
    assert provisioned.cost_usd(3600) == pytest.approx(4 * 0.015)
    rows = {(r["service"], r["operation"]): r for r in registry.price_table()["prices"]}
    assert {
        ("Kinesis", "PutRecords"),
        ("Kinesis", "PutRecords (provisioned)"),
        ("Kinesis", "(shard, provisioned)"),
    } <= (set(rows))


# --------------------------------------------------------------------------- writes x strategies x servers


@pytest.mark.parametrize("strategy", ALL)
def test_the_shards_hold_exactly_what_was_acknowledged(
    endpoint: Endpoint, in_flight: int, strategy: str, new_stream: Any
) -> None:
    """PutRecords (40, and a short last batch) and PutRecord in one run; read back shard by shard."""
    workload = new_stream(f"put-{strategy}", batch=40)
    records = BookRecords(seed=6, stream=ALL.index(strategy), payload_bytes=500).take(97)
    calls = workload.write_calls(records[:85]) + [put_record(workload.options.resource, r) for r in records[85:]]
    assert [(c.operation, c.items) for c in calls] == [("PutRecords", 40)] * 2 + [("PutRecords", 5)] + [
        ("PutRecord", 1)
    ] * 12

    totals, attempts = drive(strategy, calls, endpoint, concurrency=in_flight)

    assert totals == Totals(calls=15, acked=97, retried_items=0, given_up_items=0, failures=0)
    acked = [key for a in attempts for key in a.acked_keys]
    assert sorted(acked) == sorted(keys_of(records))
    assert workload.verify(endpoint, acked).__dict__ == {
        "acknowledged": 97, "lost": 0, "corrupt": 0, "duplicates": 0, "examples": [], "error": "",
        "uncertain": 0,
    }  # fmt: skip
    assert workload.stored_keys(endpoint) == set(acked)


def test_a_full_batch_of_500_in_one_call(endpoint: Endpoint, new_stream: Any) -> None:
    workload = new_stream("full", batch=MAX_BATCH)
    records = BookRecords(seed=7).take(MAX_BATCH)
    totals, attempts = drive("gevent", workload.write_calls(records), endpoint)
    assert (totals.calls, totals.acked, attempts[0].call.items) == (1, 500, 500)
    assert len(workload.stored_keys(endpoint)) == 500


# --------------------------------------------------------------------------- provisioning and read-back


def test_on_demand_and_provisioned_streams_are_created_active_and_deleted(endpoint: Endpoint) -> None:
    provisioned = KinesisWorkload(KinesisOptions(stream_name("three"), shards=3))
    on_demand = KinesisWorkload(KinesisOptions(stream_name("on-demand")))
    for workload in (provisioned, on_demand):
        assert workload.provision(endpoint, timeout=20) is True
        assert workload.provision(endpoint, timeout=20) is False  # exists: used as it is
        assert workload.status(endpoint) == "ACTIVE"
    assert len(provisioned.shard_ids(endpoint)) == 3
    assert len(on_demand.shard_ids(endpoint)) >= 1  # on demand, or an emulator's fixed start of 4
    for workload in (provisioned, on_demand):
        workload.teardown(endpoint)
        with pytest.raises(ConfigError, match=r"^Kinesis stream '.*' (does not exist|is being deleted) at http://"):
            workload.prepare(endpoint)  # what --no-provision says: one line
        deadline = time.monotonic() + 10  # deleting takes a moment, as on AWS
        while workload.options.resource in endpoint.admin_client().list_streams()["StreamNames"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with pytest.raises(ConfigError, match=r"^Kinesis stream '.*' does not exist at http://127\.0\.0\.1:\d+$"):
            workload.prepare(endpoint)
        workload.teardown(endpoint)  # already gone: nothing to do


def test_verify_finds_what_is_lost_corrupt_or_stored_twice(endpoint: Endpoint, new_stream: Any) -> None:
    workload = new_stream("verify", batch=10)
    records = BookRecords(seed=8).take(10)
    drive("sequential", workload.write_calls(records), endpoint)
    client, name = endpoint.admin_client(), workload.options.resource
    changed = {**records[0], "title": "changed after its checksum"}
    client.put_record(StreamName=name, Data=record_data(changed), PartitionKey=changed["isbn"])
    client.put_record(StreamName=name, Data=record_data(records[1]), PartitionKey=records[1]["isbn"])
    never_written = "9789999999999"

    result = workload.verify(endpoint, [*keys_of(records), never_written])

    assert (result.acknowledged, result.lost, result.corrupt, result.duplicates) == (11, 1, 1, 2)
    assert not result.ok and f"lost {never_written}" in result.examples
    assert f"corrupt {records[0]['isbn']}" in result.examples


# --------------------------------------------------------------------------- a strategy that fails records


class FailingRecords(Strategy):
    """A real strategy; the first attempt of each PutRecords is sent with its last records
    cut off, and answered as if the service had failed those (as --partial-batches does)."""

    name = "failing-records"

    def __init__(self, inner: Strategy, keep: int, code: str) -> None:
        super().__init__(inner.endpoint, inner.options)
        self.inner, self.keep, self.code = inner, keep, code
        self._held: dict[int, tuple[PutRecords, int]] = {}

    @property
    def concurrency(self) -> int:
        return self.inner.concurrency

    def start(self, call: Call) -> None:
        if isinstance(call, PutRecords) and call.attempt == 1:
            entries = call.params["Records"]
            sent = PutRecords({**call.params, "Records": entries[: self.keep]}, self.keep)
            self._held[id(sent)] = (call, len(entries) - self.keep)
            call = sent
        self.inner.start(call)

    def collect(self, timeout: float | None) -> list[Attempt]:
        attempts = self.inner.collect(timeout)
        for attempt in attempts:
            held = self._held.pop(id(attempt.call), None)
            if held is not None and attempt.response is not None:
                attempt.call = held[0]
                failed = [{"ErrorCode": self.code, "ErrorMessage": "made up"}] * held[1]
                attempt.response["Records"] = [*attempt.response["Records"], *failed]
                attempt.response["FailedRecordCount"] = held[1]
        return attempts

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("strategy", ["sequential", "aiohttp"])
def test_failed_records_are_sent_again_never_dropped(
    endpoint: Endpoint, in_flight: int, strategy: str, new_stream: Any
) -> None:
    workload = new_stream(f"retry-{strategy}", batch=10)
    records = BookRecords(seed=9).take(20)
    inner = strategy_class(strategy)(endpoint, StrategyOptions(in_flight))

    totals, attempts = drive(
        FailingRecords(inner, 7, "ProvisionedThroughputExceededException"), workload.write_calls(records)
    )

    assert totals == Totals(calls=4, acked=20, retried_items=6, given_up_items=0, failures=0)
    assert sorted((a.call.attempt, a.call.items, a.acked) for a in attempts) == [(1, 10, 7)] * 2 + [(2, 3, 3)] * 2
    result = workload.verify(endpoint, [key for a in attempts for key in a.acked_keys])
    assert (result.acknowledged, result.lost, result.duplicates) == (20, 0, 0)


def test_records_refused_for_good_are_given_up_and_counted(endpoint: Endpoint, in_flight: int, new_stream: Any) -> None:
    workload = new_stream("refused", batch=10)
    records = BookRecords(seed=10).take(10)
    inner = strategy_class("gevent")(endpoint, StrategyOptions(in_flight))

    totals, attempts = drive(FailingRecords(inner, 8, "KMSAccessDeniedException"), workload.write_calls(records))

    assert totals == Totals(calls=1, acked=8, retried_items=0, given_up_items=2, failures=1)
    (attempt,) = attempts
    assert attempt.error is not None and attempt.error.code == "KMSAccessDeniedException"
    assert attempt.error.kind is FailureKind.CLIENT  # a failure, visible and counted
    assert workload.stored_keys(endpoint) == set(keys_of(records[:8]))
