"""End-of-run reports: one JSON and one HTML file per test run, under --report-dir.

The JSON holds everything the HTML shows and more: the per-strategy table (run-average
rates, failures by class, retries, merged percentiles, billed units and cost), the AWS
summary exactly as --summary-json writes it, the timeline the live charts showed, the
price table with its region and date, the command (secret-looking values masked) and
the versions of everything that matters. The HTML is one file that opens offline and alone
(mailed, or uploaded without anything beside it): plotly.js from the plotly wheel is inlined
once (~4.8 MB), and no tag loads anything from elsewhere.

Secrets never reach a report: nothing from the environment is copied in, the command
is masked, and the final text is scrubbed of every credential value this process knows.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import platform
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent
import orjson

from aws_locust import outcome
from aws_locust.files import write_atomically
from aws_locust.latency import LatencyHistograms
from aws_locust.outcome import Verdicts
from aws_locust.tally import AwsTally
from writers.emulators import LOCAL_SECRET_KEY
from writers.errors import one_line
from writers.services import workloads

if TYPE_CHECKING:  # no locust import at module level: tests use this module without Locust's monkey-patching
    from locust.env import Environment

    from aws_locust.live import LiveStats

logger = logging.getLogger("aws_locust")

WEB_DIR = Path(__file__).resolve().parent / "web"
PLOTLY_JS = "plotly.min.js"
MASK = "***"
REPORT_PREFIX = "aws-report-"
VERSIONED = (
    "locust", "boto3", "botocore", "aiobotocore", "aiohttp", "gevent", "geventhttpclient",
    "hdrhistogram", "plotly", "aws-load-writers",
)  # fmt: skip
# The run's settings a report records: Locust's and the common flags, then each service's own (it says which).
COMMON_SETTINGS = (
    "num_users", "spawn_rate", "run_time", "host", "target", "region", "records_per_task", "concurrency",
    "batch", "payload_bytes", "max_records", "seed", "max_attempts", "timeout", "keep_alive", "provision",
    "teardown", "verify", "rate", "arrival", "rate_steps", "find_max", "find_max_start", "find_max_growth",
    "step_time", "slo_p99_ms", "slo_throttle_ratio", "slo_error_ratio", "abort_after", "check_p99_ms",
    "check_error_ratio", "check_throttle_ratio", "check_min_rate", "check_max_cost_usd", "check_given_up",
)  # fmt: skip
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "FAULT_PROXY_RESIGN_SECRET_KEY")
SECRET_NAME = re.compile(r"secret|token|passw|credential|private|api[-_]?key|access[-_]?key|auth|session", re.I)
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]+:)[^@/\s]+@", re.I)
ASSIGNED_SECRET = re.compile(
    r"(?P<key>\b[A-Za-z0-9_.-]*(?:secret|token|passw|credential|api[-_]?key)[A-Za-z0-9_.-]*\s*[=:]\s*)[^\s&,;]+", re.I
)
AWS_SECRET_SHAPE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
MIN_SECRET_LENGTH = 8  # shorter values ("test") would mangle ordinary words if scrubbed


# --------------------------------------------------------------------------- secrets


def known_secrets(environ: dict[str, str] | None = None) -> list[str]:
    """Credential values this process could know: from the environment and the local emulators."""
    environ = dict(os.environ) if environ is None else environ
    values = [environ.get(name, "") for name in SECRET_ENV] + [LOCAL_SECRET_KEY]
    try:  # the credentials this process resolved, as the log filter knows them
        from writers.redact import redact_logs

        values.extend(redact_logs().secrets)
    except ImportError:
        pass
    return sorted({v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret value, and secret-looking text, with ***."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    text = URL_PASSWORD.sub(lambda m: m["head"] + MASK + "@", text)
    return ASSIGNED_SECRET.sub(lambda m: m["key"] + MASK, text)


def _looks_like_aws_secret(value: str) -> bool:
    """40 characters of base64 with letters of both cases and a digit: an AWS secret key's shape."""
    return bool(
        AWS_SECRET_SHAPE.fullmatch(value)
        and re.search(r"[a-z]", value)
        and re.search(r"[A-Z]", value)
        and re.search(r"\d", value)
        and "/" not in value[:1]
    )


def mask_argv(argv: Sequence[str], secrets: Iterable[str] = ()) -> list[str]:
    """The command line with the values of secret-looking flags, URL passwords, KEY=secret
    assignments, known secret values and AWS-secret-shaped words replaced by ***."""
    secrets = list(secrets)
    masked: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            masked.append(MASK)
            hide_next = False
            continue
        if arg.startswith("-") and SECRET_NAME.search(arg.split("=", 1)[0]):
            if "=" in arg:
                masked.append(arg.split("=", 1)[0] + "=" + MASK)
            else:
                masked.append(arg)
                hide_next = True
            continue
        arg = scrub(arg, secrets)
        masked.append(MASK if _looks_like_aws_secret(arg) else arg)
    return masked


