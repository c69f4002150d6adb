#!/usr/bin/env python3
"""Compare two runs' reports: did the new one regress?

    .venv/bin/python scripts/diff_reports.py BASE.json NEW.json [--tolerance 10%] [--markdown]

BASE and NEW are the JSON reports a run writes under --report-dir
(`aws-report-<time>.json`). Rows are matched by (service, operation, strategy); for each
matched row, and for the run as a whole, it prints the figure in each run and the change:

- records/s: acknowledged records per second over the run (lower is worse);
- p50 and p99 of each latency kind measured in both runs: service time, intended-time
  latency (rate mode), record latency (higher is worse);
- failures (throttled + client + server + network calls) and retries (records sent again),
  judged per 1,000 calls and per 1,000 records so runs of different lengths compare;
- load-generator CPU seconds per 1,000 records (the run's CPU: it is not kept per row,
  so it is judged on the whole run only);
- cost per million records (USD; the run's line includes hourly charges).

A figure regresses when it is worse than the base by more than the tolerance (relative;
`10%` or `0.1`); a figure that was 0 regresses as soon as it is above 0. Rows in one
report only are listed, not judged.

Output: a terminal table, or markdown (`--markdown`, for a pull-request comment).
Exit codes: 0 no figure regressed; 4 at least one did (each named on a `regressed:` line);
2 a file that cannot be read, is not a report, or does not compare (another report
format version, other services, no row in common).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROG = "diff_reports"
REPORT_MARK = "aws-locust"
FORMATS = (1,)
REGRESSED, OK = 4, 0
BAD_INPUT = 2
KINDS = (("service", "latency_ms"), ("intended", "intended_latency_ms"), ("record", "record_latency_ms"))
FAILURE_FIELDS = ("throttled", "client_4xx", "server_5xx", "network")


class BadInput(Exception):
    """One line for the user; exit 2."""


@dataclass(frozen=True)
class Figure:
    name: str  # "records/s", "p99 ms (service time)", ...
    base: float | None
    new: float | None
    higher_is_worse: bool
    judged: bool = True
    digits: int = 3  # significant digits shown (0: a whole count)

    def change(self) -> float | None:
        """Relative change, new vs base; inf when the base was 0 and the new is not."""
        if self.base is None or self.new is None:
            return None
        if self.base == 0:
            return 0.0 if self.new == 0 else math.copysign(math.inf, self.new)
        return (self.new - self.base) / abs(self.base)

    def regressed(self, tolerance: float) -> bool:
        change = self.change()
        if not self.judged or change is None:
            return False
        worse = change if self.higher_is_worse else -change
        return worse > tolerance + 1e-12


@dataclass(frozen=True)
class RowDiff:
    name: str
    figures: list[Figure]


# --------------------------------------------------------------------------- reading


def load(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("report") != REPORT_MARK:
        raise BadInput(f"{path} is not a run report (the JSON a run writes under --report-dir)")
    if data.get("format") not in FORMATS:
        raise BadInput(f"{path} is report format {data.get('format')!r}; this script reads format {FORMATS}")
    if not isinstance(data.get("rows"), list) or not isinstance(data.get("aws_summary"), dict):
        raise BadInput(f"{path} is an incomplete report (no rows or no AWS summary)")
    return data


def row_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return str(row.get("service")), str(row.get("operation")), str(row.get("strategy"))


def records_per_s(row: dict[str, Any], duration: float) -> float | None:
    """Acknowledged records/s over the run: the report's run-average items/s (unrounded
    duration) scaled to the acknowledged share, else acked / the rounded duration."""
    acked, items = row.get("acked") or 0, row.get("items") or 0
    if items and row.get("items_per_s") is not None:
        return float(row["items_per_s"]) * acked / items
    return acked / duration if duration > 0 else None


def per(part: float, whole: float, scale: float) -> float | None:
    return part / whole * scale if whole else None


def latency(report: dict[str, Any], key: str, row: str, percentile: str) -> float | None:
    value = ((report["aws_summary"].get(key) or {}).get(row) or {}).get(percentile)
    return float(value) if value is not None else None


def row_figures(base: dict[str, Any], new: dict[str, Any], b: dict[str, Any], n: dict[str, Any]) -> list[Figure]:
    duration = (base["run"].get("duration_seconds") or 0.0, new["run"].get("duration_seconds") or 0.0)
    figures = [Figure("records/s", records_per_s(b, duration[0]), records_per_s(n, duration[1]), False, digits=4)]
    for kind, key in KINDS:
        for percentile in ("p50", "p99"):
            old, now = latency(base, key, b["name"], percentile), latency(new, key, n["name"], percentile)
            if old is not None and now is not None:
                figures.append(Figure(f"{percentile} ms ({kind})", old, now, True))
    failures = (sum(b.get(f) or 0 for f in FAILURE_FIELDS), sum(n.get(f) or 0 for f in FAILURE_FIELDS))
    figures += [
        Figure("failures", failures[0], failures[1], True, judged=False, digits=0),
        Figure("failures per 1,000 calls", per(failures[0], b.get("calls") or 0, 1000),
               per(failures[1], n.get("calls") or 0, 1000), True),
        Figure("retries", b.get("retried_items") or 0, n.get("retried_items") or 0, True, judged=False, digits=0),
        Figure("retries per 1,000 records", per(b.get("retried_items") or 0, b.get("acked") or 0, 1000),
               per(n.get("retried_items") or 0, n.get("acked") or 0, 1000), True),
        Figure("cost USD per million records", per(b.get("cost_usd") or 0.0, b.get("acked") or 0, 1e6),
               per(n.get("cost_usd") or 0.0, n.get("acked") or 0, 1e6), True, digits=4),
    ]  # fmt: skip
    return figures


def run_figures(base: dict[str, Any], new: dict[str, Any]) -> list[Figure]:
    """The whole run: records/s, CPU per 1,000 records, cost per million (with hourly charges)."""

    def total_rate(report: dict[str, Any]) -> float | None:
        rates = [records_per_s(row, report["run"].get("duration_seconds") or 0.0) for row in report["rows"]]
        return sum(r for r in rates if r is not None) if any(r is not None for r in rates) else None

    def acked(report: dict[str, Any]) -> int:
        return int(report["aws_summary"].get("acked") or 0)

    def cpu(report: dict[str, Any]) -> float | None:
        return per(float(report["aws_summary"].get("cpu_seconds") or 0.0), acked(report), 1000)

    def cost(report: dict[str, Any]) -> float | None:
        return per(float((report.get("cost") or {}).get("total_usd") or 0.0), acked(report), 1e6)

    return [
        Figure("records/s", total_rate(base), total_rate(new), False, digits=4),
        Figure("CPU seconds per 1,000 records", cpu(base), cpu(new), True),
        Figure("cost USD per million records", cost(base), cost(new), True, digits=4),
    ]


def compare(base: dict[str, Any], new: dict[str, Any]) -> tuple[list[RowDiff], list[str], list[str]]:
    """(matched rows and the run line, rows only in base, rows only in new)."""
    services = ({row["service"] for row in base["rows"]}, {row["service"] for row in new["rows"]})
    if services[0] != services[1]:
        raise BadInput(
            f"the reports cover different services ({', '.join(sorted(services[0])) or 'none'} vs "
            f"{', '.join(sorted(services[1])) or 'none'}): nothing to compare"
        )
    old_rows = {row_key(row): row for row in base["rows"]}
    new_rows = {row_key(row): row for row in new["rows"]}
    matched = sorted(set(old_rows) & set(new_rows))
    if not matched:
        raise BadInput("the reports have no row (service, operation, strategy) in common")
    diffs = [RowDiff(old_rows[k]["name"], row_figures(base, new, old_rows[k], new_rows[k])) for k in matched]
    diffs.append(RowDiff("whole run", run_figures(base, new)))
    only_base = sorted(old_rows[k]["name"] for k in set(old_rows) - set(new_rows))
    only_new = sorted(new_rows[k]["name"] for k in set(new_rows) - set(old_rows))
    return diffs, only_base, only_new


# --------------------------------------------------------------------------- output


def number(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    if digits == 0 or value == 0 or not math.isfinite(value):
        return f"{value:,.0f}" if math.isfinite(value) else str(value)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))  # `digits` significant, no exponent
    return f"{value:,.{decimals}f}"


def change_text(figure: Figure) -> str:
    change = figure.change()
    if change is None:
        return "-"
    if math.isinf(change):
        return "new" if change > 0 else "gone"
    return f"{change * 100:+.1f}%"


def table(diffs: list[RowDiff], tolerance: float, markdown: bool) -> str:
    header = ("row", "figure", "base", "new", "change", "")
    lines: list[tuple[str, ...]] = []
    for diff in diffs:
        for i, figure in enumerate(diff.figures):
            mark = "REGRESSED" if figure.regressed(tolerance) else ""
            name = diff.name if i == 0 or markdown else ""
            lines.append(
                (name, figure.name, number(figure.base, figure.digits), number(figure.new, figure.digits),
                 change_text(figure), mark)
            )  # fmt: skip
    if markdown:
        out = ["| " + " | ".join(header[:5]) + " | verdict |", "|---|---|---:|---:|---:|---|"]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    aligns: list[Callable[[str, int], str]] = [str.ljust, str.ljust, str.rjust, str.rjust, str.rjust, str.ljust]
    return "\n".join("  ".join(aligns[i](cell, widths[i]) for i, cell in enumerate(line)).rstrip()
                     for line in [header, *lines])  # fmt: skip


def parse_tolerance(text: str) -> float:
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise BadInput(f"--tolerance must be like 10% or 0.1, not {text!r}") from None
    if not 0 <= value <= 100:  # also false for NaN
        raise BadInput(f"--tolerance must be between 0% and 10000% (got {text})")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Compare two run reports; exit 4 on a regression.")
    parser.add_argument("base", help="the reference run's JSON report")
    parser.add_argument("new", help="the run to judge, JSON report")
    parser.add_argument("--tolerance", default="10%", help="how much worse a figure may be (default 10%%)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table (pull-request comment)")
    options = parser.parse_args(argv)
    try:
        tolerance = parse_tolerance(options.tolerance)
        base, new = load(options.base), load(options.new)
        diffs, only_base, only_new = compare(base, new)
    except BadInput as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return BAD_INPUT
    print(table(diffs, tolerance, options.markdown))
    for name in only_base:
        print(f"only in base: {name}")
    for name in only_new:
        print(f"only in new: {name}")
    regressions = [(diff.name, figure) for diff in diffs for figure in diff.figures if figure.regressed(tolerance)]
    prefix = "\n" if regressions else ""
    for name, figure in regressions:
        print(
            f"{prefix}regressed: {name}: {figure.name} {number(figure.base, figure.digits)} -> "
            f"{number(figure.new, figure.digits)} ({change_text(figure)}, tolerance {tolerance * 100:g}%)"
        )
        prefix = ""
    if not regressions:
        print(f"\nno figure regressed beyond {tolerance * 100:g}%")
    return REGRESSED if regressions else OK


if __name__ == "__main__":
    sys.exit(main())
