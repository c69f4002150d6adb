"""SQS operations and every writer strategy through the Driver, against real local
servers (fauxqs and moto, shared by the session): what is acknowledged is exactly what the
queue holds, batch entries refused by the server are given up and counted, entries the
server failed on its side are sent again, FIFO keeps order per message group, and the
consumer path (ReceiveMessage, then DeleteMessageBatch) drains what was produced.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from types import SimpleNamespace
from typing import Any

import botocore.session
import orjson
import pytest
from botocore.serialize import create_serializer
from helpers import SharedEmulators, drive

from writers.calls import Attempt, Call
from writers.driver import Totals
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.errors import ConfigError, FailureKind
from writers.services import emulator_names, workload_class
from writers.services.sqs import (
    MAX_MESSAGE_BYTES,
    SERVICE,
    DeleteMessageBatch,
    MessageRecords,
    ReceiveMessage,
    SendMessage,
    SendMessageBatch,
    SQSOptions,
    SQSWorkload,
    delete_message_batch,
    message_body,
    receive_message,
    send_message,
    send_message_batch,
)
from writers.strategies import STRATEGIES, Strategy, StrategyOptions, strategy_class
from writers.target import Endpoint

pytestmark = pytest.mark.timeout(60)

ALL = list(STRATEGIES)
REGION = "us-east-1"
EMULATORS = emulator_names("sqs")
_names = Counter[str]()


# --------------------------------------------------------------------------- servers and helpers


@pytest.fixture(scope="module", params=EMULATORS)
def sqs_emulator(request: pytest.FixtureRequest, local: SharedEmulators) -> RunningEmulator:
    """fauxqs, then moto."""
    return local.get("sqs", request.param)


@pytest.fixture(scope="module")
def endpoint(sqs_emulator: RunningEmulator) -> Endpoint:
    return Endpoint(SERVICE, REGION, sqs_emulator.endpoint, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)


def queue_name(hint: str, fifo: bool = False) -> str:
    _names[hint] += 1
    name = f"{hint}-{_names[hint]}-{time.monotonic_ns() % 10**9}"[:70]
    return name + ".fifo" if fifo else name


def ready(endpoint: Endpoint, name: str, **options: Any) -> SQSWorkload:
    """A workload on a freshly created queue, prepared (queue URL looked up)."""
    workload = SQSWorkload(SQSOptions(name, **options))
    assert workload.provision(endpoint, timeout=20) is True
    workload.prepare(endpoint)
    return workload


def queue_counts(endpoint: Endpoint, workload: SQSWorkload) -> tuple[int, int]:
    """(visible, in flight) messages."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = endpoint.admin_client().get_queue_attributes(QueueUrl=workload.queue_url, AttributeNames=names)
    return int(attributes["Attributes"][names[0]]), int(attributes["Attributes"][names[1]])


@functools.cache
def _sqs_model() -> Any:
    return botocore.session.get_session().get_service_model("sqs")


def assert_wire_matches_boto3(call: Call) -> None:
    """The raw request says exactly what botocore would put on the wire for these params."""
    model = _sqs_model()
    expected = create_serializer(model.metadata["protocol"]).serialize_to_request(
        call.params, model.operation_model(call.operation)
    )
    wire = call.wire()
    assert (wire.method, wire.path, wire.query) == ("POST", "/", "")
    assert wire.headers == expected["headers"]  # X-Amz-Target, x-amz-json-1.0, x-amzn-query-mode
    assert orjson.loads(wire.body) == orjson.loads(expected["body"]) == call.params
    assert call.request_bytes == len(wire.body)


# --------------------------------------------------------------------------- protocol


def test_boto3_speaks_the_json_protocol_to_sqs() -> None:
    metadata = _sqs_model().metadata
    assert (metadata["protocol"], metadata["jsonVersion"], metadata["targetPrefix"]) == ("json", "1.0", "AmazonSQS")


