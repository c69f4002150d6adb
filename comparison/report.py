"""The comparison's outputs: the table (plain and markdown), the chart, results.json."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from comparison.options import PROG, Options
from comparison.runs import RunResult
from comparison.targets import Targets

SECONDS_HOW = (
    "start of the first call to the end of the last call that acknowledged records, timed inside the "
    "Locust process from its request events (event time - response_time); excludes Locust start-up, "
    "emulator, provisioning and client creation in on_start"
)


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def table_rows(results: list[RunResult], keep_alive_column: bool) -> tuple[list[str], list[list[str]]]:
    header = ["strategy"]
    if keep_alive_column:
        header.append("keep-alive")
    header += ["seconds", "records/s", "speedup", "p50 ms", "p99 ms", "CPU s/1k records", "status"]
    rows = []
    for r in results:
        row = [r.strategy]
        if keep_alive_column:
            row.append("on" if r.keep_alive else "off")
        row += [
            _fmt(r.seconds, ",.2f"),
            _fmt(r.records_per_s, ",.0f"),
            _fmt(r.speedup, ".1f", "x"),
            _fmt(r.p50_ms, "g"),
            _fmt(r.p99_ms, "g"),
            _fmt(r.cpu_per_1k, ".2f"),
            "ok" if r.ok else f"FAILED: {r.failure}",
        ]
        rows.append(row)
    return header, rows


def heading(options: Options, service: str, results: list[RunResult], targets: Targets) -> str:
    operations = sorted({r.operation.split(" [")[0] for r in results if r.operation})
    what = ", ".join(operations) or service
    where = targets.described.get(service) or targets.errors.get(service, "")
    per = f"batch {options.batch}, " if options.batch > 1 else ""
    return (
        f"{what}: {options.records:,} records per run, {options.users} user(s), concurrency {options.concurrency}, "
        f"{per}target {where}"
    )


def plain_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    left = {0, len(header) - 1} | ({1} if header[1] == "keep-alive" else set())

    def line(cells: list[str]) -> str:
        out = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---" if h in ("strategy", "keep-alive", "status") else "---:" for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


FOOTNOTE = (
    "seconds: first call's start to the last acknowledged record, timed inside Locust; "
    "speedup: over sequential{ka}; p50/p99: per call; CPU: load-generator CPU seconds per 1,000 records"
)


def report(options: Options, results: list[RunResult], targets: Targets) -> tuple[str, str]:
    """The plain-text and the Markdown tables, one per service."""
    keep_alive_column = len(options.keep_alive) > 1
    note = FOOTNOTE.format(ka=" (keep-alive on)" if keep_alive_column else "")
    plain, markdown = [], []
    for service in options.services:
        mine = [r for r in results if r.service == service]
        if not mine:
            continue
        header, rows = table_rows(mine, keep_alive_column)
        title = heading(options, service, mine, targets)
        plain += [title, plain_table(header, rows), ""]
        markdown += [f"**{title}**", "", markdown_table(header, rows), ""]
    plain.append(note)
    markdown.append(f"_{note}_")
    return "\n".join(plain), "\n".join(markdown) + "\n"


def write_chart(options: Options, results: list[RunResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    services = [s for s in options.services if any(r.service == s for r in results)]
    figure, axes = plt.subplots(
        len(services), 2, figsize=(12, 3.8 * len(services)), squeeze=False, constrained_layout=True
    )
    width = 0.8 / len(options.keep_alive)
    colours = {True: "#2b6cb0", False: "#dd6b20"}
    for row, service in enumerate(services):
        mine = [r for r in results if r.service == service]
        strategies = [s for s in options.strategies if any(r.strategy == s for r in mine)]
        for column, (attribute, title) in enumerate(
            (
                ("records_per_s", "records/s (higher is better)"),
                ("cpu_per_1k", "CPU s per 1,000 records (lower is better)"),
            )
        ):
            axis = axes[row][column]
            for k, keep_alive in enumerate(options.keep_alive):
                xs, values, labels = [], [], []
                for i, strategy in enumerate(strategies):
                    match = [r for r in mine if r.strategy == strategy and r.keep_alive == keep_alive]
                    if not match:
                        continue
                    value = getattr(match[0], attribute) if match[0].ok else None
                    xs.append(i + (k - (len(options.keep_alive) - 1) / 2) * width)
                    values.append(value or 0.0)
                    labels.append("failed" if value is None else _bar_label(value))
                bars = axis.bar(
                    xs, values, width, color=colours[keep_alive], label=f"keep-alive {'on' if keep_alive else 'off'}"
                )
                axis.bar_label(bars, labels=labels, fontsize=8, padding=2)
            axis.set_xticks(range(len(strategies)), strategies)
            axis.set_title(f"{service}: {title}", fontsize=10)
            axis.margins(y=0.15)
            if len(options.keep_alive) > 1:
                axis.legend(fontsize=8)
    latency = f", +{options.latency_ms:g} ms round trip" if options.latency_ms else ""
    figure.suptitle(
        f"{options.records:,} records per run, {options.users} user(s), concurrency {options.concurrency}, "
        f"target {options.target}{latency}",
        fontsize=11,
    )
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _bar_label(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def machine_facts() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
    }


def write_outputs(
    options: Options, results: list[RunResult], targets: Targets, started: dt.datetime, interrupted: bool
) -> tuple[str, str]:
    plain, markdown = report(options, results, targets)
    (options.out / "table.txt").write_text(plain + "\n")
    (options.out / "table.md").write_text(markdown)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
    document = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "interrupted": interrupted,
        "settings": settings,
        "targets": targets.described,
        "target_errors": targets.errors,
        "machine": machine_facts(),
        "seconds_measured_as": SECONDS_HOW,
        "runs": [asdict(r) for r in results],
    }
    (options.out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    if results:
        try:
            write_chart(options, results, options.out / "compare.png")
        except Exception as exc:  # the figures are in the JSON and the table either way
            print(f"{PROG}: warning: no chart: {exc}", file=sys.stderr)
    return plain, markdown
