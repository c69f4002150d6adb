"""What the calls of a run cost on AWS: one small price table and the billing rules.

Prices are AWS list prices for **us-east-1**, as published on the AWS pricing pages
(DynamoDB on-demand, S3 Standard requests, SQS requests) and checked on
``PRICES_AS_OF``. Free tiers, storage, data transfer and KMS are not counted: the
estimate is what the *requests* of the run cost. Prices change; check them before
relying on a figure.

Billing units per call:

- DynamoDB (on-demand): the write/read request units the service reports in
  ``ConsumedCapacity`` (the project asks for ``ReturnConsumedCapacity=TOTAL``). When a
  response carries none (an emulator that ignores it, or the retry of a batch's
  unprocessed items), they are estimated from the item size: 1 WRU per started KB of
  each item written, 1 RRU per started 4 KB read (0.5 if eventually consistent).
  Failed calls (throttled included) are not billed.
- S3: one request per call, priced by class (PUT, COPY, POST, LIST / GET / free
  DELETE and abort). Calls that reached S3 are billed even when they failed; calls
  that never reached it (network) are not.
- SQS: one request per started 64 KiB of payload (a batch's payloads add up), at least
  one per call; FIFO queues cost more. Failed calls are billed as one request unless
  they never reached SQS.

Costs are kept as integers of pico-dollars (1e-12 USD) so that sums stay exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from writers.calls import Call
from writers.errors import AwsCallError, FailureKind

PRICES_REGION = "us-east-1"
PRICES_AS_OF = "2025-06-01"
PICO_PER_USD = 10**12
SQS_CHUNK_BYTES = 64 * 1024
DYNAMODB_WRITE_UNIT_BYTES = 1024
DYNAMODB_READ_UNIT_BYTES = 4096


@dataclass(frozen=True)
class Price:
    unit: str  # what is counted: "WRU", "RRU", "request"
    usd_per_million: float
    note: str
    pico_usd_per_unit: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pico_usd_per_unit", self.usd_per_million * PICO_PER_USD / 1_000_000)


_WRU = Price("WRU", 0.625, "DynamoDB on-demand write request unit (1 per started KB of item)")
_RRU = Price("RRU", 0.125, "DynamoDB on-demand read request unit (1 per started 4 KB, strongly consistent)")
_S3_PUT = Price("request", 5.0, "S3 Standard PUT, COPY, POST, LIST requests: $0.005 per 1,000")
_S3_GET = Price("request", 0.4, "S3 Standard GET, SELECT and all other requests: $0.0004 per 1,000")
_S3_FREE = Price("request", 0.0, "S3 DELETE and CANCEL requests are free")
_SQS = Price("request", 0.40, "SQS standard queue: $0.40 per million requests (per 64 KiB chunk)")
_SQS_FIFO = Price("request", 0.50, "SQS FIFO queue: $0.50 per million requests (per 64 KiB chunk)")

# (service, operation) -> price. The service names are those Locust shows.
PRICES: dict[tuple[str, str], Price] = {
    ("DynamoDB", "PutItem"): _WRU,
    ("DynamoDB", "BatchWriteItem"): _WRU,
    ("DynamoDB", "DeleteItem"): _WRU,
    ("DynamoDB", "GetItem"): _RRU,
    ("S3", "PutObject"): _S3_PUT,
    ("S3", "CreateMultipartUpload"): _S3_PUT,
    ("S3", "UploadPart"): _S3_PUT,
    ("S3", "CompleteMultipartUpload"): _S3_PUT,
    ("S3", "ListObjectsV2"): _S3_PUT,
    ("S3", "GetObject"): _S3_GET,
    ("S3", "HeadObject"): _S3_GET,
    ("S3", "AbortMultipartUpload"): _S3_FREE,
    ("S3", "DeleteObject"): _S3_FREE,
    ("SQS", "SendMessage"): _SQS,
    ("SQS", "SendMessageBatch"): _SQS,
    ("SQS", "ReceiveMessage"): _SQS,
    ("SQS", "DeleteMessage"): _SQS,
    ("SQS", "DeleteMessageBatch"): _SQS,
}
SOURCES = {
    "DynamoDB": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "S3": "https://aws.amazon.com/s3/pricing/",
    "SQS": "https://aws.amazon.com/sqs/pricing/",
}


def price_for(service: str, operation: str, fifo: bool = False) -> Price | None:
    """The price of one unit of this operation, or None if the table does not know it."""
    if fifo and service == "SQS" and (service, operation) in PRICES:
        return _SQS_FIFO
    return PRICES.get((service, operation))


def price_table() -> dict[str, Any]:
    """The table as data, with the region and date it holds for (reports and the web UI show it)."""
    return {
        "region": PRICES_REGION,
        "as_of": PRICES_AS_OF,
        "pricing": "on-demand / standard list prices; free tiers, storage and data transfer not included",
        "sources": dict(SOURCES),
        "prices": [
            {"service": s, "operation": o, "unit": p.unit, "usd_per_million": p.usd_per_million, "note": p.note}
            for (s, o), p in sorted(PRICES.items())
        ]
        + [
            {
                "service": "SQS",
                "operation": "(any, FIFO queue)",
                "unit": _SQS_FIFO.unit,
                "usd_per_million": _SQS_FIFO.usd_per_million,
                "note": _SQS_FIFO.note,
            },
        ],
    }


def cost_usd(units: float, price: Price | None) -> float:
    return 0.0 if price is None else units * price.usd_per_million / 1_000_000


# --------------------------------------------------------------------------- DynamoDB sizes


def dynamodb_value_bytes(value: Mapping[str, Any]) -> int:
    """The size DynamoDB bills for one typed attribute value (its documented rules)."""
    kind, data = next(iter(value.items()))
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data) if isinstance(data, (bytes, bytearray)) else math.ceil(len(str(data)) * 3 / 4)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "BS", "NS"):
        return sum(dynamodb_value_bytes({kind[0]: v}) for v in data)
    if kind == "L":
        return 3 + sum(1 + dynamodb_value_bytes(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + dynamodb_value_bytes(v) for k, v in data.items())
    return len(str(data).encode())


def dynamodb_item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values."""
    return sum(len(name.encode()) + dynamodb_value_bytes(value) for name, value in item.items())