# --------------------------------------------------------------------------- contents


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def setting_names() -> tuple[str, ...]:
    """The flags a report records: the common ones, then every service's own."""
    names = dict.fromkeys(COMMON_SETTINGS)
    for workload in workloads():
        names.update(dict.fromkeys(workload.report_flags()))
    return tuple(names)


def _settings(options: Any, secrets: Sequence[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for name in setting_names():
        if options is not None and hasattr(options, name):
            value = getattr(options, name)
            settings[name] = scrub(value, secrets) if isinstance(value, str) else value
    return settings


def _errors(environment: Environment) -> list[dict[str, Any]]:
    runner = environment.runner
    if runner is None:
        return []
    errors = [
        {"request_type": e.method, "name": e.name, "error": str(e.parse_error(e.error)), "occurrences": e.occurrences}
        for e in runner.stats.errors.values()
    ]
    return sorted(errors, key=lambda e: -int(e["occurrences"]))


def build_report(
    environment: Environment,
    tally: AwsTally,
    latency: LatencyHistograms,
    live: LiveStats | None,
    live_rates: bool,
    summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report as data (before scrubbing)."""
    from locust.runners import MasterRunner

    from aws_locust.live import LiveStats as _LiveStats

    live = live or _LiveStats(tally, latency)
    secrets = known_secrets()
    options = environment.parsed_options
    runner = environment.runner
    table = live.table(live=live_rates)
    percentiles = latency.summary()  # every latency kind measured, under its --summary-json key
    summary = summary or tally.as_dict(percentiles)
    failures = {kind: sum(row[key] for row in table["rows"]) for kind, key in _FAILURE_COLUMNS.items()}
    total_stats = runner.stats.total if runner is not None else None
    argv = mask_argv(sys.argv, secrets)
    return {
        "report": "aws-locust",
        "format": 1,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": {
            "run_id": table["run_id"],
            "started": table["started"],
            "stopped": table["stopped"],
            "duration_seconds": table["duration_seconds"],
            "role": "master" if isinstance(runner, MasterRunner) else "local",
            # at quitting the workers may be gone: those that reported count too
            "workers": max(runner.worker_count, len(table["workers"])) if isinstance(runner, MasterRunner) else 0,
            "headless": bool(getattr(options, "headless", False)),
            "locustfile": environment.locustfile or "",
            "user_classes": sorted(cls.__name__ for cls in (environment.user_classes or [])),
        },
        "command": argv,
        "command_line": shlex.join(argv),
        "versions": versions(),
        "settings": _settings(options, secrets),
        "rates": table["rates"],
        "rows": table["rows"],
        "total": table["total"],
        "failures": failures,
        "retried_items": summary["retried"],
        "given_up_items": summary["given_up"],
        **percentiles,
        "cost": {
            "total_usd": table["cost_usd"],
            "by_row": {row["name"]: row["cost_usd"] for row in table["rows"]},
            "hourly": table["hourly_charges"],
            "prices": table["prices"],
        },
        "capacity": table.get("capacity", []),
        "hot_keys": table.get("hot_keys", []),
        "workers": table["workers"],
        "locust": {
            "requests": total_stats.num_requests if total_stats is not None else 0,
            "failures": total_stats.num_failures if total_stats is not None else 0,
            "errors": _errors(environment),
        },
        "checks": (summary or {}).get("checks", []),  # --check-*: name, limit, value, passed
        "aws_summary": summary,  # exactly what --summary-json writes
        "summary_text": tally.summary(percentiles),
        "timeline": list(live.timeline),
    }


_FAILURE_COLUMNS = {"throttled": "throttled", "client": "client_4xx", "server": "server_5xx", "network": "network"}


# --------------------------------------------------------------------------- HTML


def plotly_js_path() -> Path | None:
    """plotly.min.js inside the installed plotly wheel (found without importing plotly)."""
    spec = find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / PLOTLY_JS
    return path if path.exists() else None


# Legends above the plot area, titles in the page: a legend never covers an axis title
# (the live charts, aws_charts.js, place theirs the same way); one trace has its legend too.
LEGEND = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}
CHART_LAYOUT = {"legend": LEGEND, "showlegend": True, "height": 380, "margin": {"t": 30, "r": 30}}
TIME_AXIS = {"title": {"text": "seconds since the test started"}}


def user_ticks(most: int) -> int:
    """A whole number of users between ticks (about four ticks): users come whole."""
    return max(1, math.ceil(most / 4))


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "rangemode": "tozero", **extra}


def _figures(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The report's charts: key -> (title, plotly <div>) (plotly.js itself is inlined once by the page)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    timeline = report["timeline"]
    names = sorted({name for point in timeline for name in point["rows"]})
    charts: dict[str, tuple[str, str]] = {}

    def series(field: str, suffix: str = "", dash: str = "solid") -> list[Any]:
        traces = []
        for name in names:
            points = [(p["t"], p["rows"][name].get(field)) for p in timeline if name in p["rows"]]
            if not any(v is not None for _, v in points):
                continue
            traces.append(
                go.Scatter(x=[t for t, _ in points], y=[v for _, v in points], name=name + suffix,
                           mode="lines+markers", line={"dash": dash})
            )  # fmt: skip
        return traces

    def run_series(field: str, name: str, **extra: Any) -> list[Any]:
        points = [(p["t"], p.get(field)) for p in timeline]
        if not any(v is not None for _, v in points):
            return []
        return [go.Scatter(x=[t for t, _ in points], y=[v for _, v in points], name=name, mode="lines+markers",
                           **extra)]  # fmt: skip

    def add(key: str, title: str, traces: list[Any], layout: dict[str, Any]) -> None:
        figure = go.Figure(traces, layout={**CHART_LAYOUT, **layout})
        div = pio.to_html(
            figure, include_plotlyjs=False, full_html=False, div_id=f"chart-{key}", config={"displaylogo": False}
        )
        charts[key] = (title, str(div))

    if timeline:
        add("items", "items/s per strategy", series("items_per_s"), {"xaxis": TIME_AXIS, "yaxis": _axis("items/s")})
        p99 = series("p99", " (service time)") + series("p99_intended", " (intended)", "dash")
        p99 += series("p99_record", " (record)", "dot")
        add("p99", "p99 latency per interval, by kind", p99, {"xaxis": TIME_AXIS, "yaxis": _axis("ms")})
        faults = series("throttled_per_s", " (throttled)") + series("errors_per_s", " (errors)", "dash")
        add("faults", "throttles and errors per second (over each interval), per strategy", faults,
            {"xaxis": TIME_AXIS, "yaxis": _axis("calls/s")})  # fmt: skip
        rate = run_series("target_rate", "target records/s", line={"dash": "dash"})
        rate += run_series("achieved_rate", "achieved records/s (acknowledged)")
        rate += run_series("users", "users", yaxis="y2", line={"dash": "dot"})
        users = _axis("users", overlaying="y", side="right", showgrid=False,
                      dtick=user_ticks(max((p.get("users") or 0 for p in timeline), default=0)))  # fmt: skip
        add(
            "rate",
            "records/s: target vs achieved, and users",
            rate,
            {"xaxis": TIME_AXIS, "yaxis": _axis("records/s"), "yaxis2": users},
        )
        if any(p.get("target_rate") is not None for p in timeline):  # late starts exist only on a schedule
            add("late", "late starts per second, per strategy", series("late_per_s"),
                {"xaxis": TIME_AXIS, "yaxis": _axis("late starts/s")})  # fmt: skip
    search = (report.get("aws_summary") or {}).get("find_max")
    if search and search.get("steps"):
        steps = search["steps"]
        rates = [step["rate"] for step in steps]
        add(
            "knee",
            "knee finder: each step's rate against its p99 and throttling",
            [
                go.Scatter(x=rates, y=[s["p99_intended_ms"] for s in steps], name="intended p99 ms", mode="markers"),
                go.Scatter(x=rates, y=[100 * s["throttle_ratio"] for s in steps], name="throttled %", mode="markers",
                           yaxis="y2"),
            ],
            {"xaxis": {"title": {"text": "target records/s"}}, "yaxis": _axis("intended p99 ms"),
             "yaxis2": _axis("throttled %", overlaying="y", side="right")},
        )  # fmt: skip
    rows = [row for row in report["rows"] if row["p50_ms"] is not None]
    if rows:
        bars = [
            go.Bar(name=label, x=[row["name"] for row in rows], y=[row[key] for row in rows])
            for label, key in (("p50", "p50_ms"), ("p99", "p99_ms"), ("p99.9", "p99_9_ms"))
        ]
        add("percentiles", "latency percentiles over the run (merged)", bars,
            {"barmode": "group", "yaxis": {"title": {"text": "ms"}, "type": "log"}})  # fmt: skip
    return charts


@functools.cache
def plotly_js() -> str:
    """plotly.min.js's text, safe inside a <script> element ("" when plotly is not installed)."""
    path = plotly_js_path()
    return "" if path is None else path.read_text(encoding="utf-8").replace("</script", "<\\/script")


PLOTLY_MARK = "<script>/* plotly.js */</script>"


def render_html(report: dict[str, Any]) -> str:
    """The report page, scrubbed of secrets, with plotly.js inlined (after scrubbing: its code is not ours)."""
    from jinja2 import Environment as Jinja
    from jinja2 import FileSystemLoader, select_autoescape
    from markupsafe import Markup

    jinja = Jinja(loader=FileSystemLoader(str(WEB_DIR)), autoescape=select_autoescape(["html"]))
    # plotly's own markup, not user text
    charts = {key: (title, Markup(div)) for key, (title, div) in _figures(report).items()}
    used = sorted(report["cost"]["prices"].get("sources") or {})  # the prices are those of the services used
    page = jinja.get_template("report.html").render(report=report, charts=charts, services=used, plotly=PLOTLY_MARK)
    page = scrub(page, known_secrets())
    return page.replace(PLOTLY_MARK, f"<script>{plotly_js()}</script>", 1)


# --------------------------------------------------------------------------- files


def dumps(report: dict[str, Any]) -> bytes:
    return scrub(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode(), known_secrets()).encode()


def write_report(report: dict[str, Any], directory: str | Path) -> tuple[Path, Path]:
    """report JSON + HTML (one file, plotly.js inside) in `directory`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base, n = f"{REPORT_PREFIX}{stamp}", 1
    while (folder / f"{base}.json").exists() or (folder / f"{base}.html").exists():
        n += 1
        base = f"{REPORT_PREFIX}{stamp}-{n}"
    json_path, html_path = folder / f"{base}.json", folder / f"{base}.html"
    write_atomically(json_path, dumps(report))
    write_atomically(html_path, render_html(report).encode("utf-8"))
    return json_path, html_path


class Reports:
    """Writes one report per test run (master or local process only).

    A run is reported when it ends: at quitting (headless), a few seconds after the test
    stops in the web UI (once the workers' last counts are in), or, if the web UI starts a
    new test first, just before the new one clears the counts.
    """

    def __init__(
        self,
        tally: AwsTally,
        latency: LatencyHistograms,
        verdicts: Verdicts,
        summary: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.tally = tally
        self.latency = latency
        self.verdicts = verdicts  # the run's (the lifecycle holds them): a report not written says so
        self.summary = summary  # --summary-json's content (rate, knee finder, verdicts), if the run has one
        self.live: LiveStats | None = None
        self.pending = False  # a test ran whose report is not written yet
        self.written: list[Path] = []

    def attach(self, environment: Environment, live: LiveStats | None) -> None:
        """Web UI runs: report each test a little after it stops (headless ones at quitting)."""
        from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner

        self.live = live
        if getattr(environment.parsed_options, "headless", False):
            return
        delay = WORKER_REPORT_INTERVAL + 1.0 if isinstance(environment.runner, MasterRunner) else 0.0

        def test_stop(**_: Any) -> None:
            run_id = live.run_id if live is not None else 0
            gevent.spawn_later(delay, self.write, environment, run_id)

        environment.events.test_stop.add_listener(test_stop)

    def build(self, environment: Environment, live_rates: bool) -> dict[str, Any]:
        summary = self.summary() if self.summary is not None else None
        return build_report(environment, self.tally, self.latency, self.live, live_rates, summary)

    def directory(self, environment: Environment) -> str:
        return str(getattr(environment.parsed_options, "report_dir", "") or "")

    def test_started(self, environment: Environment) -> None:
        if self.pending:
            self.write(environment)  # the web UI's previous test, before its counts are cleared
        self.pending = True

    def write(self, environment: Environment, run_id: int | None = None) -> tuple[Path, Path] | None:
        """Write the current run's report, once; `run_id`: only if that run is still the current one."""
        live = self.live
        if not self.pending or (run_id is not None and live is not None and live.run_id != run_id):
            return None
        self.pending = False
        if live is not None and live.running:
            live.sample()  # the workers' last counts, as the timeline's last point
        directory = self.directory(environment)
        if not directory or not self.tally.rows:
            return None
        try:
            paths = write_report(self.build(environment, live_rates=False), directory)
        except Exception as exc:  # a report must never break the run's end, but the exit code says so
            self.verdicts.record(outcome.NOT_KEPT, f"could not write the report to {directory}: {one_line(exc)}")
            return None
        self.written.extend(paths)
        logger.info("report: %s (and %s)", paths[1], paths[0].name)
        return paths
