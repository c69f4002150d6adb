"""The anchor: Locust's own FastHttpUser sending the same body as one of our calls, unsigned.

What a Locust user gets without AWS signing or our strategies; benchmarks compare
requests per CPU-second of every strategy against it. Which request: $BENCH_SERVICE
(dynamodb, s3, sqs; default dynamodb) and $BENCH_BATCH (items per call; default 1), see
bodies.py: DynamoDB PutItem / BatchWriteItem and SQS SendMessage / SendMessageBatch are
POSTs of the same JSON body, S3 PutObject a PUT of the same 4 KiB object. With
$BENCH_THROUGHPUT (requests/s per user) each user is paced at that rate
(constant_throughput); without it, users send as fast as they can.

    locust -f scripts/bench/anchor_fasthttp.py --headless -u 100 -r 100 -t 5s -H http://127.0.0.1:8080
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from locust import constant, constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bodies import fixed_request

SERVICE = os.environ.get("BENCH_SERVICE", "dynamodb")
BATCH = int(os.environ.get("BENCH_BATCH", "1") or 1)
# SQS bodies carry the queue URL GetQueueUrl would have returned: the sink's, as the strategies get it.
REQUEST = fixed_request(SERVICE, BATCH, os.environ.get("BENCH_SINK_URL", "http://127.0.0.1"))
NAME = f"{REQUEST.operation} [FastHttpUser, unsigned]"
THROUGHPUT = float(os.environ.get("BENCH_THROUGHPUT", "0") or 0)


class FastHttpAnchorUser(FastHttpUser):
    wait_time = constant_throughput(THROUGHPUT) if THROUGHPUT else constant(0)

    @task
    def send(self) -> None:
        self.client.request(
            REQUEST.method,
            REQUEST.path,
            data=REQUEST.body,  # type: ignore[arg-type]  # bytes are sent as they are
            headers=REQUEST.headers,
            name=NAME,
            context={"bench_items": REQUEST.items},
        )
