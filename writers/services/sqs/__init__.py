"""SQS: SendMessage, SendMessageBatch (10 entries), and a consumer path (ReceiveMessage
with long polling, then DeleteMessageBatch as follow-up calls); queue provisioning.

Standard and FIFO queues: a name ending in ``.fifo`` is a FIFO queue, its messages
spread over ``--message-groups`` MessageGroupIds and deduplicated by message id.

SQS speaks AWS's JSON protocol (boto3 >= 1.31 does too): every call is a POST to the
endpoint with the queue URL in the body. Calls never go to the host named in the queue
URL (local emulators name hosts that do not resolve), so the URL is looked up once per
process (`prepare`) and only carried along.

One module per job, as every service: `service` (what SQS is to a client), `options`,
`messages` (what is written), `calls`, `billing`, `emulator` (fauxqs, moto), `faults`
(its answers in the fault proxy), `workload` (calls from records; the queue).
"""

from writers.services.sqs.billing import BILLING, CHUNK_BYTES, SQSBilling, billed_requests, is_fifo, payload_bytes
from writers.services.sqs.calls import (
    DeleteMessageBatch,
    ReceiveMessage,
    SendMessage,
    SendMessageBatch,
    SQSCall,
    delete_message_batch,
    query_compatible,
    receive_message,
    send_message,
    send_message_batch,
)
from writers.services.sqs.emulator import EMULATORS, MOTO_WARNING
from writers.services.sqs.faults import SQSFaults, error_answer, queue_of
from writers.services.sqs.messages import (
    FILLER_BLOCK,
    MESSAGE_OVERHEAD,
    POOL_SIZE,
    MessageRecords,
    Placeholders,
    message_body,
    message_id_of,
)
from writers.services.sqs.options import FIFO_SUFFIX, MAX_BATCH, MAX_MESSAGE_BYTES, MAX_WAIT_SECONDS, MODES, SQSOptions
from writers.services.sqs.service import MISSING_QUEUE_CODES, QUERY_ERROR_HEADER, SERVICE, TARGET_PREFIX
from writers.services.sqs.workload import SQSWorkload

WORKLOAD = SQSWorkload

__all__ = [
    "BILLING",
    "CHUNK_BYTES",
    "EMULATORS",
    "FIFO_SUFFIX",
    "FILLER_BLOCK",
    "MAX_BATCH",
    "MAX_MESSAGE_BYTES",
    "MAX_WAIT_SECONDS",
    "MESSAGE_OVERHEAD",
    "MISSING_QUEUE_CODES",
    "MODES",
    "MOTO_WARNING",
    "POOL_SIZE",
    "QUERY_ERROR_HEADER",
    "SERVICE",
    "TARGET_PREFIX",
    "WORKLOAD",
    "DeleteMessageBatch",
    "MessageRecords",
    "Placeholders",
    "ReceiveMessage",
    "SQSBilling",
    "SQSCall",
    "SQSFaults",
    "SQSOptions",
    "SQSWorkload",
    "SendMessage",
    "SendMessageBatch",
    "billed_requests",
    "delete_message_batch",
    "error_answer",
    "is_fifo",
    "message_body",
    "message_id_of",
    "payload_bytes",
    "query_compatible",
    "queue_of",
    "receive_message",
    "send_message",
    "send_message_batch",
]
