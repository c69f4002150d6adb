"""Our figures as OpenTelemetry metrics, beside Locust's own `locust.client.duration`,
when the run has `--otel` (Locust's switch: it sets up the meter provider and its exporters
from the OTEL_* environment variables; this module only adds instruments to it).

Every process that sends calls (the single local process, each worker) records its own
calls; an OpenTelemetry collector sums the workers. Attributes follow the semantic
conventions for AWS SDK calls: `rpc.system` = `aws-api`, `rpc.service` (DynamoDB, S3, SQS,
Kinesis), `rpc.method` (the operation: PutItem, ...), `cloud.region`, and `error.type`
(throttled, client, server, network) on failed calls; plus ours, `strategy` and `worker`
(the worker's client id, or `local`). Units are UCUM (annotations in braces).

| instrument | kind | unit | extra attribute |
|---|---|---|---|
| `aws_load.records.acked` | observable counter | {record} | |
| `aws_load.records.retried` | observable counter | {record} | |
| `aws_load.records.given_up` | observable counter | {record} | |
| `aws_load.calls` | observable counter | {call} | |
| `aws_load.calls.failed` | observable counter | {call} | `error.type` |
| `aws_load.billed_units` | observable counter | {unit} | `billed.unit`: the price table's unit (WRU, request, ...) |
| `aws_load.cost` | observable counter | {USD} | (estimated, the calls' share) |
| `aws_load.latency.service` | histogram | s | service time: send to answer; `error.type` when failed |
| `aws_load.latency.intended` | histogram | s | intended-time latency (rate mode) |
| `aws_load.latency.record` | histogram | s | record latency: first intended start to acknowledgement |

The histograms have explicit bucket bounds in seconds, 0.25 ms to 60 s, eight a decade
(aws_locust.buckets, the same as Prometheus'), so a percentile read from the exported
buckets is the HdrHistogram's to within a bucket. (The SDK's default bounds, 0 to 10,000,
are made for milliseconds: every call fell in one bucket.) An export does bounded work:
the SDK keeps bucket counts as values are recorded, so an export reads 46 counts per
histogram and attribute set, whatever the number of calls.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aws_locust.buckets import BOUNDS_SECONDS
from aws_locust.context import is_ours
from writers.pricing import PICO_PER_USD
from writers.services import price_for
from writers.target import default_region

if TYPE_CHECKING:
    from locust.env import Environment

logger = logging.getLogger("aws_locust")
METER_NAME = "aws_load"
RPC_SYSTEM = "aws-api"
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

    def __init__(self, meter: Any, worker: str, region: Callable[[], str] = lambda: "") -> None:
        self.worker = worker
        self.region = region  # read when a row is first seen: a worker gets its flags from the master
        self.counts: dict[Any, Counter[str]] = defaultdict(Counter)  # row -> sums, cumulative
        self.failures: Counter[tuple[Any, str]] = Counter()  # (row, error type) -> calls
        self._attributes: dict[tuple[Any, str], dict[str, str]] = {}  # (row, error type or "") -> attributes
        observe = meter.create_observable_counter
        for field, name, unit, text in COUNTED:
            observe(name, callbacks=[self._observer(field)], unit=unit, description=text)
        observe("aws_load.calls.failed", callbacks=[self._failed], unit="{call}", description="failed calls")
        observe("aws_load.billed_units", callbacks=[self._billed], unit="{unit}", description="billed units")
        observe("aws_load.cost", callbacks=[self._cost], unit="{USD}", description="estimated AWS cost of the calls")

        def histogram(name: str, text: str) -> Any:
            return meter.create_histogram(
                name, unit="s", description=text, explicit_bucket_boundaries_advisory=BOUNDS_SECONDS
            )

        self.latency = {
            "service": histogram("aws_load.latency.service", "service time: send to answer"),
            "intended": histogram("aws_load.latency.intended", "intended-time latency: intended start to answer"),
            "record": histogram("aws_load.latency.record", "record latency: first intended start to acked"),
        }

    def attributes(self, row: Any, error: str = "") -> dict[str, str]:
        found = self._attributes.get((row, error))
        if found is None:
            found = {
                "rpc.system": RPC_SYSTEM, "rpc.service": row.service, "rpc.method": row.operation,
                "strategy": row.strategy, "worker": self.worker,
            }  # fmt: skip
            region = self.region()
            if region:
                found["cloud.region"] = region
            if error:
                found["error.type"] = error
            self._attributes[(row, error)] = found
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
        error = ""
        if exception is not None and context.get("failure_kind"):
            error = str(context["failure_kind"])
            self.failures[(row, error)] += 1
        units = context.get("billed_units")
        if units:
            counts["billed_milliunits"] += round(units * 1000)
            counts["cost_pusd"] += context.get("cost_pusd", 0)
        if response_time is not None:
            self.latency["service"].record(response_time / 1000, self.attributes(row, error))
        attributes = self.attributes(row)
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

        return [Observation(calls, self.attributes(row, error)) for (row, error), calls in list(self.failures.items())]

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

    def region() -> str:
        return str(getattr(environment.parsed_options, "region", "") or "") or default_region()

    instruments = OtelMetrics(metrics.get_meter(METER_NAME), worker, region)
    environment.events.request.add_listener(instruments.on_request)
    return instruments
