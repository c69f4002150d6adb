"""DynamoDB operations and writer strategies through the Driver, against real local
servers (dynalite and moto, both started by the fixtures): what is acknowledged is
what the table holds, the raw wire request says what boto3 is told, partial batch
failures and retries are counted, and failures are classified.
"""

from __future__ import annotations

import functools
import http.client
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.serialize import create_serializer
from helpers import FAST_RETRIES, drive

from writers.calls import Attempt, Call
from writers.driver import Driver, Totals
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, free_ports
from writers.errors import AwsCallError, FailureKind
from writers.records import BookRecords
from writers.retry import RetryPolicy
from writers.services.base import WorkloadOptions
from writers.services.dynamodb import (
    KEY,
    SERVICE,
    TARGET_PREFIX,
    BatchWriteItem,
    DynamoDBWorkload,
    GetItem,
    PutItem,
    batch_write,
    get_item,
    put_item,
    to_item,
)
from writers.strategies import Strategy, StrategyOptions, strategy_class
from writers.target import Endpoint

pytestmark = pytest.mark.timeout(60)

STRATEGIES = ("sequential", "threaded")
REGION = "us-east-1"


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def table(dynamodb_endpoint: Endpoint, table_name: str) -> Iterator[str]:
    """A fresh, ACTIVE table on the current emulator, deleted afterwards."""
    workload = DynamoDBWorkload(WorkloadOptions(table_name))
    assert workload.provision(dynamodb_endpoint, timeout=20) is True
    yield table_name
    workload.teardown(dynamodb_endpoint)


def stored_keys(endpoint: Endpoint, table: str) -> set[str]:
    return DynamoDBWorkload(WorkloadOptions(table)).stored_keys(endpoint)


def make_strategy(name: str, endpoint: Endpoint, **options: Any) -> Strategy:
    return strategy_class(name)(endpoint, StrategyOptions(**{"concurrency": 4, **options}))


@functools.cache
def _dynamodb_model() -> Any:
    return botocore.session.get_session().get_service_model(SERVICE.boto3_name)


def boto3_wire(call: Call) -> tuple[dict[str, str], Any]:
    """What botocore itself would put on the wire for this call: (headers, decoded body)."""
    model = _dynamodb_model()
    request = create_serializer(model.metadata["protocol"]).serialize_to_request(
        call.params, model.operation_model(call.operation)
    )
    return dict(request["headers"]), orjson.loads(request["body"])


def assert_wire_matches_boto3(call: Call) -> None:
    wire = call.wire()
    assert wire.method == "POST"
    assert wire.path == "/"
    assert wire.query == ""
    assert wire.headers["X-Amz-Target"] == TARGET_PREFIX + call.operation
    decoded = orjson.loads(wire.body)
    assert decoded == call.params  # the raw body says exactly what boto3 is given
    headers, body = boto3_wire(call)
    assert decoded == body  # ... and what botocore would serialize from it
    assert wire.headers["X-Amz-Target"] == headers["X-Amz-Target"]
    assert wire.headers["Content-Type"] == headers["Content-Type"]
    assert call.request_bytes == len(wire.body)


