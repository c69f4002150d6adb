"""DynamoDB: PutItem, BatchWriteItem (25 items), GetItem; table provisioning."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from writers.calls import Call, ServiceInfo, Settlement, WireRequest
from writers.errors import ConfigError
from writers.services.base import Workload
from writers.services.json_protocol import json_request, json_response
from writers.target import Endpoint

SERVICE = ServiceInfo(name="DynamoDB", boto3_name="dynamodb", signing_name="dynamodb", endpoint_env="DYNAMODB")
TARGET_PREFIX = "DynamoDB_20120810."
KEY = "isbn"
MAX_BATCH = 25
MAX_ITEM_BYTES = 400 * 1024


def to_item(record: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """A flat record as DynamoDB's typed attribute values."""
    return {k: {"N": str(v)} if isinstance(v, (int, float)) else {"S": str(v)} for k, v in record.items()}


class DynamoDBCall(Call):
    service = SERVICE

    def build_wire(self) -> WireRequest:
        return json_request(TARGET_PREFIX + self.operation, self.params)

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        return json_response(status, headers, body)


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
            return Settlement(acked=self.items)
        return Settlement(
            acked=self.items - left, leftover=BatchWriteItem({"RequestItems": unprocessed}, left, self.attempt + 1)
        )


def put_item(table: str, record: Mapping[str, Any]) -> PutItem:
    return PutItem({"TableName": table, "Item": to_item(record)})


def batch_write(table: str, records: Sequence[Mapping[str, Any]]) -> BatchWriteItem:
    if not 1 <= len(records) <= MAX_BATCH:
        raise ConfigError(f"BatchWriteItem takes 1 to {MAX_BATCH} items, not {len(records)}")
    requests = [{"PutRequest": {"Item": to_item(r)}} for r in records]
    return BatchWriteItem({"RequestItems": {table: requests}}, len(records))


def get_item(table: str, key: str) -> GetItem:
    return GetItem({"TableName": table, "Key": {KEY: {"S": key}}})


def admin_client(endpoint: Endpoint) -> Any:
    return endpoint.admin_client()


class DynamoDBWorkload(Workload):
    service = SERVICE
    resource_kind = "table"
    default_resource = "books"
    max_batch = MAX_BATCH
    max_payload_bytes = MAX_ITEM_BYTES
    resource_pattern = r"[a-zA-Z0-9_.-]{3,255}"

    def write_calls(self, records: Sequence[dict[str, Any]]) -> list[Call]:
        table, size = self.options.resource, self.options.batch
        if size <= 1:
            return [put_item(table, r) for r in records]
        return [batch_write(table, records[i : i + size]) for i in range(0, len(records), size)]

    def provision(self, endpoint: Endpoint, timeout: float = 60.0) -> bool:
        client = admin_client(endpoint)
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

    def teardown(self, endpoint: Endpoint) -> None:
        client = admin_client(endpoint)
        try:
            client.delete_table(TableName=self.options.resource)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise

    def stored_keys(self, endpoint: Endpoint) -> set[str]:
        paginator = admin_client(endpoint).get_paginator("scan")
        pages = paginator.paginate(TableName=self.options.resource, ProjectionExpression=KEY)
        return {item[KEY]["S"] for page in pages for item in page["Items"]}
