"""SQS's workload: produce and consume calls from records, the queue (provisioning, drain, read-back)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from writers.calls import Call
from writers.errors import ConfigError
from writers.services.base import RecordSource, VerifyResult, Workload, WorkloadOptions
from writers.services.sqs import options as sqs_options
from writers.services.sqs.billing import BILLING
from writers.services.sqs.calls import receive_message, send_message, send_message_batch
from writers.services.sqs.emulator import EMULATORS
from writers.services.sqs.faults import SQSFaults
from writers.services.sqs.messages import MessageRecords, Placeholders, message_id_of
from writers.services.sqs.options import MAX_BATCH, MAX_MESSAGE_BYTES, SQSOptions
from writers.services.sqs.service import MISSING_QUEUE_CODES, SERVICE
from writers.target import Endpoint


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
    options_module = sqs_options
    options: SQSOptions

    def __init__(self, options: WorkloadOptions) -> None:
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
