"""DynamoDB's billing: request units by item size (or the units the service reports), provisioned capacity."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from writers.calls import Call
from writers.errors import AwsCallError
from writers.pricing import NOTHING, Bill, Billing, HourlyCharge, Price
from writers.services.dynamodb.options import (
    DynamoDBOptions,
)
from writers.services.dynamodb.service import SERVICE

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
_WRU = Price("WRU", 0.625, "DynamoDB on-demand write request unit (1 per started KB of item)")
_RRU = Price(
    "RRU", 0.125, "DynamoDB on-demand read request unit (1 per started 4 KB strongly consistent, half eventually)"
)
# Provisioned capacity: per unit-hour (prices per million unit-hours, as every Price is).
_WCU_HOUR = Price("WCU-hour", 0.00065 * 1_000_000, "DynamoDB provisioned: $0.00065 per write capacity unit-hour")
_RCU_HOUR = Price("RCU-hour", 0.00013 * 1_000_000, "DynamoDB provisioned: $0.00013 per read capacity unit-hour")


def value_bytes(value: Mapping[str, Any]) -> int:
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
        return sum(value_bytes({kind[0]: v}) for v in data)
    if kind == "L":
        return 3 + sum(1 + value_bytes(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_bytes(v) for k, v in data.items())
    return len(str(data).encode())


def item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values."""
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def write_units(item: Mapping[str, Mapping[str, Any]]) -> int:
    """On-demand WRUs to write this item: 1 per started KB (at least 1)."""
    return max(1, -(-item_bytes(item) // WRITE_UNIT_BYTES))


def read_units(item: Mapping[str, Mapping[str, Any]] | None, consistent: bool = False) -> float:
    """On-demand RRUs to read this item (0.5 per started 4 KB if eventually consistent)."""
    size = item_bytes(item) if item else 0
    units = max(1, -(-size // READ_UNIT_BYTES))
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


def estimated_units(call: Call, response: Mapping[str, Any]) -> float:
    """Units from the items' sizes, when the answer carries no figure of the service's."""
    params, operation = call.params, call.operation
    if operation == "PutItem":
        return float(write_units(params["Item"]))
    if operation == "BatchWriteItem":
        unprocessed = response.get("UnprocessedItems") or {}
        return float(_batch_write_units(params["RequestItems"]) - _batch_write_units(unprocessed))
    if operation == "GetItem":
        return read_units(response.get("Item"), bool(params.get("ConsistentRead")))
    if operation == "BatchGetItem":  # each key read: 1 per started 4 KB of its item (at least 1), half if eventual
        units = 0.0
        for table, request in params["RequestItems"].items():
            consistent = bool(request.get("ConsistentRead"))
            items = (response.get("Responses") or {}).get(table) or []
            unprocessed = len(((response.get("UnprocessedKeys") or {}).get(table) or {}).get("Keys") or ())
            missing = max(0, len(request.get("Keys") or ()) - unprocessed - len(items))
            units += sum(read_units(item, consistent) for item in items) + missing * read_units(None, consistent)
        return units
    return 1.0


@dataclass(frozen=True)
class DynamoDBBilling(Billing):
    """On-demand request units: those the service reports in ConsumedCapacity (the calls ask for
    ReturnConsumedCapacity=TOTAL), else estimated from the item sizes (1 WRU per started KB
    written, 1 RRU per started 4 KB read, half if eventually consistent). Failed calls,
    throttled ones included, are not billed. A provisioned table's calls count their units
    but cost nothing: its capacity is billed by the hour (`hourly`), used or not."""

    def bill(self, call: Call, response: Mapping[str, Any] | None, error: AwsCallError | None = None) -> Bill:
        # Once per call on the load generator: the common case (an answer with its one
        # table's ConsumedCapacity) stays a few dictionary look-ups.
        price = self.prices.get(call.operation)
        if price is None or response is None:
            return NOTHING
        per_unit = 0.0 if getattr(call, "provisioned", False) else price.pico_usd_per_unit
        consumed = response.get("ConsumedCapacity")
        if consumed.__class__ is dict and "CapacityUnits" in consumed:  # PutItem's one table
            units = float(consumed["CapacityUnits"])
            return Bill(units, round(units * per_unit), True)
        if consumed:
            units = consumed_units(consumed)
            return Bill(units, round(units * per_unit), True)
        units = estimated_units(call, response)
        return Bill(units, round(units * per_unit), False)

    def hourly(self, options: Any) -> list[HourlyCharge]:
        """A provisioned table: its write and read capacity units, every hour it exists."""
        if not isinstance(options, DynamoDBOptions) or not options.provisioned:
            return []
        return [
            HourlyCharge(self.service, "WCU-hour", options.write_units, _WCU_HOUR),
            HourlyCharge(self.service, "RCU-hour", options.read_units, _RCU_HOUR),
        ]

    def price_rows(self) -> list[dict[str, Any]]:
        rows = super().price_rows()
        for operation, price in (("provisioned write capacity", _WCU_HOUR), ("provisioned read capacity", _RCU_HOUR)):
            rows.append({
                "service": self.service, "operation": operation, "unit": price.unit,
                "usd_per_million": price.usd_per_million, "note": price.note,
            })  # fmt: skip
        return rows


BILLING = DynamoDBBilling(
    service=SERVICE.name,
    source="https://aws.amazon.com/dynamodb/pricing/on-demand/",
    as_of="2025-06-01",
    prices={"PutItem": _WRU, "BatchWriteItem": _WRU, "DeleteItem": _WRU, "GetItem": _RRU, "BatchGetItem": _RRU},
    reports_units=True,
)
