"""What a request is: its service (named by the SigV4 credential scope), operation and cost per resource."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

from writers.faults import Answer, ProxyRequest, ServiceFaults
from writers.services import workloads


def loads_json(data: bytes) -> Any:
    """A request or control body, parsed (orjson: several times faster than json)."""
    return orjson.loads(data)


def dumps_json(value: Any) -> bytes:
    return orjson.dumps(value)


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
    so the REST one is asked only about unsigned requests without an X-Amz-Target."""
    return sorted((w.faults for w in workloads()), key=lambda faults: not faults.target_prefix)


SERVICE_FAULTS = service_faults()
# The services by the name their requests are signed for (the credential scope's service).
SIGNED_FOR: dict[str, ServiceFaults] = {w.service.signing_name: w.faults for w in workloads()}


def signed_service(headers: Mapping[str, str], raw_path: str = "") -> str | None:
    """The service a SigV4 signature names in its credential scope: from the Authorization
    header, or a presigned URL's X-Amz-Credential. None for an unsigned request."""
    scope = credential_scope(headers.get("Authorization", ""))
    if scope is not None:
        return scope[2]
    query = raw_path.partition("?")[2]
    if "X-Amz-Credential=" in query:
        parts = unquote(query.split("X-Amz-Credential=", 1)[1].split("&", 1)[0]).split("/")
        if len(parts) == 5:
            return parts[3]
    return None


def faults_for(headers: Mapping[str, str], raw_path: str = "") -> ServiceFaults | None:
    """The service a request belongs to, or None if no service claims it.

    A signed request belongs to the service its credential scope names, if the proxy knows
    it and it recognises the request (a JSON-protocol service by its X-Amz-Target): a
    service the proxy does not know is nobody's, whatever its headers look like. An
    unsigned request (an anonymous S3 read) is recognised by its X-Amz-Target, the REST
    service (S3) taking those without one."""
    signed = signed_service(headers, raw_path)
    if signed is not None:
        faults = SIGNED_FOR.get(signed)
        return faults if faults is not None and faults.matches(headers) else None
    return next((faults for faults in SERVICE_FAULTS if faults.matches(headers)), None)


def faults_named(service: str) -> ServiceFaults:
    return next(faults for faults in SERVICE_FAULTS if faults.service == service)


def classify(raw_path: str, headers: Mapping[str, str], body: bytes | None, method: str = "POST") -> Classified:
    """Service, operation and per-resource cost of one request (body: services that read it whole)."""
    faults = faults_for(headers, raw_path)
    if faults is None:
        return Classified("")
    document: Any = None
    if faults.reads_body:
        try:
            document = loads_json(body) if body else {}
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


def credential_scope(authorization: str) -> tuple[str, str, str] | None:
    """(access key, region, service) from a SigV4 Authorization header."""
    try:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0].strip()
        access_key, _date, region, service, _terminator = credential.split("/")
    except (IndexError, ValueError):
        return None
    return access_key, region, service
