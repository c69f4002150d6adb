"""A fault-injecting HTTP proxy in front of any AWS-compatible endpoint.

    python scripts/fault_proxy.py --upstream http://127.0.0.1:8000 [--listen 127.0.0.1:0] [options]

Point a client's endpoint URL at the proxy. Requests pass through unchanged (same
method, raw path and query, headers including Host, body), so SigV4 signatures made
for the proxy's address still validate upstream. Only per-connection headers
(Connection, Transfer-Encoding, Expect, ...), which no signer covers, are left out. On the way, the proxy can add
latency, throttle like a provisioned table/bucket/queue would, answer errors, or drop
connections, each answered in the format of the service the request was meant for.

What a request is, what it costs and how its service answers are the service's to say
(each service's ``faults``, writers/faults.py). A signed request belongs to the service
its SigV4 credential scope names (``Credential=AKID/date/region/<service>/aws4_request``,
or a presigned URL's ``X-Amz-Credential``), which must also recognise it (a JSON-protocol
service by its ``X-Amz-Target`` prefix: DynamoDB ``DynamoDB_20120810.``, SQS
``AmazonSQS.``, ...); an unsigned one by its ``X-Amz-Target``, the REST service (S3)
taking those without. A token bucket per resource (table, queue, bucket, ...).
Throttled answers are the real ones (DynamoDB ``ProvisionedThroughputExceededException``,
HTTP 400; S3 ``SlowDown``, HTTP 503; SQS ``RequestThrottled``, HTTP 403). A request no
service claims (signed for a service the proxy does not know, or an unknown
``X-Amz-Target``) is forwarded as it is: it gets latency and drops, never an answer made
up in some other service's format.

``--partitions P``: each resource is split into P partitions, items assigned by a hash
(CRC-32) of their partition key, each partition limited to what the service says one
sustains (DynamoDB: 1,000 write units and 3,000 read units per second; change with
``--partition-write-units`` / ``--partition-read-units``); a request whose items find
their partition short is throttled in the service's shape, so a hot key throttles its
partition alone, long before the table's capacity. ``--capacity`` stacks a limit per
resource on top. ``/__proxy/stats`` counts requests and throttles per partition
(``by_partition``: ``Service:table#n``).

``--partial-batches``: a batch that only partly fits the bucket (DynamoDB
``BatchWriteItem``, ...) is cut down to the items that fit; the service reports the rest
as not done (``UnprocessedItems``), as it would. Cutting the body breaks the client's
signature, so the cut request is
re-signed with botocore's SigV4Auth using ``--resign-with-access-key`` and the secret in
``$FAULT_PROXY_RESIGN_SECRET_KEY`` (never a flag: command lines show in ``ps``)
(default: the local emulators' keys). A batch signed with another access key cannot
be re-signed: it is all or nothing, forwarded whole if it fits, else throttled.

One module per job: ``config`` (options and their checks), ``classification`` (what a
request is), ``buckets`` (token buckets, partitions), ``dice`` (the fault decisions),
``resign`` (re-signing cut batches), ``stats``, ``server`` (the proxy), ``cli``.
scripts/fault_proxy.py is the command-line entry.

Runtime control (never forwarded): ``GET /__proxy/stats`` (``?reset=1`` zeroes the
counters after reading), ``GET /__proxy/config``, ``POST /__proxy/config`` with a JSON
object of option names (``throttle_rate``, ``latency_ms``, ...) changes them live.

SIGTERM / Ctrl-C: clean exit 0. Bad flags: one line on stderr, exit 2.
"""

from fault_proxy.buckets import Buckets, Partitions, TokenBucket
from fault_proxy.classification import (
    SERVICE_FAULTS,
    SIGNED_FOR,
    Classified,
    classify,
    credential_scope,
    dumps_json,
    error_answer,
    faults_for,
    faults_named,
    loads_json,
    service_faults,
    signed_service,
    throttle_answer,
)
from fault_proxy.cli import config_from_args, main, parse_args, serve
from fault_proxy.config import ERROR_STATUSES, FaultConfig
from fault_proxy.dice import Dice, Roll
from fault_proxy.resign import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, resign
from fault_proxy.server import CONTROL_PREFIX, HOP_BY_HOP, Exchange, FaultProxy, backward_headers, forward_headers
from fault_proxy.stats import COUNTERS, Stats

__all__ = [
    "CONTROL_PREFIX",
    "COUNTERS",
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_SECRET_KEY",
    "ERROR_STATUSES",
    "HOP_BY_HOP",
    "SERVICE_FAULTS",
    "SIGNED_FOR",
    "Buckets",
    "Classified",
    "Dice",
    "Exchange",
    "FaultConfig",
    "FaultProxy",
    "Partitions",
    "Roll",
    "Stats",
    "TokenBucket",
    "backward_headers",
    "classify",
    "config_from_args",
    "credential_scope",
    "dumps_json",
    "error_answer",
    "faults_for",
    "faults_named",
    "forward_headers",
    "loads_json",
    "main",
    "parse_args",
    "resign",
    "serve",
    "service_faults",
    "signed_service",
    "throttle_answer",
]
