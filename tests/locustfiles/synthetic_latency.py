"""A test-only user that fires request events with known latencies, by worker index:
worker 0 fires 900 events of 10 ms, worker 1 fires 100 events of 1,000 ms, then idles.
Loaded beside a service locustfile, so the project's glue (and its histograms) is active."""

from __future__ import annotations

from locust import User, constant, task

from aws_locust.context import RowKey

ROW = RowKey("TEST", "known", "synthetic")


class SyntheticLatencyUser(User):
    wait_time = constant(1)
    fired = False

    @task
    def fire_known_latencies(self) -> None:
        if SyntheticLatencyUser.fired:
            return
        SyntheticLatencyUser.fired = True  # once per process
        index = getattr(self.environment.runner, "worker_index", 0)
        count, latency_ms = (900, 10.0) if index == 0 else (100, 1000.0)
        for _ in range(count):
            self.environment.events.request.fire(
                request_type=ROW.service,
                name=ROW.request_name,
                response_time=latency_ms,
                response_length=0,
                exception=None,
                context={"row": ROW, "items": 0, "acked": 0, "retried_items": 0, "given_up_items": 0,
                         "acked_keys": (), "failure_kind": None, "record_ms": None},
            )  # fmt: skip
