"""`--metrics-port N`: a Prometheus scrape endpoint (`/metrics`) of the run's figures.

Served by the master (or the single local process) from what it already holds: the tally
(to which every worker's counts are added with each stats report), the merged latency
histograms, the runner, the rate control and the knee finder, so one scrape covers the
whole cluster. Workers serve nothing. Served by gevent's WSGI server in a greenlet: nothing
is read from a native thread.

A scrape does bounded work on the loop that sends the calls (~2 ms for 20 latency
histograms, BENCHMARKS.md): each histogram's buckets are read from its counts array with
numpy (aws_locust.buckets), never by walking the values recorded, and the text format is
written here directly, with each row's labels escaped once (prometheus-client's generic
writer cost ~7 us a line, and a run of five strategies serves ~1,000 lines).

| metric | type | labels |
|---|---|---|
| `aws_load_calls_total` | counter | service, operation, strategy |
| `aws_load_records_acked_total` | counter | service, operation, strategy |
| `aws_load_records_retried_total` | counter | service, operation, strategy |
| `aws_load_records_given_up_total` | counter | service, operation, strategy |
| `aws_load_calls_failed_total` | counter | service, operation, strategy, kind (throttled, client, server, network) |
| `aws_load_billed_units_total` | counter | service, operation, strategy, unit |
| `aws_load_cost_usd_total` | counter | service, operation, strategy (estimated, the calls) |
| `aws_load_hourly_cost_usd` | gauge | service, what (resources billed per hour, so far) |
| `aws_load_latency_seconds` | histogram | service, operation, strategy, kind (service, intended, record, lag) |
| `aws_load_late_starts_total` | counter | service, operation, strategy (rate mode: calls that found every slot busy) |
| `aws_load_start_lag_p99_seconds` | gauge | service, operation, strategy (rate mode: p99 of the last sample interval) |
| `aws_load_worker_records_acked_total` | counter | worker (master: who carried the load) |
| `aws_load_users` | gauge | (users running, all workers together) |
| `aws_load_workers` | gauge | (workers connected; 1 for a single local process) |
| `aws_load_target_records_per_second` | gauge | (rate mode: the target rate now) |
| `aws_load_achieved_records_per_second` | gauge | (records acknowledged per second over the last ~10 s) |
| `aws_load_service_target_records_per_second` | gauge | service (rate mode, a rate per service: its part now) |
| `aws_load_service_achieved_records_per_second` | gauge | service (records acknowledged per second, last ~10 s) |
| `aws_load_find_max_step` | gauge | (--find-max: the step being measured, from 1) |
| `aws_load_find_max_records_per_second` | gauge | (--find-max: that step's target rate) |
| `aws_load_run_start_time_seconds` | gauge | (Unix time the test started; absent before the first) |
| `aws_load_scrape_render_seconds` | gauge | (wall time the previous scrape took on the loop to read and write it all) |

A locustfile may add families of its own (`RunParts.sections`): a pipeline's
(`aws_load_pipeline_*`, aws_locust.pipeline).

Counters start again at 0 when a new test starts in the web UI (Prometheus sees a reset).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_locust.buckets import BOUNDS_SECONDS, BucketReader
from aws_locust.context import RowKey
from aws_locust.latency import LatencyHistograms, new_histogram
from aws_locust.mix import shown_name, targets_by_service
from aws_locust.tally import AwsTally
from writers.errors import ConfigError
from writers.pricing import PICO_PER_USD, HourlyCharge, hourly_rows
from writers.services import price_for

if TYPE_CHECKING:
    from gevent.pywsgi import WSGIServer
    from hdrh.histogram import HdrHistogram
    from locust.env import Environment

    from aws_locust.control import RateControl
    from aws_locust.knee import KneeFinder
    from aws_locust.live import LiveStats

logger = logging.getLogger("aws_locust")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAILURE_KINDS = ("throttled", "client", "server", "network")
LATENCY_KINDS = ("service", "intended", "record", "lag")
BUCKET_LABELS = tuple(f"{bound:g}" for bound in BOUNDS_SECONDS)
COUNTERS = (  # tally field, metric name, help
    ("calls", "aws_load_calls_total", "AWS calls answered or failed"),
    ("acked", "aws_load_records_acked_total", "records acknowledged by the service"),
    ("retried_items", "aws_load_records_retried_total", "records sent again (retries, a batch's unprocessed part)"),
    ("given_up_items", "aws_load_records_given_up_total", "records given up for good"),
    ("late", "aws_load_late_starts_total", "rate mode: calls due while every slot was busy (started late)"),
)


def add_argument(parser: Any) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        include_in_web_ui=False,  # bound once at start-up: a new value in the UI could not take effect
        help="serve Prometheus metrics at http://HOST:PORT/metrics (master: all workers together; 0: off)",
    )
    parser.add_argument(
        "--metrics-host",
        default="",
        include_in_web_ui=False,
        help="--metrics-port: the address to listen on (default: every interface)",
    )


@dataclass
class RunParts:
    """What the run's gauges are read from at each scrape (None where this process has none)."""

    runner: Callable[[], Any] = lambda: None  # environment.runner (it is made after the collector)
    live: LiveStats | None = None
    control: RateControl | None = None
    knee: KneeFinder | None = None
    sections: list[Callable[[Exposition], None]] = dataclasses.field(default_factory=list)  # a locustfile's


