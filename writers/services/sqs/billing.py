"""SQS's billing: one request per 64 KiB chunk of payload, standard and FIFO prices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from writers.calls import Call
from writers.errors import AwsCallError
from writers.pricing import NOTHING, Bill, Billing, Price, reached_service
from writers.services.sqs.options import FIFO_SUFFIX
from writers.services.sqs.service import SERVICE

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
