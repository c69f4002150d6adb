"""DynamoDB's side of the fault proxy: JSON 1.0 errors, tables and their keys as resources, batches cut short."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from writers.faults import Answer, BatchCut, KeyedCost, ProxyRequest, ServiceFaults, crc32, json_body, request_id
from writers.services.dynamodb.billing import read_units, write_units
from writers.services.dynamodb.calls import key_of
from writers.services.dynamodb.service import SERVICE, TARGET_PREFIX

JSON_1_0 = "application/x-amz-json-1.0"


def error_answer(status: int, error_type: str, message: str) -> Answer:
    body = json_body({"__type": f"com.amazonaws.dynamodb.v20120810#{error_type}", "message": message})
    headers = {
        "Content-Type": JSON_1_0,
        "x-amzn-RequestId": request_id(),
        "x-amz-crc32": crc32(body),  # botocore checks it when present, as DynamoDB sends it
    }
    return Answer(status, headers, body)


def keyed_costs(operation: str | None, document: Mapping[str, Any]) -> list[KeyedCost]:
    costs: list[KeyedCost] = []
    table = document.get("TableName")
    if operation == "PutItem" and isinstance(table, str) and isinstance(document.get("Item"), Mapping):
        key = key_of(document["Item"])
        if key is not None:
            costs.append(KeyedCost(table, key, write_units=write_units(document["Item"])))
    elif operation == "GetItem" and isinstance(table, str):
        key = key_of(document.get("Key"))
        if key is not None:
            costs.append(KeyedCost(table, key, read_units=read_units(None, bool(document.get("ConsistentRead")))))
    elif operation in ("BatchWriteItem", "BatchGetItem") and isinstance(document.get("RequestItems"), Mapping):
        for name, request in document["RequestItems"].items():
            if isinstance(request, list):  # BatchWriteItem
                for entry in request:
                    item = (entry.get("PutRequest") or {}).get("Item") if isinstance(entry, Mapping) else None
                    key = key_of(item)
                    if key is not None:
                        costs.append(KeyedCost(str(name), key, write_units=write_units(item)))  # type: ignore[arg-type]
            elif isinstance(request, Mapping):  # BatchGetItem
                units = read_units(None, bool(request.get("ConsistentRead")))
                for wanted in request.get("Keys") or ():
                    key = key_of(wanted)
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
