"""SQS's side of the fault proxy: JSON errors with the query-compatible code, queues as resources."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import urlsplit

from writers.faults import Answer, ProxyRequest, ServiceFaults, json_body
from writers.services.sqs.service import QUERY_ERROR_HEADER, SERVICE, TARGET_PREFIX


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
