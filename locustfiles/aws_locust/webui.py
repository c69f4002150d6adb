"""The "AWS" tab in Locust's web UI, the live charts page, and the run-so-far report.

Only where there is a web UI (the master, or a single local process): workers have
none. Locust's React UI renders extra tabs from ``template_args["extended_tabs"]`` and
``["extended_tables"]``, and fills them from the ``extended_stats`` list of the
``/stats/requests`` JSON it polls every two seconds; this module adds that list with an
``after_request`` hook. Its own pages live under ``<web base path>/aws/``:

- ``aws/stats``: the table as JSON (live rates over the last ~10 s, cost so far, workers, and
  what a locustfile adds: a pipeline's row)
- ``aws/stats.csv``: the same table as CSV
- ``aws/charts``: the tab's live charts in a window of their own (plotly.js from the plotly wheel)
- ``aws/timeline?since=T``: the charts' data
- ``aws/report.json``, ``aws/report.html``: the report of the run so far
- ``aws/rate`` (POST ``rate=N``): a new target rate, records/s, for the rest of the test (rate mode)

It also checks the start form's flags before Locust starts a test (``/swarm``): a value our
checks refuse answers ``success: false`` with the reason, as Locust's own refusals do.

The tab itself (static/aws_tab.js) holds the live charts per strategy next to the rate
control. Locust's Host field shows where the calls go (the lifecycle sets the environment's
host); a host typed into the start form becomes the test's --target (see `attach_host_field`).
"""

from __future__ import annotations

import csv
import io
from argparse import Namespace
from collections.abc import Callable
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, abort, g, jsonify, request, send_file, send_from_directory
from locust.env import Environment
from locust.runners import STATE_INIT, STATE_RUNNING, STATE_STOPPED

from aws_locust import report
from aws_locust.control import RateControl
from aws_locust.live import RATE_WINDOW, LiveStats
from aws_locust.mix import targets_by_service
from aws_locust.report import WEB_DIR, Reports, known_secrets, plotly_js_path, scrub
from aws_locust.settings import MAX_RATE
from writers.errors import ConfigError
from writers.target import parse_target

