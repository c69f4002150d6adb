"""Kinesis's billing: data in by the KB (on demand) or in 25 KB payload units (provisioned), by the hour."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from writers.calls import Call
from writers.errors import AwsCallError
from writers.pricing import NOTHING, Bill, Billing, HourlyCharge, Price
from writers.services.kinesis.calls import PROVISIONED, MiB, record_bytes
from writers.services.kinesis.service import SERVICE

KiB = 1024
ON_DEMAND_UNIT_BYTES = 1 * KiB  # on-demand data in: each record rounded up to 1 KB (1,024 bytes)
PUT_PAYLOAD_UNIT_BYTES = 25 * KiB  # provisioned: a record is billed in 25 KB chunks
_DATA_IN = Price(
    "KB ingested", 0.08 * 1_000_000 / MiB, "Kinesis on-demand data in: $0.08 per GB, each record rounded up to 1 KB"
)
_PUT_PAYLOAD = Price(
    "PUT payload unit", 0.014, "Kinesis provisioned: $0.014 per million PUT payload units (25 KB of a record each)"
)
_STREAM_HOUR = Price("stream-hour", 0.04 * 1_000_000, "Kinesis on-demand: $0.04 per stream-hour")
_SHARD_HOUR = Price("shard-hour", 0.015 * 1_000_000, "Kinesis provisioned: $0.015 per shard-hour")


def billed_units(size: int, provisioned: bool) -> int:
    """One record's units: KB ingested (on-demand) or PUT payload units (provisioned); at least one."""
    unit = PUT_PAYLOAD_UNIT_BYTES if provisioned else ON_DEMAND_UNIT_BYTES
    return max(1, -(-size // unit))


def _stored_entries(call: Call, response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The records a successful call stored: all of a PutRecord, those without an ErrorCode of a PutRecords."""
    if call.operation == "PutRecord":
        return [call.params]
    results = response.get("Records") or []
    entries: list[Mapping[str, Any]] = call.params["Records"]
    return [entry for entry, result in zip(entries, results, strict=False) if not result.get("ErrorCode")]


@dataclass(frozen=True)
class KinesisBilling(Billing):
    """Data written, record by record, as the stream's capacity mode bills it: on-demand per
    GB ingested (each record rounded up to 1 KB), provisioned per PUT payload unit (25 KB of
    a record). Records a call failed, and failed calls, store nothing and are not billed.
    And for every hour the stream exists: a stream-hour on demand, a shard-hour per shard
    provisioned (`hourly`: the estimate adds them for as long as the run lasts)."""

    provisioned: Mapping[str, Price] = field(default_factory=dict)  # operation (provisioned) -> price
    stream_hour: Price = _STREAM_HOUR
    shard_hour: Price = _SHARD_HOUR

    def hourly(self, options: Any) -> list[HourlyCharge]:
        shards = int(getattr(options, "shards", 0) or 0)
        if shards:
            return [HourlyCharge(self.service, "shard-hour", shards, self.shard_hour)]
        return [HourlyCharge(self.service, "stream-hour", 1, self.stream_hour)]

    def price_for(self, operation: str) -> Price | None:
        """The price of an operation as the rows name it ("PutRecords", "PutRecords (provisioned)")."""
        if operation.endswith(PROVISIONED):
            return self.provisioned.get(operation[: -len(PROVISIONED)])
        return self.prices.get(operation)

    def bill(self, call: Call, response: Mapping[str, Any] | None, error: AwsCallError | None = None) -> Bill:
        provisioned = bool(getattr(call, "provisioned", False))
        price = (self.provisioned if provisioned else self.prices).get(call.operation)
        if price is None or response is None:
            return NOTHING
        units = float(sum(billed_units(record_bytes(entry), provisioned) for entry in _stored_entries(call, response)))
        return Bill(units, round(units * price.pico_usd_per_unit), False)

    def price_rows(self) -> list[dict[str, Any]]:
        def row(operation: str, price: Price) -> dict[str, Any]:
            return {
                "service": self.service, "operation": operation, "unit": price.unit,
                "usd_per_million": price.usd_per_million, "note": price.note,
            }  # fmt: skip

        return [
            *super().price_rows(),
            *(row(operation + PROVISIONED, price) for operation, price in sorted(self.provisioned.items())),
            row("(stream, on-demand)", self.stream_hour),
            row("(shard, provisioned)", self.shard_hour),
        ]


# Prices: https://aws.amazon.com/kinesis/data-streams/pricing/ (us-east-1), checked 2026-12-02.
BILLING = KinesisBilling(
    service=SERVICE.name,
    source="https://aws.amazon.com/kinesis/data-streams/pricing/",
    as_of="2026-12-02",
    prices={"PutRecord": _DATA_IN, "PutRecords": _DATA_IN},
    provisioned={"PutRecord": _PUT_PAYLOAD, "PutRecords": _PUT_PAYLOAD},
)
