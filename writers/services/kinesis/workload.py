"""Kinesis's workload: calls from records, the stream (provisioning, shards, read-back of every shard)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from writers.calls import Call
from writers.errors import ConfigError
from writers.records import record_crc
from writers.services.base import VerifyResult, Workload
from writers.services.kinesis import options as kinesis_options
from writers.services.kinesis.billing import BILLING
from writers.services.kinesis.calls import (
    KEY,
    MAX_BATCH,
    MAX_RECORD_BYTES,
    RECORD_OVERHEAD,
    put_record,
    put_records,
)
from writers.services.kinesis.emulator import EMULATORS
from writers.services.kinesis.faults import KinesisFaults
from writers.services.kinesis.options import STREAM_PATTERN, KinesisOptions
from writers.services.kinesis.service import MISSING_STREAM, SERVICE
from writers.target import Endpoint

ON_DEMAND_START_SHARDS = 4  # an on-demand stream starts with the write capacity of 4 shards (4 MB/s)
READ_BACK_SECONDS = 600.0


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class KinesisWorkload(Workload):
    service = SERVICE
    resource_kind = "stream"
    default_resource = "books-stream"
    max_batch = MAX_BATCH
    max_payload_bytes = MAX_RECORD_BYTES - RECORD_OVERHEAD
    resource_pattern = STREAM_PATTERN
    billing = BILLING
    emulators = EMULATORS
    local_port_offset = 3
    faults = KinesisFaults()

    options_class = KinesisOptions
    options_module = kinesis_options
    options: KinesisOptions

    # ----------------------------------------------------------------- calls

    def write_calls(self, records: Sequence[dict[str, Any]]) -> list[Call]:
        stream, size, provisioned = self.options.resource, self.options.batch, self.options.provisioned
        if size <= 1:
            return [put_record(stream, r, provisioned) for r in records]
        return [put_records(stream, records[i : i + size], provisioned) for i in range(0, len(records), size)]

    def prepare(self, endpoint: Endpoint) -> None:
        """The stream must exist (with --no-provision too): one line now, not an error per call."""
        if self.status(endpoint) == "DELETING":
            where = endpoint.url or f"AWS {endpoint.region}"
            raise ConfigError(f"Kinesis stream {self.options.resource!r} is being deleted at {where}")

    def status(self, endpoint: Endpoint) -> str:
        name, where = self.options.resource, endpoint.url or f"AWS {endpoint.region}"
        try:
            answer = endpoint.admin_client().describe_stream_summary(StreamName=name)
        except ClientError as exc:
            if _code(exc) == MISSING_STREAM:
                raise ConfigError(f"Kinesis stream {name!r} does not exist at {where}") from None
            raise ConfigError(f"cannot look up Kinesis stream {name!r} at {where}: {_code(exc)}") from None
        except BotoCoreError as exc:
            raise ConfigError(f"cannot reach Kinesis at {where}: {type(exc).__name__}") from None
        return str(answer["StreamDescriptionSummary"]["StreamStatus"])

    # ----------------------------------------------------------------- resource

    def provision(self, endpoint: Endpoint, timeout: float = 60.0) -> bool:
        """Create the stream (on demand, or with --shards) if missing, and wait until it is ACTIVE."""
        try:
            self._create(endpoint.admin_client())
            created = True
        except ClientError as exc:
            if _code(exc) != "ResourceInUseException":
                raise
            created = False  # it exists: used as it is
        deadline = time.monotonic() + timeout
        while self.status(endpoint) != "ACTIVE":
            if time.monotonic() > deadline:
                raise ConfigError(f"stream {self.options.resource!r} did not become ACTIVE within {timeout:.0f} s")
            time.sleep(0.5)
        return created

    def _create(self, client: Any) -> None:
        name, shards = self.options.resource, self.options.shards
        if shards:
            client.create_stream(StreamName=name, ShardCount=shards, StreamModeDetails={"StreamMode": "PROVISIONED"})
            return
        try:
            client.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        except ClientError as exc:
            if _code(exc) != "ValidationException" or "shardCount" not in str(exc):
                raise
            # An endpoint older than on-demand streams (kinesalite) wants a shard count: the
            # write capacity an on-demand stream starts with.
            client.create_stream(StreamName=name, ShardCount=ON_DEMAND_START_SHARDS)

    def teardown(self, endpoint: Endpoint) -> None:
        try:
            endpoint.admin_client().delete_stream(StreamName=self.options.resource, EnforceConsumerDeletion=True)
        except ClientError as exc:
            if _code(exc) != MISSING_STREAM:
                raise

    # ----------------------------------------------------------------- read-back

    def shard_ids(self, endpoint: Endpoint) -> list[str]:
        client, name = endpoint.admin_client(), self.options.resource
        ids: list[str] = []
        answer = client.list_shards(StreamName=name)
        while True:
            ids += [shard["ShardId"] for shard in answer.get("Shards", [])]
            token = answer.get("NextToken")
            if not token:
                return ids
            answer = client.list_shards(NextToken=token)

    def read_back(self, endpoint: Endpoint) -> list[dict[str, Any]]:
        """Every record in the stream now, decoded, shard by shard from TRIM_HORIZON."""
        client, name = endpoint.admin_client(), self.options.resource
        deadline = time.monotonic() + READ_BACK_SECONDS
        records: list[dict[str, Any]] = []
        for shard in self.shard_ids(endpoint):
            iterator = client.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
            position = iterator.get("ShardIterator")
            while position and time.monotonic() < deadline:
                answer = client.get_records(ShardIterator=position, Limit=10_000)
                records += [_decoded(record) for record in answer.get("Records", [])]
                position = answer.get("NextShardIterator")
                if not answer.get("Records") and not answer.get("MillisBehindLatest"):
                    break  # caught up with the shard's end
        return records

    def verify(self, endpoint: Endpoint, acked_keys: Sequence[str]) -> VerifyResult:
        """Read every shard back: each acknowledged record must be there, as written, once
        (Kinesis may store a record twice when an answer is lost and it is sent again)."""
        result = VerifyResult(len(acked_keys))
        seen: dict[str, int] = {}
        for record in self.read_back(endpoint):
            key = str(record.get(KEY, ""))
            seen[key] = seen.get(key, 0) + 1
            if "crc" in record and record["crc"] != record_crc(record):
                result.corrupt += 1
                result.examples.append(f"corrupt {key}")
        lost = [key for key in acked_keys if key not in seen]
        result.lost = len(lost)
        result.duplicates = sum(count - 1 for count in seen.values())
        result.examples = (result.examples + [f"lost {key}" for key in lost])[:5]
        return result

    def stored_keys(self, endpoint: Endpoint) -> set[str]:
        return {str(record.get(KEY, "")) for record in self.read_back(endpoint)}


def _decoded(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record's data as the record it was written from (or its partition key alone if it is not ours)."""
    try:
        data = orjson.loads(record["Data"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        data = None
    return data if isinstance(data, dict) else {KEY: record.get("PartitionKey", "")}
