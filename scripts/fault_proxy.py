#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of any AWS-compatible endpoint.

    python scripts/fault_proxy.py --upstream http://127.0.0.1:8000 [--listen 127.0.0.1:0] [options]

Point a client's endpoint URL at the proxy. Requests pass through unchanged (same
method, raw path and query, headers including Host, body), so SigV4 signatures made
for the proxy's address still validate upstream. Only per-connection headers
(Connection, Transfer-Encoding, Expect, ...), which no signer covers, are left out. On the way, the proxy can add
latency, throttle like a provisioned table/bucket/queue would, answer errors, or drop
connections, each answered in the format of the service the request was meant for.

What a request is, what it costs and how its service answers are the service's to say
(each service module's ``faults``, writers/faults.py): a JSON-protocol service is
recognised by its ``X-Amz-Target`` prefix (DynamoDB ``DynamoDB_20120810.``, SQS
``AmazonSQS.``, ...), the REST one (S3) by having none; a token bucket per resource
(table, queue, bucket, ...). Throttled answers are the real ones (DynamoDB
``ProvisionedThroughputExceededException``, HTTP 400; S3 ``SlowDown``, HTTP 503; SQS
``RequestThrottled``, HTTP 403). A request no service claims (an unknown
``X-Amz-Target``) is forwarded as it is: it gets latency and drops, never an answer
made up in some other service's format.

``--partitions P``: each resource is split into P partitions, items assigned by a hash
(CRC-32) of their partition key, each partition limited to what the service says one
sustains (DynamoDB: 1,000 write units and 3,000 read units per second; change with
``--partition-write-units`` / ``--partition-read-units``); a request whose items find
their partition short is throttled in the service's shape, so a hot key throttles its
partition alone, long before the table's capacity. ``--capacity`` stacks a limit per
resource on top. ``/__proxy/stats`` counts requests and throttles per partition
(``by_partition``: ``Service:table#n``).

``--partial-batches``: a batch that only partly fits the bucket (DynamoDB
``BatchWriteItem``, ...) is cut down to the items that fit; the service reports the rest
as not done (``UnprocessedItems``), as it would. Cutting the body breaks the client's
signature, so the cut request is
re-signed with botocore's SigV4Auth using ``--resign-with-access-key`` and the secret in
``$FAULT_PROXY_RESIGN_SECRET_KEY`` (never a flag: command lines show in ``ps``)
(default: the local emulators' keys). A batch signed with another access key cannot
be re-signed: it is all or nothing, forwarded whole if it fits, else throttled.

Runs from any folder with the project's Python (it imports ``writers`` from the checkout
it sits in when the project is not installed).

Runtime control (never forwarded): ``GET /__proxy/stats`` (``?reset=1`` zeroes the
counters after reading), ``GET /__proxy/config``, ``POST /__proxy/config`` with a JSON
object of option names (``throttle_rate``, ``latency_ms``, ...) changes them live.

SIGTERM / Ctrl-C: clean exit 0. Bad flags: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
import signal
import sys
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

try:
    from writers.faults import Answer, BatchCut, KeyedCost, ProxyRequest, ServiceFaults, crc32
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from writers.faults import Answer, BatchCut, KeyedCost, ProxyRequest, ServiceFaults, crc32
from writers.services import workloads

try:  # orjson parses request bodies several times faster; json is the fallback
    import orjson

    def _loads(data: bytes) -> Any:
        return orjson.loads(data)

    def _dumps(value: Any) -> bytes:
        return orjson.dumps(value)
except ImportError:  # pragma: no cover - orjson is in the project's venv

    def _loads(data: bytes) -> Any:
        return json.loads(data)

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


log = logging.getLogger("fault_proxy")

CONTROL_PREFIX = "/__proxy/"
# The emulators' fake keys (writers.emulators.LOCAL_*), repeated here so the proxy
# runs without the project installed.
DEFAULT_ACCESS_KEY = "AKIALOCALEMULATOR000"
DEFAULT_SECRET_KEY = "local-emulator-secret-key-not-for-aws"
ERROR_STATUSES = (500, 503)

# Per-connection headers (RFC 9110 7.6.1) plus Expect, which the proxy answers itself.
# None of them is ever signed by botocore, so dropping them keeps signatures valid.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "expect"})


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class FaultConfig:
    """Everything that can be changed at runtime. Rates are 0..1, times in ms."""

    latency_ms: float = 0.0
    connect_latency_ms: float = 0.0
    jitter_ms: float = 0.0
    capacity: float | None = None  # units per second per resource; None: unlimited
    burst: float | None = None  # None: same as capacity
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    error_status: tuple[int, ...] = ERROR_STATUSES
    drop_rate: float = 0.0
    lose_rate: float = 0.0  # writes answered as done but never forwarded: a lost write, for --verify
    partial_batches: bool = False
    seed: int | None = None
    partitions: int = 0  # per resource, by a hash of each item's key; 0: no partition limits
    partition_write_units: float | None = None  # per partition and second; None: the service's figure
    partition_read_units: float | None = None

    @property
    def effective_burst(self) -> float | None:
        return self.burst if self.burst is not None else self.capacity

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["error_status"] = list(self.error_status)
        return out

    def updated(self, changes: Mapping[str, Any]) -> FaultConfig:
        """A copy with ``changes`` applied; ValueError (one line) on a bad name or value."""
        values: dict[str, Any] = {}
        known = {f.name for f in dataclasses.fields(self)}
        for raw_name, raw in changes.items():
            name = str(raw_name).replace("-", "_")
            if name not in known:
                raise ValueError(f"unknown option {raw_name!r}; known: {', '.join(sorted(known))}")
            values[name] = _CHECKS[name](name, raw)
        return dataclasses.replace(self, **values)


def _number(name: str, raw: Any, *, low: float = 0.0, high: float | None = None, positive: bool = False) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"{name} must be a number, not {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, not {raw!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be greater than 0, not {raw!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ValueError(f"{name} must be {bounds}, not {raw!r}")
    return value


def _ms(name: str, raw: Any) -> float:
    return _number(name, raw)


def _rate(name: str, raw: Any) -> float:
    return _number(name, raw, high=1.0)


def _optional_positive(name: str, raw: Any) -> float | None:
    return None if raw is None else _number(name, raw, positive=True)


def _statuses(name: str, raw: Any) -> tuple[int, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    try:
        codes = tuple(int(str(item).strip()) for item in items)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a comma-separated list of {ERROR_STATUSES}, not {raw!r}") from None
    if not codes or any(code not in ERROR_STATUSES for code in codes):
        raise ValueError(f"{name} must list only 500 and/or 503, not {raw!r}")
    return codes


def _flag(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    raise ValueError(f"{name} must be true or false, not {raw!r}")


def _seed(name: str, raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"{name} must be an integer, not {raw!r}")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None


_CHECKS = {
    "latency_ms": _ms,
    "connect_latency_ms": _ms,
    "jitter_ms": _ms,
    "capacity": _optional_positive,
    "burst": _optional_positive,
    "throttle_rate": _rate,
    "error_rate": _rate,
    "error_status": _statuses,
    "drop_rate": _rate,
    "lose_rate": _rate,
    "partial_batches": _flag,
    "seed": _seed,
    "partitions": lambda name, raw: int(_number(name, raw, high=100_000)),
    "partition_write_units": _optional_positive,
    "partition_read_units": _optional_positive,
}


# --------------------------------------------------------------------------- classification


@dataclass
class Classified:
    """What a request is: service, operation, and the units it costs per resource."""

    service: str  # as Locust shows it; "" when no service claims the request
    operation: str | None = None
    costs: dict[str, int] = field(default_factory=dict)  # resource -> units
    document: dict[str, Any] | None = None  # parsed JSON body (JSON-protocol services)
    faults: ServiceFaults | None = None  # the service's answers; None: forwarded as it is

    @property
    def stats_keys(self) -> list[str]:
        return [f"{self.service}:{name}" for name in self.costs] or [self.service or "unknown"]


def service_faults() -> list[ServiceFaults]:
    """Every service's side of the proxy (writers.services): JSON-protocol services first,
    so the REST one is asked only about requests without an X-Amz-Target."""
    return sorted((w.faults for w in workloads()), key=lambda faults: not faults.target_prefix)


SERVICE_FAULTS = service_faults()


def faults_for(headers: Mapping[str, str]) -> ServiceFaults | None:
    """The service a request belongs to, or None if no service claims it."""
    return next((faults for faults in SERVICE_FAULTS if faults.matches(headers)), None)


def faults_named(service: str) -> ServiceFaults:
    return next(faults for faults in SERVICE_FAULTS if faults.service == service)


def classify(raw_path: str, headers: Mapping[str, str], body: bytes | None, method: str = "POST") -> Classified:
    """Service, operation and per-resource cost of one request (body: services that read it whole)."""
    faults = faults_for(headers)
    if faults is None:
        return Classified("")
    document: Any = None
    if faults.reads_body:
        try:
            document = _loads(body) if body else {}
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
    operation = faults.operation(headers)
    costs = faults.costs(ProxyRequest(method, raw_path, headers, operation, document))
    return Classified(faults.service, operation, costs, document, faults)


def throttle_answer(service: str) -> Answer:
    """What the service says when a request exceeds its capacity."""
    return faults_named(service).throttle()


def error_answer(service: str, status: int) -> Answer:
    """A server-side failure (500 or 503) in the service's own format."""
    return faults_named(service).error(status)


# --------------------------------------------------------------------------- token buckets


class TokenBucket:
    """``rate`` units per second, at most ``burst`` saved up; starts full."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def available(self) -> float:
        self._refill()
        return self.tokens

    def take(self, units: float) -> None:
        self._refill()
        self.tokens -= units


class Buckets:
    """One token bucket per resource, created full on first use."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, resource: str) -> TokenBucket:
        bucket = self._buckets.get(resource)
        if bucket is None:
            bucket = self._buckets[resource] = TokenBucket(self.rate, self.burst)
        return bucket

    def try_take(self, costs: Mapping[str, int]) -> bool:
        """All or nothing: take every resource's units, or none if any bucket is short."""
        if any(self._bucket(name).available() < units for name, units in costs.items()):
            return False
        for name, units in costs.items():
            self._bucket(name).take(units)
        return True

    def take_up_to(self, costs: Mapping[str, int]) -> dict[str, int]:
        """Take as many whole units as each bucket holds, up to the cost: units granted per resource."""
        granted: dict[str, int] = {}
        for name, units in costs.items():
            bucket = self._bucket(name)
            granted[name] = max(0, min(units, int(bucket.available())))
            bucket.take(granted[name])
        return granted


class Partitions:
    """--partitions: per resource, P partitions (a key's partition: CRC-32 of the key mod P),
    each with a write and a read token bucket holding one second of its rate."""

    def __init__(self, count: int, write_units: float | None, read_units: float | None) -> None:
        self.count = count
        self.write_units, self.read_units = write_units, read_units
        self._buckets: dict[tuple[str, int, str], TokenBucket] = {}

    def partition(self, key: str) -> int:
        return zlib.crc32(key.encode()) % self.count

    def _needs(self, faults: ServiceFaults, costs: list[KeyedCost]) -> dict[tuple[str, int, str], float]:
        needs: dict[tuple[str, int, str], float] = {}
        for cost in costs:
            part = self.partition(cost.key)
            if cost.write_units:
                slot = (cost.resource, part, "write")
                needs[slot] = needs.get(slot, 0.0) + cost.write_units
            if cost.read_units:
                slot = (cost.resource, part, "read")
                needs[slot] = needs.get(slot, 0.0) + cost.read_units
        return needs

    def _bucket(self, faults: ServiceFaults, slot: tuple[str, int, str]) -> TokenBucket | None:
        bucket = self._buckets.get(slot)
        if bucket is None:
            own = faults.partition_write_units if slot[2] == "write" else faults.partition_read_units
            rate = (self.write_units if slot[2] == "write" else self.read_units) or own
            if not rate:
                return None  # the service has no partition limit of this kind
            bucket = self._buckets[slot] = TokenBucket(rate, rate)
        return bucket

    def short(self, faults: ServiceFaults, costs: list[KeyedCost]) -> list[str]:
        """The partitions (``table#n``) that cannot take these costs now; none: all can."""
        short = []
        for slot, units in self._needs(faults, costs).items():
            bucket = self._bucket(faults, slot)
            if bucket is not None and bucket.available() < units:
                short.append(f"{slot[0]}#{slot[1]}")
        return short

    def take(self, faults: ServiceFaults, costs: list[KeyedCost]) -> None:
        for slot, units in self._needs(faults, costs).items():
            bucket = self._bucket(faults, slot)
            if bucket is not None:
                bucket.take(units)

    def names(self, costs: list[KeyedCost]) -> list[str]:
        return sorted({f"{cost.resource}#{self.partition(cost.key)}" for cost in costs})


# --------------------------------------------------------------------------- fault decisions


@dataclass(frozen=True)
class Roll:
    """One request's random draws, always made in the same order so a seed replays a run."""

    drop: bool
    error_status: int | None
    throttle: bool
    lose: bool = False


class Dice:
    """Fault decisions and jitter from separate seeded generators.

    Jitter has its own generator so turning latency on or off never shifts which
    requests fail.
    """

    def __init__(self, seed: int | None) -> None:
        self.faults = random.Random(seed)
        self.jitter = random.Random(None if seed is None else seed + 1)

    def roll(self, config: FaultConfig) -> Roll:
        drop, error, throttle, pick = (self.faults.random() for _ in range(4))
        status = config.error_status[int(pick * len(config.error_status))] if error < config.error_rate else None
        lose = config.lose_rate > 0 and self.faults.random() < config.lose_rate  # drawn last: seeds replay as before
        return Roll(drop < config.drop_rate, status, throttle < config.throttle_rate, lose)

    def delay(self, base_ms: float, jitter_ms: float) -> float:
        """Seconds to wait: base +- uniform jitter, never negative."""
        if base_ms <= 0 and jitter_ms <= 0:
            return 0.0
        return max(0.0, base_ms + self.jitter.uniform(-jitter_ms, jitter_ms)) / 1000.0


# --------------------------------------------------------------------------- partial batches


def _credential_scope(authorization: str) -> tuple[str, str, str] | None:
    """(access key, region, service) from a SigV4 Authorization header."""
    try:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0].strip()
        access_key, _date, region, service, _terminator = credential.split("/")
    except (IndexError, ValueError):
        return None
    return access_key, region, service


def resign(
    method: str, url: str, headers: CIMultiDict[str], body: bytes, access_key: str, secret_key: str
) -> CIMultiDict[str] | None:
    """Headers for ``body`` signed again with botocore's SigV4Auth, or None if we lack the key.

    Signs the same header names the client signed, so the upstream sees the same
    kind of request, just with fewer items.
    """
    from botocore.auth import SigV4Auth  # imported here: only --partial-batches needs botocore
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = headers.get("Authorization", "")
    scope = _credential_scope(authorization)
    if scope is None or scope[0] != access_key:
        return None
    _key, region, service = scope
    try:
        signed = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].strip().split(";")
    except IndexError:
        return None
    out = CIMultiDict(headers)
    if "Content-Length" in out:
        out["Content-Length"] = str(len(body))
    to_sign = {name: out[name] for name in signed if name in out and name not in ("x-amz-date", "authorization")}
    request = AWSRequest(method=method, url=url, headers=to_sign, data=body)
    token = out.get("X-Amz-Security-Token")
    SigV4Auth(Credentials(access_key, secret_key, token), service, region).add_auth(request)
    for name in ("Authorization", "X-Amz-Date"):
        out[name] = request.headers[name]
    return out


# --------------------------------------------------------------------------- stats


COUNTERS = ("requests", "forwarded", "throttled", "errors", "dropped", "lost")


class Stats:
    """Counters overall and per resource (``Service:name``)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # upstream_errors: upstream unreachable (answered 502); held_back_items: writes
        # returned as UnprocessedItems by --partial-batches.
        self.totals: dict[str, int] = dict.fromkeys((*COUNTERS, "upstream_errors", "held_back_items"), 0)
        self.by_resource: dict[str, dict[str, int]] = {}
        self.by_partition: dict[str, dict[str, int]] = {}  # "Service:table#n" -> requests, throttled

    def count_partitions(self, counter: str, service: str, partitions: Iterable[str]) -> None:
        for name in partitions:
            entry = self.by_partition.setdefault(f"{service}:{name}", {"requests": 0, "throttled": 0})
            entry[counter] += 1

    def count(self, counter: str, keys: Iterable[str]) -> None:
        self.totals[counter] += 1
        for key in keys:
            resource = self.by_resource.get(key)
            if resource is None:
                resource = self.by_resource[key] = dict.fromkeys(COUNTERS, 0)
            if counter in resource:
                resource[counter] += 1

    def as_json(self) -> dict[str, Any]:
        return {**self.totals, "by_resource": self.by_resource, "by_partition": self.by_partition}


# --------------------------------------------------------------------------- proxy


class _ConnectionTrackingServer(web.Server):
    """An aiohttp low-level server that remembers which connections are new.

    The first request on a new connection pays --connect-latency-ms, as a TCP/TLS
    handshake would; later keep-alive requests on it do not.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fresh: set[Any] = set()

    def connection_made(self, handler: Any, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self.fresh.add(handler)

    def connection_lost(self, handler: Any, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self.fresh.discard(handler)

    def first_request(self, handler: Any) -> bool:
        if handler in self.fresh:
            self.fresh.discard(handler)
            return True
        return False


@dataclass
class Exchange:
    """One request on its way through the proxy."""

    request: web.BaseRequest
    info: Classified
    body: bytes | None  # read whole when it names the resource (JSON services); other bodies stream
    continued: bool = False  # "100 Continue" sent to the client


class FaultProxy:
    """Forwards requests to one upstream, injecting the configured faults."""

    def __init__(self, upstream: str, config: FaultConfig, resign_keys: tuple[str, str]) -> None:
        self.upstream = upstream.rstrip("/")
        self.config = config
        self.resign_keys = resign_keys
        self.stats = Stats()
        self.dice = Dice(config.seed)
        self.buckets = self._new_buckets(config)
        self.partitions = self._new_partitions(config)
        self.server: _ConnectionTrackingServer | None = None
        self.session: aiohttp.ClientSession | None = None

    # -- lifecycle

    async def start(self, host: str, port: int) -> tuple[web.ServerRunner, int]:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True),
            auto_decompress=False,  # bodies pass through as sent, compressed or not
            cookie_jar=aiohttp.DummyCookieJar(),  # never add cookies the client did not send
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            trust_env=False,
        )
        self.server = _ConnectionTrackingServer(self.handle, access_log=None)
        # On SIGTERM, in-flight requests (an SQS long poll, say) get a few seconds, not 60.
        runner = web.ServerRunner(self.server, handle_signals=False, shutdown_timeout=3.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        sockets = runner.addresses
        return runner, int(sockets[0][1])

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    @staticmethod
    def _new_buckets(config: FaultConfig) -> Buckets | None:
        burst = config.effective_burst
        return Buckets(config.capacity, burst) if config.capacity and burst else None

    @staticmethod
    def _new_partitions(config: FaultConfig) -> Partitions | None:
        if not config.partitions:
            return None
        return Partitions(config.partitions, config.partition_write_units, config.partition_read_units)

    def reconfigure(self, changes: Mapping[str, Any]) -> None:
        new = self.config.updated(changes)
        limits = ("partitions", "partition_write_units", "partition_read_units")
        if any(getattr(new, name) != getattr(self.config, name) for name in limits):
            self.partitions = self._new_partitions(new)
        if (new.capacity, new.effective_burst) != (self.config.capacity, self.config.effective_burst):
            self.buckets = self._new_buckets(new)  # new limits: start again from full buckets
        if "seed" in changes:
            self.dice = Dice(new.seed)
        self.config = new

    # -- the request path

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.raw_path.startswith(CONTROL_PREFIX):
            return await self.control(request)
        config = self.config
        assert self.server is not None
        if self.server.first_request(request.protocol):
            await self.sleep(config.connect_latency_ms, config)
        exchange = await self.receive(request)
        keys = exchange.info.stats_keys
        self.stats.count("requests", keys)
        await self.sleep(config.latency_ms, config)

        roll = self.dice.roll(config)
        if roll.drop:
            self.stats.count("dropped", keys)
            return await self.drop(exchange)
        faults = exchange.info.faults
        if faults is None:  # no service claims it: no answer is made up in some service's format
            self.stats.count("forwarded", keys)
            return await self.forward(exchange)
        if roll.error_status is not None:
            self.stats.count("errors", keys)
            return await self.answer(exchange, faults.error(roll.error_status))
        if roll.throttle:
            self.stats.count("throttled", keys)
            return await self.answer(exchange, faults.throttle())
        if roll.lose:
            lost = await self.lost_write_answer(exchange, faults)
            if lost is not None:
                self.stats.count("lost", keys)
                return await self.answer(exchange, lost)
        return await self.admit(exchange, keys, faults)

    async def lost_write_answer(self, exchange: Exchange, faults: ServiceFaults) -> Answer | None:
        """Success for a write that is never forwarded, as the service would answer it (the
        service says which writes may be lost: never a conditional one, which it might have
        refused by its condition)."""
        request = self.proxy_request(exchange)
        if not faults.forgets(request):
            return None
        body = exchange.body
        if body is None:  # a streamed body: read it now
            await self.send_continue(exchange)  # a client sending Expect: 100-continue waits for it
            body = await exchange.request.read()
        return faults.forgotten(request, body)

    @staticmethod
    def proxy_request(exchange: Exchange) -> ProxyRequest:
        request, info = exchange.request, exchange.info
        return ProxyRequest(request.method, request.raw_path, request.headers, info.operation, info.document)

    async def receive(self, request: web.BaseRequest) -> Exchange:
        """Classify the request; bodies that name the resource (JSON services) are read whole."""
        exchange = Exchange(request, Classified(""), None)
        faults = faults_for(request.headers)
        if faults is not None and faults.reads_body:
            await self.send_continue(exchange)
            exchange.body = await request.content.read()
        exchange.info = classify(request.raw_path, request.headers, exchange.body, request.method)
        return exchange

    async def admit(self, exchange: Exchange, keys: list[str], faults: ServiceFaults) -> web.StreamResponse:
        """Apply the partitions' limits and the capacity limit, then forward what fits."""
        buckets, info = self.buckets, exchange.info
        partitions = self.partitions
        if partitions is not None:
            keyed = faults.keyed_costs(self.proxy_request(exchange))
            if keyed:
                self.stats.count_partitions("requests", faults.service, partitions.names(keyed))
                short = partitions.short(faults, keyed)
                if short:
                    self.stats.count("throttled", keys)
                    self.stats.count_partitions("throttled", faults.service, short)
                    return await self.answer(exchange, faults.throttle())
                if buckets is not None and info.costs and not buckets.try_take(info.costs):
                    self.stats.count("throttled", keys)
                    return await self.answer(exchange, faults.throttle())
                partitions.take(faults, keyed)
                self.stats.count("forwarded", keys)
                return await self.forward(exchange)
        if buckets is None or not info.costs:
            self.stats.count("forwarded", keys)
            return await self.forward(exchange)
        if self.config.partial_batches and faults.can_cut(self.proxy_request(exchange)) and self.can_resign(exchange):
            granted = buckets.take_up_to(info.costs)
            if sum(granted.values()) == 0:
                self.stats.count("throttled", keys)
                return await self.answer(exchange, faults.throttle())
            self.stats.count("forwarded", keys)
            if granted == info.costs:
                return await self.forward(exchange)
            assert info.document is not None
            return await self.forward_partial(exchange, faults, faults.cut(info.document, granted))
        if not buckets.try_take(info.costs):
            self.stats.count("throttled", keys)
            return await self.answer(exchange, faults.throttle())
        self.stats.count("forwarded", keys)
        return await self.forward(exchange)

    def can_resign(self, exchange: Exchange) -> bool:
        """Signed with the key we can re-sign with."""
        scope = _credential_scope(exchange.request.headers.get("Authorization", ""))
        return scope is not None and scope[0] == self.resign_keys[0]

    # -- answering without the upstream

    async def answer(self, exchange: Exchange, answer: Answer) -> web.StreamResponse:
        await self.sleep(self.config.latency_ms, self.config)
        response = web.Response(status=answer.status, body=answer.body, headers=answer.headers)
        if self._body_waits_for_continue(exchange):
            # The client holds its body back until "100 Continue": answering now is what
            # S3 does, but the connection cannot be reused with a body half-announced.
            response.force_close()
        return response

    async def drop(self, exchange: Exchange) -> web.StreamResponse:
        """Read the whole request, then close the connection without a word."""
        request = exchange.request
        if exchange.body is None and request.body_exists:
            await self.send_continue(exchange)
            while await request.content.readany():
                pass
        if request.transport is not None:
            request.transport.close()
        # Something must be returned; writing it to the closed transport fails quietly.
        response = web.Response(status=500)
        response.force_close()
        return response

    # -- forwarding

    async def forward(self, exchange: Exchange) -> web.StreamResponse:
        request = exchange.request
        headers = forward_headers(request.raw_headers)
        data: bytes | AsyncIterator[bytes] | None = exchange.body
        if data is None and request.body_exists:
            await self.send_continue(exchange)
            data = _stream(request.content)
        return await self.relay(request, request.method, headers, data)

    async def forward_partial(self, exchange: Exchange, faults: ServiceFaults, cut: BatchCut) -> web.StreamResponse:
        """Send the cut-down batch (re-signed) and hand back what was held."""
        request = exchange.request
        body = _dumps(cut.forward)
        url = f"{self.upstream}{request.raw_path}"
        headers = resign(request.method, url, forward_headers(request.raw_headers), body, *self.resign_keys)
        if headers is None:  # can_resign said yes, so this is a malformed Authorization header
            return await self.answer(exchange, faults.throttle())
        return await self.relay(request, request.method, headers, body, held_back=(faults, cut))

    async def relay(
        self,
        request: web.BaseRequest,
        method: str,
        headers: CIMultiDict[str],
        data: bytes | AsyncIterator[bytes] | None,
        held_back: tuple[ServiceFaults, BatchCut] | None = None,
    ) -> web.StreamResponse:
        """Send to the upstream and stream its answer back (status, headers, body)."""
        assert self.session is not None
        url = URL(f"{self.upstream}{request.raw_path}", encoded=True)  # raw path: never re-encoded
        try:
            async with self.session.request(
                method, url, headers=headers, data=data, allow_redirects=False, compress=None
            ) as upstream:
                if held_back is not None:
                    return await self.merged_response(upstream, *held_back)
                return await self.stream_back(request, upstream)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.stats.totals["upstream_errors"] += 1
            log.warning("upstream %s failed: %s", self.upstream, exc)
            response = web.Response(status=502, text=f"fault-proxy: upstream {self.upstream} failed: {exc}\n")
            response.force_close()
            return response

    async def stream_back(self, request: web.BaseRequest, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(backward_headers(upstream.raw_headers))
        await self.sleep(self.config.latency_ms, self.config)
        try:
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass  # the client went away: nothing left to answer
        return response

    async def merged_response(
        self, upstream: aiohttp.ClientResponse, faults: ServiceFaults, cut: BatchCut
    ) -> web.StreamResponse:
        """The upstream's answer to the cut batch plus the held-back items, reported as not done."""
        body = await upstream.read()
        headers = CIMultiDict(backward_headers(upstream.raw_headers))
        encoding = headers.get("Content-Encoding", "identity").lower()
        if upstream.status == 200 and encoding in ("identity", "gzip"):
            try:
                plain = zlib.decompress(body, 16 + zlib.MAX_WBITS) if encoding == "gzip" else body
                body = faults.merge(plain, cut.held_back)
            except (ValueError, TypeError, AttributeError, zlib.error) as exc:  # not the service's JSON: as it came
                log.warning("cannot add the held-back items to the upstream's answer: %s", exc)
            else:
                self.stats.totals["held_back_items"] += cut.held_items
                headers.pop("Content-Encoding", None)
                headers.pop("Content-Length", None)
                if "x-amz-crc32" in headers:  # botocore checks it: it must match what we send
                    headers["x-amz-crc32"] = crc32(body)
        await self.sleep(self.config.latency_ms, self.config)
        return web.Response(status=upstream.status, reason=upstream.reason, body=body, headers=headers)

    # -- helpers

    async def sleep(self, base_ms: float, config: FaultConfig) -> None:
        delay = self.dice.delay(base_ms, config.jitter_ms)
        if delay > 0:
            await asyncio.sleep(delay)

    @staticmethod
    def _expects_continue(request: web.BaseRequest) -> bool:
        return request.headers.get("Expect", "").lower() == "100-continue" and request.version >= (1, 1)

    async def send_continue(self, exchange: Exchange) -> None:
        """Answer ``Expect: 100-continue`` once (aiohttp's low-level server does not)."""
        if exchange.continued or not self._expects_continue(exchange.request):
            return
        await exchange.request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        exchange.continued = True

    def _body_waits_for_continue(self, exchange: Exchange) -> bool:
        request = exchange.request
        return self._expects_continue(request) and request.body_exists and not exchange.continued

    # -- control endpoints

    async def control(self, request: web.BaseRequest) -> web.StreamResponse:
        path, _, query = request.raw_path[len(CONTROL_PREFIX) :].partition("?")
        if path == "stats" and request.method == "GET":
            body = self.stats.as_json()
            if parse_qs(query).get("reset", ["0"])[0] not in ("0", "", "false"):
                self.stats.reset()
            return web.json_response(body)
        if path == "config" and request.method == "GET":
            return web.json_response(self.config.as_json())
        if path == "config" and request.method == "POST":
            try:
                changes = _loads(await request.content.read() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                self.reconfigure(changes)
            except ValueError as exc:  # orjson.JSONDecodeError is a ValueError too
                return web.json_response({"error": str(exc).splitlines()[0]}, status=400)
            log.info("config now %s", self.config.as_json())
            return web.json_response(self.config.as_json())
        return web.json_response(
            {"error": f"no such control endpoint: {request.method} {request.raw_path}"}, status=404
        )


def forward_headers(raw: Iterable[tuple[bytes, bytes]]) -> CIMultiDict[str]:
    """The client's headers in order, duplicates kept, minus hop-by-hop ones.

    A repeated header is spelled like its first occurrence: aiohttp's client keeps
    duplicates only when their names match case-sensitively (header names are
    case-insensitive, and SigV4 lower-cases them, so nothing signed changes).
    """
    out: CIMultiDict[str] = CIMultiDict()
    spelling: dict[str, str] = {}  # lower-case name -> first spelling seen
    for name, value in raw:
        key = name.decode("latin-1")
        lower = key.lower()
        if lower not in HOP_BY_HOP:
            out.add(spelling.setdefault(lower, key), value.decode("latin-1"))
    return out


def backward_headers(raw: Iterable[tuple[bytes, bytes]]) -> CIMultiDictProxy[str]:
    """The upstream's response headers minus hop-by-hop ones (the proxy frames its own)."""
    return CIMultiDictProxy(forward_headers(raw))


async def _stream(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    async for chunk in content.iter_any():
        yield chunk


# --------------------------------------------------------------------------- command line


class _OneLineParser(argparse.ArgumentParser):
    """Bad input: one line on stderr and exit 2, no usage block, no traceback."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _listen_address(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"--listen must be HOST:PORT (port 0 picks a free one), not {raw!r}")
    return host.strip("[]"), int(port)


def _upstream_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"--upstream must be an http(s)://host:port URL, not {raw!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"--upstream must not have a path or query, got {raw!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise argparse.ArgumentTypeError(f"--upstream has a bad port: {raw!r}") from None
    return f"{parts.scheme}://{parts.netloc}"


def _checked(name: str) -> Any:
    """An argparse type that runs FaultConfig's own check for option ``name``."""

    def convert(raw: str) -> Any:
        value: Any = raw
        if name == "seed":
            value = raw.strip()
        try:
            return _CHECKS[name](f"--{name.replace('_', '-')}", value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _OneLineParser(
        prog="fault_proxy.py",
        description="Fault-injecting proxy for AWS-compatible endpoints "
        f"({', '.join(sorted(faults.service for faults in SERVICE_FAULTS))}).",
    )
    add = parser.add_argument
    add("--upstream", required=True, type=_upstream_url, metavar="URL", help="endpoint to forward to: http://host:port")
    add("--listen", default="127.0.0.1:0", type=_listen_address, metavar="HOST:PORT", help="default 127.0.0.1:0")
    add("--latency-ms", type=_checked("latency_ms"), default=0.0, metavar="MS", help="added per direction")
    add("--connect-latency-ms", type=_checked("connect_latency_ms"), default=0.0, metavar="MS", help="per connection")
    add("--jitter-ms", type=_checked("jitter_ms"), default=0.0, metavar="MS", help="uniform +- on every added delay")
    add("--capacity", type=_checked("capacity"), metavar="N", help="units/s per table, bucket, queue")
    add("--burst", type=_checked("burst"), metavar="N", help="units a resource can save up (default: capacity)")
    add("--throttle-rate", type=_checked("throttle_rate"), default=0.0, metavar="P", help="share throttled at random")
    add("--error-rate", type=_checked("error_rate"), default=0.0, metavar="P", help="share answered 500/503")
    add("--error-status", type=_checked("error_status"), default=ERROR_STATUSES, metavar="CODES", help="500,503")
    add("--drop-rate", type=_checked("drop_rate"), default=0.0, metavar="P", help="share whose connection is dropped")
    add("--lose-rate", type=_checked("lose_rate"), default=0.0, metavar="P", help="share of writes acked, not stored")
    add("--partial-batches", action="store_true", help="cut BatchWriteItem to what fits; rest in UnprocessedItems")
    add("--resign-with-access-key", default=DEFAULT_ACCESS_KEY, metavar="KEY", help="re-signs cut batches")
    # The secret comes from the environment only: a command line is visible to every user in `ps`.
    add("--seed", type=_checked("seed"), metavar="N", help="seed for reproducible fault decisions")
    add("--partitions", type=_checked("partitions"), default=0, metavar="P", help="partitions per table, by key hash")
    add("--partition-write-units", type=_checked("partition_write_units"), metavar="N",
        help="write units/s per partition (default: the service's own limit)")  # fmt: skip
    add("--partition-read-units", type=_checked("partition_read_units"), metavar="N",
        help="read units/s per partition (default: the service's own limit)")  # fmt: skip
    add("-v", "--verbose", action="store_true", help="log configuration changes")
    args = parser.parse_args(argv)
    if args.burst is not None and args.capacity is None:
        parser.error("--burst needs --capacity")
    return args


def config_from_args(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig(
        latency_ms=args.latency_ms,
        connect_latency_ms=args.connect_latency_ms,
        jitter_ms=args.jitter_ms,
        capacity=args.capacity,
        burst=args.burst,
        throttle_rate=args.throttle_rate,
        error_rate=args.error_rate,
        error_status=tuple(args.error_status),
        drop_rate=args.drop_rate,
        lose_rate=args.lose_rate,
        partial_batches=args.partial_batches,
        seed=args.seed,
        partitions=args.partitions,
        partition_write_units=args.partition_write_units,
        partition_read_units=args.partition_read_units,
    )


async def serve(args: argparse.Namespace) -> int:
    proxy = FaultProxy(
        args.upstream,
        config_from_args(args),
        (args.resign_with_access_key, os.environ.get("FAULT_PROXY_RESIGN_SECRET_KEY", DEFAULT_SECRET_KEY)),
    )
    host, port = args.listen
    try:
        runner, bound = await proxy.start(host, port)
    except OSError as exc:
        await proxy.close()
        print(f"fault_proxy.py: error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"fault-proxy listening on http://{shown_host}:{bound} -> {args.upstream}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await proxy.close()
    return 0


def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="fault-proxy: %(message)s", stream=sys.stderr
    )
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
