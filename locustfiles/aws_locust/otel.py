"""Our figures as OpenTelemetry metrics, beside Locust's own `locust.client.duration`,
when the run has `--otel` (Locust's switch: it sets up the meter provider and its exporters
from the OTEL_* environment variables; this module only adds instruments to it).

Every process that sends calls (the single local process, each worker) records its own
calls, labelled `service`, `operation`, `strategy` and `worker` (the worker's client id,
or `local`); a collector sums the workers. Instruments (units in braces are UCUM):

| instrument | kind | unit | extra attribute |
|---|---|---|---|
| `aws_load.records.acked` | counter | {record} | |
| `aws_load.records.retried` | counter | {record} | |
| `aws_load.records.given_up` | counter | {record} | |
| `aws_load.calls` | counter | {call} | |
| `aws_load.calls.failed` | counter | {call} | `failure.kind`: throttled, client, server, network |
| `aws_load.billed_units` | counter | {unit} | `billed.unit`: the price table's unit (WRU, request, ...) |
| `aws_load.cost` | counter | USD | (estimated, the calls' share) |
| `aws_load.latency.service` | histogram | s | service time: send to answer |
| `aws_load.latency.intended` | histogram | s | intended-time latency (rate mode) |
| `aws_load.latency.record` | histogram | s | record latency: first intended start to acknowledgement |
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aws_locust.context import is_ours
from writers.pricing import PICO_PER_USD, price_for

if TYPE_CHECKING:
    from locust.env import Environment

logger = logging.getLogger("aws_locust")
METER_NAME = "aws_load"
FAILURE_KINDS = ("throttled", "client", "server", "network")


class OtelMetrics:
    """The instruments, fed by our request events in this process."""

    def __init__(self, meter: Any, worker: str) -> None:
        self.worker = worker
        counter, histogram = meter.create_counter, meter.create_histogram
        self.acked = counter("aws_load.records.acked", unit="{record}", description="records acknowledged")
        self.retried = counter("aws_load.records.retried", unit="{record}", description="records sent again")
        self.given_up = counter("aws_load.records.given_up", unit="{record}", description="records given up")
        self.calls = counter("aws_load.calls", unit="{call}", description="AWS calls answered or failed")
        self.failed = counter("aws_load.calls.failed", unit="{call}", description="failed calls, by failure.kind")
        self.billed = counter("aws_load.billed_units", unit="{unit}", description="billed units, by billed.unit")
        self.cost = counter("aws_load.cost", unit="USD", description="estimated AWS cost of the calls")
        self.latency = {
            "service": histogram("aws_load.latency.service", unit="s", description="service time: send to answer"),
            "intended": histogram(
                "aws_load.latency.intended", unit="s", description="intended-time latency: intended start to answer"
            ),
            "record": histogram(
                "aws_load.latency.record", unit="s", description="record latency: first intended start to acked"
            ),
        }
        self._attributes: dict[Any, dict[str, str]] = {}

    def attributes(self, row: Any) -> dict[str, str]:
        found = self._attributes.get(row)
        if found is None:
            found = self._attributes[row] = {
                "service": row.service, "operation": row.operation, "strategy": row.strategy, "worker": self.worker,
            }  # fmt: skip
        return found

    def on_request(
        self, response_time: float | None = None, context: Any = None, exception: Any = None, **_: Any
    ) -> None:
        if not is_ours(context):
            return
        row = context["row"]
        attributes = self.attributes(row)
        self.calls.add(1, attributes)
        for counter, field in (
            (self.acked, "acked"), (self.retried, "retried_items"), (self.given_up, "given_up_items"),
        ):  # fmt: skip
            if context.get(field):
                counter.add(context[field], attributes)
        if exception is not None and context.get("failure_kind"):
            self.failed.add(1, {**attributes, "failure.kind": str(context["failure_kind"])})
        units = context.get("billed_units")
        if units:
            price = price_for(row.service, row.operation)
            self.billed.add(units, {**attributes, "billed.unit": price.unit if price else ""})
            self.cost.add(context.get("cost_pusd", 0) / PICO_PER_USD, attributes)
        if response_time is not None:
            self.latency["service"].record(response_time / 1000, attributes)
        for kind, field in (("intended", "intended_ms"), ("record", "record_ms")):
            value = context.get(field)
            if value is not None:
                self.latency[kind].record(value / 1000, attributes)


def attach(environment: Environment) -> OtelMetrics | None:
    """With --otel and an SDK meter provider set up by Locust: our instruments, fed by this
    process's request events. None otherwise."""
    if not getattr(environment.parsed_options, "otel", False):
        return None
    try:
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
    except ImportError:
        return None  # Locust said so already ("pip install locust[otel]")
    if not isinstance(metrics.get_meter_provider(), MeterProvider):
        return None  # no metrics exporter configured
    from locust.runners import WorkerRunner

    runner = environment.runner
    worker = str(runner.client_id) if isinstance(runner, WorkerRunner) else "local"
    instruments = OtelMetrics(metrics.get_meter(METER_NAME), worker)
    environment.events.request.add_listener(instruments.on_request)
    return instruments
