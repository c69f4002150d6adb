"""Shared fixtures: real local servers for every service, started once per session and
shared by every test module (`local`, `dynalite_server`, `moto_server`, ...), unique
table names, the one `drive()` helper that runs calls through a strategy, and a helper
that runs a locustfile headless in a subprocess.

Tests start and stop their servers themselves; nothing here depends on a server
started by hand, and every server binds 127.0.0.1. Service and strategy lists come
from the registries (writers.services, writers.strategies).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from writers.calls import Attempt, Call
from writers.driver import Driver, Totals
from writers.emulators import (
    LOCAL_ACCESS_KEY,
    LOCAL_SECRET_KEY,
    RunningEmulator,
    available_emulators,
    emulator_names,
    start_emulator,
)
from writers.retry import RetryPolicy
from writers.services import workload_class
from writers.strategies import STRATEGIES, Strategy, StrategyOptions, strategy_class
from writers.target import Endpoint, resolve_endpoint

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCUST = PROJECT_ROOT / ".venv" / "bin" / "locust"
if not LOCUST.exists():  # a venv somewhere else: the locust next to this interpreter
    LOCUST = Path(sys.executable).parent / "locust"
DYNAMODB_LOCUSTFILE = PROJECT_ROOT / "locustfiles" / "dynamodb.py"
REGION = "us-east-1"
DYNAMODB_EMULATORS = emulator_names("dynamodb")
USER_CLASSES = [name.capitalize() + "User" for name in STRATEGIES]  # one per strategy, as the locustfiles make them
# Retries in tests: the production policy's shape, without its waits.
FAST_RETRIES = RetryPolicy(max_attempts=8, base_delay=0.001, max_delay=0.005)


# --------------------------------------------------------------------------- servers


@contextmanager
def sigcheck_sink(secret: str, delay_ms: int = 0) -> Iterator[str]:
    """tests/sigcheck_server.py in a subprocess (every signature re-checked with botocore,
    `delay_ms` before each answer): its URL while the block runs, stopped after."""
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "tests" / "sigcheck_server.py"), secret, str(delay_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(10)


class SharedEmulators:
    """Local stand-ins shared by the whole session, each started on first use and stopped at
    the end. One server per emulator: moto's one server answers every service."""

    def __init__(self) -> None:
        self._running: dict[str, RunningEmulator] = {}

    def get(self, service: str, name: str | None = None) -> RunningEmulator:
        """The emulator `name` for `service` (default: the one it prefers that can run here)."""
        name = name or _preferred(service)
        emulator = self._running.get(name)
        if emulator is None or not emulator.alive():
            emulator = self._running[name] = start_emulator(service, prefer=name)
        return emulator

    def stop(self) -> None:
        for emulator in self._running.values():
            emulator.stop()
        self._running.clear()


def _preferred(service: str) -> str:
    available = available_emulators(service)
    if not available:
        pytest.skip(f"no emulator for {service} can run here")
    return available[0]


@pytest.fixture(scope="session")
def local() -> Iterator[SharedEmulators]:
    """`local.get(service, name)`: a server shared by every test of the session."""
    shared = SharedEmulators()
    yield shared
    shared.stop()


@pytest.fixture
def fault_proxy(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`fault_proxy(upstream, *flags) -> FaultProxy` (test_reliability's), stopped after the test."""
    from test_reliability import FaultProxy  # it imports this module

    started: list[FaultProxy] = []

    def start(upstream: str, *flags: str) -> FaultProxy:
        proxy = FaultProxy(upstream, *flags, log_dir=tmp_path)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def dynalite_server(local: SharedEmulators) -> RunningEmulator:
    return local.get("dynamodb", "dynalite")


@pytest.fixture(scope="session")
def moto_server(local: SharedEmulators) -> RunningEmulator:
    return local.get("dynamodb", "moto")


def local_endpoint(emulator: RunningEmulator, service: str = "dynamodb") -> Endpoint:
    """The Endpoint the project itself builds for `--target local` at this emulator."""
    return resolve_endpoint(
        "local",
        workload_class(service).service,
        REGION,
        local_url=emulator.endpoint,
        local_credentials=(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY),
    )


@pytest.fixture(scope="session", params=DYNAMODB_EMULATORS)
def dynamodb_emulator(request: pytest.FixtureRequest, local: SharedEmulators) -> RunningEmulator:
    """Each DynamoDB emulator in turn (started once per session)."""
    return local.get("dynamodb", request.param)


@pytest.fixture(scope="session")
def dynamodb_endpoint(dynamodb_emulator: RunningEmulator) -> Endpoint:
    """An Endpoint at dynalite, then at moto: tests using it run against both."""
    return local_endpoint(dynamodb_emulator)


@pytest.fixture(scope="session")
def moto_endpoint(moto_server: RunningEmulator) -> Endpoint:
    return local_endpoint(moto_server)


# --------------------------------------------------------------------------- calls


def drive(
    strategy: str | Strategy,
    calls: Sequence[Call],
    endpoint: Endpoint | None = None,
    *,
    policy: RetryPolicy = FAST_RETRIES,
    concurrency: int = 4,
) -> tuple[Totals, list[Attempt]]:
    """Run calls through a Driver and a strategy (a name, made at `endpoint`, or one already
    made), closed after; returns the totals and every reported attempt."""
    if isinstance(strategy, str):
        assert endpoint is not None, "a strategy named by its name needs an endpoint"
        strategy = strategy_class(strategy)(endpoint, StrategyOptions(concurrency))
    reported: list[Attempt] = []
    try:
        totals = Driver(strategy, reported.append, policy).run(calls)
    finally:
        strategy.close()
    return totals, reported


# --------------------------------------------------------------------------- names


def unique_table_name(hint: str = "t") -> str:
    """A valid DynamoDB table name no other test uses: letters, digits, '-', '_', '.'."""
    clean = re.sub(r"[^a-zA-Z0-9_.-]+", "-", hint).strip("-")[:60] or "t"
    return f"{clean}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def table_name(request: pytest.FixtureRequest) -> str:
    """A unique table name derived from the test's name."""
    return unique_table_name(request.node.name)


# --------------------------------------------------------------------------- locust


def locust_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a Locust subprocess: no stray endpoint overrides, no IMDS lookups."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "PYTHONUNBUFFERED": "1",
            # A master logs "All users spawned" only if every worker reports its users within
            # this many seconds of the ramp (Locust's default: 1), else another line; workers
            # on a busy machine can take longer, and the tests wait for that line.
            "LOCUST_WAIT_FOR_WORKERS_REPORT_AFTER_RAMP_UP": "10",
        }
    )
    env.update(extra or {})
    return env