# --------------------------------------------------------------------------- operations x strategies


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_put_item(dynamodb_endpoint: Endpoint, table: str, strategy: str) -> None:
    records = BookRecords(seed=11).take(12)
    calls: list[Call] = [put_item(table, r) for r in records]
    totals, attempts = drive(strategy, calls, dynamodb_endpoint)

    assert totals == Totals(calls=12, acked=12, retried_items=0, given_up_items=0, failures=0)
    assert len(attempts) == 12
    assert all(a.error is None and a.acked == 1 and a.call.attempt == 1 for a in attempts)
    assert all(a.response_time_ms > 0 and a.response_length == a.call.request_bytes for a in attempts)
    assert stored_keys(dynamodb_endpoint, table) == {r["isbn"] for r in records}
    for call in calls:
        assert isinstance(call, PutItem)
        assert_wire_matches_boto3(call)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_batch_write_item_of_25(dynamodb_endpoint: Endpoint, table: str, strategy: str) -> None:
    records = BookRecords(seed=12).take(50)
    workload = DynamoDBWorkload(WorkloadOptions(table, batch=25))
    calls = workload.write_calls(records)
    assert [c.items for c in calls] == [25, 25]
    assert all(isinstance(c, BatchWriteItem) for c in calls)

    totals, attempts = drive(strategy, calls, dynamodb_endpoint)

    assert totals == Totals(calls=2, acked=50, retried_items=0, given_up_items=0, failures=0)
    assert [a.acked for a in attempts] == [25, 25]
    assert all(not (a.response or {}).get("UnprocessedItems") for a in attempts)
    assert workload.stored_keys(dynamodb_endpoint) == {r["isbn"] for r in records}
    for call in calls:
        assert_wire_matches_boto3(call)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_get_item_of_written_item(dynamodb_endpoint: Endpoint, table: str, strategy: str) -> None:
    records = BookRecords(seed=13, payload_bytes=600).take(6)
    totals, _ = drive(strategy, [batch_write(table, records)], dynamodb_endpoint)
    assert totals.acked == 6

    calls: list[Call] = [get_item(table, r["isbn"]) for r in records]
    totals, attempts = drive(strategy, calls, dynamodb_endpoint)

    assert totals == Totals(calls=6, acked=0, retried_items=0, given_up_items=0, failures=0)  # reads ack nothing
    assert len(attempts) == 6  # one each, every one checked below
    by_key = {r["isbn"]: r for r in records}
    for attempt in attempts:
        assert isinstance(attempt.call, GetItem)
        assert attempt.error is None and attempt.response is not None
        item = attempt.response["Item"]
        assert item == to_item(by_key[item[KEY]["S"]])
        assert attempt.response_length == attempt.bytes_received > 600  # reads report bytes received
    assert stored_keys(dynamodb_endpoint, table) == set(by_key)
    for call in calls:
        assert_wire_matches_boto3(call)


def test_get_item_of_missing_key_is_not_an_error(dynamodb_endpoint: Endpoint, table: str) -> None:
    totals, attempts = drive("sequential", [get_item(table, "9780000000000")], dynamodb_endpoint)
    assert totals.failures == 0
    assert attempts[0].response is not None and "Item" not in attempts[0].response


def test_wire_request_is_accepted_by_the_server(dynamodb_endpoint: Endpoint, table: str) -> None:
    """The raw request, signed and sent as is (no boto3), writes what it says."""
    records = BookRecords(seed=14).take(3)
    for call in (put_item(table, records[0]), batch_write(table, records[1:])):
        wire = call.wire()
        url = dynamodb_endpoint.raw_url + wire.path
        request = AWSRequest(method=wire.method, url=url, data=wire.body, headers=dict(wire.headers))
        signer = SigV4Auth(Credentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY), SERVICE.signing_name, REGION)
        signer.add_auth(request)
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.netloc, timeout=10)
        try:
            connection.request(wire.method, wire.path, body=wire.body, headers=dict(request.headers.items()))
            answer = connection.getresponse()
            status, headers, body = answer.status, dict(answer.getheaders()), answer.read()
        finally:
            connection.close()
        assert status == 200, body
        assert call.settle(call.parse_wire(status, headers, body)).acked == call.items
    assert stored_keys(dynamodb_endpoint, table) == {r["isbn"] for r in records}


# --------------------------------------------------------------------------- partial batch failure