def test_wire_requests_match_botocore() -> None:
    records = MessageRecords(seed=1).take(3)
    url = "http://sqs.us-east-1.localhost:4566/000000000000/q.fifo"
    for call in (
        send_message(url, records[0]),
        send_message(url, records[0], group="group-0"),
        send_message_batch(url, records),
        send_message_batch(url, records, ["g-0", "g-1", "g-2"]),
        receive_message(url, 7, 10, 5),
        delete_message_batch(url, [{"ReceiptHandle": "r1"}, {"ReceiptHandle": "r2"}]),
    ):
        assert_wire_matches_boto3(call)
        assert call.wire().headers["X-Amz-Target"] == "AmazonSQS." + call.operation


def test_registered_as_a_service() -> None:
    assert workload_class("sqs") is SQSWorkload


# --------------------------------------------------------------------------- sends x strategies x servers


@pytest.mark.parametrize("strategy", ALL)
def test_queue_holds_exactly_what_was_acknowledged(endpoint: Endpoint, strategy: str) -> None:
    """SendMessage and SendMessageBatch (10, and a short last batch) in one run."""
    workload = ready(endpoint, queue_name(f"send-{strategy}"), batch=10)
    records = MessageRecords(seed=3, stream=ALL.index(strategy)).take(37)
    calls = workload.write_calls(records[:25]) + [send_message(workload._url(), r) for r in records[25:]]
    assert [c.items for c in calls] == [10, 10, 5] + [1] * 12
    assert [c.operation for c in calls] == ["SendMessageBatch"] * 3 + ["SendMessage"] * 12
    assert all(isinstance(c, SendMessageBatch) for c in calls[:3]) and all(
        isinstance(c, SendMessage) for c in calls[3:]
    )

    totals, attempts = drive(strategy, calls, endpoint)

    assert totals == Totals(calls=15, acked=37, retried_items=0, given_up_items=0, failures=0)
    assert all(a.error is None and a.acked == a.call.items and a.call.attempt == 1 for a in attempts)
    assert all(a.response_length == a.call.request_bytes > 0 for a in attempts)
    received = workload.drain(endpoint, wait_seconds=0)
    assert len(received) == len(set(received)) == 37  # no duplicates
    assert set(received) == {r["message_id"] for r in records}
    for call in calls:
        assert_wire_matches_boto3(call)


