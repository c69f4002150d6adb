"""S3's side of the fault proxy: a REST service (no X-Amz-Target), buckets as resources,
XML errors (SlowDown, 503, when throttled)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from urllib.parse import unquote

from writers.faults import Answer, ProxyRequest, ServiceFaults, request_id
from writers.services.s3.service import SERVICE


def bucket_of(raw_path: str, host: str) -> str | None:
    """The bucket a request addresses: from a virtual-hosted Host, else the first path segment.

    Virtual-hosted means an AWS-style ``bucket.s3[.-]...`` host or ``bucket.localhost``;
    any other host (an IP, ``localhost``, a custom name) is taken as path-style.
    """
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    hostname = hostname.lower()
    for marker in (".s3.", ".s3-"):
        if marker in hostname:
            return hostname.split(marker, 1)[0]
    if hostname.endswith(".localhost"):
        return hostname[: -len(".localhost")]
    segment = raw_path.split("?", 1)[0].lstrip("/").split("/", 1)[0]
    return unquote(segment) or None


def error_answer(status: int, code: str, message: str) -> Answer:
    request = request_id()[:16]
    host_id = hashlib.sha256(request.encode()).hexdigest()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request}</RequestId><HostId>{host_id}</HostId></Error>"
    ).encode()
    headers = {"Content-Type": "application/xml", "x-amz-request-id": request, "x-amz-id-2": host_id}
    return Answer(status, headers, body)


class S3Faults(ServiceFaults):
    service = SERVICE.name
    reads_body = False  # bodies stream through; the bucket is in the path or the host

    def matches(self, headers: Mapping[str, str]) -> bool:
        return "X-Amz-Target" not in headers  # REST: the method and path say what it is

    def operation(self, headers: Mapping[str, str]) -> str | None:
        return None

    def costs(self, request: ProxyRequest) -> dict[str, int]:
        bucket = bucket_of(request.raw_path, request.headers.get("Host", ""))
        return {bucket: 1} if bucket else {}

    def throttle(self) -> Answer:
        return error_answer(503, "SlowDown", "Please reduce your request rate.")

    def error(self, status: int) -> Answer:
        if status == 503:
            return error_answer(503, "ServiceUnavailable", "Service is unable to handle request.")
        return error_answer(500, "InternalError", "We encountered an internal error. Please try again.")

    def forgets(self, request: ProxyRequest) -> bool:
        """PutObject (not a part), but never a conditional one: S3 might have refused it by its condition."""
        conditional = "If-None-Match" in request.headers or "If-Match" in request.headers
        return request.method == "PUT" and "uploadId" not in request.query and not conditional

    def forgotten(self, request: ProxyRequest, body: bytes) -> Answer:
        return Answer(200, {"ETag": f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'}, b"")
