"""Where a bucket's objects are on the wire: path-style or virtual-hosted, and the requests to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from writers.calls import WireRequest
from writers.protocols.rest_xml import encode_segment, uri_path
from writers.services.s3.content import Body
from writers.sigv4 import UNSIGNED_PAYLOAD
from writers.target import Endpoint


@dataclass(frozen=True, slots=True)
class BucketAddress:
    """Where a bucket's objects are: path-style (`/bucket/key`) or virtual-hosted (`/key` on the bucket's host)."""

    name: str
    base_url: str | None = None  # the origin to send to; None: the endpoint's
    virtual_hosted: bool = False
    _prefix: str = field(init=False, repr=False, compare=False)  # the encoded bucket segment, once

    def __post_init__(self) -> None:
        object.__setattr__(self, "_prefix", "" if self.virtual_hosted else uri_path(self.name))

    def path(self, key: str) -> str:
        return f"{self._prefix}/{encode_segment(key)}"


def address_for(endpoint: Endpoint, bucket: str) -> BucketAddress:
    """Virtual-hosted on AWS when the name is a plain DNS label (no dots: TLS), else path-style."""
    if endpoint.url is None and "." not in bucket:
        return BucketAddress(bucket, f"https://{bucket}.s3.{endpoint.region}.amazonaws.com", virtual_hosted=True)
    return BucketAddress(bucket)


@dataclass(frozen=True, slots=True)
class S3Target:
    """A bucket and how to send to it: everything the calls share."""

    bucket: BucketAddress
    content_md5: bool = False
    signed_payload: bool = False

    def request(
        self, method: str, key: str, query: str = "", body: Body | None = None, content: bytes = b""
    ) -> WireRequest:
        headers: dict[str, str] = {}
        if body is None:  # no object data: small, always signed (the signer knows the empty hash)
            payload: bytes | memoryview = content
            payload_hash = None
        else:
            payload = body.view
            payload_hash = body.sha256_hex() if self.signed_payload else UNSIGNED_PAYLOAD
            if self.content_md5:
                headers["Content-MD5"] = body.md5_base64()
        # A memoryview where WireRequest says bytes: the signer (hashlib) and aiohttp take any
        # buffer, so the slice is not copied (the gevent strategy makes it bytes: its client
        # sends only bytes in one write).
        return WireRequest(
            method, self.bucket.path(key), query, headers, payload,  # type: ignore[arg-type]
            payload_hash=payload_hash, base_url=self.bucket.base_url,
        )  # fmt: skip

    def body_params(self, body: Body) -> dict[str, Any]:
        """boto3's Body (the slice's bytes, made only while the call is made) and ContentMD5."""
        params: dict[str, Any] = {"Body": body.to_bytes()}
        if self.content_md5:
            params["ContentMD5"] = body.md5_base64()
        return params
