"""Kinesis Data Streams: PutRecord, PutRecords (up to 500 records, 5 MiB a call); streams
on demand or provisioned (--shards); billing at list prices; kinesalite (npm) or moto
server locally; --verify reads every shard back; the fault proxy's throttles and errors.

Records are the Faker book records, sent as JSON (the record's ISBN is its partition
key), so a read-back finds each one by key and checks its checksum. PutRecords answers
each record on its own: those it failed (ErrorCode ProvisionedThroughputExceededException
or InternalFailure) are sent again on their own after a backoff, as DynamoDB's
UnprocessedItems are, never dropped; records refused for good (a KMS key that cannot be
used, say) are given up at once and counted.

Kinesis speaks AWS's JSON protocol, version 1.1 (``X-Amz-Target: Kinesis_20131202.*``);
record data is base64 in the JSON body (boto3 takes bytes and encodes them itself).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from writers.calls import Call, ServiceInfo, Settlement, WireRequest
from writers.emulators import MOTO, Emulator, Launch, node_launch, npm_unavailable, package_bin
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.faults import Answer, BatchCut, ProxyRequest, ServiceFaults, json_body, request_id
from writers.pricing import NOTHING, Bill, Billing, HourlyCharge, Price
from writers.protocols.json_protocol import JSON_1_1, JsonCall, json_request
from writers.records import record_crc
from writers.services.base import VerifyResult, Workload, WorkloadOptions
from writers.target import Endpoint

SERVICE = ServiceInfo(name="Kinesis", boto3_name="kinesis", signing_name="kinesis", endpoint_env="KINESIS")
TARGET_PREFIX = "Kinesis_20131202."
KEY = "isbn"  # the records' key: each record's partition key
MiB = 1 << 20
MAX_BATCH = 500  # records per PutRecords
MAX_RECORD_BYTES = 1 * MiB  # data plus partition key, one record
MAX_CALL_BYTES = 5 * MiB  # one PutRecords, all its records
MAX_SHARDS = 100_000  # CreateStream's ShardCount (accounts start with a quota of a few hundred)
# Around --payload-bytes of record fields: JSON punctuation and the partition key (up to 256 bytes).
RECORD_OVERHEAD = 1024
STREAM_PATTERN = r"[a-zA-Z0-9_.-]{1,128}"
# Per-record ErrorCodes of PutRecords that are the service's fault or its limit: sent again.
RETRYABLE_RECORD_ERRORS = frozenset(
    {"ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"}
)
MISSING_STREAM = "ResourceNotFoundException"
PROVISIONED = " (provisioned)"  # after the operation in the rows of provisioned streams


# --------------------------------------------------------------------------- calls


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


# --------------------------------------------------------------------------- billing

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


# --------------------------------------------------------------------------- fault proxy answers


def error_answer(status: int, error_type: str, message: str) -> Answer:
    body = json_body({"__type": error_type, "message": message})
    headers = {"Content-Type": JSON_1_1, "x-amzn-RequestId": str(uuid.uuid4()), "x-amz-id-2": request_id()}
    return Answer(status, headers, body)


def _stream_of(document: Mapping[str, Any]) -> str | None:
    name = document.get("StreamName")
    if isinstance(name, str):
        return name
    arn = document.get("StreamARN")  # arn:aws:kinesis:<region>:<account>:stream/<name>
    return arn.rsplit("/", 1)[-1] if isinstance(arn, str) else None


def _sequence_number() -> str:
    return str(uuid.uuid4().int)[:56]


THROTTLE_MESSAGE = "Rate exceeded for shard shardId-000000000000 in stream {} under account 000000000000."


class KinesisFaults(ServiceFaults):
    """Streams are the resources; PutRecords costs one unit per record. Throttled as a shard
    over its limit is (ProvisionedThroughputExceededException, 400, JSON 1.1);
    --partial-batches forwards the records of a PutRecords that fit and answers the rest
    as failed records, as Kinesis does."""

    service = SERVICE.name
    target_prefix = TARGET_PREFIX

    def costs(self, request: ProxyRequest) -> dict[str, int]:
        document = request.document or {}
        stream = _stream_of(document)
        if stream is None:
            return {}
        records = document.get("Records")
        return {stream: max(1, len(records)) if isinstance(records, list) else 1}

    def throttle(self) -> Answer:
        return error_answer(400, "ProvisionedThroughputExceededException", THROTTLE_MESSAGE.format("(any)"))

    def error(self, status: int) -> Answer:
        if status == 503:
            return error_answer(503, "ServiceUnavailable", "Service Unavailable")
        return error_answer(500, "InternalFailure", "Internal service failure.")

    def forgets(self, request: ProxyRequest) -> bool:
        return request.operation in ("PutRecord", "PutRecords") and request.document is not None

    def forgotten(self, request: ProxyRequest, body: bytes) -> Answer:
        stored = {"ShardId": "shardId-000000000000", "SequenceNumber": _sequence_number()}
        answer: dict[str, Any]
        if request.operation == "PutRecord":
            answer = stored
        else:
            records = (request.document or {}).get("Records") or []
            answer = {
                "FailedRecordCount": 0,
                "Records": [{**stored, "SequenceNumber": _sequence_number()} for _ in records],
            }
        return Answer(200, {"Content-Type": JSON_1_1, "x-amzn-RequestId": str(uuid.uuid4())}, json_body(answer))

    def can_cut(self, request: ProxyRequest) -> bool:
        document = request.document or {}
        return request.operation == "PutRecords" and isinstance(document.get("Records"), list)

    def cut(self, document: Mapping[str, Any], granted: Mapping[str, int]) -> BatchCut:
        """Keep the first records the stream's bucket grants; the rest come back as failed records."""
        records = list(document["Records"])
        count = sum(granted.values())
        held = len(records) - count
        return BatchCut({**document, "Records": records[:count]}, (_stream_of(document), held), held)

    def merge(self, answer: bytes, held_back: Any) -> bytes:
        stream, held = held_back
        document = orjson.loads(answer)
        failed = {
            "ErrorCode": "ProvisionedThroughputExceededException",
            "ErrorMessage": THROTTLE_MESSAGE.format(stream),
        }
        document["Records"] = [*document.get("Records", []), *([failed] * held)]
        document["FailedRecordCount"] = int(document.get("FailedRecordCount") or 0) + held
        return json_body(document)


