"""DynamoDB: PutItem, BatchWriteItem (25 items), GetItem; table provisioning; billing."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from writers.calls import Call, ServiceInfo, Settlement
from writers.emulators import MOTO, Emulator, Launch, node_launch, npm_unavailable, package_bin
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.faults import Answer, BatchCut, ProxyRequest, ServiceFaults, crc32, json_body, request_id
from writers.pricing import NOTHING, Bill, Billing, Price
from writers.protocols.json_protocol import JsonCall
from writers.records import record_crc
from writers.services.base import VerifyResult, Workload
from writers.target import Endpoint

SERVICE = ServiceInfo(name="DynamoDB", boto3_name="dynamodb", signing_name="dynamodb", endpoint_env="DYNAMODB")
TARGET_PREFIX = "DynamoDB_20120810."
KEY = "isbn"
MAX_BATCH = 25
MAX_ITEM_BYTES = 400 * 1024
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


class PutItem(DynamoDBCall):
    operation = "PutItem"
    api_method = "put_item"


class GetItem(DynamoDBCall):
    operation = "GetItem"
    api_method = "get_item"
    is_read = True


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
        unsent = set(leftover.keys)
        acked = tuple(key for key in self.keys if key not in unsent)
        return Settlement(acked=self.items - left, acked_keys=acked, leftover=leftover)


def request_keys(request_items: Mapping[str, list[Any]]) -> list[str]:
    """The keys of the items a BatchWriteItem puts."""
    return [r["PutRequest"]["Item"][KEY]["S"] for requests in request_items.values() for r in requests]


def put_item(table: str, record: Mapping[str, Any]) -> PutItem:
    return PutItem({"TableName": table, "Item": to_item(record), **CONSUMED_CAPACITY}, keys=(record[KEY],))


def batch_write(table: str, records: Sequence[Mapping[str, Any]]) -> BatchWriteItem:
    if not 1 <= len(records) <= MAX_BATCH:
        raise ConfigError(f"BatchWriteItem takes 1 to {MAX_BATCH} items, not {len(records)}")
    requests = [{"PutRequest": {"Item": to_item(r)}} for r in records]
    keys = tuple(r[KEY] for r in records)
    return BatchWriteItem({"RequestItems": {table: requests}, **CONSUMED_CAPACITY}, len(records), keys=keys)


def get_item(table: str, key: str) -> GetItem:
    return GetItem({"TableName": table, "Key": {KEY: {"S": key}}})


# --------------------------------------------------------------------------- billing

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
_WRU = Price("WRU", 0.625, "DynamoDB on-demand write request unit (1 per started KB of item)")
_RRU = Price("RRU", 0.125, "DynamoDB on-demand read request unit (1 per started 4 KB, strongly consistent)")


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
    return 1.0


@dataclass(frozen=True)
class DynamoDBBilling(Billing):
    """On-demand request units: those the service reports in ConsumedCapacity (the calls ask for
    ReturnConsumedCapacity=TOTAL), else estimated from the item sizes (1 WRU per started KB
    written, 1 RRU per started 4 KB read, half if eventually consistent). Failed calls,
    throttled ones included, are not billed."""

    def bill(self, call: Call, response: Mapping[str, Any] | None, error: AwsCallError | None = None) -> Bill:
        # Once per call on the load generator: the common case (an answer with its one
        # table's ConsumedCapacity) stays a few dictionary look-ups.
        price = self.prices.get(call.operation)
        if price is None or response is None:
            return NOTHING
        consumed = response.get("ConsumedCapacity")
        if consumed.__class__ is dict and "CapacityUnits" in consumed:  # PutItem's one table
            units = float(consumed["CapacityUnits"])
            return Bill(units, round(units * price.pico_usd_per_unit), True)
        if consumed:
            units = consumed_units(consumed)
            return Bill(units, round(units * price.pico_usd_per_unit), True)
        units = estimated_units(call, response)
        return Bill(units, round(units * price.pico_usd_per_unit), False)


BILLING = DynamoDBBilling(
    service=SERVICE.name,
    source="https://aws.amazon.com/dynamodb/pricing/on-demand/",
    as_of="2025-06-01",
    prices={"PutItem": _WRU, "BatchWriteItem": _WRU, "DeleteItem": _WRU, "GetItem": _RRU},
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


class DynamoDBFaults(ServiceFaults):
    """Tables are the resources; batches and transactions cost one unit per item. Throttled as
    a provisioned table is (ProvisionedThroughputExceededException, 400); --partial-batches
    cuts a BatchWriteItem to what fits and returns the rest in UnprocessedItems."""

    service = SERVICE.name
    target_prefix = TARGET_PREFIX

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


class DynamoDBWorkload(Workload):
    service = SERVICE
    resource_kind = "table"
    default_resource = "books"
    max_batch = MAX_BATCH
    max_payload_bytes = MAX_ITEM_BYTES
    resource_pattern = r"[a-zA-Z0-9_.-]{3,255}"
    billing = BILLING
    emulators = EMULATORS
    local_port_offset = 0
    faults = DynamoDBFaults()

    def write_calls(self, records: Sequence[dict[str, Any]]) -> list[Call]:
        table, size = self.options.resource, self.options.batch
        if size <= 1:
            return [put_item(table, r) for r in records]
        return [batch_write(table, records[i : i + size]) for i in range(0, len(records), size)]

    def provision(self, endpoint: Endpoint, timeout: float = 60.0) -> bool:
        client = endpoint.admin_client()
        table = self.options.resource
        created = False
        try:
            client.create_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
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

    def teardown(self, endpoint: Endpoint) -> None:
        client = endpoint.admin_client()
        try:
            client.delete_table(TableName=self.options.resource)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise

    def verify(self, endpoint: Endpoint, acked_keys: Sequence[str]) -> VerifyResult:
        """BatchGetItem every acknowledged key; an item whose checksum does not match is corrupt."""
        client, table = endpoint.admin_client(), self.options.resource
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
                request = answer.get("UnprocessedKeys") or {}
            result.lost += len(wanted)
            result.examples.extend(f"lost {key}" for key in sorted(wanted)[: max(0, 5 - len(result.examples))])
        return result

    def stored_keys(self, endpoint: Endpoint) -> set[str]:
        paginator = endpoint.admin_client().get_paginator("scan")
        pages = paginator.paginate(TableName=self.options.resource, ProjectionExpression=KEY)
        return {item[KEY]["S"] for page in pages for item in page["Items"]}


WORKLOAD = DynamoDBWorkload
