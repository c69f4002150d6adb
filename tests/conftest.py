"""Shared fixtures: real local DynamoDB servers (dynalite and moto), unique table
names, and a helper that runs the DynamoDB locustfile headless in a subprocess.

Tests start and stop their own servers; nothing here depends on a server started by
hand, and every server binds 127.0.0.1.
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

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator, start_emulator
from writers.services.dynamodb import SERVICE
from writers.target import Endpoint, resolve_endpoint

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCUST = PROJECT_ROOT / ".venv" / "bin" / "locust"
if not LOCUST.exists():  # a venv somewhere else: the locust next to this interpreter
    LOCUST = Path(sys.executable).parent / "locust"
DYNAMODB_LOCUSTFILE = PROJECT_ROOT / "locustfiles" / "dynamodb.py"
REGION = "us-east-1"
DYNAMODB_EMULATORS = ("dynalite", "moto")


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


@contextmanager
def running_emulator(service: str, prefer: str | None = None) -> Iterator[RunningEmulator]:
    """A local stand-in for `service` (writers.emulators), stopped when the block ends."""
    emulator = start_emulator(service, prefer=prefer)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def dynalite_server() -> Iterator[RunningEmulator]:
    with running_emulator("dynamodb", "dynalite") as emulator:
        yield emulator


@pytest.fixture(scope="session")
def moto_server() -> Iterator[RunningEmulator]:
    with running_emulator("dynamodb", "moto") as emulator:
        yield emulator


def local_endpoint(emulator: RunningEmulator) -> Endpoint:
    """The Endpoint the project itself builds for `--target local` at this emulator."""
    return resolve_endpoint(
        "local", SERVICE, REGION, local_url=emulator.endpoint, local_credentials=(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
    )


@pytest.fixture(scope="session", params=DYNAMODB_EMULATORS)
def dynamodb_emulator(request: pytest.FixtureRequest) -> RunningEmulator:
    """Each DynamoDB emulator in turn (started once per session)."""
    emulator: RunningEmulator = request.getfixturevalue(f"{request.param}_server")
    return emulator


@pytest.fixture(scope="session")
def dynamodb_endpoint(dynamodb_emulator: RunningEmulator) -> Endpoint:
    """An Endpoint at dynalite, then at moto: tests using it run against both."""
    return local_endpoint(dynamodb_emulator)


@pytest.fixture(scope="session")
def moto_endpoint(moto_server: RunningEmulator) -> Endpoint:
    return local_endpoint(moto_server)


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
