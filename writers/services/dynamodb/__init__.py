"""DynamoDB: PutItem, BatchWriteItem (25 items), GetItem, BatchGetItem (100 keys); keys from a
key space (`keys`), mixed reads, on-demand or provisioned tables (`options`); billing; the
fault proxy's answers, partitions included (`partitions`)."""

from __future__ import annotations

import math
import random
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from writers.calls import Call, ServiceInfo, Settlement
from writers.emulators import MOTO, Emulator, Launch, node_launch, npm_unavailable, package_bin
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.faults import Answer, BatchCut, KeyedCost, ProxyRequest, ServiceFaults, crc32, json_body, request_id
from writers.pricing import NOTHING, Bill, Billing, HourlyCharge, Price
from writers.protocols.json_protocol import JsonCall
from writers.records import record_crc
from writers.services.base import VerifyResult, Workload, WorkloadOptions
from writers.services.dynamodb.keys import KeySampler, SpaceRecords
from writers.services.dynamodb.options import (
    DEFAULT_HOT_KEY_SHARE,
    MAX_BATCH_GET,
    MAX_BATCH_WRITE,
    DynamoDBOptions,
    add_arguments,
    read_options,
)
from writers.target import Endpoint

SERVICE = ServiceInfo(name="DynamoDB", boto3_name="dynamodb", signing_name="dynamodb", endpoint_env="DYNAMODB")
TARGET_PREFIX = "DynamoDB_20120810."
KEY = "isbn"
MAX_BATCH = MAX_BATCH_WRITE
MAX_ITEM_BYTES = 400 * 1024
REMEMBERED_KEYS = 100_000  # keys written per process that reads may ask for (unique keys)
# Ask for the write units each call consumed: the cost estimate then uses the service's own figure.
CONSUMED_CAPACITY = {"ReturnConsumedCapacity": "TOTAL"}


