"""Counts Locust's own stats do not keep: items, acknowledgements, retries, failure kinds.

Fed by the `context` of each request event (aws_locust.context); workers send theirs to
the master with every stats report, so the master's tally covers the whole run.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from aws_locust.context import RowKey

if TYPE_CHECKING:  # importing locust monkey-patches the process: only where Locust runs (attach)
    from locust.env import Environment

KIND_LABELS = {  # how the text summary names each latency kind
    "service": "service time (send -> answer)",
    "intended": "intended-time latency (intended start -> answer)",
    "record": "record latency (first intended start -> acknowledged)",
    "lag": "start lag (intended -> actual start)",
}


ALWAYS = ("calls", "items", "acked", "retried_items", "given_up_items", "bytes")  # every row has these


class AwsTally:
    """`rows`: per row, every count of its calls (a Counter). Per call, the request listener
    adds to plain dicts (a Counter's item update costs twice as much), folded into `rows`
    whenever they are read."""

    def __init__(self) -> None:
        self._rows: defaultdict[RowKey, Counter[str]] = defaultdict(Counter)
        self._counting: dict[RowKey, dict[str, int]] = {}  # this process's calls since the last fold
        self.acked_by_worker: Counter[str] = Counter()  # master: who carried the load
        self.records_from: str | None = None  # a pipeline: only its last step's service acknowledges records
        self.cpu_seconds = 0.0  # load-generator CPU (all threads) while tests ran
        self._cpu_mark = time.process_time()

    def mark_cpu(self) -> float:
        """This process's CPU seconds since the last mark."""
        now = time.process_time()
        used, self._cpu_mark = now - self._cpu_mark, now
        return used

    @property
    def rows(self) -> defaultdict[RowKey, Counter[str]]:
        if self._counting:
            for key, counts in self._counting.items():
                self._rows[key].update(counts)
            self._counting.clear()
        return self._rows

    def on_request(self, context: Any = None, exception: Any = None, response_length: int | None = 0, **_: Any) -> None:
        if context.__class__ is not dict:
            return
        key = context.get("row")
        if key.__class__ is not RowKey:
            return  # not one of ours
        row = self._counting.get(key)
        if row is None:
            row = self._counting[key] = dict.fromkeys(ALWAYS, 0)
        row["calls"] += 1
        row["items"] += context["items"]
        row["acked"] += context["acked"]
        row["retried_items"] += context["retried_items"]
        row["given_up_items"] += context["given_up_items"]
        row["bytes"] += response_length or 0
        found, not_found = context.get("found", 0), context.get("not_found", 0)
        if found or not_found:
            row["found"] = row.get("found", 0) + found
            row["not_found"] = row.get("not_found", 0) + not_found
        if context.get("late"):
            row["late"] = row.get("late", 0) + 1
        if exception is not None:
            failed = f"failed_{context['failure_kind']}"
            row[failed] = row.get(failed, 0) + 1
        units = context.get("billed_units")
        if units:  # the AWS bill of this call (writers.pricing): milli-units and pico-dollars, exact sums
            row["billed_milliunits"] = row.get("billed_milliunits", 0) + round(units * 1000)
            row["cost_pusd"] = row.get("cost_pusd", 0) + context.get("cost_pusd", 0)
            row["units_reported"] = row.get("units_reported", 0) + bool(context.get("units_reported"))

    def take(self) -> list[list[Any]]:
        """What to send to the master: the rows since the last report, as [service, operation, strategy, counts]."""
        rows = [[*key, dict(counts)] for key, counts in self.rows.items()]
        self.rows.clear()
        return rows

    def merge(self, rows: list[list[Any]], worker: str = "") -> None:
        for service, operation, strategy, counts in rows:
            self.rows[RowKey(service, operation, strategy)].update(counts)
            if worker and (self.records_from is None or service == self.records_from):
                self.acked_by_worker[worker] += counts.get("acked", 0)

    def total(self, field: str) -> int:
        return sum(row[field] for row in self.rows.values())

    def records(self) -> int:
        """Records acknowledged: every row's, or in a pipeline its last step's alone (each
        step acknowledges the same record once more)."""
        if self.records_from is None:
            return self.total("acked")
        return sum(row["acked"] for key, row in self.rows.items() if key.service == self.records_from)

    def as_dict(self, latency: dict[str, dict[str, dict[str, float]]] | None = None) -> dict[str, Any]:
        """--summary-json: counts per row, then the merged percentiles of each latency kind
        (`latency_ms`: service time; `intended_latency_ms`, `record_latency_ms`, `start_lag_ms`)."""
        return {
            "rows": {key.name: dict(counts) for key, counts in sorted(self.rows.items())},
            "latency_ms": {},
            **(latency or {}),
            "calls": self.total("calls"),
            "acked": self.records(),
            "given_up": self.total("given_up_items"),
            "retried": self.total("retried_items"),
            "found": self.total("found"),
            "not_found": self.total("not_found"),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "acked_by_worker": dict(self.acked_by_worker),
        }

    def summary(self, latency: dict[str, dict[str, dict[str, float]]] | None = None) -> str:
        """The text printed at the end: counts per row with service-time percentiles, then
        every latency kind measured, each named."""
        latency = latency or {}
        service = latency.get("latency_ms", {})
        lines = [
            f"{'AWS calls':<40} {'calls':>9} {'items':>9} {'acked':>9} {'retried':>8} {'given up':>8} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8}  failures"
        ]
        for key in sorted(self.rows):
            row = self.rows[key]
            failures = ", ".join(f"{k[7:]} {v}" for k, v in sorted(row.items()) if k.startswith("failed_")) or "-"
            pct = service.get(key.name, {})
            lines.append(
                f"{key.name:<40} {row['calls']:>9} {row['items']:>9} {row['acked']:>9} "
                f"{row['retried_items']:>8} {row['given_up_items']:>8} {pct.get('p50', '-'):>8} "
                f"{pct.get('p99', '-'):>8} {pct.get('p99.9', '-'):>9} {pct.get('max', '-'):>8}  {failures}"
            )
        kinds = [(kind, latency.get(key, {})) for kind, key in _SUMMARY_KINDS if latency.get(key)]
        if len(kinds) > 1:
            lines.append(f"{'latency in ms, by kind':<40} {'p50':>9} {'p90':>9} {'p99':>9} {'p99.9':>9} {'max':>9}")
            for key in sorted(self.rows):
                for kind, values in kinds:
                    pct = values.get(key.name) or {}
                    if pct:
                        over = f"  ({pct['over_range']} over 1 h)" if pct.get("over_range") else ""
                        lines.append(
                            f"{key.name:<40} "
                            + " ".join(f"{pct.get(p, '-'):>9}" for p in ("p50", "p90", "p99", "p99.9", "max"))
                            + f"  {KIND_LABELS[kind]}{over}"
                        )
        for key in sorted(self.rows):
            row = self.rows[key]
            if row["found"] or row["not_found"]:
                lines.append(f"{key.name:<40} reads: {row['found']} found, {row['not_found']} not found")
        lines.append(f"acknowledged records: {self.records()}, given up: {self.total('given_up_items')}")
        if self.cpu_seconds > 0:
            cpu = self.cpu_seconds
            lines.append(
                f"load-generator CPU: {cpu:.2f} s; {self.total('calls') / cpu:,.0f} calls and "
                f"{self.records() / cpu:,.0f} records per CPU-second"
            )
        return "\n".join(lines)


_SUMMARY_KINDS = (
    ("service", "latency_ms"),
    ("intended", "intended_latency_ms"),
    ("record", "record_latency_ms"),
    ("lag", "start_lag_ms"),
)


def attach(environment: Environment, tally: AwsTally) -> None:
    """Wire the tally to Locust's events for this process's role."""
    from locust.runners import LocalRunner, WorkerRunner

    environment.events.request.add_listener(tally.on_request)

    def report_to_master(client_id: str, data: dict[str, Any]) -> None:
        data["aws_tally"] = tally.take()
        data["aws_cpu"] = tally.mark_cpu()

    def worker_report(client_id: str, data: dict[str, Any]) -> None:
        tally.merge(data.get("aws_tally") or [], worker=client_id)
        tally.cpu_seconds += data.get("aws_cpu", 0.0)

    def test_start(**_: Any) -> None:
        tally.mark_cpu()  # CPU counts from here: not imports, emulators or provisioning
        if not isinstance(environment.runner, WorkerRunner):
            tally.rows.clear()  # a new test: Locust clears its stats too
            tally.acked_by_worker.clear()
            tally.cpu_seconds = 0.0

    def test_stop(**_: Any) -> None:
        if isinstance(environment.runner, LocalRunner):  # workers report theirs to the master
            tally.cpu_seconds += tally.mark_cpu()

    environment.events.report_to_master.add_listener(report_to_master)
    environment.events.worker_report.add_listener(worker_report)
    environment.events.test_start.add_listener(test_start)
    environment.events.test_stop.add_listener(test_stop)
