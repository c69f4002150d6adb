"""What one AWS API call is, independent of how it is sent.

A service operation (PutItem, SendMessage, ...) describes itself once: the boto3
method and parameters, the raw HTTP request on the wire, how to read the answer, and
which of its items the service acknowledged. Strategies only move calls; they never
look inside one.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from writers.errors import AwsCallError


@dataclass(frozen=True)
class ServiceInfo:
    name: str  # as Locust shows it: "DynamoDB"
    boto3_name: str  # boto3.client(...) name: "dynamodb"
    signing_name: str  # SigV4 credential scope service: "dynamodb"
    endpoint_env: str  # AWS_ENDPOINT_URL_<this>: "DYNAMODB"
    s3_signing: bool = False

    def default_endpoint(self, region: str) -> str:
        return f"https://{self.signing_name}.{region}.amazonaws.com"

    def boto3_config(self, endpoint_url: str | None) -> dict[str, Any]:
        """Extra botocore Config settings for this service's clients (S3: addressing style)."""
        return {}

    def configure_client(self, client: Any) -> None:
        """Adjust a new boto3 or aiobotocore client of this service (event handlers); most need nothing."""


@dataclass(slots=True)
class WireRequest:
    """The raw HTTP request, before signing. `path` is already URI-encoded."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    payload_hash: str | None = None  # e.g. "UNSIGNED-PAYLOAD" for S3; None: hash the body
    base_url: str | None = None  # send to this origin, not the endpoint's (S3 virtual-hosted buckets)

    @property
    def path_and_query(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass(slots=True)
class Settlement:
    """What the service did with the items of one successful call."""

    acked: int
    acked_keys: tuple[str, ...] = ()  # which records those are (for --verify)
    acked_versions: tuple[str, ...] = ()  # their versions, parallel to acked_keys, where keys are written again
    found: int = 0  # reads: items the service had
    not_found: int = 0  # reads: items it did not have
    leftover: Call | None = None  # the unprocessed part, to send again after a backoff
    next_calls: list[Call] = field(default_factory=list)  # the next steps (multipart parts, deletes)
    # Items the service refused for good inside a successful call (a batch entry that is
    # itself wrong, e.g. SQS's SenderFault): given up at once, and the call is reported
    # as failed with this error, so such refusals are counted and visible.
    given_up: int = 0
    error: AwsCallError | None = None


class Call(ABC):
    """One AWS API call. Subclasses are the service operations.

    A call's own fields (a multipart upload it belongs to, the receive that follows a
    delete, ...) need no help to survive a retry: `again` copies the whole call.
    """

    service: ClassVar[ServiceInfo]
    operation: ClassVar[str]  # "PutItem"
    api_method: ClassVar[str]  # boto3 method: "put_item"
    is_read: ClassVar[bool] = False

    # Set by the driver (writers/driver.py), on time.perf_counter()'s clock: when this attempt
    # was meant to start, and when the first call for its records was.
    intended: float = 0.0
    first_intended: float = 0.0
    late: bool = False  # a new call whose intended start found every slot busy (rate mode)
    # Where a key may be written more than once: each record's version (its checksum),
    # parallel to `keys`, so --verify can tell the last acknowledged version from older ones.
    versions: tuple[str, ...] = ()
    prepared: Any = None  # a strategy's request for this attempt, made ahead of its start (Strategy.prepare)

    def __init__(self, items: int = 1, *, keys: tuple[str, ...] = (), attempt: int = 1) -> None:
        self.items = items
        self.keys = keys  # the records this call writes, by key (for --verify)
        self.attempt = attempt
        self._wire: WireRequest | None = None

    @property
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The boto3 method's parameters."""

    @abstractmethod
    def build_wire(self) -> WireRequest:
        """The raw HTTP request for this call (JSON or REST protocol)."""

    @abstractmethod
    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """The answer as boto3 would return it; raises AwsCallError on an error answer."""

    def settle(self, response: dict[str, Any]) -> Settlement:
        """How many items the service took. Batch operations override this."""
        if self.is_read:
            return Settlement(acked=0)
        return Settlement(acked=self.items, acked_keys=self.keys, acked_versions=self.versions)

    def wire(self) -> WireRequest:
        if self._wire is None:
            self._wire = self.build_wire()
        return self._wire

    @property
    def request_bytes(self) -> int:
        return len(self.wire().body)

    def again(self) -> Self:
        """The same call, as its next attempt (the same wire request, signed again when sent)."""
        retry = copy.copy(self)
        retry.attempt = self.attempt + 1
        retry.prepared = None  # signed again when sent
        return retry

    def abandon(self) -> list[Call]:
        """Calls to make when this one is given up (S3: abort the multipart upload it belongs to)."""
        return []

    @property
    def label(self) -> str:
        return self.operation


@dataclass(slots=True)
class Attempt:
    """One attempt of one call: what Locust reports as one request event."""

    call: Call
    response_time_ms: float
    response: dict[str, Any] | None = None
    error: AwsCallError | None = None
    bytes_received: int = 0
    # Filled in by the driver once the answer is read:
    acked: int = 0
    acked_keys: tuple[str, ...] = ()
    acked_versions: tuple[str, ...] = ()
    found: int = 0
    not_found: int = 0
    retried_items: int = 0
    given_up_items: int = 0
    finished: float = 0.0  # time.perf_counter() when the answer (or the failure) came
    intended_ms: float = 0.0  # from the call's intended start to its answer
    record_ms: float | None = None  # acked records: from their first call's intended start

    @property
    def response_length(self) -> int:
        return self.bytes_received if self.call.is_read else self.call.request_bytes
