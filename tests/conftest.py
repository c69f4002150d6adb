"""Shared fixtures: real local servers for every service, started once per session and
shared by every test module (`local`, `dynalite_server`, `moto_server`, ...), a fault
proxy per test, unique table names, and a headless run of the DynamoDB locustfile.

Fixtures only: what tests import (helpers, servers, process wrappers) lives in
tests/helpers/, and no test module imports another or this one.
Tests start and stop their servers themselves; nothing here depends on a server
started by hand, and every server binds 127.0.0.1. Service and strategy lists come
from the registries (writers.services, writers.strategies).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from helpers import (
    DYNAMODB_EMULATORS,
    FaultProxy,
    RunLocust,
    SharedEmulators,
    dynamodb_run,
    local_endpoint,
    unique_table_name,
)
from helpers.turns import turn

from writers.emulators import RunningEmulator
from writers.target import Endpoint

# --------------------------------------------------------------------------- running in parallel

# Modules whose tests measure wall-clock time against servers of known behaviour (rates,
# stalls, latencies, wake-ups): under pytest-xdist each of their tests runs alone (see
# helpers/turns.py). A single test elsewhere can say the same with @pytest.mark.timing.
TIMING_MODULES = frozenset({"test_rate_mode", "test_workers_at_scale", "test_wake", "test_delay_sink"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The timing modules' tests are marked `timing`. (Under xdist --dist loadscope, a
    module's tests stay on one worker anyway: its module-scoped servers start once.)"""
    for item in items:
        if isinstance(item, pytest.Function) and item.module.__name__ in TIMING_MODULES:
            item.add_marker(pytest.mark.timing)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Outermost, so the wait for a turn is not counted in the test's --timeout."""
    with turn(alone=item.get_closest_marker("timing") is not None):
        return (yield)


@pytest.fixture(scope="session")
def local() -> Iterator[SharedEmulators]:
    """`local.get(service, name)`: a server shared by every test of the session."""
    shared = SharedEmulators()
    yield shared
    shared.stop()


@pytest.fixture
def fault_proxy(tmp_path: Path) -> Iterator[Callable[..., FaultProxy]]:
    """`fault_proxy(upstream, *flags) -> FaultProxy`, stopped after the test."""
    started: list[FaultProxy] = []

    def start(upstream: str, *flags: str) -> FaultProxy:
        proxy = FaultProxy(upstream, *flags, tmp_dir=tmp_path)
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


@pytest.fixture
def table_name(request: pytest.FixtureRequest) -> str:
    """A unique table name derived from the test's name."""
    return unique_table_name(request.node.name)


@pytest.fixture
def run_locust(tmp_path: Path) -> RunLocust:
    """`run_locust(args, timeout, env=None) -> LocustRun` of the DynamoDB locustfile."""
    return dynamodb_run(tmp_path)