# --------------------------------------------------------------------------- local emulators


def _kinesalite_launch(workdir: Path, bind: str, port: int | None) -> Launch:
    """kinesalite 3.3.x (npm): in memory, streams ACTIVE at once. It has no host option and
    listens on every interface: the bind preload binds it to `bind` (127.0.0.1)."""

    def args(package_dir: Path, port: int) -> list[str]:
        return [
            str(package_bin(package_dir, "kinesalite")), "--port", str(port), "--shardLimit", "1000",
            "--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0",
        ]  # fmt: skip

    return node_launch("kinesalite", bind, port, args, preload=True)


MOTO_WARNING = (
    "moto's Kinesis is not safe for concurrent writes to a shard (two puts can take one sequence "
    "number: an acknowledged record is lost); use it for correctness one call at a time, not for load"
)
EMULATORS = (
    Emulator("kinesalite", _kinesalite_launch, npm_unavailable("kinesalite")),
    replace(MOTO, warning=MOTO_WARNING),
)


# --------------------------------------------------------------------------- workload

ON_DEMAND_START_SHARDS = 4  # an on-demand stream starts with the write capacity of 4 shards (4 MB/s)
READ_BACK_SECONDS = 600.0


@dataclass(frozen=True)
class KinesisOptions(WorkloadOptions):
    shards: int = 0  # 0: an on-demand stream; N: provisioned, with N shards

    @property
    def provisioned(self) -> bool:
        return self.shards > 0


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
    options: KinesisOptions

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--shards", type=int, default=0, help="0: an on-demand stream (the default); N: provisioned, N shards"
        )

    @classmethod
    def read_options(cls, options: Any, batch: int, payload_bytes: int) -> KinesisOptions:
        name = str(getattr(options, cls.resource_kind))
        cls.check_resource_name(name)
        shards = getattr(options, "shards", 0)
        if isinstance(shards, bool) or not isinstance(shards, int) or not 0 <= shards <= MAX_SHARDS:
            raise ConfigError(f"--shards must be 0 (on-demand) or a shard count up to {MAX_SHARDS}, not {shards!r}")
        record = payload_bytes + RECORD_OVERHEAD
        if batch > 1 and batch * record > MAX_CALL_BYTES:
            raise ConfigError(
                f"--batch {batch} records of --payload-bytes {payload_bytes} go over the 5 MiB one PutRecords "
                f"may carry: use --batch {MAX_CALL_BYTES // record} or less"
            )
        return KinesisOptions(name, batch, payload_bytes, shards)

    def __init__(self, options: WorkloadOptions) -> None:
        if not isinstance(options, KinesisOptions):
            options = KinesisOptions(options.resource, options.batch, options.payload_bytes)
        super().__init__(options)

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


WORKLOAD = KinesisWorkload
