"""The anchor: Locust's own FastHttpUser POSTing the same PutItem body, unsigned.

What a Locust user gets without AWS signing or our strategies; benchmarks compare
requests per CPU-second of every strategy against it."""

from __future__ import annotations

import orjson
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

from writers.records import BookRecords
from writers.services.dynamodb import put_item

_call = put_item("books", BookRecords(seed=1).next())
BODY = orjson.dumps(_call.params)
HEADERS = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.PutItem"}


class FastHttpAnchorUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def put_item(self) -> None:
        self.client.post("/", data=BODY, headers=HEADERS, name="PutItem [FastHttpUser, unsigned]")
