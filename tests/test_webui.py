"""The AWS tab, the live charts and the run-so-far report in Locust's web UI, during a
distributed run in rate mode (--processes 2: the master has the web UI, its two workers
send their deltas), checked over HTTP and in a real headless Chromium (Debian's, driven by
Playwright): the tab fits a 1,400 px window and its charts hold the timeline's values.
Screenshots go to test-artifacts/webui/ (git-ignored).

One Locust web run serves most of the module (started with --autostart, bounded by -t
and by the fixture, stopped with the UI's Stop then SIGTERM); the tests run in order.
The start page (no missing-host warning, the Host field is the target) has a short run
of its own.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    DYNAMODB_LOCUSTFILE,
    HEADLESS,
    PROJECT_ROOT,
    LocustProcess,
    legend_overlaps,
    require_chromium,
)
from helpers.stubs import StubServer

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, free_ports

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "webui"
CHROMIUM_ARGS = [
    *HEADLESS, "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ENV_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWEBUITESTKEY"  # a fake, AWS-shaped secret in the environment
STRATEGIES = {"gevent", "sequential"}
RATE = 300  # records/s: the module's run is paced, so the tab shows its rate control and every chart
EMULATOR_LINE = re.compile(r"DynamoDB -> \w+ at (http://127\.0\.0\.1:\d+)")
MISSING_HOST = "no host attribute"  # Locust's warning on the start page when it knows no host


@dataclass
class WebRun:
    locust: LocustProcess
    url: str
    reports: Path

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            body: bytes = response.read()
            return body

    def get_json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def output(self) -> str:
        return self.locust.output()[-4000:]

    def stop(self) -> None:
        """The master: SIGTERM, it quits its workers and writes what is due; then whatever is left of its group."""
        self.locust.stop(timeout=30, must_exit=False)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, run: WebRun | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (OSError, ValueError, KeyError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}" + (f"\n{run.output()}" if run else ""))
        time.sleep(0.5)


@pytest.fixture(scope="module")
def web_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebRun]:
    folder = tmp_path_factory.mktemp("webui")
    web_port, master_port = free_ports(2)
    args = [
        "--autostart", "-u", "2", "-r", "2", "-t", "120s",
        "--processes", "2", "--records-per-task", "20", "--concurrency", "2", "--target", "local",
        "--report-dir", str(folder / "reports"), "--web-host", "127.0.0.1", "--web-port", str(web_port),
        "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port), "--master-port", str(master_port),
        "--key-space", "500", "--key-distribution", "zipfian",  # keys written again: the tab names the hottest
        "--rate", str(RATE), "GeventUser", "SequentialUser",
    ]  # fmt: skip
    run = start_web_run(args, folder, web_port, {"AWS_SECRET_ACCESS_KEY": ENV_SECRET})
    try:
        run.locust.wait_for_http(run.url + "/", timeout=60)
        yield run
    finally:
        run.stop()


def start_web_run(args: list[str], folder: Path, web_port: int, env: dict[str, str]) -> WebRun:
    run = LocustProcess(DYNAMODB_LOCUSTFILE, args, folder, env=env, headless=False, credentials=False)
    return WebRun(run, f"http://127.0.0.1:{web_port}", folder / "reports")


def assert_no_secrets(*texts: str | bytes) -> None:
    for text in texts:
        value = text.decode(errors="replace") if isinstance(text, bytes) else text
        assert LOCAL_SECRET_KEY not in value and ENV_SECRET not in value


def test_ui_json_carries_rows_from_both_workers(web_run: WebRun) -> None:
    def both_workers() -> Any:
        stats = web_run.get_json("/aws/stats")
        workers = stats["workers"]
        busy = len(workers) == 2 and all(w["calls"] > 0 for w in workers.values())
        rows = {row["strategy"]: row for row in stats["rows"]}
        live = set(rows) == STRATEGIES and all(row["calls_per_s"] > 0 for row in rows.values())
        return stats if busy and live else None

    stats = wait_for(both_workers, 45, "calls from both workers in /aws/stats", web_run)
    assert stats["worker_count"] == 2 and stats["rates_over_seconds"] > 0
    assert sum(w["calls"] for w in stats["workers"].values()) <= stats["total"]["calls"]
    for row in stats["rows"]:
        assert row["p99_ms"] > 0 and row["items_per_s"] > 0 and row["mb_per_s"] > 0
        assert row["billed_unit"] == "WRU" and row["cost_usd"] > 0
    assert stats["prices"]["region"] == "us-east-1"

    def hottest() -> Any:  # merged from both workers; zipfian's rank 0 leads once a few hundred writes are in
        hot = web_run.get_json("/aws/stats")["hot_keys"]
        ok = len(hot) == 1 and len(hot[0]["writes"]) == 10 and hot[0]["writes"][0][0] == "9790000000001"
        return hot[0] if ok else None

    hot = wait_for(hottest, 30, "the hottest keys in /aws/stats", web_run)
    assert hot["service"] == "DynamoDB" and hot["resource"] == "books"

    # Locust's own stats JSON carries the AWS tab's rows (extended_stats), for the React UI.
    requests = web_run.get_json("/stats/requests")
    (aws,) = [e for e in requests["extended_stats"] if e["key"] == "aws"]
    names = {row["name"] for row in aws["data"]}
    assert {f"DynamoDB PutItem [{s}]" for s in STRATEGIES} <= names
    assert any(name.startswith("Total") for name in names)

    # No secret anywhere the UI serves.
    pages = ["/", "/stats/requests", "/aws/stats", "/aws/stats.csv", "/aws/timeline", "/aws/report.json"]
    assert_no_secrets(*(web_run.get(page) for page in pages), web_run.get("/aws/report.html"))


def test_aws_tab_and_live_charts_in_a_browser(web_run: WebRun) -> None:
    chromium = require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (Python) is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 800})
            page.goto(web_run.url + "/")
            page.get_by_role("tab", name="AWS").click()

            def live_rows() -> list[list[str]] | None:
                rows = [
                    [cell.strip() for cell in line.split("\t")]
                    for line in page.locator("#root table tbody").inner_text().splitlines()
                ]
                ours = [r for r in rows if r[0].startswith("DynamoDB PutItem")]
                strategies = {r[0].split("[")[-1].rstrip("]") for r in ours}
                return ours if strategies == STRATEGIES and all(float(r[1]) > 0 for r in ours) else None

            rows = wait_for(live_rows, 30, "AWS tab rows with calls/s > 0", web_run)
            hot_keys = page.locator("#aws-hot-keys")
            hot_keys.get_by_text("hottest keys of DynamoDB books by writes: 9790000000001").wait_for(timeout=15_000)
            assert all(r[-1] and float(r[-1]) > 0 for r in rows)  # estimated cost so far
            page.screenshot(path=str(ARTIFACTS / "aws-tab.png"), full_page=True)

            with page.context.expect_page() as opened:
                page.locator("#aws-charts-link").click()  # the link above the tab's table
            charts = opened.value
            charts.wait_for_load_state()
            assert charts.url == web_run.url + "/aws/charts"
            charts.set_viewport_size({"width": 1300, "height": 950})
            length = "document.getElementById('items-chart')?.data?.[0]?.x.length ?? 0"
            charts.wait_for_function(f"{length} >= 2", timeout=30_000)
            first = charts.evaluate(length)
            charts.wait_for_function(f"{length} > {first}", timeout=30_000)  # points keep coming
            traces = charts.evaluate("document.getElementById('items-chart').data.map(t => t.name)")
            assert {f"DynamoDB PutItem [{s}]" for s in STRATEGIES} <= set(traces)
            p99 = charts.evaluate("document.getElementById('p99-chart').data.map(t => t.y.filter(v => v > 0).length)")
            assert all(n > 0 for n in p99)
            assert charts.evaluate("typeof Plotly.version") == "string"  # plotly.js from the wheel, offline
            charts.screenshot(path=str(ARTIFACTS / "charts.png"), full_page=True)
            assert_no_secrets(page.content(), charts.content())
        finally:
            browser.close()


def browser_page(playwright: Any, width: int) -> Any:
    browser = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
    return browser, browser.new_page(viewport={"width": width, "height": 900})


def need_browser() -> None:
    require_chromium()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright (Python) is not installed")


def emulator_endpoint(run: WebRun) -> str:
    found = wait_for(lambda: EMULATOR_LINE.search(run.locust.output()), 30, "the emulator's line", run)
    return str(found[1])


# Per chart of the tab: the timeline's field behind each trace, by the trace's name.
ROW_TRACES = {
    "items": [("", "items_per_s")],
    "p99": [(" (service time)", "p99"), (" (intended)", "p99_intended"), (" (record)", "p99_record")],
    "faults": [(" (throttled)", "throttled_per_s"), (" (errors)", "errors_per_s")],
    "late": [("", "late_per_s")],
}
RUN_TRACES = {"target records/s": "target_rate", "achieved records/s (acknowledged)": "achieved_rate", "users": "users"}
CHART_DATA_JS = """() => Object.fromEntries(['rate', 'items', 'p99', 'faults', 'late'].map(key => {
  const div = document.getElementById('aws-' + key + '-chart');
  return [key, Object.fromEntries((div && div.data || []).map(t => [t.name, [Array.from(t.x), Array.from(t.y)]]))];
}))"""


def test_aws_tab_fits_1400_px_and_holds_live_charts_per_strategy(web_run: WebRun) -> None:
    need_browser()
    from playwright.sync_api import sync_playwright

    endpoint = emulator_endpoint(web_run)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser, page = browser_page(playwright, 1400)
        try:
            page.goto(web_run.url + "/")
            page.get_by_role("tab", name="AWS").click()
            points = "document.getElementById('aws-late-chart')?.data?.[0]?.x.length ?? 0"
            page.wait_for_function(f"{points} >= 3", timeout=40_000)
            charts = page.evaluate(CHART_DATA_JS)
            samples = web_run.get_json("/aws/timeline")["samples"]  # read after the charts: it holds their points
            page.screenshot(path=str(ARTIFACTS / "aws-tab-1400.png"), full_page=True)

            # The page and the table fit the window: nothing scrolls sideways.
            assert page.evaluate("document.documentElement.scrollWidth") <= 1400
            table = "document.querySelector('#root table').closest('.MuiTableContainer-root')"
            assert page.evaluate(f"{table}.scrollWidth <= {table}.clientWidth")
            assert page.evaluate("document.getElementById('aws-tab-links').getBoundingClientRect().right") <= 1400
            # Locust's Host is where the calls go (the emulator started for --target local), and no warning.
            assert endpoint in page.locator("header").inner_text()
            assert MISSING_HOST not in page.content()
            # The rate control, with the rate chart beside it.
            form = page.locator("#aws-rate-form")
            form.wait_for(state="visible", timeout=10_000)
            assert form.inner_text().startswith(f"target rate {RATE} records/s (--rate)")
            form_box, chart_box = form.bounding_box(), page.locator("#aws-rate-chart").bounding_box()
            assert form_box is not None and chart_box is not None
            assert form_box["x"] + form_box["width"] <= chart_box["x"]
            assert chart_box["y"] <= form_box["y"] <= chart_box["y"] + chart_box["height"]
            # No legend covers an axis title.
            with_legend, overlaps = legend_overlaps(page)
            assert with_legend == 5 and overlaps == [], overlaps
        finally:
            browser.close()

    by_time = {sample["t"]: sample for sample in samples}
    names = {f"DynamoDB PutItem [{strategy}]" for strategy in STRATEGIES}
    for key, traces in ROW_TRACES.items():
        for suffix, field in traces:
            for name in names:
                x, y = charts[key][name + suffix]  # a trace per strategy, with the points of the timeline
                assert len(x) >= 3 and x == sorted(x)
                assert y == [by_time[t]["rows"][name].get(field) for t in x], (key, name, field)
    for name, field in RUN_TRACES.items():
        x, y = charts["rate"][name]
        assert y == [by_time[t][field] for t in x], name
    assert set(charts["rate"]["target records/s"][1]) == {RATE}
    assert max(charts["rate"]["achieved records/s (acknowledged)"][1]) > 0 and max(charts["rate"]["users"][1]) == 2
    for name in names:
        assert max(charts["items"][name][1]) > 0 and max(v or 0 for v in charts["p99"][name + " (intended)"][1]) > 0


def test_report_is_written_when_the_test_stops(web_run: WebRun) -> None:
    request = urllib.request.Request(web_run.url + "/stop", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    # Written once the workers' last counts are in (a few seconds after the stop).
    reports = wait_for(lambda: sorted(web_run.reports.glob("aws-report-*.json")), 30, "the report", web_run)
    web_run.stop()
    assert "Traceback" not in web_run.output(), web_run.output()
    assert len(sorted(web_run.reports.glob("aws-report-*.json"))) == 1  # quitting wrote no second one
    data = json.loads(reports[0].read_text())
    html = reports[0].with_suffix(".html").read_text()
    assert_no_secrets(reports[0].read_text(), html)
    assert data["run"]["role"] == "master" and data["run"]["headless"] is False
    assert len(data["workers"]) == 2 and all(w["calls"] > 0 for w in data["workers"].values())
    assert {row["strategy"] for row in data["rows"]} == STRATEGIES
    assert data["total"]["calls"] == data["aws_summary"]["calls"] == sum(w["calls"] for w in data["workers"].values())
    assert data["timeline"] and data["cost"]["total_usd"] > 0
    assert '<table id="aws-table">' in html and 'class="plotly-graph-div"' in html


def test_the_start_page_shows_the_target_as_host_and_a_typed_host_is_the_target(tmp_path: Path) -> None:
    """No missing-host warning: the Host field holds the local emulator's endpoint (--target
    local). A host typed into the form is the test's --target: a URL that is none is refused
    in the form, nothing starts; a stub's URL is where that test's calls go."""
    need_browser()
    from playwright.sync_api import sync_playwright

    (web_port,) = free_ports(1)
    args = [
        "-u", "1", "-r", "1", "--target", "local",
        "--report-dir", "", "--web-host", "127.0.0.1", "--web-port", str(web_port),
    ]  # fmt: skip
    stub = StubServer()
    run = start_web_run(args, tmp_path, web_port, {"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
                                                   "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY})  # fmt: skip
    try:
        run.locust.wait_for_http(run.url + "/", timeout=60)
        endpoint = emulator_endpoint(run)
        with sync_playwright() as playwright:
            browser, page = browser_page(playwright, 1400)
            try:
                page.goto(run.url + "/")
                host = page.locator("input[name=host]")
                host.wait_for(timeout=15_000)
                page.screenshot(path=str(ARTIFACTS / "start-page.png"), full_page=True)
                assert host.input_value() == endpoint
                assert MISSING_HOST not in page.content()
                assert endpoint in page.locator("header").inner_text()

                host.fill("ftp://127.0.0.1:1")
                page.get_by_role("button", name="Start").click()
                page.get_by_text("Host: --target must be 'local', 'aws' or an http(s):// URL").wait_for(timeout=10_000)
                assert run.get_json("/stats/requests")["state"] == "ready"  # nothing started
                assert stub.requests == 0

                host.fill(stub.url)
                page.get_by_role("button", name="Start").click()
                wait_for(lambda: stub.requests > 20, 30, "writes at the stub typed as the host", run)
                page.goto(run.url + "/")  # the page as Locust renders it now
                assert stub.url in page.locator("header").inner_text()
                assert MISSING_HOST not in page.content()
            finally:
                browser.close()
        request = urllib.request.Request(run.url + "/stop", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        rows = run.get_json("/aws/stats")["rows"]
        assert rows and sum(row["calls"] for row in rows) <= stub.requests  # every call counted went to the stub
        assert "Traceback" not in run.output(), run.output()
    finally:
        run.stop()
        stub.close()