def number(value: float) -> str:
    """A sample value as the text format writes it."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def label_text(names: Iterable[str], values: Iterable[str]) -> str:
    """`name="value",...` with the text format's escapes (backslash, double quote, newline)."""
    escape = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
    return ",".join(f'{name}="{str(value).translate(escape)}"' for name, value in zip(names, values, strict=True))


class Exposition:
    """Lines of Prometheus' text format (version 0.0.4), one family after another."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, text: str) -> None:
        self.lines.append(f"# HELP {name} {text}\n# TYPE {name} {kind}\n")

    def sample(self, name: str, labels: str, value: float) -> None:
        self.lines.append(f"{name}{{{labels}}} {number(value)}\n" if labels else f"{name} {number(value)}\n")

    def gauge(self, name: str, text: str, value: float | None) -> None:
        """A gauge without labels; no sample while it has no value."""
        self.family(name, "gauge", text)
        if value is not None:
            self.sample(name, "", value)

    def histogram(self, name: str, labels: str, histogram: HdrHistogram, reader: BucketReader) -> None:
        """One histogram's samples (buckets in seconds, count, sum); none while it holds no value."""
        total = histogram.get_total_count()
        if not total:
            return
        below, sum_seconds = reader.read(histogram)
        for le, count in zip(BUCKET_LABELS, below, strict=True):
            self.sample(f"{name}_bucket", f'{labels},le="{le}"', count)
        self.sample(f"{name}_bucket", f'{labels},le="+Inf"', total)
        self.sample(f"{name}_count", labels, total)
        self.sample(f"{name}_sum", labels, sum_seconds)

    def encode(self) -> bytes:
        return "".join(self.lines).encode()


