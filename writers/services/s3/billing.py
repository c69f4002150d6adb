"""S3 Standard request pricing: one request per call, priced by its class."""

from __future__ import annotations

from writers.pricing import Billing, Price
from writers.services.s3.service import SERVICE

_PUT = Price("request", 5.0, "S3 Standard PUT, COPY, POST, LIST requests: $0.005 per 1,000")
_GET = Price("request", 0.4, "S3 Standard GET, SELECT and all other requests: $0.0004 per 1,000")
_FREE = Price("request", 0.0, "S3 DELETE and CANCEL requests are free")

# Calls that reached S3 are billed even when they failed; calls that never reached it (network) are not.
BILLING = Billing(
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