@pytest.mark.parametrize("strategy", ["sequential", "gevent"])
def test_largest_messages_and_fullest_batch_are_accepted(endpoint: Endpoint, strategy: str) -> None:
    """256 KiB in one message, and 10 messages that add up to just under 256 KiB."""
    workload = ready(endpoint, queue_name(f"size-{strategy}"))
    big = MessageRecords(seed=4, payload_bytes=MAX_MESSAGE_BYTES).take(1)
    tenth = MessageRecords(seed=5, payload_bytes=MAX_MESSAGE_BYTES // 10).take(10)
    assert len(message_body(big[0]).encode()) == MAX_MESSAGE_BYTES
    calls: list[Call] = [send_message(workload._url(), big[0]), send_message_batch(workload._url(), tenth)]
    assert sum(len(e["MessageBody"].encode()) for e in calls[1].params["Entries"]) <= MAX_MESSAGE_BYTES

    totals, _ = drive(strategy, calls, endpoint)

    assert (totals.acked, totals.failures) == (11, 0)
    assert sorted(workload.drain(endpoint, wait_seconds=0)) == sorted(r["message_id"] for r in big + tenth)


# --------------------------------------------------------------------------- partial batch failures


def bad_entry_batch(workload: SQSWorkload, records: list[dict[str, Any]], bad: int) -> SendMessageBatch:
    """A batch whose entry `bad` each server really refuses on its own, the rest going in.

    fauxqs checks message characters (as SQS does) and refuses a body with U+0000 per
    entry (InvalidMessageContents); moto does not check characters, but refuses a
    DelaySeconds above 900 per entry (InvalidParameterValue). The entry carries both.
    """
    call = send_message_batch(workload._url(), records)
    entry = call.params["Entries"][bad]
    entry["MessageBody"] = "\u0000" + entry["MessageBody"]  # a real NUL character (JSON-escaped on the wire)
    entry["DelaySeconds"] = 901
    return call


@pytest.mark.parametrize("strategy", ALL)
def test_client_errors_are_given_up_and_counted_not_retried(
    endpoint: Endpoint, sqs_emulator: RunningEmulator, strategy: str
) -> None:
    """A batch entry the server refuses (partial success), and a send to a missing queue."""
    workload = ready(endpoint, queue_name(f"refused-{strategy}"), batch=10)
    records = MessageRecords(seed=6, stream=ALL.index(strategy)).take(11)
    gone = workload._url().rsplit("/", 1)[0] + "/no-such-queue"
    calls: list[Call] = [bad_entry_batch(workload, records[:10], bad=3), send_message(gone, records[10])]

    totals, attempts = drive(strategy, calls, endpoint)

    assert totals == Totals(calls=2, acked=9, retried_items=0, given_up_items=2, failures=2)
    assert [a.call for a in attempts] == calls or [a.call for a in attempts] == calls[::-1]  # each tried once
    batch, missing = sorted(attempts, key=lambda a: a.call.operation, reverse=True)
    assert batch.response is not None and len(batch.response["Failed"]) == 1
    assert batch.error is not None and batch.error.kind is FailureKind.CLIENT
    expected = {"fauxqs": "InvalidMessageContents", "moto": "InvalidParameterValue"}[sqs_emulator.name]
    assert batch.error.code == expected
    assert (batch.acked, batch.given_up_items, batch.retried_items) == (9, 1, 0)
    assert missing.error is not None and missing.error.kind is FailureKind.CLIENT
    assert missing.error.code == "AWS.SimpleQueueService.NonExistentQueue"  # boto3's code; raw strategies too
    assert (missing.acked, missing.given_up_items) == (0, 1)
    received = workload.drain(endpoint, wait_seconds=0)
    assert sorted(received) == sorted(r["message_id"] for i, r in enumerate(records[:10]) if i != 3)


def test_send_batch_settle_returns_leftover_with_exactly_the_server_side_failures() -> None:
    # Synthetic answer: no emulator fails entries on its own side (SenderFault=false),
    # as SQS does under internal errors, so the answer is made up here.
    call = send_message_batch("http://q/1/q", MessageRecords(seed=7).take(10))
    entries = call.params["Entries"]
    response = {
        "Successful": [{"Id": e["Id"], "MessageId": f"m{e['Id']}"} for e in entries[:6]],
        "Failed": [
            {"Id": "6", "SenderFault": False, "Code": "InternalError", "Message": "try again"},
            {"Id": "9", "SenderFault": False, "Code": "ServiceUnavailable"},
            {"Id": "8", "SenderFault": True, "Code": "InvalidMessageContents", "Message": "bad characters"},
            {"Id": "7", "SenderFault": False, "Code": "InternalError"},
        ],
    }

    settlement = call.settle(response)

    assert (settlement.acked, settlement.given_up) == (6, 1)
    assert settlement.error is not None and settlement.error.kind is FailureKind.CLIENT
    assert settlement.error.code == "InvalidMessageContents"
    leftover = settlement.leftover
    assert isinstance(leftover, SendMessageBatch)
    assert (leftover.items, leftover.attempt) == (3, 2)
    assert leftover.params == {"QueueUrl": "http://q/1/q", "Entries": [entries[6], entries[9], entries[7]]}
    assert_wire_matches_boto3(leftover)

    # Only server-side failures: retried, nothing given up, no error; all in: nothing left.
    again = leftover.settle({"Successful": [], "Failed": [{"Id": "9", "SenderFault": False, "Code": "X"}]})
    assert (again.acked, again.given_up, again.error) == (2, 0, None)
    assert again.leftover is not None and again.leftover.params["Entries"] == [entries[9]]
    assert again.leftover.attempt == 3
    done = call.settle({"Successful": [{"Id": e["Id"]} for e in entries]})
    assert (done.acked, done.leftover, done.given_up, done.error) == (10, None, 0, None)


class ServerSideEntryFailures(Strategy):
    """A real strategy whose first attempt of each SendMessageBatch sends only the first
    `keep` entries and reports the others Failed with SenderFault=false (synthetic, as
    above: no emulator does this), so the driver must send those again."""

    name = "server-side-failures"

    def __init__(self, inner: Strategy, keep: int) -> None:
        super().__init__(inner.endpoint, inner.options)
        self.inner, self.keep = inner, keep
        self._held: dict[int, tuple[Call, list[dict[str, Any]]]] = {}

    @property
    def concurrency(self) -> int:
        return self.inner.concurrency

    def start(self, call: Call) -> None:
        if isinstance(call, SendMessageBatch) and call.attempt == 1:
            entries = call.params["Entries"]
            sent = SendMessageBatch({**call.params, "Entries": entries[: self.keep]}, self.keep)
            self._held[id(sent)] = (call, entries[self.keep :])
            call = sent
        self.inner.start(call)

    def collect(self, timeout: float | None) -> list[Attempt]:
        attempts = self.inner.collect(timeout)
        for attempt in attempts:
            held = self._held.pop(id(attempt.call), None)
            if held is not None and attempt.response is not None:
                attempt.call = held[0]
                failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in held[1]]
                attempt.response["Failed"] = (attempt.response.get("Failed") or []) + failed
        return attempts

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("strategy", ["sequential", "aiohttp"])
def test_server_side_entry_failures_are_sent_again_never_dropped(endpoint: Endpoint, strategy: str) -> None:
    workload = ready(endpoint, queue_name(f"leftover-{strategy}"), batch=10)
    records = MessageRecords(seed=8).take(20)
    inner = strategy_class(strategy)(endpoint, StrategyOptions(4))

    totals, attempts = drive(ServerSideEntryFailures(inner, keep=7), workload.write_calls(records))

    assert totals == Totals(calls=4, acked=20, retried_items=6, given_up_items=0, failures=0)
    assert sorted((a.call.attempt, a.call.items, a.acked) for a in attempts) == [(1, 10, 7)] * 2 + [(2, 3, 3)] * 2
    received = workload.drain(endpoint, wait_seconds=0)
    assert len(received) == len(set(received)) == 20


