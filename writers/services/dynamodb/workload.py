"""DynamoDB's workload: calls from records, mixed reads, the table (provisioning, capacity, read-back)."""

from __future__ import annotations

import random
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from writers.calls import Call
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.records import record_crc
from writers.services.base import VerifyResult, Workload, WorkloadOptions
from writers.services.dynamodb import options as dynamodb_options
from writers.services.dynamodb.billing import BILLING
from writers.services.dynamodb.calls import KEY, MAX_ITEM_BYTES, batch_get, batch_write, get_item, put_item
from writers.services.dynamodb.emulator import EMULATORS
from writers.services.dynamodb.faults import DynamoDBFaults
from writers.services.dynamodb.keys import KeySampler, SpaceRecords
from writers.services.dynamodb.options import DEFAULT_HOT_KEY_SHARE, MAX_BATCH_GET, MAX_BATCH_WRITE, DynamoDBOptions
from writers.services.dynamodb.service import SERVICE
from writers.target import Endpoint

REMEMBERED_KEYS = 100_000  # keys written per process that reads may ask for (unique keys)


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
    options_module = dynamodb_options
    options: DynamoDBOptions

    def __init__(self, options: WorkloadOptions) -> None:
        super().__init__(options)
        self._read_credit = 0.0
        self._written: deque[str] = deque(maxlen=REMEMBERED_KEYS)  # unique keys: reads ask for these
        self._rng = random.Random()
        self._space: SpaceRecords | None = None
        self._plain = not (self.options.key_space or self.options.read_ratio or self.options.provisioned)

    @property
    def tracks_keys(self) -> bool:
        """Keys are written again (--key-space): the hottest ones are worth naming."""
        return self.options.key_space > 0

    def records(self, seed: int | None, stream: int) -> Any:
        o = self.options
        if not o.key_space:
            return super().records(seed, stream)
        share = DEFAULT_HOT_KEY_SHARE if o.hot_key_share is None else o.hot_key_share
        sampler = KeySampler(o.key_space, o.key_distribution, o.zipf_s, share, seed, stream)
        self._space = SpaceRecords(sampler, seed, stream, o.payload_bytes)
        return self._space

    def write_calls(self, records: Sequence[dict[str, Any]]) -> list[Call]:
        """Records become writes; with --read-ratio, that share of the calls read instead: the
        records' own keys (--key-space: the same distribution), or keys this process wrote."""
        o = self.options
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
        versioned = self.options.key_space > 0
        if self.options.read_ratio and not versioned:
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
        ratio = self.options.read_ratio
        if not ratio:
            return False
        self._read_credit += ratio
        if self._read_credit >= 1.0:
            self._read_credit -= 1.0
            return True
        return False

    def _read_keys(self, chunk: Sequence[dict[str, Any]]) -> list[str]:
        """Distinct keys to read (a batch may not ask for a key twice)."""
        if self.options.key_space:
            return list(dict.fromkeys(r[KEY] for r in chunk))
        if not self._written:
            return []
        return list(dict.fromkeys(self._rng.choice(self._written) for _ in chunk))

    def provision(self, endpoint: Endpoint, timeout: float = 60.0) -> bool:
        client = endpoint.admin_client()
        table = self.options.resource
        created = False
        capacity: dict[str, Any] = {"BillingMode": "PAY_PER_REQUEST"}
        if self.options.provisioned:
            capacity = {
                "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {
                    "ReadCapacityUnits": self.options.read_units,
                    "WriteCapacityUnits": self.options.write_units,
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
        o = self.options
        if not o.provisioned:
            return "on-demand"
        return f"provisioned: {o.write_units} write and {o.read_units} read capacity units/s"

    def capacity(self) -> dict[str, float]:
        """Provisioned units per second by the unit the calls are billed in (the AWS tab compares)."""
        if not self.options.provisioned:
            return {}
        return {"WRU": float(self.options.write_units), "RRU": float(self.options.read_units)}

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
