"""`--metrics-port N`: a Prometheus scrape endpoint (`/metrics`) of the run's figures.

Served by the master (or the single local process) from what it already holds: the tally
(to which every worker's counts are added with each stats report) and the merged latency
histograms, so one scrape covers the whole cluster. Workers serve nothing. Built on
prometheus-client (a custom collector read at each scrape, served by gevent's WSGI server
in a greenlet: nothing is read from a native thread).

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
| `aws_load_latency_seconds` | histogram | service, operation, strategy, kind (service, intended, record) |
| `aws_load_worker_records_acked_total` | counter | worker (master: who carried the load) |
| `aws_load_run_seconds` | gauge | (time since the test started) |

Counters start again at 0 when a new test starts in the web UI (Prometheus sees a reset).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from aws_locust.latency import LatencyHistograms
from aws_locust.tally import AwsTally
from writers.errors import ConfigError
from writers.pricing import PICO_PER_USD, HourlyCharge, hourly_rows, price_for

if TYPE_CHECKING:
    from gevent.pywsgi import WSGIServer
    from locust.env import Environment

logger = logging.getLogger("aws_locust")
ROW_LABELS = ("service", "operation", "strategy")
FAILURE_KINDS = ("throttled", "client", "server", "network")
LATENCY_KINDS = ("service", "intended", "record")
BUCKETS_SECONDS = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
COUNTERS = (  # tally field, metric name (without _total), help
    ("calls", "aws_load_calls", "AWS calls answered or failed"),
    ("acked", "aws_load_records_acked", "records acknowledged by the service"),
    ("retried_items", "aws_load_records_retried", "records sent again (retries, a batch's unprocessed part)"),
    ("given_up_items", "aws_load_records_given_up", "records given up for good"),
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


class RunCollector(Collector):
    """The run's figures, read from the tally and the merged histograms at each scrape."""

    def __init__(
        self,
        tally: AwsTally,
        latency: LatencyHistograms,
        hourly: Callable[[], list[HourlyCharge]] = list,
        duration: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.tally = tally
        self.latency = latency
        self.hourly = hourly
        self.duration = duration

    def collect(self) -> Iterator[Metric]:
        rows = sorted(self.tally.rows.items())
        for field, name, text in COUNTERS:
            counter = CounterMetricFamily(name, text, labels=ROW_LABELS)
            for key, row in rows:
                counter.add_metric(list(key), row[field])
            yield counter
        failed = CounterMetricFamily("aws_load_calls_failed", "failed calls, by kind", labels=(*ROW_LABELS, "kind"))
        billed = CounterMetricFamily("aws_load_billed_units", "billed units", labels=(*ROW_LABELS, "unit"))
        cost = CounterMetricFamily("aws_load_cost_usd", "estimated AWS cost of the calls, USD", labels=ROW_LABELS)
        for key, row in rows:
            for kind in FAILURE_KINDS:
                failed.add_metric([*key, kind], row[f"failed_{kind}"])
            price = price_for(key.service, key.operation)
            billed.add_metric([*key, price.unit if price else ""], row["billed_milliunits"] / 1000)
            cost.add_metric(list(key), row["cost_pusd"] / PICO_PER_USD)
        yield from (failed, billed, cost)
        duration = self.duration()
        hourly = GaugeMetricFamily(
            "aws_load_hourly_cost_usd", "resources billed per hour: cost so far, USD", labels=("service", "what")
        )
        for charge in hourly_rows(self.hourly(), duration):
            hourly.add_metric([charge["service"], charge["what"]], charge["cost_usd"])
        yield hourly
        yield self._latency()
        workers = CounterMetricFamily(
            "aws_load_worker_records_acked", "records acknowledged, by worker", labels=("worker",)
        )
        for worker, acked in sorted(self.tally.acked_by_worker.items()):
            workers.add_metric([worker], acked)
        yield workers
        yield GaugeMetricFamily("aws_load_run_seconds", "seconds since the test started", value=duration)

    def _latency(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "aws_load_latency_seconds", "latency of each kind, merged over workers", labels=(*ROW_LABELS, "kind")
        )
        self.latency.fold()
        for (kind, key), histogram in sorted(self.latency.merged.items()):
            total = histogram.get_total_count()
            if kind not in LATENCY_KINDS or not total:
                continue
            recorded = [(item.value_iterated_to, item.count_at_value_iterated_to)
                        for item in histogram.get_recorded_iterator()]  # fmt: skip
            buckets: list[tuple[str, float]] = []
            for bound in BUCKETS_SECONDS:
                limit = bound * 1_000_000  # the histograms hold microseconds
                buckets.append((f"{bound:g}", sum(count for value, count in recorded if value <= limit)))
            buckets.append(("+Inf", total))
            sum_seconds = histogram.get_mean_value() * total / 1_000_000
            family.add_metric([*key, kind], buckets, sum_seconds)
        return family


def check_port(options: Any) -> int:
    port = getattr(options, "metrics_port", 0) or 0
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"--metrics-port must be a port number between 1 and 65535, or 0 for none (got {port})")
    return port


class MetricsServer:
    """The scrape endpoint, started once before the swarm (master or local process)."""

    def __init__(self, collector: RunCollector) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self.server: WSGIServer | None = None
        self.address = ""

    def start(self, options: Any) -> None:
        port = check_port(options)
        if not port or self.server is not None:
            return
        from gevent.pywsgi import WSGIServer
        from prometheus_client import make_wsgi_app

        host = str(getattr(options, "metrics_host", "") or "")
        server = WSGIServer((host, port), make_wsgi_app(self.registry), log=None, error_log=logger)
        try:
            server.start()
        except OSError as exc:
            where = f"{host or '*'}:{port}"
            raise ConfigError(f"--metrics-port {port}: cannot listen on {where}: {exc.strerror or exc}") from None
        self.server = server
        self.address = f"http://{host or '0.0.0.0'}:{server.server_port}/metrics"
        logger.info("Prometheus metrics at %s", self.address)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(timeout=1)
            self.server = None


def attach(environment: Environment, collector: RunCollector) -> MetricsServer | None:
    """A server for the master or the local process (the lifecycle starts it before the swarm); None on workers."""
    from locust.runners import WorkerRunner

    if isinstance(environment.runner, WorkerRunner):
        return None
    return MetricsServer(collector)