# --------------------------------------------------------------------------- FIFO


def test_fifo_keeps_the_order_within_a_message_group(endpoint: Endpoint) -> None:
    workload = ready(endpoint, queue_name("fifo-order", fifo=True))
    attributes = endpoint.admin_client().get_queue_attributes(QueueUrl=workload.queue_url, AttributeNames=["All"])
    assert attributes["Attributes"]["FifoQueue"] == "true"
    records = MessageRecords(seed=9).take(20)
    calls = workload.write_calls(records)
    assert {c.params["MessageGroupId"] for c in calls} == {"group-0"}
    assert [c.params["MessageDeduplicationId"] for c in calls] == [r["message_id"] for r in records]

    totals, _ = drive("sequential", calls, endpoint)

    assert (totals.acked, totals.failures) == (20, 0)
    assert workload.drain(endpoint, wait_seconds=0) == [r["message_id"] for r in records]


def test_fifo_batches_spread_over_groups_keep_each_groups_order(endpoint: Endpoint) -> None:
    workload = ready(endpoint, queue_name("fifo-groups", fifo=True), batch=10, message_groups=3)
    records = MessageRecords(seed=10).take(30)
    calls = workload.write_calls(records)
    groups = [e["MessageGroupId"] for c in calls for e in c.params["Entries"]]
    assert groups == [f"group-{i % 3}" for i in range(30)]  # round robin, continued across calls

    totals, _ = drive("sequential", calls, endpoint)

    assert (totals.acked, totals.failures) == (30, 0)
    received = workload.drain(endpoint, wait_seconds=0)
    assert sorted(received) == sorted(r["message_id"] for r in records)
    group_of = {r["message_id"]: groups[i] for i, r in enumerate(records)}
    for group in ("group-0", "group-1", "group-2"):
        sent = [r["message_id"] for r in records if group_of[r["message_id"]] == group]
        assert [m for m in received if group_of[m] == group] == sent


def test_fifo_resend_of_an_acknowledged_message_is_deduplicated(endpoint: Endpoint) -> None:
    """A send retried after a lost answer cannot double a FIFO message: the id deduplicates."""
    workload = ready(endpoint, queue_name("fifo-dedup", fifo=True))
    record = MessageRecords(seed=11).take(1)
    totals, _ = drive("gevent", workload.write_calls(record) + workload.write_calls(record), endpoint)
    assert totals.acked == 2
    assert workload.drain(endpoint, wait_seconds=0) == [record[0]["message_id"]]