def test_batch_settle_with_unprocessed_items_returns_leftover() -> None:
    records = BookRecords(seed=15).take(25)
    call = batch_write("books", records)
    requests = call.params["RequestItems"]["books"]
    unprocessed = {"books": requests[18:]}

    settlement = call.settle({"UnprocessedItems": unprocessed, "ConsumedCapacity": []})

    assert settlement.acked == 18
    leftover = settlement.leftover
    assert isinstance(leftover, BatchWriteItem)
    assert leftover.items == 7
    assert leftover.attempt == 2
    assert leftover.params == {"RequestItems": unprocessed}
    assert orjson.loads(leftover.wire().body) == {"RequestItems": unprocessed}

    # A leftover's own leftover is the third attempt.
    again = leftover.settle({"UnprocessedItems": {"books": requests[23:]}})
    assert again.acked == 5
    assert again.leftover is not None and again.leftover.items == 2 and again.leftover.attempt == 3


def test_batch_settle_counts_unprocessed_items_over_several_tables() -> None:
    records = BookRecords(seed=16).take(10)
    call = BatchWriteItem({"RequestItems": {"a": [], "b": []}}, items=10)
    unprocessed = {
        "a": [{"PutRequest": {"Item": to_item(r)}} for r in records[:2]],
        "b": [{"PutRequest": {"Item": to_item(r)}} for r in records[2:5]],
    }
    settlement = call.settle({"UnprocessedItems": unprocessed})
    assert settlement.acked == 5
    assert settlement.leftover is not None and settlement.leftover.items == 5


@pytest.mark.parametrize("response", [{}, {"UnprocessedItems": {}}, {"UnprocessedItems": None}])
def test_batch_settle_without_unprocessed_items_acks_all(response: dict[str, Any]) -> None:
    settlement = batch_write("books", BookRecords(seed=17).take(25)).settle(response)
    assert settlement.acked == 25 and settlement.leftover is None


class PartialBatchStrategy(Strategy):
    """A real strategy whose server "leaves unprocessed" the last `unprocessed` items of
    each first-attempt BatchWriteItem: it sends only the others to the real server and
    answers with UnprocessedItems holding the rest, as DynamoDB does under pressure.
    (No local emulator returns UnprocessedItems by itself.)"""

    name = "partial"

    def __init__(self, inner: Strategy, unprocessed: int) -> None:
        super().__init__(inner.endpoint, inner.options)
        self.inner = inner
        self.unprocessed = unprocessed
        self._originals: dict[int, tuple[Call, dict[str, list[Any]]]] = {}

    @property
    def concurrency(self) -> int:
        return self.inner.concurrency

    def start(self, call: Call) -> None:
        if isinstance(call, BatchWriteItem) and call.attempt == 1:
            ((table, requests),) = call.params["RequestItems"].items()
            keep, rest = requests[: -self.unprocessed], requests[-self.unprocessed :]
            sent = BatchWriteItem({"RequestItems": {table: keep}}, len(keep))
            self._originals[id(sent)] = (call, {table: rest})
            call = sent
        self.inner.start(call)

    def collect(self, timeout: float | None) -> list[Attempt]:
        attempts = []
        for attempt in self.inner.collect(timeout):
            original = self._originals.pop(id(attempt.call), None)
            if original is not None and attempt.response is not None:
                call, rest = original
                response = {**attempt.response, "UnprocessedItems": rest}
                attempt = Attempt(call, attempt.response_time_ms, response=response)
            attempts.append(attempt)
        return attempts

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_driver_retries_batch_leftover_until_acked(dynamodb_endpoint: Endpoint, table: str, strategy: str) -> None:
    records = BookRecords(seed=18).take(50)
    calls = DynamoDBWorkload(WorkloadOptions(table, batch=25)).write_calls(records)
    partial = PartialBatchStrategy(make_strategy(strategy, dynamodb_endpoint), unprocessed=7)

    totals, attempts = drive(partial, calls)

    assert totals == Totals(calls=4, acked=50, retried_items=14, given_up_items=0, failures=0)
    first = [a for a in attempts if a.call.attempt == 1]
    second = [a for a in attempts if a.call.attempt == 2]
    assert [(a.call.items, a.acked, a.retried_items) for a in first] == [(25, 18, 7)] * 2
    assert [(a.call.items, a.acked, a.retried_items) for a in second] == [(7, 7, 0)] * 2
    assert stored_keys(dynamodb_endpoint, table) == {r["isbn"] for r in records}


