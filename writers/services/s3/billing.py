"""S3 Standard request pricing: one request per call, priced by its class.

S3 bills successful answers and client errors (4xx), not server errors: "Bucket owners
aren't billed for HTTP 5XX server error responses, such as HTTP 503 Slow Down errors"
(Billing for Amazon S3 error responses,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorCodeBilling.html, checked
2026-12-02). Calls that never reached S3 (network failures) are not billed either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from writers.calls import Call
from writers.errors import AwsCallError
from writers.pricing import NOTHING, Bill, Billing, Price
from writers.services.s3.service import SERVICE

_PUT = Price("request", 5.0, "S3 Standard PUT, COPY, POST, LIST requests: $0.005 per 1,000")
_GET = Price("request", 0.4, "S3 Standard GET, SELECT and all other requests: $0.0004 per 1,000")
_FREE = Price("request", 0.0, "S3 DELETE and CANCEL requests are free")


@dataclass(frozen=True)
class S3Billing(Billing):
    def bill(self, call: Call, response: Mapping[str, Any] | None, error: AwsCallError | None = None) -> Bill:
        if response is None and error is not None and (error.status is None or error.status >= 500):
            return NOTHING  # a server error (SlowDown included), or never reached S3
        return super().bill(call, response, error)


BILLING = S3Billing(
    service=SERVICE.name,
    source="https://aws.amazon.com/s3/pricing/",
    as_of="2025-06-01",
    prices={
        "PutObject": _PUT,
        "CreateMultipartUpload": _PUT,
        "UploadPart": _PUT,
        "CompleteMultipartUpload": _PUT,
        "ListObjectsV2": _PUT,
        "GetObject": _GET,
        "HeadObject": _GET,
        "AbortMultipartUpload": _FREE,
        "DeleteObject": _FREE,
    },
)
