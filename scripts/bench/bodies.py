"""The fixed requests the anchors send: the same bodies our strategies send, unsigned.

Built with the project's own service code (no Locust import), so the anchor
(`anchor_fasthttp.py`, Locust's FastHttpUser) and the C ceiling (`wrk`) send exactly what
a strategy sends for one call, minus the signature and the fresh record per call:

| service, batch | method, path | body |
|---|---|---|
| dynamodb, 1 | POST / | PutItem of one Faker book record |
| dynamodb, 25 | POST / | BatchWriteItem of 25 records |
| s3, 1 | PUT /books-load-test/p00/<isbn> | 4 KiB of the S3 workload's Faker text (its default --object-size) |
| sqs, 1 | POST / | SendMessage of one Faker JSON message |
| sqs, 10 | POST / | SendMessageBatch of 10 messages |
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from writers.calls import Call
from writers.records import BookRecords
from writers.services import dynamodb, s3, sqs

BUCKET = "books-load-test"
QUEUE = "messages"
S3_OBJECT_BYTES = 4 * 1024  # the S3 workload's default --object-size


@dataclass(frozen=True)
class FixedRequest:
    operation: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    items: int  # records one request carries


def fixed_request(service: str, batch: int = 1, base_url: str = "http://127.0.0.1") -> FixedRequest:
    """What one call of `service` (with `batch` items) sends; `base_url` goes into SQS's QueueUrl."""
    if service == "dynamodb":
        records = BookRecords(seed=1).take(batch)
        call: Call = dynamodb.put_item("books", records[0]) if batch == 1 else dynamodb.batch_write("books", records)
        wire = call.build_wire()
        return FixedRequest(call.operation, "POST", "/", dict(wire.headers), bytes(wire.body), batch)
    if service == "sqs":
        url = f"{base_url}/000000000000/{QUEUE}"
        messages = sqs.MessageRecords(seed=1).take(batch)
        call = sqs.send_message(url, messages[0]) if batch == 1 else sqs.send_message_batch(url, messages)
        wire = call.build_wire()
        return FixedRequest(call.operation, "POST", "/", dict(wire.headers), bytes(wire.body), batch)
    if service == "s3":
        if batch != 1:
            raise ValueError("S3 has no batch write")
        block = s3.ContentBlock("faker", S3_OBJECT_BYTES)
        body = block.body(0, S3_OBJECT_BYTES).to_bytes()
        key = str(BookRecords(seed=1).next()["isbn"])
        return FixedRequest("PutObject", "PUT", f"/{BUCKET}/p00/{key}", {}, body, 1)
    raise ValueError(f"unknown service {service!r}")


def body_json(request: FixedRequest) -> object:
    """The decoded JSON body (for checks); None for S3's bytes."""
    return orjson.loads(request.body) if request.method == "POST" else None
