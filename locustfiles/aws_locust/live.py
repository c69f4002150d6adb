"""Live figures on the master (or the single local process): rates over a recent window,
a timeline for the charts, and the per-strategy table the web UI and the reports show.

Everything here is computed from what the master already holds: the tally (to which
workers' deltas are added with each stats report) and the merged latency histograms.
A sampler greenlet snapshots the cumulative tally every few seconds; a rate is the
difference between now and the snapshot about `RATE_WINDOW` seconds ago. Each sample
also rotates the latency window, so the charts' p99 is that of the calls reported
during that sample's interval, not of the whole run, and carries what happened during
that interval: throttles, other errors and late starts per second per row, and for the
run its users, target rate and achieved rate (records acknowledged per second). All of
it is computed once per sample from the cumulative counts, never per call.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import gevent
from hdrh.histogram import HdrHistogram

from aws_locust.context import RowKey
from aws_locust.latency import KINDS, LatencyHistograms, release, three_digits, value_at_percentile
from aws_locust.tally import AwsTally
from writers.pricing import PICO_PER_USD, HourlyCharge, hourly_rows
from writers.services import billing_for, price_for, price_table

if TYPE_CHECKING:  # no locust import at module level: tests use this module without Locust's monkey-patching
    from locust.env import Environment

RATE_WINDOW = 10.0  # seconds: calls/s, items/s and MB/s are over about this much recent time
LOCAL_SAMPLE_SECONDS = 2.0
TABLE_CACHE_SECONDS = 1.0
MAX_SAMPLES = 7200  # timeline points kept (4 h at the master's 2 s ... 3 s)
FAILURE_KINDS = ("throttled", "client", "server", "network")
# Per row and sample: per second over the sample's interval, from these cumulative counts.
INTERVAL_FIGURES = {
    "throttled_per_s": ("failed_throttled",),
    "errors_per_s": ("failed_client", "failed_server", "failed_network"),  # every failure but throttles
    "late_per_s": ("late",),
}


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class LiveStats:
    def __init__(self, tally: AwsTally, latency: LatencyHistograms, sample_seconds: float = LOCAL_SAMPLE_SECONDS):
        self.tally = tally
        self.latency = latency
        self.sample_seconds = sample_seconds
        self.run_id = 0
        self.started: float | None = None  # time.time() of the test's start
        self.stopped: float | None = None
        self._started_mono = time.monotonic()
        self._stopped_mono: float | None = None
        self._sample_until = 0.0  # monotonic: sample while now <= this
        self.snapshots: deque[tuple[float, dict[RowKey, Counter[str]]]] = deque()
        self.timeline: deque[dict[str, Any]] = deque(maxlen=MAX_SAMPLES)
        self.workers: dict[str, Counter[str]] = {}  # master: calls, items, acked per worker
        self._greenlet: gevent.Greenlet | None = None
        self._cached: tuple[float, dict[str, Any]] | None = None
        # What the run's resources cost per hour they exist (set by the lifecycle: it knows them).
        self.hourly: Callable[[], list[HourlyCharge]] = list
        # Provisioned units/s per service and billed unit, and the hottest keys (set by the lifecycle).
        self.capacity: Callable[[], dict[str, dict[str, float]]] = dict
        self.hot_keys: Callable[[], list[dict[str, Any]]] = list
        # The run's users and its target rate (records/s; None: not paced), for the timeline.
        self.users: Callable[[], int] = lambda: 0
        self.target_rate: Callable[[], float | None] = lambda: None

    # ------------------------------------------------------------------ lifecycle

    def start_test(self) -> None:
        now = time.monotonic()
        self.run_id += 1
        self.started, self.stopped = time.time(), None
        self._started_mono, self._stopped_mono = now, None
        self._sample_until = math.inf
        self.snapshots = deque([(now, {})])
        self.timeline.clear()
        self.workers.clear()
        self._cached = None
        self.latency.rotate_window()
        if self._greenlet is not None:  # restart the sampler on the new test's clock
            self.stop_sampling()
            self.start_sampling()

    def stop_test(self, final_reports_pending: bool) -> None:
        """The test stopped; a master keeps sampling one more interval for the workers' last reports."""
        if self.started is None or self._stopped_mono is not None:
            return
        now = time.monotonic()
        self.stopped, self._stopped_mono = time.time(), now
        if final_reports_pending:
            self._sample_until = now + self.sample_seconds + 0.5
        else:
            self.sample()
            self._sample_until = now

    @property
    def running(self) -> bool:
        return self.started is not None and time.monotonic() <= self._sample_until

    def start_sampling(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._sample_forever)

    def stop_sampling(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _sample_forever(self) -> None:
        while True:  # on the test's clock: a point every sample_seconds since it started
            elapsed = time.monotonic() - self._started_mono
            gevent.sleep(self.sample_seconds - elapsed % self.sample_seconds + 0.01)
            if self.running:
                self.sample()

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        counts = self.workers.setdefault(client_id, Counter())
        for *_, row in data.get("aws_tally") or []:
            counts["calls"] += row.get("calls", 0)
            counts["items"] += row.get("items", 0)
            counts["acked"] += row.get("acked", 0)

    # ------------------------------------------------------------------ figures

    def duration(self, ends_at: float | None = None) -> float:
        """Seconds from the test's start to its stop (or now), or to `ends_at` (monotonic) if earlier."""
        end = self._stopped_mono if self._stopped_mono is not None else time.monotonic()
        if ends_at is not None:
            end = min(end, ends_at)
        return max(0.0, end - self._started_mono) if self.started is not None else 0.0

    def _cumulative(self) -> dict[RowKey, Counter[str]]:
        return {key: Counter(row) for key, row in self.tally.rows.items()}

    def rates(self, now: float | None = None, current: dict[RowKey, Counter[str]] | None = None) -> dict[str, Any]:
        """calls/s, items/s, MB/s per name over the last ~RATE_WINDOW seconds."""
        now = time.monotonic() if now is None else now
        current = self._cumulative() if current is None else current
        base_time, base = self.snapshots[0] if self.snapshots else (self._started_mono, {})
        for when, snapshot in self.snapshots:  # the newest snapshot at least a window old
            if when <= now - RATE_WINDOW:
                base_time, base = when, snapshot
        span = now - base_time
        rows: dict[RowKey, dict[str, float]] = {}
        for name, row in current.items():
            old = base.get(name, Counter())
            delta = {f: row[f] - old[f] for f in ("calls", "items", "acked", "bytes", "billed_milliunits")}
            rows[name] = {
                "calls_per_s": delta["calls"] / span if span > 0.5 else 0.0,
                "items_per_s": delta["items"] / span if span > 0.5 else 0.0,
                "acked_per_s": delta["acked"] / span if span > 0.5 else 0.0,
                "mb_per_s": delta["bytes"] / span / 1e6 if span > 0.5 else 0.0,
                "units_per_s": delta["billed_milliunits"] / 1000 / span if span > 0.5 else 0.0,
            }
        return {"window_seconds": round(span, 1), "rows": rows}

    def services_used(self) -> list[str]:
        """The services this run called or keeps resources of (its cost rows name no others)."""
        return sorted({key.service for key in self.tally.rows} | {charge.service for charge in self.hourly()})

    def consumed_vs_provisioned(self, rates: dict[RowKey, dict[str, float]]) -> list[dict[str, Any]]:
        """Per provisioned resource and billed unit: units/s consumed (recent) against provisioned."""
        lines = []
        for service, units in sorted(self.capacity().items()):
            for unit, provisioned in sorted(units.items()):
                consumed = 0.0
                for key, rate in rates.items():
                    price = price_for(key.service, key.operation) if key.service == service else None
                    if price is not None and price.unit == unit:
                        consumed += rate.get("units_per_s", 0.0)
                lines.append({
                    "service": service, "unit": unit, "consumed_per_s": round(consumed, 1),
                    "provisioned_per_s": provisioned,
                    "used": round(consumed / provisioned, 3) if provisioned else None,
                })  # fmt: skip
        return lines

    def sample(self) -> None:
        """One timeline point: recent rates, the p99 of the calls since the last sample, and
        what happened since the last sample (throttles, errors, late starts, records acked)."""
        now = time.monotonic()
        current = self._cumulative()
        rates = self.rates(now, current)["rows"]
        window = self.latency.rotate_window()
        last_time, last = self.snapshots[-1] if self.snapshots else (self._started_mono, {})
        interval = now - last_time
        point: dict[str, Any] = {"t": round(now - self._started_mono, 1), "interval_s": round(interval, 3), "rows": {}}
        acked = 0
        for key in sorted(set(rates) | {row for _, row in window}):
            rate = rates.get(key, {})
            histogram = window.get(("service", key))
            values = {
                "calls_per_s": round(rate.get("calls_per_s", 0.0), 2),
                "items_per_s": round(rate.get("items_per_s", 0.0), 2),
                "mb_per_s": round(rate.get("mb_per_s", 0.0), 4),
                "p99": _percentile(histogram, 99.0),
                "p50": _percentile(histogram, 50.0),
                "calls": histogram.get_total_count() if histogram is not None else 0,
            }
            for kind in KINDS[1:]:  # the other latency kinds, where measured
                other = window.get((kind, key))
                if other is not None:
                    values[f"p99_{kind}"] = _percentile(other, 99.0)
            now_row, old_row = current.get(key, Counter()), last.get(key, Counter())
            for field, counts in INTERVAL_FIGURES.items():
                done = max(0, sum(now_row[count] - old_row[count] for count in counts))  # 0 after a reset
                values[field] = round(done / interval, 3) if interval > 0 else 0.0
            acked += max(0, now_row["acked"] - old_row["acked"])
            point["rows"][key.name] = values
        release(window.values())
        point["users"] = self.users()
        point["target_rate"] = self.target_rate()
        point["achieved_rate"] = round(acked / interval, 2) if interval > 0 else 0.0
        self.timeline.append(point)
        self.snapshots.append((now, current))
        while len(self.snapshots) > 2 and self.snapshots[1][0] <= now - 2 * RATE_WINDOW:
            self.snapshots.popleft()

    def timeline_since(self, since: float = -1.0) -> list[dict[str, Any]]:
        return [point for point in self.timeline if point["t"] > since]

    # ------------------------------------------------------------------ the table

    def table(self, live: bool = True) -> dict[str, Any]:
        """The per-strategy table: live rates (or the run's averages), failures, percentiles, cost.

        Live tables are kept for a second: every open UI polls, and percentiles are not free.
        """
        now = time.monotonic()
        if live and self._cached is not None and now - self._cached[0] < TABLE_CACHE_SECONDS:
            return self._cached[1]
        table = self._table(live)
        if live:
            self._cached = (now, table)
        return table

    def _table(self, live: bool) -> dict[str, Any]:
        current = self._cumulative()
        duration = self.duration()
        if live:
            recent = self.rates(current=current)
            rates, window = recent["rows"], recent["window_seconds"]
        else:
            rates, window = _averages(current, duration), round(duration, 1)
        rows = [
            table_row(key, current[key], rates.get(key, {}), {k: self.latency.percentiles(key, k) for k in KINDS})
            for key in sorted(current)
        ]
        total = total_row(rows)
        hourly = hourly_rows(self.hourly(), duration)
        return {
            "rates_over_seconds": window,
            "rates": "recent" if live else "run average",
            "rows": rows,
            "total": total,
            "cost_usd": total["cost_usd"] + sum(charge["cost_usd"] for charge in hourly),
            "hourly_charges": hourly,  # in cost_usd, not in the rows: they bill time, not calls
            "capacity": self.consumed_vs_provisioned(rates),
            "hot_keys": self.hot_keys(),
            "prices": price_table(self.services_used()),
            "workers": {k: dict(v) for k, v in sorted(self.workers.items())},
            "started": _iso(self.started),
            "stopped": _iso(self.stopped),
            "duration_seconds": round(duration, 1),
            "run_id": self.run_id,
        }


def _percentile(histogram: HdrHistogram | None, percentile: float) -> float | None:
    if histogram is None or not histogram.get_total_count():
        return None
    return three_digits(value_at_percentile(histogram, percentile) / 1000)


def _averages(current: dict[RowKey, Counter[str]], duration: float) -> dict[RowKey, dict[str, float]]:
    if duration <= 0:
        return {}
    return {
        name: {
            "units_per_s": row["billed_milliunits"] / 1000 / duration,
            "calls_per_s": row["calls"] / duration,
            "items_per_s": row["items"] / duration,
            "acked_per_s": row["acked"] / duration,
            "mb_per_s": row["bytes"] / duration / 1e6,
        }
        for name, row in current.items()
    }


def _units_source(row: Counter[str], service: str) -> str:
    """Where the billed units come from: the service's own figure, item sizes, or counted requests."""
    billed_calls = row["calls"] - sum(row[f"failed_{k}"] for k in FAILURE_KINDS)
    if not row["billed_milliunits"]:
        return "-"
    billing = billing_for(service)
    if billing is None or not billing.reports_units:
        return "counted"  # billed by AWS's rules from what was sent (requests, bytes)
    if row["units_reported"] >= billed_calls:
        return "reported"
    return "estimated" if not row["units_reported"] else "mixed"


def table_row(
    key: RowKey, row: Counter[str], rate: dict[str, float], latency: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """One row of the table; `latency`: kind -> that kind's percentiles."""
    service, operation, strategy = key
    price = price_for(service, operation)
    pct = latency.get("service", {})
    return {
        "name": key.name,
        "service": service,
        "operation": operation,
        "strategy": strategy,
        "calls_per_s": round(rate.get("calls_per_s", 0.0), 1),
        "items_per_s": round(rate.get("items_per_s", 0.0), 1),
        "mb_per_s": round(rate.get("mb_per_s", 0.0), 3),
        "calls": row["calls"],
        "items": row["items"],
        "acked": row["acked"],
        "found": row["found"],
        "not_found": row["not_found"],
        "mb": round(row["bytes"] / 1e6, 3),
        "throttled": row["failed_throttled"],
        "client_4xx": row["failed_client"],
        "server_5xx": row["failed_server"],
        "network": row["failed_network"],
        "retried_items": row["retried_items"],
        "given_up_items": row["given_up_items"],
        "p50_ms": pct.get("p50"),
        "p90_ms": pct.get("p90"),
        "p99_ms": pct.get("p99"),
        "p99_9_ms": pct.get("p99.9"),
        "max_ms": pct.get("max"),
        # the other kinds (aws_locust.latency): from the intended start (rate mode), per record
        "p50_intended_ms": latency.get("intended", {}).get("p50"),
        "p99_intended_ms": latency.get("intended", {}).get("p99"),
        "p99_record_ms": latency.get("record", {}).get("p99"),
        "late": row["late"],
        "billed_units": row["billed_milliunits"] / 1000,
        "billed_unit": price.unit if price else "",
        "units_source": _units_source(row, service),
        "cost_usd": row["cost_pusd"] / PICO_PER_USD,
    }


SUMMED = (
    "calls_per_s", "items_per_s", "mb_per_s", "calls", "items", "acked", "found", "not_found", "mb", "throttled",
    "client_4xx", "server_5xx", "network", "retried_items", "given_up_items", "cost_usd", "late",
)  # fmt: skip


def total_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"name": "Total", "service": "", "operation": "", "strategy": ""}
    for field in SUMMED:
        total[field] = sum(row[field] for row in rows)
    for field in ("calls_per_s", "items_per_s"):
        total[field] = round(total[field], 1)
    total["mb_per_s"] = round(total["mb_per_s"], 3)
    total["mb"] = round(total["mb"], 3)
    return total


def attach(environment: Environment, tally: AwsTally, latency: LatencyHistograms) -> LiveStats | None:
    """On the master or the single local process: a LiveStats fed by this process's tally."""
    from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return None
    master = isinstance(runner, MasterRunner)
    live = LiveStats(tally, latency, WORKER_REPORT_INTERVAL if master else LOCAL_SAMPLE_SECONDS)
    live.users = lambda: int(getattr(environment.runner, "user_count", 0) or 0)

    def test_start(**_: Any) -> None:
        live.start_test()

    def test_stop(**_: Any) -> None:
        live.stop_test(final_reports_pending=master)

    environment.events.test_start.add_listener(test_start)
    environment.events.test_stop.add_listener(test_stop)
    if master:
        environment.events.worker_report.add_listener(live.on_worker_report)
    live.start_sampling()
    return live