def test_driver_gives_up_batch_leftover_after_max_attempts(dynamodb_endpoint: Endpoint, table: str) -> None:
    records = BookRecords(seed=19).take(25)
    calls = DynamoDBWorkload(WorkloadOptions(table, batch=25)).write_calls(records)
    partial = PartialBatchStrategy(make_strategy("sequential", dynamodb_endpoint), unprocessed=5)

    totals, attempts = drive(partial, calls, policy=RetryPolicy(max_attempts=1))

    assert totals == Totals(calls=1, acked=20, retried_items=0, given_up_items=5, failures=0)
    assert len(attempts) == 1 and attempts[0].given_up_items == 5
    assert stored_keys(dynamodb_endpoint, table) == {r["isbn"] for r in records[:20]}


# --------------------------------------------------------------------------- retry and give-up logic


class FlakyStrategy(Strategy):
    """In-test fake: each call fails with `error` on its first `failures` attempts, then
    succeeds. No local emulator throttles (the fault-injecting proxy comes later), so
    the Driver's retry and give-up logic is driven by this fake; no traffic is sent."""

    name = "flaky"

    def __init__(self, error: AwsCallError, failures: int, concurrency: int = 1) -> None:
        super().__init__(Endpoint(SERVICE, "us-east-1", "http://127.0.0.1:9"), StrategyOptions(concurrency))
        self.error = error
        self.failures = failures
        self.started: list[Call] = []
        self._pending: list[Call] = []

    def start(self, call: Call) -> None:
        self.started.append(call)
        self._pending.append(call)

    def collect(self, timeout: float | None) -> list[Attempt]:
        done, self._pending = self._pending, []
        return [
            Attempt(call, 10.0 * call.attempt, error=self.error)
            if call.attempt <= self.failures
            else Attempt(call, 10.0 * call.attempt, response={})
            for call in done
        ]


THROTTLED = AwsCallError.from_response(400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException")


def test_throttled_call_is_retried_until_success() -> None:
    assert THROTTLED.kind is FailureKind.THROTTLED
    call = put_item("books", BookRecords(seed=20).next())
    strategy = FlakyStrategy(THROTTLED, failures=3)

    totals, attempts = drive(strategy, [call])

    assert totals == Totals(calls=4, acked=1, retried_items=3, given_up_items=0, failures=3)
    # Every attempt is reported on its own, with its own latency; none is merged.
    assert [a.call.attempt for a in attempts] == [1, 2, 3, 4]
    assert [a.response_time_ms for a in attempts] == [10.0, 20.0, 30.0, 40.0]
    assert [a.error is not None for a in attempts] == [True, True, True, False]
    assert [a.retried_items for a in attempts] == [1, 1, 1, 0]
    assert [a.acked for a in attempts] == [0, 0, 0, 1]
    assert all(a.call.params is call.params for a in attempts)  # the same request, sent again


def test_throttled_batch_counts_every_item_retried() -> None:
    call = batch_write("books", BookRecords(seed=21).take(25))
    totals, attempts = drive(FlakyStrategy(THROTTLED, failures=2), [call])
    assert totals == Totals(calls=3, acked=25, retried_items=50, given_up_items=0, failures=2)
    assert [a.retried_items for a in attempts] == [25, 25, 0]


def test_items_given_up_after_max_attempts() -> None:
    calls: list[Call] = [put_item("books", r) for r in BookRecords(seed=22).take(3)]
    strategy = FlakyStrategy(THROTTLED, failures=100, concurrency=2)

    totals, attempts = drive(strategy, calls, policy=RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002))

    assert totals == Totals(calls=12, acked=0, retried_items=9, given_up_items=3, failures=12)
    assert len(strategy.started) == 12
    for call in calls:
        mine = [a for a in attempts if a.call.params is call.params]
        assert [a.call.attempt for a in mine] == [1, 2, 3, 4]
        assert [a.retried_items for a in mine] == [1, 1, 1, 0]
        assert [a.given_up_items for a in mine] == [0, 0, 0, 1]