def stats_totals(stats: Sequence[Mapping[str, Any]] | None) -> tuple[int, int]:
    """(requests, failures) summed over every entry of Locust's --json-file output."""
    entries = stats or []
    return sum(e["num_requests"] for e in entries), sum(e["num_failures"] for e in entries)


@dataclass
class LocustRun:
    """A finished headless Locust run."""

    returncode: int
    output: str  # stdout and stderr, interleaved as written
    stats: list[dict[str, Any]]  # the --json-file list (empty when Locust wrote none)
    elapsed: float  # seconds

    def stat_rows(self) -> dict[str, dict[str, Any]]:
        """The --json-file entries by request name."""
        return {row["name"]: row for row in self.stats}


def headless_locust(
    locustfile: Path, args: Sequence[str], parent: Path, timeout: float, env: Mapping[str, str] | None = None
) -> LocustRun:
    """Run a locustfile headless from a fresh folder under `parent`; never longer than `timeout`."""
    cwd = parent / f"cwd-{uuid.uuid4().hex[:6]}"  # proves the locustfile works from any folder
    cwd.mkdir(parents=True)
    json_prefix = cwd / "stats"  # Locust appends ".json"
    argv = [str(LOCUST), "-f", str(locustfile), "--headless", "--json-file", str(json_prefix), *args]
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=locust_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so a hung run can be killed with everything it started
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.communicate(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
        pytest.fail(f"locust {' '.join(args)} did not finish within {timeout} s")
    elapsed = time.monotonic() - started
    json_file = json_prefix.with_name("stats.json")
    stats = json.loads(json_file.read_text()) if json_file.exists() else []
    return LocustRun(process.returncode, output, stats, elapsed)


RunLocust = Callable[..., LocustRun]


@pytest.fixture
def run_locust(tmp_path: Path) -> RunLocust:
    """`run_locust(args, timeout, env=None) -> LocustRun` of the DynamoDB locustfile."""

    def run(args: Sequence[str], timeout: float = 90.0, env: Mapping[str, str] | None = None) -> LocustRun:
        return headless_locust(DYNAMODB_LOCUSTFILE, args, tmp_path, timeout, env)

    return run


# --------------------------------------------------------------------------- charts in a browser

# Per plotly chart in the page (id -> ...): the bounding box of its legend and of each axis title.
CHART_BOXES_JS = """() => Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot')).map(div => {
  const box = element => { const r = element.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const legend = div.querySelector('g.legend');
  const titles = Array.from(div.querySelectorAll('.xtitle, .ytitle, .y2title')).filter(t => t.textContent);
  return [div.id, {legend: legend ? box(legend) : null, titles: titles.map(t => [t.textContent, box(t)])}];
}))"""


def legend_overlaps(page: Any) -> tuple[int, list[str]]:
    """(charts with a legend, every legend box that meets an axis title's box) in a Playwright page."""
    charts = page.evaluate(CHART_BOXES_JS)
    overlaps = []
    for chart, boxes in charts.items():
        legend = boxes["legend"]
        for title, box in boxes["titles"] if legend else []:
            if box[0] < legend[2] and legend[0] < box[2] and box[1] < legend[3] and legend[1] < box[3]:
                overlaps.append(f"{chart}: the legend {legend} meets the axis title {title!r} {box}")
    return sum(1 for boxes in charts.values() if boxes["legend"]), overlaps