TAB = "aws"
COLUMNS = (
    ("name", "Service Operation [strategy]"),
    ("calls_per_s", "calls/s"),
    ("items_per_s", "items/s"),
    ("mb_per_s", "MB/s"),
    ("calls", "calls"),
    ("items", "items"),
    ("throttled", "throttled"),
    ("client_4xx", "client 4xx"),
    ("server_5xx", "server 5xx"),
    ("network", "network"),
    ("retried_items", "retried items"),
    ("given_up_items", "given up"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("p99_9_ms", "p99.9 ms"),
    ("p99_intended_ms", "p99 intended ms"),  # rate mode: from each call's intended start
    ("p99_record_ms", "p99 record ms"),  # from each record's first intended start to its acknowledgement
    ("late", "late starts"),
    ("billed", "billed units"),
    ("cost_usd", "est. cost $"),
)
LATENCY_COLUMNS = ("p50_ms", "p99_ms", "p99_9_ms", "p99_intended_ms", "p99_record_ms")
SCRIPT_TAG = b'<script src="./aws/static/aws_tab.js" defer></script>'
# No user starts more calls a second than this (a user is one greenlet on one core, and a core signs ~10,000):
# a rate above users x batch x this cannot be met, only owed (a backlog nobody can send), so it is refused.
MAX_CALLS_PER_USER = 10_000
# /swarm form fields Locust itself reads; every other field is a flag it copies into the options.
LOCUST_FORM_FIELDS = ("user_count", "spawn_rate", "host", "user_classes", "run_time", "profile", "shape_class")


def ui_rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    """The table as the React UI shows it: one row per name, then the total."""
    rows = []
    for row in [*table["rows"], table["total"]]:
        shown = {key: row.get(key) for key, _ in COLUMNS if key in row}
        for key in LATENCY_COLUMNS:
            if key in shown and shown[key] is None:
                shown[key] = "-"
        shown["cost_usd"] = round(row["cost_usd"], 6)
        if row["name"] == "Total":
            shown["name"] = f"Total (rates over the last {table['rates_over_seconds']:g} s)"
            shown["billed"] = ""
            for key in LATENCY_COLUMNS:
                shown[key] = ""
        else:
            shown["billed"] = f"{row['billed_units']:g} {row['billed_unit']} ({row['units_source']})"
        rows.append(shown)
    return rows


def _error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": message}), status=status, mimetype="application/json")


def _json(data: Any) -> Response:
    body = scrub(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode(), known_secrets())
    return Response(body, mimetype="application/json", headers={"Cache-Control": "no-store"})


def form_options(options: Any, form: Any) -> Namespace:
    """The options a /swarm form would make, as Locust converts its fields (a copy; the
    options themselves are untouched). ConfigError for a field of the wrong type."""
    values = dict(vars(options)) if options is not None else {}
    for key, value in form.items():
        if key in LOCUST_FORM_FIELDS or key not in values:
            continue
        current = values[key]
        if isinstance(current, bool):
            values[key] = value == "true"
        elif current is None:
            values[key] = value
        elif not isinstance(current, list):
            try:
                values[key] = type(current)(value)
            except ValueError:
                flag = "--" + key.replace("_", "-")
                raise ConfigError(f"{flag} must be a {type(current).__name__}, not {value!r}") from None
    return Namespace(**values)


def rate_ceiling(environment: Environment) -> float:
    """The highest target that is not a typo: every user starting MAX_CALLS_PER_USER calls a second."""
    users = max(1, int(getattr(environment.runner, "user_count", 0) or 0))
    batch = max(1, int(getattr(environment.parsed_options, "batch", 1) or 1))
    return min(MAX_RATE, float(users * batch * MAX_CALLS_PER_USER))


def classes_for_start(environment: Environment, form: Any) -> list[Any]:
    """The user classes a /swarm form will run, as Locust picks them: the class picker's
    choice (all of them when none is ticked and no test runs), else the run's own."""
    web_ui = environment.web_ui
    available = environment.available_user_classes or {}
    if web_ui is not None and web_ui.userclass_picker_is_active and available:
        names = form.getlist("user_classes")
        if names:
            return [cls for name, cls in available.items() if name in names]
        runner = environment.runner
        if runner is None or runner.state != STATE_RUNNING:
            return list(available.values())
    return list(environment.user_classes or [])


def attach(
    environment: Environment,
    live: LiveStats | None,
    reports: Reports,
    control: RateControl | None,
    check_flags: Callable[[Any, list[Any]], None] | None = None,
    sections: list[Callable[[dict[str, Any]], None]] | None = None,
) -> bool:
    """Add the AWS tab and pages to this process's web UI, if it has one."""
    web_ui = environment.web_ui
    if web_ui is None or live is None:
        return False
    base = str(getattr(environment.parsed_options, "web_base_path", "") or "").rstrip("/")
    blueprint = Blueprint(
        "aws_locust",
        __name__,
        url_prefix=f"{base}/aws",
        static_folder=str(WEB_DIR / "static"),
        static_url_path="/static",
    )
    guard = web_ui.auth_required_if_enabled

    def full_table() -> dict[str, Any]:
        runner = environment.runner
        table = dict(live.table(live=True))  # a copy: the live table is cached and shared
        table["state"] = str(getattr(runner, "state", ""))
        table["user_count"] = getattr(runner, "user_count", 0)
        table["worker_count"] = getattr(runner, "worker_count", 0)
        if control is not None:
            table["rate"] = {"target": control.target, "source": control.source, "paced": control.paced}
            by_service = targets_by_service(control.target, control.settings.by_service)
            if by_service:  # several services with a rate each: each one's part of the target
                table["rate"]["by_service"] = by_service
        for section in sections or ():  # a locustfile's own (a pipeline's row)
            section(table)
        return table

    @blueprint.route("/stats")
    @guard
    def stats() -> Response:
        return _json(full_table())

    @blueprint.route("/stats.csv")
    @guard
    def stats_csv() -> Response:
        out = io.StringIO()
        writer = csv.writer(out)
        rows = ui_rows(full_table())
        writer.writerow([title for _, title in COLUMNS])
        for row in rows:
            writer.writerow([row.get(key, "") for key, _ in COLUMNS])
        return Response(
            scrub(out.getvalue(), known_secrets()),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment;filename=aws_stats.csv"},
        )

    @blueprint.route("/rate", methods=["POST"])
    @guard
    def rate() -> Response:
        """A new target rate for the rest of the test (rate mode only; the knee finder sets its own)."""
        value = request.form.get("rate")
        if value is None:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return _error(400, 'send rate=N as a form field or a JSON object {"rate": N}')
            value = body.get("rate")
        try:
            target = float(str(value))
        except ValueError:
            return _error(400, f"rate must be a number of records/s, not {value!r}")
        ceiling = rate_ceiling(environment)
        if not 0 <= target <= ceiling:  # also false for NaN
            return _error(
                400,
                f"rate must be between 0 and {ceiling:g} records/s: {MAX_CALLS_PER_USER:,} calls a second per user "
                f"and batch item at most",
            )
        if control is None or not control.paced:
            return _error(409, "the test is not in rate mode: start it with a rate (--rate, or the start form)")
        if control.settings.find_max:
            return _error(409, "the knee finder (--find-max) sets the rate itself")
        control.set_by_user(target)
        return _json({"target": control.target, "source": control.source})

    @blueprint.route("/timeline")
    @guard
    def timeline() -> Response:
        try:
            since = float(request.args.get("since", "-1"))
            run = int(request.args.get("run", str(live.run_id)))
        except ValueError:
            abort(400)
        if run != live.run_id:
            since = -1.0  # a new test started: the page starts over
        return _json(
            {
                "run_id": live.run_id,
                "interval_seconds": live.sample_seconds,
                "rate_window_seconds": RATE_WINDOW,
                "running": live.running,
                "samples": live.timeline_since(since),
            }
        )

    @blueprint.route("/charts")
    @guard
    def charts() -> Response:
        return send_from_directory(str(WEB_DIR), "charts.html", max_age=0)

    @blueprint.route("/plotly.min.js")
    @guard
    def plotly_js() -> Response:
        path = plotly_js_path()
        if path is None:
            abort(404, "plotly is not installed")
        return send_file(path, mimetype="application/javascript", max_age=3600)

    @blueprint.route("/report.json")
    @guard
    def report_json() -> Response:
        data = reports.build(environment, live_rates=False)
        return Response(report.dumps(data), mimetype="application/json", headers={"Cache-Control": "no-store"})

    @blueprint.route("/report.html")
    @guard
    def report_html() -> Response:
        data = reports.build(environment, live_rates=False)
        return Response(report.render_html(data), mimetype="text/html")  # scrubbed, plotly.js inlined

    app = web_ui.app
    assert app is not None
    app.register_blueprint(blueprint)
    web_ui.template_args["extended_tabs"] = [{"title": "AWS", "key": TAB}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./aws/stats.csv", "title": "Download AWS table CSV"},
        {"href": "./aws/report.json", "title": "Download AWS report of the run so far (JSON)"},
        {"href": "./aws/report.html", "title": "AWS report of the run so far (HTML)"},
        {"href": "./aws/charts", "title": "AWS live charts"},
    ]
    attach_host_field(app, environment, base)
    index_path, stats_path, swarm_path = f"{base}/", f"{base}/stats/requests", f"{base}/swarm"

    @app.before_request
    def check_swarm() -> Response | None:
        """Our flags in the start form, checked before Locust starts anything."""
        if request.path != swarm_path or request.method != "POST" or check_flags is None:
            return None
        try:
            options = form_options(environment.parsed_options, request.form)
            check_flags(options, classes_for_start(environment, request.form))
        except ConfigError as exc:
            return jsonify({"success": False, "message": str(exc), "host": environment.host})
        return None

    @app.after_request
    def extend(response: Response) -> Response:
        if request.path == stats_path and response.status_code == 200:
            data = response.get_json(silent=True)
            if isinstance(data, dict):
                extended = [e for e in data.get("extended_stats") or [] if e.get("key") != TAB]
                data["extended_stats"] = [*extended, {"key": TAB, "data": ui_rows(live.table(live=True))}]
                response.set_data(scrub(orjson.dumps(data).decode(), known_secrets()))
        elif request.path == index_path and response.mimetype == "text/html" and not response.direct_passthrough:
            page = response.get_data()
            if SCRIPT_TAG not in page and b"</body>" in page:
                response.set_data(page.replace(b"</body>", SCRIPT_TAG + b"\n</body>", 1))
        return response

    return True


# --------------------------------------------------------------------------- the Host field


def attach_host_field(app: Flask, environment: Environment, base: str) -> None:
    """Locust's Host field shows where the calls go; a host typed into the start form is that
    test's --target (a URL, 'local' or 'aws'), as a Locust user expects of the field.

    Locust's /swarm handler copies the form into the options (the target field included) and
    spawns the test's start; the typed host is checked before (one line in the form when it is
    no target) and becomes the target after, before the spawned start runs. A running test
    keeps its target (the form's Edit cannot move it) and its Host.
    """
    swarm_path = f"{base}/swarm"

    def refuse(message: str) -> Response:
        body = orjson.dumps({"success": False, "message": message, "host": environment.host})
        return Response(body, mimetype="application/json")

    @app.before_request
    def host_as_target() -> Response | None:
        if request.path != swarm_path or request.method != "POST":
            return None
        typed, shown = (request.form.get("host") or "").strip(), str(environment.host or "")
        if not typed or typed == shown:
            return None
        if getattr(environment.runner, "state", None) not in (STATE_INIT, STATE_STOPPED):
            g.aws_host = shown  # Locust would show the typed host; the test goes on where it went
            return None
        try:
            target = parse_target(typed)
        except ConfigError as exc:
            return refuse(f"Host: {exc}")
        options = environment.parsed_options
        field = (request.form.get("target") or "").strip()
        if field and field not in (str(getattr(options, "target", "")), target):
            return refuse("Host and target were both changed: change one of them")
        g.aws_target = target
        return None

    @app.after_request
    def apply_target(response: Response) -> Response:
        if request.path != swarm_path:
            return response
        target, host = g.pop("aws_target", None), g.pop("aws_host", None)
        if host is not None:
            environment.host = host
        started = response.status_code == 200 and (response.get_json(silent=True) or {}).get("success")
        if target is not None and started and environment.parsed_options is not None:
            environment.parsed_options.target = target  # read by the test's start (Lifecycle.prepare)
        return response
