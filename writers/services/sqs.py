"""SQS: SendMessage, SendMessageBatch (10 entries), and a consumer path (ReceiveMessage
with long polling, then DeleteMessageBatch as follow-up calls); queue provisioning.

Standard and FIFO queues: a name ending in ``.fifo`` is a FIFO queue, its messages
spread over ``--message-groups`` MessageGroupIds and deduplicated by message id.

SQS speaks AWS's JSON protocol (boto3 >= 1.31 does too): every call is a POST to the
endpoint with the queue URL in the body. Calls never go to the host named in the queue
URL (local emulators name hosts that do not resolve), so the URL is looked up once per
process (`prepare`) and only carried along.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from faker import Faker

from writers.calls import Call, ServiceInfo, Settlement, WireRequest
from writers.emulators import MOTO, SCRIPTS_DIR, Emulator, Launch, node_launch, npm_unavailable
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.faults import Answer, ProxyRequest, ServiceFaults, json_body
from writers.pricing import NOTHING, Bill, Billing, Price, reached_service
from writers.protocols.json_protocol import JsonCall
from writers.services.base import RecordSource, VerifyResult, Workload, WorkloadOptions
from writers.target import Endpoint

SERVICE = ServiceInfo(name="SQS", boto3_name="sqs", signing_name="sqs", endpoint_env="SQS")
TARGET_PREFIX = "AmazonSQS."
MAX_BATCH = 10  # entries per SendMessageBatch / DeleteMessageBatch, messages per ReceiveMessage
MAX_MESSAGE_BYTES = 256 * 1024  # one message, and the sum of one batch's messages
MAX_WAIT_SECONDS = 20  # ReceiveMessage long polling
MODES = ("produce", "consume", "both")
FIFO_SUFFIX = ".fifo"
QUERY_ERROR_HEADER = "x-amzn-query-error"
# SQS's codes for "no such queue": query-compatible (boto3 reports this one) and JSON.
MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


# --------------------------------------------------------------------------- messages


POOL_SIZE = 1024  # Faker paragraphs made up front: a pick costs ~1 us, a Faker paragraph ~40 us
FILLER_BLOCK = 64 * 1024
_JSON_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')  # what orjson would escape: keeps sizes exact
# {"message_id":"<36>","message_content":""}: the bytes of a message around its content.
MESSAGE_OVERHEAD = len(orjson.dumps({"message_id": str(uuid.UUID(int=0)), "message_content": ""}))


class MessageRecords:
    """An endless, reproducible stream of Faker JSON messages, unique by message_id.

    With ``payload_bytes`` each message body is exactly that many bytes (or the smallest
    message, if fewer); without, the content is one Faker paragraph.
    """

    def __init__(self, seed: int | None = None, stream: int = 0, payload_bytes: int = 0) -> None:
        self.payload_bytes = payload_bytes
        self._rng = random.Random(None if seed is None else seed * 1000 + stream)
        fake = Faker()
        fake.seed_instance(self._rng.getrandbits(64))
        self._paragraphs = [_json_safe(fake.paragraph(nb_sentences=4)) for _ in range(POOL_SIZE)]
        self._content_bytes = max(0, payload_bytes - MESSAGE_OVERHEAD)
        if self._content_bytes:
            block = _json_safe(fake.text(max_nb_chars=FILLER_BLOCK))
            copies = -(-(self._content_bytes + FILLER_BLOCK // 2) // len(block))  # enough past any start
            self._filler = block * copies

    def next(self) -> dict[str, Any]:
        rng = self._rng
        message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if self._content_bytes:
            start = rng.randrange(FILLER_BLOCK // 2)
            content = self._filler[start : start + self._content_bytes]
        elif self.payload_bytes:
            content = ""  # asked for less than the smallest message
        else:
            content = self._paragraphs[rng.randrange(POOL_SIZE)]
        return {"message_id": message_id, "message_content": content}

    def take(self, n: int) -> list[dict[str, Any]]:
        return [self.next() for _ in range(n)]


class Placeholders:
    """Consume mode writes nothing: one empty record per message to receive."""

    def next(self) -> dict[str, Any]:
        return {}

    def take(self, n: int) -> list[dict[str, Any]]:
        return [{}] * n


def _json_safe(text: str) -> str:
    return _JSON_UNSAFE.sub(" ", text)


def message_body(record: Mapping[str, Any]) -> str:
    return orjson.dumps(record).decode()


def message_id_of(message: Mapping[str, Any]) -> str:
    """The record's message_id from a received message (SQS's MessageId if not ours)."""
    try:
        data = orjson.loads(message["Body"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("message_id"), str):
        return str(data["message_id"])
    return str(message.get("MessageId", ""))


# --------------------------------------------------------------------------- calls


class SQSCall(JsonCall):
    service = SERVICE
    target_prefix = TARGET_PREFIX

    def build_wire(self) -> WireRequest:
        wire = super().build_wire()
        wire.headers["x-amzn-query-mode"] = "true"  # as botocore sends it (SQS is awsQueryCompatible)
        return wire

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        try:
            return super().parse_wire(status, headers, body)
        except AwsCallError as error:
            raise query_compatible(error, headers) from None

    @property
    def queue_url(self) -> str:
        return str(self.params["QueueUrl"])


def query_compatible(error: AwsCallError, headers: Mapping[str, str]) -> AwsCallError:
    """The error code boto3 reports for SQS: the legacy query code from x-amzn-query-error."""
    value = headers.get(QUERY_ERROR_HEADER) or headers.get(QUERY_ERROR_HEADER.title()) or ""
    code, _, fault = str(value).partition(";")
    if not code or not fault or error.status is None:
        return error
    return AwsCallError.from_response(error.status, code, error.message)


class SendMessage(SQSCall):
    operation = "SendMessage"
    api_method = "send_message"


def _split_failures(call: SQSCall, response: dict[str, Any]) -> tuple[list[dict[str, Any]], int, AwsCallError | None]:
    """A batch answer's Failed list: (entries to send again, entries refused for good, why).

    SenderFault=true means the entry itself is wrong (a client error: retrying cannot
    help); SenderFault=false is the service's fault, so the entry is tried again.
    """
    failed: list[dict[str, Any]] = response.get("Failed") or []
    if not failed:
        return [], 0, None
    entries = {entry["Id"]: entry for entry in call.params["Entries"]}
    retry: list[dict[str, Any]] = []
    refused = 0
    error: AwsCallError | None = None
    for failure in failed:
        entry = entries.pop(str(failure.get("Id")), None)
        if entry is None:
            continue  # not one of ours, or named twice
        if failure.get("SenderFault"):
            refused += 1
            if error is None:
                code = str(failure.get("Code") or "BatchEntryFailed")
                error = AwsCallError(FailureKind.CLIENT, code, str(failure.get("Message") or ""))
        else:
            retry.append(entry)
    return retry, refused, error


class SendMessageBatch(SQSCall):
    operation = "SendMessageBatch"
    api_method = "send_message_batch"

    def settle(self, response: dict[str, Any]) -> Settlement:
        retry, refused, error = _split_failures(self, response)
        key_of = dict(zip((entry["Id"] for entry in self.params["Entries"]), self.keys, strict=False))
        acked_keys = tuple(key_of[str(s.get("Id"))] for s in response.get("Successful") or [] if s.get("Id") in key_of)
        leftover = None
        if retry:
            keys = tuple(key_of.get(entry["Id"], "") for entry in retry)
            params = {"QueueUrl": self.queue_url, "Entries": retry}
            leftover = SendMessageBatch(params, len(retry), keys=keys, attempt=self.attempt + 1)
        return Settlement(
            acked=self.items - len(retry) - refused,
            acked_keys=acked_keys,
            leftover=leftover,
            given_up=refused,
            error=error,
        )


class ReceiveMessage(SQSCall):
    """Receive up to `want` messages, in as many calls as it takes: each answer with
    messages is followed by a DeleteMessageBatch of them, and that by the next receive.
    An empty answer (nothing arrived within the long poll) ends the chain.

    Carries no items (nothing is written); deleted messages count as DeleteMessageBatch items.
    """

    operation = "ReceiveMessage"
    api_method = "receive_message"
    is_read = True

    def __init__(self, params: dict[str, Any], want: int = 1) -> None:
        super().__init__(params, items=0)
        self.want = want

    def settle(self, response: dict[str, Any]) -> Settlement:
        messages: list[dict[str, Any]] = response.get("Messages") or []
        if not messages:
            return Settlement(acked=0)
        left = self.want - len(messages)
        then = None
        if left > 0:
            then = receive_message(
                self.queue_url, left, int(self.params["MaxNumberOfMessages"]), int(self.params["WaitTimeSeconds"])
            )
        return Settlement(acked=0, next_calls=[delete_message_batch(self.queue_url, messages, then)])


class DeleteMessageBatch(SQSCall):
    operation = "DeleteMessageBatch"
    api_method = "delete_message_batch"

    def __init__(
        self, params: dict[str, Any], items: int = 1, *, attempt: int = 1, then: ReceiveMessage | None = None
    ) -> None:
        super().__init__(params, items, attempt=attempt)
        self.then = then  # the consumer's next receive, once these are deleted

    def settle(self, response: dict[str, Any]) -> Settlement:
        # Deletes are not records written: acked stays 0, so --max-records counts sends only.
        retry, refused, error = _split_failures(self, response)
        leftover = None
        if retry:
            params = {"QueueUrl": self.queue_url, "Entries": retry}
            leftover = DeleteMessageBatch(params, len(retry), attempt=self.attempt + 1)
        next_calls: list[Call] = [self.then] if self.then is not None else []
        return Settlement(acked=0, leftover=leftover, next_calls=next_calls, given_up=refused, error=error)


def send_message(queue_url: str, record: Mapping[str, Any], group: str | None = None) -> SendMessage:
    params: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message_body(record)}
    if group is not None:
        params["MessageGroupId"] = group
        params["MessageDeduplicationId"] = str(record["message_id"])
    return SendMessage(params, keys=(str(record["message_id"]),))


def send_message_batch(
    queue_url: str, records: Sequence[Mapping[str, Any]], groups: Sequence[str] | None = None
) -> SendMessageBatch:
    if not 1 <= len(records) <= MAX_BATCH:
        raise ConfigError(f"SendMessageBatch takes 1 to {MAX_BATCH} entries, not {len(records)}")
    entries: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        entry: dict[str, Any] = {"Id": str(i), "MessageBody": message_body(record)}
        if groups is not None:
            entry["MessageGroupId"] = groups[i]
            entry["MessageDeduplicationId"] = str(record["message_id"])
        entries.append(entry)
    keys = tuple(str(record["message_id"]) for record in records)
    return SendMessageBatch({"QueueUrl": queue_url, "Entries": entries}, len(entries), keys=keys)


def receive_message(queue_url: str, want: int, max_messages: int = MAX_BATCH, wait_seconds: int = 0) -> ReceiveMessage:
    params = {
        "QueueUrl": queue_url,
        "MaxNumberOfMessages": max(1, min(want, max_messages)),
        "WaitTimeSeconds": wait_seconds,
    }
    return ReceiveMessage(params, want=want)


def delete_message_batch(
    queue_url: str, messages: Sequence[Mapping[str, Any]], then: ReceiveMessage | None = None
) -> DeleteMessageBatch:
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    return DeleteMessageBatch({"QueueUrl": queue_url, "Entries": entries}, len(entries), then=then)


# --------------------------------------------------------------------------- billing


CHUNK_BYTES = 64 * 1024
_STANDARD = Price("request", 0.40, "SQS standard queue: $0.40 per million requests (per 64 KiB chunk)")
_FIFO = Price("request", 0.50, "SQS FIFO queue: $0.50 per million requests (per 64 KiB chunk)")


def billed_requests(payload_bytes: int) -> int:
    """SQS bills each started 64 KiB of a call's payload as one request (at least one)."""
    return max(1, -(-payload_bytes // CHUNK_BYTES))


def payload_bytes(call: Call, response: Mapping[str, Any] | None) -> int:
    params = call.params
    if call.operation == "SendMessage":
        return len(str(params.get("MessageBody", "")).encode())
    if call.operation == "SendMessageBatch":
        return sum(len(str(e.get("MessageBody", "")).encode()) for e in params.get("Entries", ()))
    if call.operation == "ReceiveMessage" and response:
        return sum(len(str(m.get("Body", "")).encode()) for m in response.get("Messages") or ())
    return 0


def is_fifo(call: Call) -> bool:
    return str(call.params.get("QueueUrl", "")).endswith(FIFO_SUFFIX)


@dataclass(frozen=True)
class SQSBilling(Billing):
    """One request per started 64 KiB of payload (a batch's payloads add up), at least one per
    call; FIFO queues cost more. Failed calls are billed as one request unless they never
    reached SQS."""

    fifo: Price = _FIFO

    def price_for(self, operation: str, fifo: bool = False) -> Price | None:
        price = self.prices.get(operation)
        return self.fifo if fifo and price is not None else price

    def bill(self, call: Call, response: Mapping[str, Any] | None, error: AwsCallError | None = None) -> Bill:
        price = self.price_for(call.operation, is_fifo(call))
        if price is None or not reached_service(response, error):
            return NOTHING
        units = float(billed_requests(payload_bytes(call, response)))
        return Bill(units, round(units * price.pico_usd_per_unit), False)

    def price_rows(self) -> list[dict[str, Any]]:
        fifo = {"operation": "(any, FIFO queue)", "unit": self.fifo.unit, "usd_per_million": self.fifo.usd_per_million}
        return [*super().price_rows(), {"service": self.service, **fifo, "note": self.fifo.note}]


BILLING = SQSBilling(
    service=SERVICE.name,
    source="https://aws.amazon.com/sqs/pricing/",
    as_of="2025-06-01",
    prices={
        "SendMessage": _STANDARD,
        "SendMessageBatch": _STANDARD,
        "ReceiveMessage": _STANDARD,
        "DeleteMessage": _STANDARD,
        "DeleteMessageBatch": _STANDARD,
    },
)


# --------------------------------------------------------------------------- local emulators


def _fauxqs_launch(workdir: Path, bind: str, port: int | None) -> Launch:
    """fauxqs 1.9.x (npm; 2.x needs Node 22), started through its programmatic entry.

    It always listens on 0.0.0.0: the bind preload rewrites that. Its queue URLs name
    sqs.<region>.localhost, which does not resolve; clients must send to the endpoint
    (boto3's JSON protocol does), never to the queue URL."""

    def args(package_dir: Path, port: int) -> list[str]:
        return [str(SCRIPTS_DIR / "fauxqs_server.mjs"), str(package_dir.parent), str(port)]

    return node_launch("fauxqs", bind, port, args, preload=True)


MOTO_WARNING = (
    "moto's SQS slows down as queues grow (about 35 sends/s at 1,000 messages); "
    "use it for correctness, not for throughput numbers"
)
EMULATORS = (
    Emulator("fauxqs", _fauxqs_launch, npm_unavailable("fauxqs")),
    replace(MOTO, warning=MOTO_WARNING),
)


# --------------------------------------------------------------------------- fault proxy answers


def error_answer(status: int, error_type: str, query_code: str, fault: str, message: str) -> Answer:
    # SQS speaks JSON but stays query-compatible: botocore takes the code from x-amzn-query-error.
    body = json_body({"__type": f"com.amazonaws.sqs#{error_type}", "message": message})
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "x-amzn-RequestId": str(uuid.uuid4()),
        QUERY_ERROR_HEADER: f"{query_code};{fault}",
    }
    return Answer(status, headers, body)


def queue_of(queue_url: str) -> str:
    """``account/queue`` from a queue URL: the host varies (emulators), the path does not."""
    path = urlsplit(queue_url).path.strip("/")
    return path or queue_url


class SQSFaults(ServiceFaults):
    """Queues are the resources; batches cost one unit per entry. Throttled as SQS does
    (RequestThrottled, 403, with x-amzn-query-error as in the SQS Smithy model)."""

    service = SERVICE.name
    target_prefix = TARGET_PREFIX

    def costs(self, request: ProxyRequest) -> dict[str, int]:
        document = request.document or {}
        queue_url = document.get("QueueUrl")
        if not isinstance(queue_url, str):
            return {}
        entries = document.get("Entries")
        return {queue_of(queue_url): max(1, len(entries)) if isinstance(entries, list) else 1}

    def throttle(self) -> Answer:
        return error_answer(403, "RequestThrottled", "RequestThrottled", "Sender", "Request is throttled.")

    def error(self, status: int) -> Answer:
        if status == 503:
            return error_answer(503, "ServiceUnavailable", "ServiceUnavailable", "Receiver", "Service unavailable.")
        return error_answer(500, "InternalFailure", "InternalFailure", "Receiver", "Internal failure.")

    def forgets(self, request: ProxyRequest) -> bool:
        return request.operation == "SendMessage" and request.document is not None

    def forgotten(self, request: ProxyRequest, body: bytes) -> Answer:
        message = str((request.document or {}).get("MessageBody", ""))
        digest = hashlib.md5(message.encode(), usedforsecurity=False).hexdigest()
        answer = json_body({"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": digest})
        return Answer(200, {"Content-Type": "application/x-amz-json-1.0"}, answer)


# --------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class SQSOptions(WorkloadOptions):
    mode: str = "produce"  # produce | consume | both
    wait_seconds: int = 5  # ReceiveMessage long polling
    max_messages: int = MAX_BATCH  # MaxNumberOfMessages per ReceiveMessage
    message_groups: int = 1  # FIFO: MessageGroupIds the messages are spread over

    @property
    def fifo(self) -> bool:
        return self.resource.endswith(FIFO_SUFFIX)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class SQSWorkload(Workload):
    service = SERVICE
    resource_kind = "queue"
    default_resource = "messages"
    max_batch = MAX_BATCH
    max_payload_bytes = MAX_MESSAGE_BYTES
    # 1-80 characters, letters, digits, '-' and '_'; a FIFO queue's name ends in ".fifo".
    resource_pattern = r"(?=[A-Za-z0-9_.-]{1,80}\Z)[A-Za-z0-9_-]+(?:\.fifo)?"
    billing = BILLING
    emulators = EMULATORS
    local_port_offset = 2
    faults = SQSFaults()

    options_class = SQSOptions
    options: SQSOptions

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--sqs-mode",
            default="produce",
            help="produce: send; consume: receive and delete; both: each task sends, then receives as many",
        )
        parser.add_argument(
            "--wait-seconds", type=int, default=5, help="ReceiveMessage long polling, 0-20 s (below --timeout)"
        )
        parser.add_argument("--max-messages", type=int, default=MAX_BATCH, help="MaxNumberOfMessages per receive, 1-10")
        parser.add_argument(
            "--message-groups", type=int, default=1, help="FIFO queues: MessageGroupIds the messages are spread over"
        )

    @classmethod
    def read_options(cls, options: Any, batch: int, payload_bytes: int) -> SQSOptions:
        name = str(getattr(options, cls.resource_kind))
        cls.check_resource_name(name)
        mode = str(getattr(options, "sqs_mode", "produce")).strip().lower()
        wait = getattr(options, "wait_seconds", 5)
        max_messages = getattr(options, "max_messages", MAX_BATCH)
        groups = getattr(options, "message_groups", 1)
        if mode not in MODES:
            raise ConfigError(f"--sqs-mode must be one of {', '.join(MODES)} (got {mode!r})")
        _int_between("wait-seconds", wait, 0, MAX_WAIT_SECONDS)
        _int_between("max-messages", max_messages, 1, MAX_BATCH)
        _int_between("message-groups", groups, 1, 100_000)
        if groups > 1 and not name.endswith(FIFO_SUFFIX):
            raise ConfigError(f"--message-groups applies to FIFO queues only (a --queue name ending in {FIFO_SUFFIX})")
        if mode == "consume" and int(getattr(options, "max_records", 0) or 0) != 0:
            raise ConfigError(
                "--max-records counts sends: it must be 0 with --sqs-mode consume (use -t to end the run)"
            )
        timeout = float(getattr(options, "timeout", 10.0))
        if mode != "produce" and wait >= timeout:
            raise ConfigError(
                f"--wait-seconds {wait} must be below --timeout ({timeout:g} s): a long poll lasts that long"
            )
        if batch > 1 and batch * payload_bytes > MAX_MESSAGE_BYTES:
            fits = max(1, MAX_MESSAGE_BYTES // payload_bytes)
            raise ConfigError(
                f"--batch {batch} x --payload-bytes {payload_bytes} = {batch * payload_bytes} bytes, over the "
                f"{MAX_MESSAGE_BYTES} one SendMessageBatch may carry: use --batch {fits} or less"
            )
        return SQSOptions(name, batch, payload_bytes, mode, int(wait), int(max_messages), int(groups))

    def __init__(self, options: WorkloadOptions) -> None:
        if not isinstance(options, SQSOptions):
            options = SQSOptions(options.resource, options.batch, options.payload_bytes)
        super().__init__(options)
        self.queue_url: str | None = None
        self._drained: list[str] = []  # message_ids received by drain(), across its attempts
        self._sent = 0  # spreads FIFO messages over the groups, round robin

    # ----------------------------------------------------------------- per process

    def prepare(self, endpoint: Endpoint) -> None:
        """Look up the queue URL once: every call carries it."""
        if self.queue_url is None:
            self.queue_url = self.lookup_url(endpoint)

    def lookup_url(self, endpoint: Endpoint) -> str:
        name = self.options.resource
        where = endpoint.url or f"AWS {endpoint.region}"
        try:
            return str(endpoint.admin_client().get_queue_url(QueueName=name)["QueueUrl"])
        except ClientError as exc:
            if _error_code(exc) in MISSING_QUEUE_CODES:
                raise ConfigError(f"SQS queue {name!r} does not exist at {where}") from None
            raise ConfigError(f"cannot look up SQS queue {name!r} at {where}: {_error_code(exc)}") from None
        except BotoCoreError as exc:
            raise ConfigError(f"cannot reach SQS at {where}: {type(exc).__name__}") from None

    def records(self, seed: int | None, stream: int) -> RecordSource:
        if self.options.mode == "consume":
            return Placeholders()
        return MessageRecords(seed, stream=stream, payload_bytes=self.options.payload_bytes)

    # ----------------------------------------------------------------- calls

    def _url(self) -> str:
        if self.queue_url is None:
            raise RuntimeError("SQSWorkload.prepare(endpoint) must run before write_calls")
        return self.queue_url

    def _groups(self, n: int) -> list[str] | None:
        if not self.options.fifo:
            return None
        start, count = self._sent, self.options.message_groups
        self._sent += n
        return [f"group-{(start + i) % count}" for i in range(n)]

    def write_calls(self, records: Sequence[dict[str, Any]]) -> list[Call]:
        """Sends (produce), receive chains (consume), or both: sends first."""
        url, options = self._url(), self.options
        calls: list[Call] = []
        if options.mode != "consume":
            groups = self._groups(len(records))
            size = options.batch
            if size <= 1:
                calls += [send_message(url, r, groups[i] if groups else None) for i, r in enumerate(records)]
            else:
                for i in range(0, len(records), size):
                    calls.append(
                        send_message_batch(url, records[i : i + size], groups[i : i + size] if groups else None)
                    )
        if options.mode != "produce":
            calls += self.receive_calls(len(records))
        return calls

    def stream_calls(self, records: Iterable[dict[str, Any]]) -> Iterator[Call]:
        """Sends (and, with --sqs-mode both, the receives of as many) MaxNumberOfMessages
        records at a time: each receive chain has a full batch to take."""
        batch = max(1, self.options.batch)
        chunk = batch if self.options.mode == "produce" else -(-self.options.max_messages // batch) * batch
        yield from self.chunked_calls(records, chunk)

    def receive_calls(self, messages: int) -> list[Call]:
        """Receive chains for up to `messages` messages: one per MaxNumberOfMessages."""
        url, per_call, wait = self._url(), self.options.max_messages, self.options.wait_seconds
        return [receive_message(url, min(per_call, messages - i), per_call, wait) for i in range(0, messages, per_call)]

    # ----------------------------------------------------------------- resource

    def provision(self, endpoint: Endpoint, timeout: float = 60.0) -> bool:
        client = endpoint.admin_client()
        name = self.options.resource
        try:
            client.get_queue_url(QueueName=name)
            return False
        except ClientError as exc:
            if _error_code(exc) not in MISSING_QUEUE_CODES:
                raise
        attributes = {"FifoQueue": "true"} if self.options.fifo else {}
        client.create_queue(QueueName=name, Attributes=attributes)
        deadline = time.monotonic() + timeout
        while True:  # AWS: a new queue may take a moment to be found by name
            try:
                client.get_queue_url(QueueName=name)
                return True
            except ClientError as exc:
                if _error_code(exc) not in MISSING_QUEUE_CODES:
                    raise
            if time.monotonic() > deadline:
                raise ConfigError(f"queue {name!r} could not be found within {timeout:.0f} s of creating it")
            time.sleep(0.5)

    def teardown(self, endpoint: Endpoint) -> None:
        client = endpoint.admin_client()
        try:
            client.delete_queue(QueueUrl=client.get_queue_url(QueueName=self.options.resource)["QueueUrl"])
        except ClientError as exc:
            if _error_code(exc) not in MISSING_QUEUE_CODES:
                raise

    def preflight(self, endpoint: Endpoint) -> None:
        """The queue exists and its attributes can be read with these credentials."""
        self.prepare(endpoint)
        try:
            endpoint.admin_client().get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        except ClientError as exc:
            raise ConfigError(f"cannot use SQS queue {self.options.resource!r}: {_error_code(exc)}") from None

    def unverifiable(self) -> str:
        if self.options.mode == "both":
            return "the run's own consumers received and deleted messages (--sqs-mode both)"
        return ""

    def drain(self, endpoint: Endpoint, wait_seconds: int = 1, into: list[str] | None = None) -> list[str]:
        """Receive and delete until a receive comes back empty; the message_ids, in order received.

        A list, not a set, so that duplicates show. `wait_seconds` 0 is exact on the local
        emulators; on AWS use a long poll (short polls sample only some servers). `into`:
        a list to add to, kept by the caller, so that a drain that failed half-way (throttled)
        goes on where it stopped when called again, and what it received still counts.
        """
        client = endpoint.admin_client()
        url = self.queue_url or self.lookup_url(endpoint)
        ids = [] if into is None else into
        while True:
            answer = client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=MAX_BATCH, WaitTimeSeconds=wait_seconds, VisibilityTimeout=120
            )
            messages = answer.get("Messages") or []
            if not messages:
                return ids
            ids += [message_id_of(m) for m in messages]  # received: stored, even if the delete below fails
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            client.delete_message_batch(QueueUrl=url, Entries=entries)

    def verify(self, endpoint: Endpoint, acked_keys: Sequence[str]) -> VerifyResult:
        """Receive-and-count: drain the queue; every acknowledged message_id must be there.
        Duplicates are counted (a standard queue may deliver twice; a FIFO queue must not)."""
        received = self.drain(endpoint, into=self._drained)
        seen = set(received)
        lost = [key for key in acked_keys if key not in seen]
        return VerifyResult(len(acked_keys), lost=len(lost), duplicates=len(received) - len(seen), examples=lost[:5])

    def stored_keys(self, endpoint: Endpoint) -> set[str]:
        """Drain-and-count: every message_id in the queue now (the queue is empty after)."""
        return set(self.drain(endpoint))


def _int_between(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"--{name} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"--{name} must be between {low} and {high} (got {value})")


WORKLOAD = SQSWorkload
