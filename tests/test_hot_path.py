"""The fast paths cache what they must: this fails if a change makes a strategy derive
the signing key, build a signer, open a connection, make a boto3 client or an aiohttp
session per call instead of once (per day, process, connection slot or thread)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiobotocore.session import AioSession
from helpers import sigcheck_sink

from writers.driver import Driver
from writers.records import BookRecords
from writers.services import WorkloadOptions
from writers.services.dynamodb import SERVICE, DynamoDBWorkload
from writers.sigv4 import SigV4Signer
from writers.strategies import StrategyOptions, boto3_calls, http11, multiplex, raw, strategy_class
from writers.target import Endpoint

SECRET = "hot-path-secret"
CALLS, CONCURRENCY = 300, 4


@pytest.fixture(scope="module")
def sink() -> Iterator[str]:
    with sigcheck_sink(SECRET) as url:
        yield url


def counting(monkeypatch: pytest.MonkeyPatch, counts: Counter[str], owner: Any, name: str, key: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counts[key] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


@pytest.mark.parametrize("strategy", ["gevent", "aiohttp", "sequential", "aioboto3"])
def test_per_call_work_stays_per_call(sink: str, strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    counts: Counter[str] = Counter()
    counting(monkeypatch, counts, SigV4Signer, "signing_key", "keys derived")
    counting(monkeypatch, counts, SigV4Signer, "__init__", "signers")
    counting(monkeypatch, counts, http11.Connection, "__init__", "connections")
    counting(monkeypatch, counts, http11.HttpClient, "__init__", "http clients")
    counting(monkeypatch, counts, multiplex.Multiplexer, "__init__", "multiplexers")
    counting(monkeypatch, counts, boto3_calls, "make_client", "boto3 clients")
    counting(monkeypatch, counts, AioSession, "create_client", "aiobotocore clients")
    counting(monkeypatch, counts, aiohttp.ClientSession, "__init__", "aiohttp sessions")
    raw._signers.clear()
    boto3_calls._shared_clients.clear()
    # A fresh account per test, so no cache of an earlier test can hide a per-call derivation.
    endpoint = Endpoint(SERVICE, "us-east-1", sink, f"AKID{strategy.upper()}", SECRET)
    workload = DynamoDBWorkload(WorkloadOptions("books"))
    instance = strategy_class(strategy)(endpoint, StrategyOptions(concurrency=CONCURRENCY))
    try:
        totals = Driver(instance, lambda attempt: None).run(workload.write_calls(BookRecords(seed=3).take(CALLS)))
    finally:
        instance.close()
    assert totals.acked == CALLS and totals.failures == 0
    if strategy in ("gevent", "aiohttp"):  # our signer: one per process and endpoint, one key per day
        assert counts["signers"] == 1 and counts["keys derived"] == 1, counts
    if strategy == "gevent":  # keep-alive connections: at most one per call in flight
        assert 1 <= counts["connections"] <= CONCURRENCY, counts
        # One client (one origin) and one multiplexer per user, whatever the number of calls.
        assert counts["http clients"] == 1 and counts["multiplexers"] == 1, counts
    if strategy == "aiohttp":  # one session per process loop
        assert counts["aiohttp sessions"] == 1, counts
    if strategy == "sequential":  # one client per process, never per call
        assert counts["boto3 clients"] == 1, counts
    if strategy == "aioboto3":  # one client per process loop
        assert counts["aiobotocore clients"] == 1, counts