# --------------------------------------------------------------------------- consumer path


@pytest.mark.parametrize("strategy", ALL)
def test_consume_mode_drains_what_was_produced(
    endpoint: Endpoint, sqs_emulator: RunningEmulator, strategy: str
) -> None:
    if sqs_emulator.name == "moto" and strategy not in ("sequential", "gevent"):
        pytest.skip("moto is slow: two strategies are enough there")
    name = queue_name(f"consume-{strategy}")
    producer = ready(endpoint, name, batch=10)
    records = MessageRecords(seed=12).take(35)
    assert drive(strategy, producer.write_calls(records), endpoint)[0].acked == 35

    consumer = SQSWorkload(SQSOptions(name, mode="consume", wait_seconds=0, max_messages=10))
    consumer.prepare(endpoint)
    wanted = consumer.records(seed=None, stream=0).take(50)  # more than there are: chains end when empty
    calls = consumer.write_calls(wanted)
    assert [c.params["MaxNumberOfMessages"] for c in calls] == [10] * 5
    assert all(isinstance(c, ReceiveMessage) and c.items == 0 for c in calls)

    totals, attempts = drive(strategy, calls, endpoint)

    assert totals.failures == 0 and totals.acked == 0  # receives and deletes write no records
    deletes = [a for a in attempts if isinstance(a.call, DeleteMessageBatch)]
    # A standard queue delivers at least once: two receives in flight together may both get a
    # message (moto, not safe for concurrent receives, does it more often than SQS): every
    # message received, each delivery deleted.
    received = [
        message["MessageId"]
        for a in attempts
        if isinstance(a.call, ReceiveMessage)
        for message in (a.response or {}).get("Messages", [])
    ]
    assert len(set(received)) == 35
    assert sum(a.call.items for a in deletes) == len(received)
    assert all(a.given_up_items == 0 and not (a.response or {}).get("Failed") for a in deletes)
    assert queue_counts(endpoint, consumer) == (0, 0)  # received and deleted: nothing visible or in flight


@pytest.mark.parametrize("strategy", ["sequential", "gevent"])
def test_both_mode_sends_then_receives_as_many(endpoint: Endpoint, strategy: str) -> None:
    workload = ready(endpoint, queue_name(f"both-{strategy}"), batch=10, mode="both", wait_seconds=1)
    records = workload.records(seed=13, stream=0).take(25)
    calls = workload.write_calls(records)
    assert [c.operation for c in calls] == ["SendMessageBatch"] * 3 + ["ReceiveMessage"] * 3

    totals, attempts = drive(strategy, calls, endpoint)

    assert (totals.acked, totals.failures) == (25, 0)  # only sends are acknowledged records
    deleted = sum(a.call.items for a in attempts if isinstance(a.call, DeleteMessageBatch))
    # At least once: two receives in flight together may both get a message (moto does so more
    # often than SQS), so count messages, not deliveries; every delivery is deleted.
    deliveries = [
        message["MessageId"]
        for a in attempts
        if isinstance(a.call, ReceiveMessage)
        for message in (a.response or {}).get("Messages", [])
    ]
    visible, in_flight = queue_counts(endpoint, workload)
    assert in_flight == 0 and len(set(deliveries)) + visible == 25
    assert deleted == len(deliveries)
    if strategy == "sequential":
        assert deleted == len(set(deliveries)) == 25  # one call at a time: every send is in before the first receive
    # With calls in flight, receives start while sends are still on their way: "up to as
    # many". (fauxqs ends a long poll early, empty, when another poller took the messages.)
    assert deleted > 0