@pytest.mark.parametrize(
    "error",
    [
        AwsCallError.from_response(500, "InternalServerError"),
        AwsCallError.from_response(503, "ServiceUnavailable"),
        AwsCallError.network(ConnectionResetError("reset by peer")),
        AwsCallError.from_response(429, "SomethingNew"),
    ],
    ids=["500", "503", "network", "429"],
)
def test_server_network_and_429_errors_are_retried(error: AwsCallError) -> None:
    assert error.kind.retryable
    totals, attempts = drive(FlakyStrategy(error, failures=1), [put_item("books", BookRecords(seed=23).next())])
    assert totals == Totals(calls=2, acked=1, retried_items=1, given_up_items=0, failures=1)
    assert attempts[0].error is error


@pytest.mark.parametrize(
    "error",
    [
        AwsCallError.from_response(400, "com.amazonaws.dynamodb.v20120810#ValidationException"),
        AwsCallError.from_response(400, "ResourceNotFoundException"),
        AwsCallError.from_response(403, "AccessDeniedException"),
    ],
    ids=["validation", "not-found", "access-denied"],
)
def test_client_error_is_not_retried(error: AwsCallError) -> None:
    assert error.kind is FailureKind.CLIENT
    strategy = FlakyStrategy(error, failures=100)
    totals, attempts = drive(strategy, [batch_write("books", BookRecords(seed=24).take(5))])
    assert totals == Totals(calls=1, acked=0, retried_items=0, given_up_items=5, failures=1)
    assert len(strategy.started) == 1
    assert attempts[0].given_up_items == 5 and attempts[0].retried_items == 0


def test_driver_totals_reset_between_runs() -> None:
    driver = Driver(FlakyStrategy(THROTTLED, failures=0), lambda attempt: None, FAST_RETRIES)
    driver.run([put_item("books", r) for r in BookRecords(seed=25).take(3)])
    assert driver.run([put_item("books", BookRecords(seed=26).next())]) == Totals(calls=1, acked=1)


# --------------------------------------------------------------------------- error classification, real servers


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_put_to_missing_table_is_a_client_error(dynamodb_endpoint: Endpoint, table_name: str, strategy: str) -> None:
    call = put_item(table_name, BookRecords(seed=27).next())  # never created
    totals, attempts = drive(strategy, [call], dynamodb_endpoint)

    assert totals == Totals(calls=1, acked=0, retried_items=0, given_up_items=1, failures=1)
    error = attempts[0].error
    assert error is not None
    assert error.kind is FailureKind.CLIENT
    assert error.code == "ResourceNotFoundException"
    assert error.status == 400
    assert str(error) == "client: ResourceNotFoundException (HTTP 400)"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_closed_port_is_a_network_error(strategy: str) -> None:
    (port,) = free_ports(1)  # free a moment ago, and nobody listens there
    endpoint = Endpoint(SERVICE, "us-east-1", f"http://127.0.0.1:{port}", LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
    call = put_item("books", BookRecords(seed=28).next())
    policy = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002)

    totals, attempts = drive(make_strategy(strategy, endpoint, timeout=0.5), [call], policy=policy)

    assert totals == Totals(calls=2, acked=0, retried_items=1, given_up_items=1, failures=2)
    assert len(attempts) == 2  # the call and its retry, both checked below
    for attempt in attempts:
        assert attempt.error is not None
        assert attempt.error.kind is FailureKind.NETWORK
        assert attempt.error.status is None
        assert attempt.response_time_ms < 5_000
