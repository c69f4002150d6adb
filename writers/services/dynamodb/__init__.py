"""DynamoDB: PutItem, BatchWriteItem (25 items), GetItem, BatchGetItem (100 keys); keys from a
key space, mixed reads, on-demand or provisioned tables; billing; the fault proxy's answers.

One module per job, as every service: `service` (what DynamoDB is to a client), `options`
(flags and their checks), `calls`, `keys` (the key space records are written to),
`billing`, `emulator` (dynalite, moto), `faults` (its answers in the fault proxy),
`workload` (calls from records; the table).
"""

from writers.services.dynamodb.billing import (
    BILLING,
    READ_UNIT_BYTES,
    WRITE_UNIT_BYTES,
    DynamoDBBilling,
    consumed_units,
    estimated_units,
    item_bytes,
    read_units,
    value_bytes,
    write_units,
)
from writers.services.dynamodb.calls import (
    CONSUMED_CAPACITY,
    KEY,
    MAX_BATCH,
    MAX_ITEM_BYTES,
    BatchGetItem,
    BatchWriteItem,
    DynamoDBCall,
    GetItem,
    PutItem,
    batch_get,
    batch_write,
    get_item,
    key_of,
    put_item,
    request_keys,
    to_item,
)
from writers.services.dynamodb.emulator import EMULATORS
from writers.services.dynamodb.faults import JSON_1_0, DynamoDBFaults, error_answer, keyed_costs
from writers.services.dynamodb.keys import KeySampler, SpaceRecords
from writers.services.dynamodb.options import DynamoDBOptions
from writers.services.dynamodb.service import SERVICE, TARGET_PREFIX
from writers.services.dynamodb.workload import REMEMBERED_KEYS, DynamoDBWorkload, table_capacity

WORKLOAD = DynamoDBWorkload

__all__ = [
    "BILLING",
    "CONSUMED_CAPACITY",
    "EMULATORS",
    "JSON_1_0",
    "KEY",
    "MAX_BATCH",
    "MAX_ITEM_BYTES",
    "READ_UNIT_BYTES",
    "REMEMBERED_KEYS",
    "SERVICE",
    "TARGET_PREFIX",
    "WORKLOAD",
    "WRITE_UNIT_BYTES",
    "BatchGetItem",
    "BatchWriteItem",
    "DynamoDBBilling",
    "DynamoDBCall",
    "DynamoDBFaults",
    "DynamoDBOptions",
    "DynamoDBWorkload",
    "GetItem",
    "KeySampler",
    "PutItem",
    "SpaceRecords",
    "batch_get",
    "batch_write",
    "consumed_units",
    "error_answer",
    "estimated_units",
    "get_item",
    "item_bytes",
    "key_of",
    "keyed_costs",
    "put_item",
    "read_units",
    "request_keys",
    "table_capacity",
    "to_item",
    "value_bytes",
    "write_units",
]