def test_receive_chain_asks_for_the_rest_after_a_short_answer() -> None:
    call = receive_message("http://q/1/q", want=10, max_messages=10, wait_seconds=3)
    messages = [{"ReceiptHandle": f"r{i}", "Body": "{}"} for i in range(4)]

    settlement = call.settle({"Messages": messages})

    assert settlement.acked == 0 and settlement.leftover is None
    (delete,) = settlement.next_calls
    assert isinstance(delete, DeleteMessageBatch) and delete.items == 4
    assert [e["ReceiptHandle"] for e in delete.params["Entries"]] == ["r0", "r1", "r2", "r3"]
    # Once deleted, the consumer receives the other 6 (and keeps the long poll).
    follow = delete.settle({"Successful": [{"Id": str(i)} for i in range(4)]})
    (receive,) = follow.next_calls
    assert isinstance(receive, ReceiveMessage) and receive.want == 6
    assert receive.params == {"QueueUrl": "http://q/1/q", "MaxNumberOfMessages": 6, "WaitTimeSeconds": 3}
    # A retried delete still leads on to the next receive; an empty answer ends the chain.
    assert delete.again().settle({"Successful": []}).next_calls == [receive]
    assert call.settle({}).next_calls == [] and call.settle({"Messages": []}).next_calls == []
    assert call.again().want == 10 and call.again().attempt == 2


def test_delete_batch_settle_retries_server_side_failures_and_gives_up_refused() -> None:
    # Synthetic, as for sends: the emulators never fail a delete entry on their side.
    delete = delete_message_batch("http://q/1/q", [{"ReceiptHandle": f"r{i}"} for i in range(5)])
    settlement = delete.settle(
        {
            "Successful": [{"Id": "0"}, {"Id": "1"}, {"Id": "3"}],
            "Failed": [
                {"Id": "2", "SenderFault": False, "Code": "InternalError"},
                {"Id": "4", "SenderFault": True, "Code": "ReceiptHandleIsInvalid"},
            ],
        }
    )
    assert (settlement.acked, settlement.given_up) == (0, 1)
    assert settlement.error is not None and settlement.error.code == "ReceiptHandleIsInvalid"
    assert settlement.leftover is not None and settlement.leftover.params["Entries"] == [
        {"Id": "2", "ReceiptHandle": "r2"}
    ]


def test_long_poll_waits_on_an_empty_queue(endpoint: Endpoint) -> None:
    workload = ready(endpoint, queue_name("long-poll"), mode="consume", wait_seconds=1)
    (call,) = workload.write_calls(workload.records(None, 0).take(3))
    totals, (attempt,) = drive("aiohttp", [call], endpoint)
    assert totals.failures == 0 and not (attempt.response or {}).get("Messages")
    assert attempt.response_time_ms >= 900


# --------------------------------------------------------------------------- provisioning and errors


def test_provision_prepare_teardown(endpoint: Endpoint) -> None:
    name = queue_name("lifecycle", fifo=True)
    workload = SQSWorkload(SQSOptions(name))
    with pytest.raises(ConfigError, match=r"does not exist"):
        workload.prepare(endpoint)
    assert workload.provision(endpoint) is True
    assert workload.provision(endpoint) is False  # already there
    workload.prepare(endpoint)
    assert workload.queue_url is not None and workload.queue_url.endswith("/" + name)
    workload.teardown(endpoint)
    workload.teardown(endpoint)  # already gone: fine
    with pytest.raises(ConfigError, match=r"does not exist"):
        SQSWorkload(SQSOptions(name)).prepare(endpoint)


# --------------------------------------------------------------------------- messages and options


def test_messages_are_faker_json_unique_reproducible_and_sized() -> None:
    records = MessageRecords(seed=21, stream=2).take(2000)
    assert len({r["message_id"] for r in records}) == 2000
    assert all(set(r) == {"message_id", "message_content"} and r["message_content"] for r in records)
    assert MessageRecords(seed=21, stream=2).take(5) == records[:5]
    assert MessageRecords(seed=21, stream=3).take(5) != records[:5]
    for size in (200, 1000, 4096, MAX_MESSAGE_BYTES):
        for record in MessageRecords(seed=22, payload_bytes=size).take(3):
            body = message_body(record)
            assert len(body.encode()) == size
            assert orjson.loads(body) == record
    assert len(message_body(MessageRecords(payload_bytes=10).next()).encode()) < 100  # the smallest message


