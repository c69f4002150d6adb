"""DynamoDB's calls: PutItem, BatchWriteItem (25 items), GetItem, BatchGetItem (100 keys), as items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from writers.calls import Settlement
from writers.errors import ConfigError
from writers.protocols.json_protocol import JsonCall
from writers.services.dynamodb.options import (
    MAX_BATCH_GET,
    MAX_BATCH_WRITE,
)
from writers.services.dynamodb.service import SERVICE, TARGET_PREFIX

KEY = "isbn"
MAX_BATCH = MAX_BATCH_WRITE
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


def key_of(item: Any) -> str | None:
    """The key of an item (or a Key) as the wire shows it, or None."""
    value = item.get(KEY) if isinstance(item, Mapping) else None
    return str(next(iter(value.values()))) if isinstance(value, Mapping) and value else None


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
            keys = tuple(key_of(k) or "" for request in unprocessed.values() for k in request.get("Keys") or ())
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
