"""S3: PutObject, GetObject and multipart uploads; bucket provisioning.

Objects are records: a unique key (`p07/<isbn>`, spread over `--prefixes`) and a size
drawn from `--object-size` (one size or a `size:weight` distribution). Their content
is a slice of one block made per process (Faker text or random bytes): the raw
strategies send a memoryview of it, boto3 gets the bytes of that slice while the call
is in flight, so no body is copied or hashed more than the transport needs (MD5 and
SHA-256 of a slice are computed once per distinct slice and kept).

Objects of at least `--multipart-threshold` bytes go as multipart uploads, modelled as
follow-up calls: CreateMultipartUpload -> UploadPart x N (in flight as the strategy
allows, each retried on its own) -> CompleteMultipartUpload, which alone acknowledges
the record; a part given up aborts the upload once no part is in flight any more.

Addressing: path-style (`/bucket/key`) on custom endpoints, virtual-hosted
(`https://bucket.s3.<region>.amazonaws.com/key`) on AWS when the name allows it.

One module per job, as every service: `service` (what S3 is to a client), `options`
(flags and their checks), `sizes` (size notation and S3's limits), `content` (bodies),
`addressing` (where requests go), `calls`, `keys` (the stream of objects to write),
`billing`, `emulator` (SeaweedFS, moto), `faults` (its answers in the fault proxy),
`workload` (calls from records; the bucket).
"""

from writers.services.s3.addressing import BucketAddress, S3Target, address_for
from writers.services.s3.billing import BILLING, S3Billing
from writers.services.s3.calls import (
    AbortMultipartUpload,
    CompleteMultipartUpload,
    CreateMultipartUpload,
    GetObject,
    MultipartUpload,
    PutObject,
    S3Call,
    UploadPart,
)
from writers.services.s3.content import OFFSET_STEP, OFFSETS, Body, ContentBlock
from writers.services.s3.emulator import EMULATORS
from writers.services.s3.faults import S3Faults, bucket_of, error_answer
from writers.services.s3.keys import ObjectRecords
from writers.services.s3.options import S3Options
from writers.services.s3.service import SERVICE
from writers.services.s3.sizes import GiB, KiB, MiB, TiB, format_size, parse_distribution, parse_size
from writers.services.s3.workload import S3Workload

WORKLOAD = S3Workload

__all__ = [
    "BILLING",
    "EMULATORS",
    "OFFSETS",
    "OFFSET_STEP",
    "SERVICE",
    "WORKLOAD",
    "AbortMultipartUpload",
    "Body",
    "BucketAddress",
    "CompleteMultipartUpload",
    "ContentBlock",
    "CreateMultipartUpload",
    "GetObject",
    "GiB",
    "KiB",
    "MiB",
    "MultipartUpload",
    "ObjectRecords",
    "PutObject",
    "S3Billing",
    "S3Call",
    "S3Faults",
    "S3Options",
    "S3Target",
    "S3Workload",
    "TiB",
    "UploadPart",
    "address_for",
    "bucket_of",
    "error_answer",
    "format_size",
    "parse_distribution",
    "parse_size",
]