def write_units(item: Mapping[str, Mapping[str, Any]]) -> int:
    """On-demand WRUs to write this item: 1 per started KB (at least 1)."""
    return max(1, -(-dynamodb_item_bytes(item) // DYNAMODB_WRITE_UNIT_BYTES))


def read_units(item: Mapping[str, Mapping[str, Any]] | None, consistent: bool = False) -> float:
    """On-demand RRUs to read this item (0.5 per started 4 KB if eventually consistent)."""
    size = dynamodb_item_bytes(item) if item else 0
    units = max(1, -(-size // DYNAMODB_READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def consumed_units(consumed: Any) -> float:
    """Sum the CapacityUnits of a ConsumedCapacity answer (one dict, or a list of them)."""
    entries = consumed if isinstance(consumed, list) else [consumed]
    return float(sum(float(e.get("CapacityUnits") or 0) for e in entries if isinstance(e, Mapping)))


def _batch_write_units(request_items: Mapping[str, Any]) -> int:
    units = 0
    for requests in request_items.values():
        for request in requests:
            put = request.get("PutRequest")
            units += write_units(put["Item"]) if put else 1  # a DeleteRequest: at least 1
    return units


def _dynamodb_units(call: Call, response: Mapping[str, Any]) -> tuple[float, bool]:
    consumed = response.get("ConsumedCapacity")
    if consumed:
        return consumed_units(consumed), True
    params = call.params  # no figure from the service: from the items' sizes
    operation = call.operation
    if operation == "PutItem":
        return float(write_units(params["Item"])), False
    if operation == "BatchWriteItem":
        unprocessed = response.get("UnprocessedItems") or {}
        return float(_batch_write_units(params["RequestItems"]) - _batch_write_units(unprocessed)), False
    if operation == "GetItem":
        return read_units(response.get("Item"), bool(params.get("ConsistentRead"))), False
    return 1.0, False


# --------------------------------------------------------------------------- SQS sizes


def sqs_requests(payload_bytes: int) -> int:
    """SQS bills each started 64 KiB of a call's payload as one request (at least one)."""
    return max(1, -(-payload_bytes // SQS_CHUNK_BYTES))


def _sqs_payload(call: Call, response: Mapping[str, Any] | None) -> int:
    params = call.params
    if call.operation == "SendMessage":
        return len(str(params.get("MessageBody", "")).encode())
    if call.operation == "SendMessageBatch":
        return sum(len(str(e.get("MessageBody", "")).encode()) for e in params.get("Entries", ()))
    if call.operation == "ReceiveMessage" and response:
        return sum(len(str(m.get("Body", "")).encode()) for m in response.get("Messages") or ())
    return 0


def is_fifo(call: Call) -> bool:
    params = getattr(call, "params", None)
    return isinstance(params, Mapping) and str(params.get("QueueUrl", "")).endswith(".fifo")


# --------------------------------------------------------------------------- per call


class Bill(NamedTuple):
    units: float  # in the price's unit (WRU, RRU, request)
    pico_usd: int
    reported: bool  # units as the service reported them (DynamoDB ConsumedCapacity)


NOTHING = Bill(0.0, 0, False)


def bill(call: Call, response: Mapping[str, Any] | None, error: AwsCallError | None = None) -> Bill:
    """What one attempt of `call` is billed: units, cost, and whether the service said so.

    Runs once per call on the load generator: the common case (a DynamoDB answer with its
    ConsumedCapacity) stays a few dictionary look-ups.
    """
    service = call.service.name
    price = PRICES.get((service, call.operation))
    if price is None:
        return NOTHING
    reported = False
    if service == "DynamoDB":
        if response is None:
            return NOTHING  # failed calls (throttling included) are not billed
        consumed = response.get("ConsumedCapacity")
        if consumed.__class__ is dict and "CapacityUnits" in consumed:  # PutItem's one table
            units = float(consumed["CapacityUnits"])
            return Bill(units, round(units * price.pico_usd_per_unit), True)
        units, reported = _dynamodb_units(call, response)
    elif error is not None and response is None and error.kind is FailureKind.NETWORK:
        return NOTHING  # never reached the service
    elif service == "SQS":
        if is_fifo(call):
            price = _SQS_FIFO
        units = float(sqs_requests(_sqs_payload(call, response)))
    else:
        units = 1.0
    return Bill(units, round(units * price.pico_usd_per_unit), reported)
