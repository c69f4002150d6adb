"""SQS's calls: SendMessage, SendMessageBatch (10 entries), ReceiveMessage, DeleteMessageBatch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from writers.calls import Call, Settlement, WireRequest
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.protocols.json_protocol import JsonCall
from writers.services.sqs.messages import message_body
from writers.services.sqs.options import MAX_BATCH
from writers.services.sqs.service import QUERY_ERROR_HEADER, SERVICE, TARGET_PREFIX


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
