"""Kinesis's calls: PutRecord, PutRecords (up to 500 records, 5 MiB a call), records retried on their own."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from writers.calls import Settlement, WireRequest
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.protocols.json_protocol import JSON_1_1, JsonCall, json_request
from writers.services.kinesis.service import SERVICE, TARGET_PREFIX

KEY = "isbn"  # the records' key: each record's partition key
MiB = 1 << 20
MAX_BATCH = 500  # records per PutRecords
MAX_RECORD_BYTES = 1 * MiB  # data plus partition key, one record
MAX_CALL_BYTES = 5 * MiB  # one PutRecords, all its records


# Around --payload-bytes of record fields: JSON punctuation and the partition key (up to 256 bytes).
RECORD_OVERHEAD = 1024


# Per-record ErrorCodes of PutRecords that are the service's fault or its limit: sent again.
RETRYABLE_RECORD_ERRORS = frozenset(
    {"ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"}
)


PROVISIONED = " (provisioned)"  # after the operation in the rows of provisioned streams


def record_data(record: Mapping[str, Any]) -> bytes:
    return orjson.dumps(record)


def record_bytes(entry: Mapping[str, Any]) -> int:
    """A record's size as Kinesis counts it against its limits: data plus partition key."""
    return len(entry["Data"]) + len(str(entry["PartitionKey"]).encode())


def _on_the_wire(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A record as the JSON protocol carries it: its data in base64."""
    return {**entry, "Data": base64.b64encode(entry["Data"]).decode()}


class KinesisCall(JsonCall):
    service = SERVICE
    target_prefix = TARGET_PREFIX
    content_type = JSON_1_1

    def __init__(
        self,
        params: dict[str, Any],
        items: int = 1,
        *,
        keys: tuple[str, ...] = (),
        attempt: int = 1,
        provisioned: bool = False,
    ) -> None:
        super().__init__(params, items, keys=keys, attempt=attempt)
        self.provisioned = provisioned  # the stream's capacity mode: how it is billed

    @property
    def label(self) -> str:
        """Rows of provisioned streams are apart: they are billed otherwise."""
        return self.operation + PROVISIONED if self.provisioned else self.operation

    def wire_params(self) -> dict[str, Any]:
        return self.params

    def build_wire(self) -> WireRequest:
        return json_request(self.target_prefix + self.operation, self.wire_params(), self.content_type)


class PutRecord(KinesisCall):
    operation = "PutRecord"
    api_method = "put_record"

    def wire_params(self) -> dict[str, Any]:
        return _on_the_wire(self.params)


class PutRecords(KinesisCall):
    operation = "PutRecords"
    api_method = "put_records"

    def wire_params(self) -> dict[str, Any]:
        return {**self.params, "Records": [_on_the_wire(entry) for entry in self.params["Records"]]}

    def settle(self, response: dict[str, Any]) -> Settlement:
        """Records the service failed are sent again on their own; those refused for good are given up."""
        results: list[dict[str, Any]] = response.get("Records") or []
        if not response.get("FailedRecordCount") and len(results) == self.items:
            return Settlement(acked=self.items, acked_keys=self.keys)
        entries: list[dict[str, Any]] = self.params["Records"]
        retry: list[int] = []
        acked: list[str] = []
        refused = 0
        error: AwsCallError | None = None
        for index in range(len(entries)):
            result = results[index] if index < len(results) else {"ErrorCode": "InternalFailure"}
            code = result.get("ErrorCode")
            if not code:
                acked.append(self.keys[index])
            elif code in RETRYABLE_RECORD_ERRORS:
                retry.append(index)
            else:
                refused += 1
                if error is None:
                    error = AwsCallError(FailureKind.CLIENT, str(code), str(result.get("ErrorMessage") or ""))
        leftover = None
        if retry:
            params = {**self.params, "Records": [entries[i] for i in retry]}
            keys = tuple(self.keys[i] for i in retry)
            leftover = PutRecords(params, len(retry), keys=keys, attempt=self.attempt + 1, provisioned=self.provisioned)
        return Settlement(acked=len(acked), acked_keys=tuple(acked), leftover=leftover, given_up=refused, error=error)


def put_record(stream: str, record: Mapping[str, Any], provisioned: bool = False) -> PutRecord:
    params = {"StreamName": stream, "Data": record_data(record), "PartitionKey": str(record[KEY])}
    return PutRecord(params, keys=(str(record[KEY]),), provisioned=provisioned)


def put_records(stream: str, records: Sequence[Mapping[str, Any]], provisioned: bool = False) -> PutRecords:
    if not 1 <= len(records) <= MAX_BATCH:
        raise ConfigError(f"PutRecords takes 1 to {MAX_BATCH} records, not {len(records)}")
    entries = [{"Data": record_data(r), "PartitionKey": str(r[KEY])} for r in records]
    keys = tuple(str(r[KEY]) for r in records)
    return PutRecords({"StreamName": stream, "Records": entries}, len(entries), keys=keys, provisioned=provisioned)
