"""Kinesis's side of the fault proxy: JSON 1.1 errors, streams as resources, PutRecords cut record by record."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from writers.faults import Answer, BatchCut, ProxyRequest, ServiceFaults, json_body, request_id
from writers.protocols.json_protocol import JSON_1_1
from writers.services.kinesis.service import SERVICE, TARGET_PREFIX


def error_answer(status: int, error_type: str, message: str) -> Answer:
    body = json_body({"__type": error_type, "message": message})
    headers = {"Content-Type": JSON_1_1, "x-amzn-RequestId": str(uuid.uuid4()), "x-amz-id-2": request_id()}
    return Answer(status, headers, body)


def _stream_of(document: Mapping[str, Any]) -> str | None:
    name = document.get("StreamName")
    if isinstance(name, str):
        return name
    arn = document.get("StreamARN")  # arn:aws:kinesis:<region>:<account>:stream/<name>
    return arn.rsplit("/", 1)[-1] if isinstance(arn, str) else None


def _sequence_number() -> str:
    return str(uuid.uuid4().int)[:56]


THROTTLE_MESSAGE = "Rate exceeded for shard shardId-000000000000 in stream {} under account 000000000000."


class KinesisFaults(ServiceFaults):
    """Streams are the resources; PutRecords costs one unit per record. Throttled as a shard
    over its limit is (ProvisionedThroughputExceededException, 400, JSON 1.1);
    --partial-batches forwards the records of a PutRecords that fit and answers the rest
    as failed records, as Kinesis does."""

    service = SERVICE.name
    target_prefix = TARGET_PREFIX

    def costs(self, request: ProxyRequest) -> dict[str, int]:
        document = request.document or {}
        stream = _stream_of(document)
        if stream is None:
            return {}
        records = document.get("Records")
        return {stream: max(1, len(records)) if isinstance(records, list) else 1}

    def throttle(self) -> Answer:
        return error_answer(400, "ProvisionedThroughputExceededException", THROTTLE_MESSAGE.format("(any)"))

    def error(self, status: int) -> Answer:
        if status == 503:
            return error_answer(503, "ServiceUnavailable", "Service Unavailable")
        return error_answer(500, "InternalFailure", "Internal service failure.")

    def forgets(self, request: ProxyRequest) -> bool:
        return request.operation in ("PutRecord", "PutRecords") and request.document is not None

    def forgotten(self, request: ProxyRequest, body: bytes) -> Answer:
        stored = {"ShardId": "shardId-000000000000", "SequenceNumber": _sequence_number()}
        answer: dict[str, Any]
        if request.operation == "PutRecord":
            answer = stored
        else:
            records = (request.document or {}).get("Records") or []
            answer = {
                "FailedRecordCount": 0,
                "Records": [{**stored, "SequenceNumber": _sequence_number()} for _ in records],
            }
        return Answer(200, {"Content-Type": JSON_1_1, "x-amzn-RequestId": str(uuid.uuid4())}, json_body(answer))

    def can_cut(self, request: ProxyRequest) -> bool:
        document = request.document or {}
        return request.operation == "PutRecords" and isinstance(document.get("Records"), list)

    def cut(self, document: Mapping[str, Any], granted: Mapping[str, int]) -> BatchCut:
        """Keep the first records the stream's bucket grants; the rest come back as failed records."""
        records = list(document["Records"])
        count = sum(granted.values())
        held = len(records) - count
        return BatchCut({**document, "Records": records[:count]}, (_stream_of(document), held), held)

    def merge(self, answer: bytes, held_back: Any) -> bytes:
        stream, held = held_back
        document = orjson.loads(answer)
        failed = {
            "ErrorCode": "ProvisionedThroughputExceededException",
            "ErrorMessage": THROTTLE_MESSAGE.format(stream),
        }
        document["Records"] = [*document.get("Records", []), *([failed] * held)]
        document["FailedRecordCount"] = int(document.get("FailedRecordCount") or 0) + held
        return json_body(document)
