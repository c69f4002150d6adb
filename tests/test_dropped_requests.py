"""Every attempt visible: a request the server read and then dropped without
answering is exactly one network failure, retried by the driver where it shows, never
sent again silently inside a transport.

The answer to a dropped request is unknown (the server may have done what it asked), so
only a connection found closed *before* anything was sent on it may be replaced quietly.
Two servers whose behaviour makes the right count known in advance:

- a constructed one (helpers/raw_servers.py): it reads every request in full on kept-alive
  connections and closes the connection without a word on every Nth request (DynamoDB
  POST, S3 PUT);
- scripts/fault_proxy.py with `--drop-rate` in front of the real emulators of all three
  services: its `dropped` counter says how many requests it read and dropped.

In both, the reported network failures must equal the drops, the attempts must equal
the requests the server read, and every record must be acknowledged in the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import FaultProxy, SharedEmulators, drive
from helpers.raw_servers import DropEveryNth

from writers.calls import Attempt
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.errors import FailureKind
from writers.retry import RetryPolicy
from writers.services import SERVICES, WorkloadOptions, workload_class
from writers.services.base import Workload
from writers.services.dynamodb import SERVICE as DYNAMODB
from writers.services.dynamodb import DynamoDBWorkload
from writers.services.s3 import SERVICE as S3
from writers.services.s3 import S3Options, S3Workload
from writers.strategies import STRATEGIES
from writers.target import Endpoint

pytestmark = pytest.mark.timeout(120)

ALL = list(STRATEGIES)
RETRIES = RetryPolicy(max_attempts=12, base_delay=0.001, max_delay=0.005)  # (0.2)^12: never given up


def network_failures(attempts: list[Attempt]) -> int:
    kinds = [a.error.kind for a in attempts if a.error is not None]
    assert set(kinds) <= {FailureKind.NETWORK}, kinds  # no other failure was set up
    return len(kinds)


# --------------------------------------------------------------------------- a constructed server


@pytest.fixture
def drop_every_5th() -> Iterator[DropEveryNth]:
    server = DropEveryNth(5)
    yield server
    server.close()


def constructed_workload(service: str, endpoint: Endpoint) -> Workload:
    if service == "dynamodb":
        return DynamoDBWorkload(WorkloadOptions("books"))
    workload = S3Workload(S3Options("bucket", object_sizes=((1024, 1.0),)))
    workload.prepare(endpoint)
    return workload


@pytest.mark.parametrize("service", ["dynamodb", "s3"], ids=["DynamoDB-POST", "S3-PUT"])
@pytest.mark.parametrize("strategy", ALL)
def test_every_request_the_server_dropped_is_one_network_failure(
    drop_every_5th: DropEveryNth, strategy: str, service: str
) -> None:
    info = DYNAMODB if service == "dynamodb" else S3
    endpoint = Endpoint(info, "us-east-1", drop_every_5th.url, "AKIDTEST", "secret")
    workload = constructed_workload(service, endpoint)
    records = workload.records(seed=18, stream=ALL.index(strategy)).take(40)

    totals, attempts = drive(strategy, workload.write_calls(records), endpoint, policy=RETRIES)

    server = drop_every_5th
    assert server.dropped >= 40 // 5  # the drops really happened (retries add requests, so more)
    assert len(attempts) == server.requests  # every request the server read was reported: none resent unseen
    assert network_failures(attempts) == server.dropped == totals.failures
    assert totals.acked == 40 and totals.given_up_items == 0  # all written in the end, by visible retries
    assert server.connections > 1  # dropped connections were replaced by new ones


# --------------------------------------------------------------------------- the fault proxy, real emulators


@pytest.fixture(scope="module")
def emulators(local: SharedEmulators) -> dict[str, RunningEmulator]:
    """Each service's preferred emulator, shared by the session."""
    return {service: local.get(service) for service in SERVICES}


@pytest.fixture(scope="module")
def provisioned(emulators: dict[str, RunningEmulator]) -> dict[str, tuple[Endpoint, Workload]]:
    """One resource per service for the whole module, provisioned straight at the emulator."""
    made = {}
    for service in SERVICES:
        cls = workload_class(service)
        name = f"drops-{service}"
        options = cls.options_class(name) if service != "s3" else S3Options(name, object_sizes=((1024, 1.0),))
        workload = cls(options)
        direct = Endpoint(cls.service, "us-east-1", emulators[service].endpoint, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
        workload.provision(direct, timeout=30)
        workload.prepare(direct)
        made[service] = (direct, workload)
    return made


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("strategy", ALL)
def test_every_request_the_fault_proxy_dropped_is_one_network_failure(
    provisioned: dict[str, tuple[Endpoint, Workload]], tmp_path: Path, strategy: str, service: str
) -> None:
    direct, workload = provisioned[service]
    assert direct.url is not None
    proxy = FaultProxy(direct.url, "--drop-rate", "0.2", "--seed", str(ALL.index(strategy)), tmp_dir=tmp_path)
    try:
        endpoint = Endpoint(direct.service, "us-east-1", proxy.url, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
        records = workload.records(seed=19, stream=ALL.index(strategy)).take(40)
        totals, attempts = drive(strategy, workload.write_calls(records), endpoint, policy=RETRIES)
        stats = proxy.stats()
    finally:
        proxy.stop()

    assert stats["dropped"] >= 2, stats  # the drops really happened
    assert len(attempts) == stats["requests"], stats  # every request the proxy read was reported
    assert network_failures(attempts) == stats["dropped"] == totals.failures
    assert totals.acked == 40 and totals.given_up_items == 0  # all written in the end, by visible retries
    acked_keys = {key for a in attempts for key in a.acked_keys}
    assert len(acked_keys) == 40
    if service != "sqs":  # (draining a queue to count it is the SQS tests' business)
        assert acked_keys <= workload.stored_keys(direct)