class RunMetrics:
    """The run's figures, read from the tally, the merged histograms and the run's parts at each scrape."""

    def __init__(
        self,
        tally: AwsTally,
        latency: LatencyHistograms,
        hourly: Callable[[], list[HourlyCharge]] = list,
        parts: RunParts | None = None,
    ) -> None:
        self.tally = tally
        self.latency = latency
        self.hourly = hourly
        self.parts = parts or RunParts()
        self.buckets = BucketReader()
        self._labels: dict[RowKey, str] = {}
        self.last_render_seconds: float | None = None  # the previous scrape's, measured by the server

    def row_labels(self, key: RowKey) -> str:
        found = self._labels.get(key)
        if found is None:
            found = self._labels[key] = label_text(("service", "operation", "strategy"), key)
        return found

    def render(self) -> bytes:
        out = Exposition()
        rows = [(self.row_labels(key), key, row) for key, row in sorted(self.tally.rows.items())]
        for field, name, text in COUNTERS:
            out.family(name, "counter", text)
            for labels, _, row in rows:
                out.sample(name, labels, row[field])
        out.family("aws_load_calls_failed_total", "counter", "failed calls, by kind")
        for labels, _, row in rows:
            for kind in FAILURE_KINDS:
                out.sample("aws_load_calls_failed_total", f'{labels},kind="{kind}"', row[f"failed_{kind}"])
        out.family("aws_load_billed_units_total", "counter", "billed units")
        for labels, key, row in rows:
            price = price_for(key.service, key.operation)
            unit = label_text(("unit",), (price.unit if price else "",))
            out.sample("aws_load_billed_units_total", f"{labels},{unit}", row["billed_milliunits"] / 1000)
        out.family("aws_load_cost_usd_total", "counter", "estimated AWS cost of the calls, USD")
        for labels, _, row in rows:
            out.sample("aws_load_cost_usd_total", labels, row["cost_pusd"] / PICO_PER_USD)
        live = self.parts.live
        out.family("aws_load_hourly_cost_usd", "gauge", "resources billed per hour: cost so far, USD")
        for charge in hourly_rows(self.hourly(), live.duration() if live is not None else 0.0):
            where = label_text(("service", "what"), (charge["service"], charge["what"]))
            out.sample("aws_load_hourly_cost_usd", where, charge["cost_usd"])
        self._latency(out)
        out.family("aws_load_worker_records_acked_total", "counter", "records acknowledged, by worker")
        for worker, acked in sorted(self.tally.acked_by_worker.items()):
            out.sample("aws_load_worker_records_acked_total", label_text(("worker",), (worker,)), acked)
        self._run(out)
        for section in self.parts.sections:
            section(out)
        return out.encode()

    def _latency(self, out: Exposition) -> None:
        name = "aws_load_latency_seconds"
        out.family(name, "histogram", "latency of each kind, merged over workers")
        self.latency.fold()
        for (kind, key), histogram in sorted(self.latency.merged.items()):
            if kind in LATENCY_KINDS:
                out.histogram(name, f'{self.row_labels(key)},kind="{kind}"', histogram, self.buckets)

    def _by_service(self, out: Exposition, rates: dict[RowKey, dict[str, float]] | None) -> None:
        """Several services in the run (mixed.py): each one's target (--rate SERVICE=N) and achieved rate."""
        control = self.parts.control
        name = "aws_load_service_target_records_per_second"
        out.family(name, "gauge", "rate mode with a rate per service: that service's part of the target, records/s")
        if control is not None and control.paced:
            for service, rate in sorted(targets_by_service(control.target, control.settings.by_service).items()):
                out.sample(name, label_text(("service",), (shown_name(service),)), rate)
        name = "aws_load_service_achieved_records_per_second"
        out.family(name, "gauge", "records acknowledged per second, last ~10 s, by service")
        achieved: dict[str, float] = {}
        for key, row in (rates or {}).items():
            achieved[key.service] = achieved.get(key.service, 0.0) + row["acked_per_s"]
        for service, per_s in sorted(achieved.items()):
            out.sample(name, label_text(("service",), (service,)), per_s)

    def _run(self, out: Exposition) -> None:
        """Gauges of the run itself: who runs, at what rate, and where the knee finder is."""
        parts = self.parts
        runner, live, control, knee = parts.runner(), parts.live, parts.control, parts.knee
        out.gauge("aws_load_users", "users running, all workers together", runner.user_count if runner else 0)
        workers = getattr(runner, "worker_count", 0) if runner is not None else 0
        out.gauge("aws_load_workers", "workers connected (1: a single local process)", workers)
        paced = control is not None and control.paced
        out.gauge(
            "aws_load_target_records_per_second", "rate mode: the target rate, records/s",
            control.target if control is not None and paced else None,
        )  # fmt: skip
        started = live is not None and live.started is not None
        rates = live.rates()["rows"] if live is not None and started else None
        achieved = sum(rate["acked_per_s"] for rate in rates.values()) if rates is not None else None
        out.gauge("aws_load_achieved_records_per_second", "records acknowledged per second, last ~10 s", achieved)
        self._by_service(out, rates)
        out.family("aws_load_start_lag_p99_seconds", "gauge", "rate mode: p99 start lag over the last sample interval")
        last = live.timeline[-1]["rows"] if live is not None and started and live.timeline else {}
        for key in sorted(self.tally.rows):
            p99_ms = last.get(key.name, {}).get("p99_lag")
            if p99_ms is not None:
                out.sample("aws_load_start_lag_p99_seconds", self.row_labels(key), p99_ms / 1000)
        out.gauge("aws_load_run_start_time_seconds", "Unix time the test started", live.started if live else None)
        step: int | None = None
        rate: float | None = None
        search = knee.search if knee is not None else None
        if search is not None and not search.done:
            step, rate = len(search.steps) + 1, control.target if control is not None else 0.0  # 0 while catching up
        elif search is not None and search.steps:
            step, rate = len(search.steps), search.steps[-1].rate
        out.gauge("aws_load_find_max_step", "--find-max: the step being measured (from 1)", step)
        out.gauge("aws_load_find_max_records_per_second", "--find-max: that step's target rate", rate)
        out.gauge("aws_load_scrape_render_seconds", "the previous scrape's wall time on the loop, seconds",
                  self.last_render_seconds)  # fmt: skip


def check_port(options: Any) -> int:
    port = getattr(options, "metrics_port", 0) or 0
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"--metrics-port must be a port number between 1 and 65535, or 0 for none (got {port})")
    return port


class MetricsServer:
    """The scrape endpoint, started once before the swarm (master or local process)."""

    def __init__(self, metrics: RunMetrics) -> None:
        self.metrics = metrics
        self.server: WSGIServer | None = None
        self.address = ""

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: the metrics are at /metrics\n"]
        started = time.perf_counter()
        body = self.metrics.render()
        self.metrics.last_render_seconds = time.perf_counter() - started
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    def start(self, options: Any) -> None:
        port = check_port(options)
        if not port or self.server is not None:
            return
        from gevent.pywsgi import WSGIServer

        host = str(getattr(options, "metrics_host", "") or "")
        server = WSGIServer((host, port), self.app, log=None, error_log=logger)
        try:
            server.start()
        except OSError as exc:
            where = f"{host or '*'}:{port}"
            raise ConfigError(f"--metrics-port {port}: cannot listen on {where}: {exc.strerror or exc}") from None
        self.server = server
        self.metrics.buckets.read(new_histogram())  # its index tables made now, before the swarm
        self.address = f"http://{host or '0.0.0.0'}:{server.server_port}/metrics"
        logger.info("Prometheus metrics at %s", self.address)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(timeout=1)
            self.server = None


def attach(environment: Environment, metrics: RunMetrics) -> MetricsServer | None:
    """A server for the master or the local process (the lifecycle starts it before the swarm); None on workers."""
    from locust.runners import WorkerRunner

    if isinstance(environment.runner, WorkerRunner):
        return None
    return MetricsServer(metrics)