def to_item(record: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """A flat record as DynamoDB's typed attribute values."""
    # Records are strings but for the odd number: the class test keeps the common case cheap.
    return {
        k: {"S": v} if v.__class__ is str else {"N": str(v)} if isinstance(v, (int, float)) else {"S": str(v)}
        for k, v in record.items()
    }


class DynamoDBCall(JsonCall):
    service = SERVICE
    target_prefix = TARGET_PREFIX
    provisioned = False  # the table's capacity is provisioned: its calls are paid by the capacity-hour


class PutItem(DynamoDBCall):
    operation = "PutItem"
    api_method = "put_item"


class GetItem(DynamoDBCall):
    operation = "GetItem"
    api_method = "get_item"
    is_read = True

    def settle(self, response: dict[str, Any]) -> Settlement:
        found = "Item" in response
        return Settlement(acked=0, found=int(found), not_found=int(not found))


class BatchGetItem(DynamoDBCall):
    operation = "BatchGetItem"
    api_method = "batch_get_item"
    is_read = True

    def settle(self, response: dict[str, Any]) -> Settlement:
        """Keys the service did not get to (UnprocessedKeys) are asked again, like UnprocessedItems."""
        found = sum(len(items) for items in (response.get("Responses") or {}).values())
        unprocessed: dict[str, Any] = response.get("UnprocessedKeys") or {}
        left = sum(len(request.get("Keys") or ()) for request in unprocessed.values())
        leftover = None
        if left:
            keys = tuple(_key_of(k) or "" for request in unprocessed.values() for k in request.get("Keys") or ())
            leftover = BatchGetItem(
                {"RequestItems": unprocessed, **CONSUMED_CAPACITY}, left, keys=keys, attempt=self.attempt + 1
            )
            leftover.provisioned = self.provisioned
        return Settlement(acked=0, found=found, not_found=max(0, self.items - left - found), leftover=leftover)


class BatchWriteItem(DynamoDBCall):
    operation = "BatchWriteItem"
    api_method = "batch_write_item"

    def settle(self, response: dict[str, Any]) -> Settlement:
        unprocessed: dict[str, list[Any]] = response.get("UnprocessedItems") or {}
        left = sum(len(requests) for requests in unprocessed.values())
        if not left:
            return Settlement(acked=self.items, acked_keys=self.keys)
        leftover = BatchWriteItem(
            {"RequestItems": unprocessed}, left, keys=tuple(request_keys(unprocessed)), attempt=self.attempt + 1
        )
        leftover.provisioned = self.provisioned
        unsent = set(leftover.keys)
        acked = tuple(key for key in self.keys if key not in unsent)
        if not self.versions:
            return Settlement(acked=self.items - left, acked_keys=acked, leftover=leftover)
        version = dict(zip(self.keys, self.versions, strict=True))  # a batch never holds a key twice
        leftover.versions = tuple(version[key] for key in leftover.keys)
        return Settlement(
            acked=self.items - left,
            acked_keys=acked,
            acked_versions=tuple(version[k] for k in acked),
            leftover=leftover,
        )


def request_keys(request_items: Mapping[str, list[Any]]) -> list[str]:
    """The keys of the items a BatchWriteItem puts."""
    return [r["PutRequest"]["Item"][KEY]["S"] for requests in request_items.values() for r in requests]


def put_item(table: str, record: Mapping[str, Any], versioned: bool = False) -> PutItem:
    call = PutItem({"TableName": table, "Item": to_item(record), **CONSUMED_CAPACITY}, keys=(record[KEY],))
    if versioned:
        call.versions = (str(record.get("crc", "")),)
    return call


def batch_write(table: str, records: Sequence[Mapping[str, Any]], versioned: bool = False) -> BatchWriteItem:
    """One BatchWriteItem; its records' keys must differ (DynamoDB refuses a batch with a key twice)."""
    if not 1 <= len(records) <= MAX_BATCH:
        raise ConfigError(f"BatchWriteItem takes 1 to {MAX_BATCH} items, not {len(records)}")
    requests = [{"PutRequest": {"Item": to_item(r)}} for r in records]
    keys = tuple(r[KEY] for r in records)
    call = BatchWriteItem({"RequestItems": {table: requests}, **CONSUMED_CAPACITY}, len(records), keys=keys)
    if versioned:
        call.versions = tuple(str(r.get("crc", "")) for r in records)
    return call


def get_item(table: str, key: str, consistent: bool = False) -> GetItem:
    params: dict[str, Any] = {"TableName": table, "Key": {KEY: {"S": key}}, **CONSUMED_CAPACITY}
    if consistent:
        params["ConsistentRead"] = True
    return GetItem(params, keys=(key,))  # keys: for the hottest keys by throttles; reads acknowledge none


def batch_get(table: str, keys: Sequence[str], consistent: bool = False) -> BatchGetItem:
    """One BatchGetItem of distinct keys (DynamoDB refuses a key asked twice)."""
    if not 1 <= len(keys) <= MAX_BATCH_GET:
        raise ConfigError(f"BatchGetItem takes 1 to {MAX_BATCH_GET} keys, not {len(keys)}")
    request: dict[str, Any] = {"Keys": [{KEY: {"S": key}} for key in keys]}
    if consistent:
        request["ConsistentRead"] = True
    return BatchGetItem({"RequestItems": {table: request}, **CONSUMED_CAPACITY}, len(keys), keys=tuple(keys))


# --------------------------------------------------------------------------- billing

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


# --------------------------------------------------------------------------- local emulator


def _dynalite_launch(workdir: Path, bind: str, port: int | None) -> Launch:
    """dynalite (npm): in memory, tables usable at once."""

    def args(package_dir: Path, port: int) -> list[str]:
        return [
            str(package_bin(package_dir, "dynalite")), "--host", bind, "--port", str(port),
            "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0",
        ]  # fmt: skip

    return node_launch("dynalite", bind, port, args)


# dynalite enforces 25-item batches and reports real consumed capacity.
EMULATORS = (Emulator("dynalite", _dynalite_launch, npm_unavailable("dynalite")), MOTO)


# --------------------------------------------------------------------------- fault proxy answers


JSON_1_0 = "application/x-amz-json-1.0"


def error_answer(status: int, error_type: str, message: str) -> Answer:
    body = json_body({"__type": f"com.amazonaws.dynamodb.v20120810#{error_type}", "message": message})
    headers = {
        "Content-Type": JSON_1_0,
        "x-amzn-RequestId": request_id(),
        "x-amz-crc32": crc32(body),  # botocore checks it when present, as DynamoDB sends it
    }
    return Answer(status, headers, body)


def _key_of(item: Any) -> str | None:
    value = item.get(KEY) if isinstance(item, Mapping) else None
    return str(next(iter(value.values()))) if isinstance(value, Mapping) and value else None


def keyed_costs(operation: str | None, document: Mapping[str, Any]) -> list[KeyedCost]:
    costs: list[KeyedCost] = []
    table = document.get("TableName")
    if operation == "PutItem" and isinstance(table, str) and isinstance(document.get("Item"), Mapping):
        key = _key_of(document["Item"])
        if key is not None:
            costs.append(KeyedCost(table, key, write_units=write_units(document["Item"])))
    elif operation == "GetItem" and isinstance(table, str):
        key = _key_of(document.get("Key"))
        if key is not None:
            costs.append(KeyedCost(table, key, read_units=read_units(None, bool(document.get("ConsistentRead")))))
    elif operation in ("BatchWriteItem", "BatchGetItem") and isinstance(document.get("RequestItems"), Mapping):
        for name, request in document["RequestItems"].items():
            if isinstance(request, list):  # BatchWriteItem
                for entry in request:
                    item = (entry.get("PutRequest") or {}).get("Item") if isinstance(entry, Mapping) else None
                    key = _key_of(item)
                    if key is not None:
                        costs.append(KeyedCost(str(name), key, write_units=write_units(item)))  # type: ignore[arg-type]
            elif isinstance(request, Mapping):  # BatchGetItem
                units = read_units(None, bool(request.get("ConsistentRead")))
                for wanted in request.get("Keys") or ():
                    key = _key_of(wanted)
                    if key is not None:
                        costs.append(KeyedCost(str(name), key, read_units=units))
    return costs


class DynamoDBFaults(ServiceFaults):
    """Tables are the resources; batches and transactions cost one unit per item. Throttled as
    a provisioned table is (ProvisionedThroughputExceededException, 400); --partial-batches
    cuts a BatchWriteItem to what fits and returns the rest in UnprocessedItems."""

    service = SERVICE.name
    target_prefix = TARGET_PREFIX
    # AWS's documented limit of one partition: 1,000 write units and 3,000 read units per second.
    partition_write_units = 1000.0
    partition_read_units = 3000.0

    def costs(self, request: ProxyRequest) -> dict[str, int]:
        document = request.document or {}
        request_items = document.get("RequestItems")
        if isinstance(request_items, dict):  # BatchWriteItem: lists; BatchGetItem: {"Keys": [...]}
            costs: dict[str, int] = {}
            for table, items in request_items.items():
                keys = items.get("Keys") if isinstance(items, dict) else items
                costs[str(table)] = max(1, len(keys)) if isinstance(keys, list) else 1
            return costs
        transact = document.get("TransactItems")
        if isinstance(transact, list):  # each item is {"Put"|"Update"|...: {"TableName": ...}}
            costs = {}
            for item in transact:
                for action in item.values() if isinstance(item, dict) else ():
                    if isinstance(action, dict) and isinstance(action.get("TableName"), str):
                        costs[action["TableName"]] = costs.get(action["TableName"], 0) + 1
            return costs
        table = document.get("TableName")
        return {table: 1} if isinstance(table, str) else {}

    def keyed_costs(self, request: ProxyRequest) -> list[KeyedCost]:
        """Each item's key and units: writes 1 per started KB; reads 1 per item (up to 4 KB: the
        size is not known before reading), half if eventually consistent."""
        return keyed_costs(request.operation, request.document or {})

    def throttle(self) -> Answer:
        return error_answer(
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. "
            "Consider increasing your provisioning level with the UpdateTable API.",
        )

    def error(self, status: int) -> Answer:
        if status == 503:
            return error_answer(503, "ServiceUnavailable", "Service unavailable.")
        return error_answer(500, "InternalServerError", "Internal server error")

    def forgets(self, request: ProxyRequest) -> bool:
        """Writes, but never a conditional one: DynamoDB might have refused it by its condition."""
        document = request.document or {}
        conditional = "ConditionExpression" in document or "Expected" in document
        return request.operation in ("PutItem", "BatchWriteItem") and not conditional

    def forgotten(self, request: ProxyRequest, body: bytes) -> Answer:
        answer = b'{"UnprocessedItems":{}}' if request.operation == "BatchWriteItem" else b"{}"
        return Answer(200, {"Content-Type": JSON_1_0, "x-amz-crc32": crc32(answer)}, answer)

    def can_cut(self, request: ProxyRequest) -> bool:
        items = (request.document or {}).get("RequestItems")
        well_formed = isinstance(items, dict) and all(isinstance(writes, list) for writes in items.values())
        return request.operation == "BatchWriteItem" and well_formed

    def cut(self, document: Mapping[str, Any], granted: Mapping[str, int]) -> BatchCut:
        """Keep each table's first ``granted[table]`` writes; the rest are held back."""
        keep: dict[str, list[Any]] = {}
        held: dict[str, list[Any]] = {}
        for table, writes in document["RequestItems"].items():
            count = granted.get(table, 0)
            if writes[:count]:
                keep[table] = writes[:count]
            if writes[count:]:
                held[table] = writes[count:]
        return BatchCut({**document, "RequestItems": keep}, held, sum(len(writes) for writes in held.values()))

    def merge(self, answer: bytes, held_back: Any) -> bytes:
        """Add the held-back writes to the upstream answer's UnprocessedItems."""
        document = orjson.loads(answer) if answer else {}
        unprocessed = document.setdefault("UnprocessedItems", {})
        for table, writes in held_back.items():
            unprocessed.setdefault(table, []).extend(writes)
        return json_body(document)


# --------------------------------------------------------------------------- workload


def table_capacity(description: Mapping[str, Any]) -> dict[str, Any]:
    """A described table's capacity mode, as the options that say it."""
    throughput = description.get("ProvisionedThroughput") or {}
    mode = (description.get("BillingModeSummary") or {}).get("BillingMode")
    writes, reads = int(throughput.get("WriteCapacityUnits") or 0), int(throughput.get("ReadCapacityUnits") or 0)
    if mode == "PAY_PER_REQUEST" or (mode is None and not writes):
        return {"billing_mode": "on-demand", "write_capacity": None, "read_capacity": None}
    return {"billing_mode": "provisioned", "write_capacity": max(1, writes), "read_capacity": max(1, reads)}


class DynamoDBWorkload(Workload):
    service = SERVICE
    resource_kind = "table"
    default_resource = "books"
    max_batch = MAX_BATCH_WRITE
    max_read_batch = MAX_BATCH_GET  # batches of 26-100 read alone (--read-ratio 1): the options check it
    max_payload_bytes = MAX_ITEM_BYTES
    resource_pattern = r"[a-zA-Z0-9_.-]{3,255}"
    billing = BILLING
    emulators = EMULATORS
    local_port_offset = 0
    faults = DynamoDBFaults()
    options_class = DynamoDBOptions

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        super().add_arguments(parser)
        add_arguments(parser)

    @classmethod
    def read_options(cls, options: Any, batch: int, payload_bytes: int) -> WorkloadOptions:
        name = str(getattr(options, cls.resource_kind))
        cls.check_resource_name(name)
        return read_options(options, name, batch, payload_bytes)

    def __init__(self, options: WorkloadOptions) -> None:
        if not isinstance(options, DynamoDBOptions):
            options = DynamoDBOptions(options.resource, options.batch, options.payload_bytes)
        super().__init__(options)
        self.dynamo = options
        self._read_credit = 0.0
        self._written: deque[str] = deque(maxlen=REMEMBERED_KEYS)  # unique keys: reads ask for these
        self._rng = random.Random()
        self._space: SpaceRecords | None = None
        self._plain = not (options.key_space or options.read_ratio or options.provisioned)

    @property
    def tracks_keys(self) -> bool:
        """Keys are written again (--key-space): the hottest ones are worth naming."""
        return self.dynamo.key_space > 0

    def records(self, seed: int | None, stream: int) -> Any:
        o = self.dynamo
        if not o.key_space:
            return super().records(seed, stream)
        share = DEFAULT_HOT_KEY_SHARE if o.hot_key_share is None else o.hot_key_share
        sampler = KeySampler(o.key_space, o.key_distribution, o.zipf_s, share, seed, stream)
        self._space = SpaceRecords(sampler, seed, stream, o.payload_bytes)
        return self._space

    def write_calls(self, records: Sequence[dict[str, Any]]) -> list[Call]:
        """Records become writes; with --read-ratio, that share of the calls read instead: the
        records' own keys (--key-space: the same distribution), or keys this process wrote."""
        o = self.dynamo
        if self._plain:  # the common case, kept as cheap as before: new keys, writes alone, on-demand
            table, size = o.resource, o.batch
            if size <= 1:
                return [put_item(table, r) for r in records]
            return [batch_write(table, records[i : i + size]) for i in range(0, len(records), size)]
        table, size, provisioned = o.resource, max(1, o.batch), o.provisioned
        calls: list[Call] = []
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            if self._read_next():
                keys = self._read_keys(chunk)
                if keys:
                    read: Call = (
                        get_item(table, keys[0], o.consistent_read)
                        if size == 1
                        else batch_get(table, keys, o.consistent_read)
                    )
                    read.provisioned = provisioned  # type: ignore[attr-defined]
                    calls.append(read)
                    continue
            calls.extend(self._writes(table, chunk, size))
        if provisioned:
            for call in calls:
                call.provisioned = True  # type: ignore[attr-defined]
        return calls

    def _writes(self, table: str, chunk: Sequence[dict[str, Any]], size: int) -> list[Call]:
        versioned = self.dynamo.key_space > 0
        if self.dynamo.read_ratio and not versioned:
            self._written.extend(r[KEY] for r in chunk)
        if size == 1:
            return [put_item(table, r, versioned) for r in chunk]
        if not versioned:
            return [batch_write(table, chunk)]
        calls: list[Call] = []  # a key twice in one batch is refused: the second one starts the next batch
        part: dict[str, dict[str, Any]] = {}
        for record in chunk:
            if record[KEY] in part:
                calls.append(batch_write(table, list(part.values()), True))
                part = {}
            part[record[KEY]] = record
        if part:
            calls.append(batch_write(table, list(part.values()), True))
        return calls

    def _read_next(self) -> bool:
        ratio = self.dynamo.read_ratio
        if not ratio:
            return False
        self._read_credit += ratio
        if self._read_credit >= 1.0:
            self._read_credit -= 1.0
            return True
        return False

    def _read_keys(self, chunk: Sequence[dict[str, Any]]) -> list[str]:
        """Distinct keys to read (a batch may not ask for a key twice)."""
        if self.dynamo.key_space:
            return list(dict.fromkeys(r[KEY] for r in chunk))
        if not self._written:
            return []
        return list(dict.fromkeys(self._rng.choice(self._written) for _ in chunk))

    def provision(self, endpoint: Endpoint, timeout: float = 60.0) -> bool:
        client = endpoint.admin_client()
        table = self.options.resource
        created = False
        capacity: dict[str, Any] = {"BillingMode": "PAY_PER_REQUEST"}
        if self.dynamo.provisioned:
            capacity = {
                "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {
                    "ReadCapacityUnits": self.dynamo.read_units,
                    "WriteCapacityUnits": self.dynamo.write_units,
                },
            }
        try:
            client.create_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                **capacity,
            )
            created = True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
        deadline = time.monotonic() + timeout
        while client.describe_table(TableName=table)["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise ConfigError(f"table {table!r} did not become ACTIVE within {timeout:.0f} s")
            time.sleep(0.5)
        return created

    def preflight(self, endpoint: Endpoint) -> None:
        """The table exists, is keyed by `isbn` (a string partition key, no sort key), and
        takes a write: a PutItem on a key no record has, on the condition that the item
        exists, is authorized like any write and refused by its condition, so it stores nothing."""
        client, table = endpoint.admin_client(), self.options.resource
        where = endpoint.url or f"AWS {endpoint.region}"
        try:
            description = client.describe_table(TableName=table)["Table"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise ConfigError(f"table {table!r} does not exist at {where}") from None
            raise ConfigError(f"cannot describe table {table!r} at {where}: {code}") from None
        except BotoCoreError as exc:
            raise ConfigError(f"cannot reach DynamoDB at {where}: {type(exc).__name__}") from None
        self._found_capacity = table_capacity(description)
        schema = [(k["AttributeName"], k["KeyType"]) for k in description.get("KeySchema", [])]
        types = {a["AttributeName"]: a["AttributeType"] for a in description.get("AttributeDefinitions", [])}
        if schema != [(KEY, "HASH")] or types.get(KEY) != "S":
            shown = ", ".join(f"{name} ({kind} {types.get(name, '?')})" for name, kind in schema) or "none"
            raise ConfigError(
                f"table {table!r} is keyed by {shown}; this tool writes items keyed by a string partition key "
                f"{KEY!r} alone: use another --table, or let the tool create one"
            )
        try:
            client.put_item(
                TableName=table,
                Item={KEY: {"S": f"aws-load-writers-probe-{uuid.uuid4().hex}"}},
                ConditionExpression="attribute_exists(#key)",
                ExpressionAttributeNames={"#key": KEY},
            )
        except ClientError as exc:
            error = AwsCallError.from_botocore(exc)
            if error.code == "ConditionalCheckFailedException":
                return  # allowed to write; the condition kept it from storing anything
            if error.kind is FailureKind.CLIENT:
                raise ConfigError(f"cannot write to table {table!r}: {error.code}: {error.message}"[:300]) from None
            # throttled or a server error: the probe says nothing either way; the run will tell

    def discovered(self) -> dict[str, Any]:
        """The table's own capacity mode and units, as preflight found them."""
        return dict(getattr(self, "_found_capacity", {}))

    def describe_capacity(self) -> str:
        o = self.dynamo
        if not o.provisioned:
            return "on-demand"
        return f"provisioned: {o.write_units} write and {o.read_units} read capacity units/s"

    def capacity(self) -> dict[str, float]:
        """Provisioned units per second by the unit the calls are billed in (the AWS tab compares)."""
        if not self.dynamo.provisioned:
            return {}
        return {"WRU": float(self.dynamo.write_units), "RRU": float(self.dynamo.read_units)}

    def teardown(self, endpoint: Endpoint) -> None:
        client = endpoint.admin_client()
        try:
            client.delete_table(TableName=self.options.resource)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise

    def verify(self, endpoint: Endpoint, acked_keys: Sequence[str]) -> VerifyResult:
        """BatchGetItem every acknowledged key; an item whose checksum does not match is corrupt.
        A key written more than once (--key-space) must hold its last acknowledged version, by
        the record's checksum (`expect_versions`): an older one means the last write was lost."""
        client, table = endpoint.admin_client(), self.options.resource
        acked_keys = list(dict.fromkeys(acked_keys))  # a key written again is checked once
        versions = self.versions
        result = VerifyResult(len(acked_keys))
        for start in range(0, len(acked_keys), 100):
            wanted = set(acked_keys[start : start + 100])
            request: dict[str, Any] = {table: {"Keys": [{KEY: {"S": key}} for key in wanted], "ConsistentRead": True}}
            while request:
                answer = client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(table, []):
                    record = {name: next(iter(value.values())) for name, value in item.items()}
                    wanted.discard(record[KEY])
                    if "crc" in record and record["crc"] != record_crc(record):
                        result.corrupt += 1
                        result.examples.append(f"corrupt {record[KEY]}")
                    elif record[KEY] in versions and record.get("crc") not in versions[record[KEY]]:
                        if self.newer_may_exist:  # one of the writes never answered may have put it there
                            result.uncertain += 1
                            continue
                        result.lost += 1  # an older version stored: the last acknowledged write is gone
                        if len(result.examples) < 5:
                            result.examples.append(f"stale {record[KEY]}")
                request = answer.get("UnprocessedKeys") or {}
            result.lost += len(wanted)
            result.examples.extend(f"lost {key}" for key in sorted(wanted)[: max(0, 5 - len(result.examples))])
        return result

    def stored_keys(self, endpoint: Endpoint) -> set[str]:
        paginator = endpoint.admin_client().get_paginator("scan")
        pages = paginator.paginate(TableName=self.options.resource, ProjectionExpression=KEY)
        return {item[KEY]["S"] for page in pages for item in page["Items"]}


WORKLOAD = DynamoDBWorkload