def options(**values: Any) -> SimpleNamespace:
    defaults = {
        "queue": "messages",
        "sqs_mode": "produce",
        "wait_seconds": 5,
        "max_messages": 10,
        "message_groups": 1,
        "max_records": 0,
        "timeout": 10.0,
    }
    return SimpleNamespace(**{**defaults, **values})


@pytest.mark.parametrize(
    ("values", "batch", "payload", "message"),
    [
        ({"queue": "bad name"}, 1, 0, "--queue 'bad name' is not a valid SQS queue name"),
        ({"queue": "x" * 81}, 1, 0, "is not a valid SQS queue name"),
        ({"queue": "q.fifo.fifo"}, 1, 0, "is not a valid SQS queue name"),
        ({"sqs_mode": "drain"}, 1, 0, "--sqs-mode must be one of produce, consume, both"),
        ({"wait_seconds": 21}, 1, 0, "--wait-seconds must be between 0 and 20"),
        ({"max_messages": 11}, 1, 0, "--max-messages must be between 1 and 10"),
        ({"message_groups": 0}, 1, 0, "--message-groups must be between 1"),
        ({"message_groups": 4}, 1, 0, "--message-groups applies to FIFO queues only"),
        ({"sqs_mode": "consume", "max_records": 5}, 1, 0, "must be 0 with --sqs-mode consume"),
        ({"sqs_mode": "both", "wait_seconds": 10}, 1, 0, "--wait-seconds 10 must be below --timeout (10 s)"),
        ({}, 10, 26215, "--batch 10 x --payload-bytes 26215 = 262150 bytes"),
        ({}, 2, MAX_MESSAGE_BYTES, "use --batch 1 or less"),
    ],
)
def test_bad_options_are_one_clear_line(values: dict[str, Any], batch: int, payload: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SQSWorkload.read_options(options(**values), batch, payload)
    text = str(caught.value)
    assert message in text and "\n" not in text and len(text) < 200


def test_good_options() -> None:
    read = SQSWorkload.read_options(
        options(queue="orders.fifo", sqs_mode="both", wait_seconds=9, message_groups=8), 10, 26214
    )
    assert read == SQSOptions("orders.fifo", 10, 26214, "both", 9, 10, 8)
    assert isinstance(read, SQSOptions) and read.fifo
    assert hash(read) == hash(SQSOptions("orders.fifo", 10, 26214, "both", 9, 10, 8))
    long_name = SQSWorkload.read_options(options(queue="a" * 75 + ".fifo"), 1, 0)
    assert isinstance(long_name, SQSOptions) and long_name.fifo
    produce = SQSWorkload.read_options(options(wait_seconds=20), 1, 0)
    assert isinstance(produce, SQSOptions) and produce.wait_seconds == 20  # produce: no long polls
    consume = SQSWorkload.read_options(options(sqs_mode="consume"), 1, 0)
    assert isinstance(SQSWorkload(consume).records(None, 0).take(2)[0], dict)


def test_a_read_back_asked_again_goes_on_from_where_it_stopped(endpoint: Endpoint) -> None:
    """--verify asks a read-back again when it failed half-way (throttled): SQS's drains the
    queue as it reads, so an attempt that started over would miss what the first one took
    and count it lost (seen: "3000 acknowledged, 860 lost" with nothing lost). Here the
    first attempt takes everything; the second must still count all of it."""
    name = queue_name("verify-again")
    producer = ready(endpoint, name, batch=10)
    records = MessageRecords(seed=21).take(30)
    totals, attempts = drive("gevent", producer.write_calls(records), endpoint)
    acked = [key for attempt in attempts for key in attempt.acked_keys]
    assert totals.acked == len(acked) == 30

    verifier = SQSWorkload(SQSOptions(name))
    first = verifier.verify(endpoint, acked)
    again = verifier.verify(endpoint, acked)  # the queue is empty now
    assert (first.lost, again.lost, again.duplicates) == (0, 0, 0)


def test_a_run_that_consumes_its_own_messages_is_not_verifiable() -> None:
    assert SQSWorkload(SQSOptions("q", mode="both")).unverifiable()
    assert not SQSWorkload(SQSOptions("q", mode="produce")).unverifiable()
