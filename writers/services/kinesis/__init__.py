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

One module per job, as every service: `service` (what Kinesis is to a client), `options`,
`calls`, `billing`, `emulator` (kinesalite, moto), `faults` (its answers in the fault
proxy), `workload` (calls from records; the stream).
"""

from writers.services.kinesis.billing import (
    BILLING,
    ON_DEMAND_UNIT_BYTES,
    PUT_PAYLOAD_UNIT_BYTES,
    KiB,
    KinesisBilling,
    billed_units,
)
from writers.services.kinesis.calls import (
    KEY,
    MAX_BATCH,
    MAX_CALL_BYTES,
    MAX_RECORD_BYTES,
    PROVISIONED,
    RECORD_OVERHEAD,
    RETRYABLE_RECORD_ERRORS,
    KinesisCall,
    MiB,
    PutRecord,
    PutRecords,
    put_record,
    put_records,
    record_bytes,
    record_data,
)
from writers.services.kinesis.emulator import EMULATORS, MOTO_WARNING
from writers.services.kinesis.faults import THROTTLE_MESSAGE, KinesisFaults, error_answer
from writers.services.kinesis.options import MAX_SHARDS, STREAM_PATTERN, KinesisOptions
from writers.services.kinesis.service import MISSING_STREAM, SERVICE, TARGET_PREFIX
from writers.services.kinesis.workload import ON_DEMAND_START_SHARDS, READ_BACK_SECONDS, KinesisWorkload

WORKLOAD = KinesisWorkload

__all__ = [
    "BILLING",
    "EMULATORS",
    "KEY",
    "MAX_BATCH",
    "MAX_CALL_BYTES",
    "MAX_RECORD_BYTES",
    "MAX_SHARDS",
    "MISSING_STREAM",
    "MOTO_WARNING",
    "ON_DEMAND_START_SHARDS",
    "ON_DEMAND_UNIT_BYTES",
    "PROVISIONED",
    "PUT_PAYLOAD_UNIT_BYTES",
    "READ_BACK_SECONDS",
    "RECORD_OVERHEAD",
    "RETRYABLE_RECORD_ERRORS",
    "SERVICE",
    "STREAM_PATTERN",
    "TARGET_PREFIX",
    "THROTTLE_MESSAGE",
    "WORKLOAD",
    "KiB",
    "KinesisBilling",
    "KinesisCall",
    "KinesisFaults",
    "KinesisOptions",
    "KinesisWorkload",
    "MiB",
    "PutRecord",
    "PutRecords",
    "billed_units",
    "error_answer",
    "put_record",
    "put_records",
    "record_bytes",
    "record_data",
]
