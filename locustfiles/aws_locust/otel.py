"""Our figures as OpenTelemetry metrics, beside Locust's own `locust.client.duration`,
when the run has `--otel` (Locust's switch: it sets up the meter provider and its exporters
from the OTEL_* environment variables; this module only adds instruments to it).

Every process that sends calls (the single local process, each worker) records its own
calls, labelled `service`, `operation`, `strategy` and `worker` (the worker's client id,
or `local`); an OpenTelemetry collector sums the workers. Instruments (units in braces are UCUM):

| instrument | kind | unit | extra attribute |
|---|---|---|---|
| `aws_load.records.acked` | observable counter | {record} | |
| `aws_load.records.retried` | observable counter | {record} | |
| `aws_load.records.given_up` | observable counter | {record} | |
| `aws_load.calls` | observable counter | {call} | |
| `aws_load.calls.failed` | observable counter | {call} | `failure.kind`: throttled, client, server, network |
| `aws_load.billed_units` | observable counter | {unit} | `billed.unit`: the price table's unit (WRU, request, ...) |
| `aws_load.cost` | observable counter | USD | (estimated, the calls' share) |
| `aws_load.latency.service` | histogram | s | service time: send to answer |
| `aws_load.latency.intended` | histogram | s | intended-time latency (rate mode) |
| `aws_load.latency.record` | histogram | s | record latency: first intended start to acknowledgement |
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aws_locust.context import is_ours
from writers.pricing import PICO_PER_USD, price_for

if TYPE_CHECKING:
    from locust.env import Environment

logger = logging.getLogger("aws_locust")
METER_NAME = "aws_load"
COUNTED = (  # per-row sum, instrument, unit, description
    ("acked", "aws_load.records.acked", "{record}", "records acknowledged"),
    ("retried_items", "aws_load.records.retried", "{record}", "records sent again"),
    ("given_up_items", "aws_load.records.given_up", "{record}", "records given up"),
    ("calls", "aws_load.calls", "{call}", "AWS calls answered or failed"),
)


class OtelMetrics:
    """The instruments, fed by our request events in this process.

    Counts are kept as plain per-row sums and read by observable counters when the reader
    exports (an SDK counter's add() per call, seven of them, cost more CPU than the call's
    own event); only the latency histograms take one record() per call and kind.
    """

    def __init__(self, meter: Any, worker: str) -> None:
        self.worker = worker
        self.counts: dict[Any, Counter[str]] = defaultdict(Counter)  # row -> sums, cumulative
        self.failures: Counter[tuple[Any, str]] = Counter()  # (row, failure kind) -> calls
        self._attributes: dict[Any, dict[str, str]] = {}
        observe = meter.create_observable_counter
        for field, name, unit, text in COUNTED:
            observe(name, callbacks=[self._observer(field)], unit=unit, description=text)
        observe("aws_load.calls.failed", callbacks=[self._failed], unit="{call}", description="failed calls")
        observe("aws_load.billed_units", callbacks=[self._billed], unit="{unit}", description="billed units")
        observe("aws_load.cost", callbacks=[self._cost], unit="USD", description="estimated AWS cost of the calls")
        histogram = meter.create_histogram
        self.latency = {
            "service": histogram("aws_load.latency.service", unit="s", description="service time: send to answer"),
            "intended": histogram(
                "aws_load.latency.intended", unit="s", description="intended-time latency: intended start to answer"
            ),
            "record": histogram(
                "aws_load.latency.record", unit="s", description="record latency: first intended start to acked"
            ),
        }

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
        counts = self.counts[row]
        counts["calls"] += 1
        counts["acked"] += context["acked"]
        counts["retried_items"] += context["retried_items"]
        counts["given_up_items"] += context["given_up_items"]
        if exception is not None and context.get("failure_kind"):
            self.failures[(row, str(context["failure_kind"]))] += 1
        units = context.get("billed_units")
        if units:
            counts["billed_milliunits"] += round(units * 1000)
            counts["cost_pusd"] += context.get("cost_pusd", 0)
        attributes = self.attributes(row)
        if response_time is not None:
            self.latency["service"].record(response_time / 1000, attributes)
        for kind, field in (("intended", "intended_ms"), ("record", "record_ms")):
            value = context.get(field)
            if value is not None:
                self.latency[kind].record(value / 1000, attributes)

    # ------------------------------------------------------------------ read at each export

    def _observer(self, field: str) -> Callable[[Any], Iterable[Any]]:
        from opentelemetry.metrics import Observation

        def observe(_: Any) -> Iterable[Any]:
            return [Observation(counts[field], self.attributes(row)) for row, counts in list(self.counts.items())]

        return observe

    def _failed(self, _: Any) -> Iterable[Any]:
        from opentelemetry.metrics import Observation

        return [
            Observation(calls, {**self.attributes(row), "failure.kind": kind})
            for (row, kind), calls in list(self.failures.items())
        ]

    def _billed(self, _: Any) -> Iterable[Any]:
        from opentelemetry.metrics import Observation

        observed = []
        for row, counts in list(self.counts.items()):
            if counts["billed_milliunits"]:
                price = price_for(row.service, row.operation)
                attributes = {**self.attributes(row), "billed.unit": price.unit if price else ""}
                observed.append(Observation(counts["billed_milliunits"] / 1000, attributes))
        return observed

    def _cost(self, _: Any) -> Iterable[Any]:
        from opentelemetry.metrics import Observation

        return [
            Observation(counts["cost_pusd"] / PICO_PER_USD, self.attributes(row))
            for row, counts in list(self.counts.items())
            if counts["billed_milliunits"]
        ]


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
