"""A service's side of the fault-injecting proxy (the fault_proxy package).

The proxy throttles, fails, drops and loses requests of any service; what a request is
and how its service answers is the service's to say. Each service's Workload names its
`faults`: which requests are its own, what each costs in a token bucket per resource,
and its own throttling, error and success answers, in its own wire format. The defaults
here fit AWS's JSON protocol (X-Amz-Target); a REST service (S3) overrides them.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson


@dataclass(frozen=True)
class Answer:
    """A response the proxy makes up instead of forwarding."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class ProxyRequest:
    """What the proxy knows of one request when it asks the service."""

    method: str
    raw_path: str  # path and query as sent, never re-encoded
    headers: Mapping[str, str]
    operation: str | None = None  # from X-Amz-Target (JSON protocol)
    document: Mapping[str, Any] | None = None  # the parsed JSON body (JSON protocol)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_path.partition("?")[2], keep_blank_values=True)


@dataclass(frozen=True)
class BatchCut:
    """A batch split into what is forwarded and what is handed back as not done (--partial-batches)."""

    forward: dict[str, Any]  # the request document to send
    held_back: Any  # the service's own record of what was held back, for `merge`
    held_items: int


@dataclass(frozen=True)
class KeyedCost:
    """What one item of a request costs the partition its key hashes to (--partitions)."""

    resource: str  # the table
    key: str  # the item's partition key
    write_units: float = 0.0
    read_units: float = 0.0


def request_id() -> str:
    return uuid.uuid4().hex.upper()


def crc32(body: bytes) -> str:
    return str(zlib.crc32(body) & 0xFFFFFFFF)


def json_body(value: Any) -> bytes:
    return orjson.dumps(value)


class ServiceFaults:
    """How one service's requests are recognised, costed and answered by the fault proxy."""

    service: str  # as Locust shows it: the proxy's stats name resources "<service>:<name>"
    target_prefix: str = ""  # JSON protocol: X-Amz-Target of its requests starts with this
    reads_body: bool = True  # the body names the resource: the proxy reads it whole before deciding
    # --partitions: what one partition sustains, units per second (None: the service has no partitions)
    partition_write_units: float | None = None
    partition_read_units: float | None = None

    def matches(self, headers: Mapping[str, str]) -> bool:
        """True for the requests of this service. The proxy asks the service a signed request's
        credential scope names (and, for an unsigned request, each service in turn)."""
        return bool(self.target_prefix) and headers.get("X-Amz-Target", "").startswith(self.target_prefix)

    def operation(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("X-Amz-Target", "")[len(self.target_prefix) :] or None

    def costs(self, request: ProxyRequest) -> dict[str, int]:
        """Units per resource (table, bucket, queue, stream) this request takes from the token buckets."""
        return {}

    def keyed_costs(self, request: ProxyRequest) -> list[KeyedCost]:
        """Per item: its resource, partition key and write/read units (--partitions); none by default."""
        return []

    def throttle(self) -> Answer:
        """What the service answers when a request exceeds its capacity."""
        raise NotImplementedError

    def error(self, status: int) -> Answer:
        """A server-side failure (500 or 503) in the service's own format."""
        raise NotImplementedError

    def forgets(self, request: ProxyRequest) -> bool:
        """True for a write the proxy may answer as done without forwarding it (--lose-rate)."""
        return False

    def forgotten(self, request: ProxyRequest, body: bytes) -> Answer:
        """The success answer for a write that `forgets` allowed to be lost."""
        raise NotImplementedError

    def can_cut(self, request: ProxyRequest) -> bool:
        """True for a well-formed batch that --partial-batches may forward in part."""
        return False

    def cut(self, document: Mapping[str, Any], granted: Mapping[str, int]) -> BatchCut:
        """Keep what `granted` allows per resource; the rest is held back."""
        raise NotImplementedError

    def merge(self, answer: bytes, held_back: Any) -> bytes:
        """The upstream's answer to the cut batch, with the held-back part reported as not done."""
        raise NotImplementedError
