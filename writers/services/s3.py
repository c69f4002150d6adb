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
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import logging
import math
import os
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from writers.calls import Call, ServiceInfo, Settlement, WireRequest
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.protocols.rest_xml import (
    S3_NAMESPACE,
    child_text,
    element,
    encode_segment,
    error_from,
    parse_xml,
    query_string,
    uri_path,
)
from writers.records import ISBN_SPACE, IsbnKeys
from writers.services.base import Workload, WorkloadOptions
from writers.sigv4 import UNSIGNED_PAYLOAD
from writers.target import Endpoint

logger = logging.getLogger("writers.s3")
KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
MIN_PART_SIZE = 5 * MiB  # S3: every part but the last
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_SINGLE_PUT = 5 * GiB
MAX_OBJECT_SIZE = 5 * TiB
MAX_BODY_IN_MEMORY = 1 * GiB  # the content block must hold the largest single body (object or part)
MAX_PREFIXES = 10_000
REMEMBERED_KEYS = 100_000  # acknowledged keys kept per process for --read-ratio GETs
PROBE_TIMEOUT = 5.0  # seconds for the write probe before the swarm

# Bodies start at one of OFFSETS places in the content block, OFFSET_STEP bytes apart:
# objects differ, and the digests of a (start, length) slice can be cached.
OFFSETS = 256
OFFSET_STEP = 251
CONTENT_UNIT = 1 * MiB  # random content is this much, repeated; Faker text is 64 KiB repeated
FAKER_TEXT_CHARS = 64 * KiB
_DIGEST_CACHE_MAX = 4096
_KEY_SCRAMBLE = 3_214_567  # odd, not a multiple of 5: a bijection modulo ISBN_SPACE
# botocore sends "Expect: 100-continue" with every PutObject/UploadPart body. A server that
# answers an empty body at once, without "100 Continue" (SeaweedFS does), leaves botocore's
# kept-alive connection parsing the next answer wrongly (it keeps the early answer's status
# line: a 10 s read timeout). botocore's own switch leaves the header off empty bodies.
_BOTO_NO_EMPTY_CONTINUE = "BOTO_EXPERIMENTAL__NO_EMPTY_CONTINUE"

CONTENT_KINDS = ("faker", "random")
PAYLOAD_SIGNING = ("unsigned", "signed")


@dataclass(frozen=True)
class S3ServiceInfo(ServiceInfo):
    def boto3_config(self, endpoint_url: str | None) -> dict[str, Any]:
        # botocore would go virtual-hosted on a custom host name (bucket.minio:9000):
        # custom endpoints get path-style; AWS keeps botocore's own choice (virtual).
        return {"s3": {"addressing_style": "path"}} if endpoint_url else {}


SERVICE = S3ServiceInfo(name="S3", boto3_name="s3", signing_name="s3", endpoint_env="S3", s3_signing=True)


# --------------------------------------------------------------------------- sizes


_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB,
}  # fmt: skip
_SIZE_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)")


def parse_size(text: str, flag: str) -> int:
    """Bytes from '4096', '64KiB', '1.5MB' (B, KB/MB/GB/TB = powers of 1000, KiB/MiB/GiB/TiB = of 1024)."""
    match = _SIZE_RE.fullmatch(str(text).strip())
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ConfigError(f"{flag} {text!r} is not a size like 4096, 64KiB or 4MiB (B, KB, MB, GB, KiB, MiB, GiB)")
    return int(float(match.group(1)) * unit)


def format_size(size: int) -> str:
    for unit, name in ((TiB, "TiB"), (GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{name}"
    return f"{size}B"


def parse_distribution(text: str, flag: str = "--object-size") -> tuple[tuple[int, float], ...]:
    """'4KiB' or '1KiB:50,64KiB:40,4MiB:10' -> ((size, weight), ...); a missing weight is 1."""
    terms = [term.strip() for term in str(text).split(",")]
    if not all(terms):
        raise ConfigError(f"{flag} {text!r} is not a size or a list like 1KiB:50,64KiB:40,4MiB:10")
    sizes: list[tuple[int, float]] = []
    for term in terms:
        size_text, colon, weight_text = term.partition(":")
        weight = 1.0
        if colon:
            try:
                weight = float(weight_text)
            except ValueError:
                weight = math.nan
        if not 0 < weight < math.inf:
            raise ConfigError(f"{flag}: the weight in {term!r} must be a positive number (size:weight)")
        sizes.append((parse_size(size_text, flag), weight))
    return tuple(sizes)


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class S3Options(WorkloadOptions):
    object_sizes: tuple[tuple[int, float], ...] = ((4 * KiB, 1.0),)  # (size, weight)
    content: str = "faker"
    prefixes: int = 16
    multipart_threshold: int = 8 * MiB  # objects of at least this size go as multipart uploads
    part_size: int = 8 * MiB
    read_ratio: float = 0.0
    content_md5: bool = False
    payload_signing: str = "unsigned"  # raw strategies: UNSIGNED-PAYLOAD or the body's SHA-256

    def __post_init__(self) -> None:
        """S3's rules and this tool's limits; the first broken one raises ConfigError (one line)."""
        if self.batch != 1:
            raise ConfigError(f"--batch must be 1 for S3 (one object per call), not {self.batch}")
        if self.content not in CONTENT_KINDS:
            raise ConfigError(f"--content must be 'faker' or 'random', not {self.content!r}")
        if self.payload_signing not in PAYLOAD_SIGNING:
            raise ConfigError(f"--payload-signing must be 'unsigned' or 'signed', not {self.payload_signing!r}")
        if not 0 <= self.prefixes <= MAX_PREFIXES:
            raise ConfigError(f"--prefixes must be between 0 and {MAX_PREFIXES} (got {self.prefixes})")
        if not 0.0 <= self.read_ratio <= 1.0:  # also false for NaN
            raise ConfigError(f"--read-ratio must be between 0 and 1 (got {self.read_ratio})")
        if not MIN_PART_SIZE <= self.part_size <= MAX_PART_SIZE:
            raise ConfigError(
                f"--part-size must be between 5MiB and 5GiB, S3's part limits (got {format_size(self.part_size)})"
            )
        if not 1 <= self.multipart_threshold <= MAX_SINGLE_PUT:
            raise ConfigError(
                f"--multipart-threshold must be between 1B and 5GiB, S3's single PUT limit "
                f"(got {format_size(self.multipart_threshold)})"
            )
        if not self.object_sizes:
            raise ConfigError("--object-size needs at least one size")
        for size, weight in self.object_sizes:
            if not 0 <= size <= MAX_OBJECT_SIZE:
                raise ConfigError(f"--object-size {format_size(size)} is over S3's 5TiB object limit")
            if not 0 < weight < math.inf:
                raise ConfigError(f"--object-size weights must be positive (got {weight})")
        largest_multipart = max((s for s, _ in self.object_sizes if self.is_multipart(s)), default=0)
        parts = -(-largest_multipart // self.part_size)
        if parts > MAX_PARTS:
            need = -(-largest_multipart // MAX_PARTS)
            raise ConfigError(
                f"--part-size {format_size(self.part_size)} cuts a {format_size(largest_multipart)} object into "
                f"{parts} parts, over S3's {MAX_PARTS}: use --part-size of at least {need // MiB + 1}MiB"
            )
        if self.largest_body() > MAX_BODY_IN_MEMORY:
            raise ConfigError(
                f"single bodies of up to {format_size(self.largest_body())} (objects below --multipart-threshold, "
                f"or parts) would be held in memory; this tool allows 1GiB: lower --multipart-threshold or --part-size"
            )

    def is_multipart(self, size: int) -> bool:
        return size >= self.multipart_threshold

    def largest_body(self) -> int:
        """The longest body one call sends: an object below the threshold, or a part."""
        return max(min(size, self.part_size) if self.is_multipart(size) else size for size, _ in self.object_sizes)


# --------------------------------------------------------------------------- content


class ContentBlock:
    """Object content for one process: bodies are slices of it, never copies."""

    def __init__(self, kind: str, length: int) -> None:
        if kind == "random":
            unit = random.Random(0).randbytes(CONTENT_UNIT)
        else:
            from faker import Faker  # only when text content is wanted

            fake = Faker()
            fake.seed_instance(0)
            unit = (fake.text(max_nb_chars=FAKER_TEXT_CHARS) + "\n").encode()
        data = unit * (-(-length // len(unit)))
        self.data = data[:length] if len(data) > length else data
        self.view = memoryview(self.data)
        self._digests: dict[tuple[str, int, int], str] = {}

    @classmethod
    def for_options(cls, options: S3Options) -> ContentBlock:
        return cls(options.content, options.largest_body() + OFFSETS * OFFSET_STEP)

    def body(self, variant: int, length: int) -> Body:
        return Body(self, (variant % OFFSETS) * OFFSET_STEP, length)

    def digest(self, kind: str, start: int, length: int) -> str:
        key = (kind, start, length)
        value = self._digests.get(key)
        if value is None:
            chunk = self.view[start : start + length]
            if kind == "md5":
                value = base64.b64encode(hashlib.md5(chunk, usedforsecurity=False).digest()).decode()
            else:
                value = hashlib.sha256(chunk).hexdigest()
            if len(self._digests) >= _DIGEST_CACHE_MAX:
                self._digests = {}
            self._digests[key] = value
        return value


@dataclass(frozen=True, slots=True)
class Body:
    """One object's or part's content: `length` bytes of the block from `start`."""

    block: ContentBlock
    start: int
    length: int

    @property
    def view(self) -> memoryview:
        return self.block.view[self.start : self.start + self.length]

    def to_bytes(self) -> bytes:
        return self.block.data[self.start : self.start + self.length]

    def md5_base64(self) -> str:
        return self.block.digest("md5", self.start, self.length)

    def sha256_hex(self) -> str:
        return self.block.digest("sha256", self.start, self.length)


# --------------------------------------------------------------------------- addressing


_IPV4_RE = re.compile(r"\d+\.\d+\.\d+\.\d+")


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


# --------------------------------------------------------------------------- calls


def _check(status: int, body: bytes) -> None:
    error = error_from(status, body)
    if error is not None:
        raise error


def _etag(headers: Mapping[str, str]) -> str:
    value = headers.get("ETag") or headers.get("etag") or ""
    return value if isinstance(value, str) else str(value[0])


class S3Call(Call):
    """An S3 call on one object. `params` is made when asked for: a body is copied only then."""

    service = SERVICE

    def __init__(self, target: S3Target, key: str, items: int = 1) -> None:
        super().__init__(items, keys=(key,) if items else ())
        self.target = target
        self.key = key

    @property
    def params(self) -> dict[str, Any]:
        return {"Bucket": self.target.bucket.name, "Key": self.key, **self.extra_params()}

    def extra_params(self) -> dict[str, Any]:
        return {}

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        _check(status, body)
        return {"ETag": _etag(headers)}

    @property
    def request_bytes(self) -> int:
        return 0


class PutObject(S3Call):
    operation = "PutObject"
    api_method = "put_object"

    def __init__(self, target: S3Target, key: str, body: Body, on_ack: Callable[[str], object] | None = None) -> None:
        super().__init__(target, key)
        self.body = body
        self.on_ack = on_ack

    def extra_params(self) -> dict[str, Any]:
        return self.target.body_params(self.body)

    def build_wire(self) -> WireRequest:
        return self.target.request("PUT", self.key, body=self.body)

    @property
    def request_bytes(self) -> int:
        return self.body.length

    def settle(self, response: dict[str, Any]) -> Settlement:
        if self.on_ack is not None:
            self.on_ack(self.key)
        return Settlement(acked=1, acked_keys=(self.key,))


class GetObject(S3Call):
    operation = "GetObject"
    api_method = "get_object"
    is_read = True

    def build_wire(self) -> WireRequest:
        return self.target.request("GET", self.key)

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        _check(status, body)
        return {"Body": body, "ContentLength": len(body), "ETag": _etag(headers)}


class MultipartUpload:
    """One object sent in parts: the state its calls share (upload id, ETags, parts pending)."""

    def __init__(
        self, target: S3Target, key: str, bodies: Sequence[Body], on_ack: Callable[[str], object] | None = None
    ) -> None:
        self.target = target
        self.key = key
        self.bodies = bodies
        self.on_ack = on_ack
        self.upload_id = ""
        self.etags: dict[int, str] = {}
        self.pending = len(bodies)
        self.failed = False

    @property
    def size(self) -> int:
        return sum(body.length for body in self.bodies)

    def start(self, upload_id: str) -> list[Call]:
        self.upload_id = upload_id
        self.etags.clear()
        self.pending = len(self.bodies)
        self.failed = False
        return [UploadPart(self, number, body) for number, body in enumerate(self.bodies, 1)]

    def part_finished(self, number: int, etag: str | None) -> list[Call]:
        """A part was stored (etag) or given up (None); the last one decides what comes next."""
        self.pending -= 1
        if etag is None:
            self.failed = True
        else:
            self.etags[number] = etag
        if self.pending > 0:
            return []
        return [AbortMultipartUpload(self)] if self.failed else [CompleteMultipartUpload(self)]

    def parts(self) -> list[dict[str, Any]]:
        return [{"ETag": self.etags[n], "PartNumber": n} for n in sorted(self.etags)]


class UploadCall(S3Call):
    """A call on a multipart upload, after it was created."""

    def __init__(self, upload: MultipartUpload, items: int = 1) -> None:
        super().__init__(upload.target, upload.key, items)
        self.upload = upload

    def extra_params(self) -> dict[str, Any]:
        return {"UploadId": self.upload.upload_id}


class CreateMultipartUpload(S3Call):
    operation = "CreateMultipartUpload"
    api_method = "create_multipart_upload"

    def __init__(self, upload: MultipartUpload) -> None:
        super().__init__(upload.target, upload.key)
        self.upload = upload

    def build_wire(self) -> WireRequest:
        return self.target.request("POST", self.key, query_string([("uploads", None)]))

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        _check(status, body)
        root = parse_xml(body)
        upload_id = child_text(root, "UploadId") if root is not None else ""
        if root is None or not upload_id:
            raise AwsCallError.from_response(500, "MalformedResponse", "no UploadId in the answer")
        return {"Bucket": child_text(root, "Bucket"), "Key": child_text(root, "Key"), "UploadId": upload_id}

    def settle(self, response: dict[str, Any]) -> Settlement:
        return Settlement(acked=0, next_calls=self.upload.start(str(response["UploadId"])))


class UploadPart(UploadCall):
    operation = "UploadPart"
    api_method = "upload_part"

    def __init__(self, upload: MultipartUpload, number: int, body: Body) -> None:
        super().__init__(upload)
        self.number = number
        self.body = body

    def extra_params(self) -> dict[str, Any]:
        return {"UploadId": self.upload.upload_id, "PartNumber": self.number, **self.target.body_params(self.body)}

    def build_wire(self) -> WireRequest:
        query = query_string([("partNumber", str(self.number)), ("uploadId", self.upload.upload_id)])
        return self.target.request("PUT", self.key, query, body=self.body)

    @property
    def request_bytes(self) -> int:
        return self.body.length

    def settle(self, response: dict[str, Any]) -> Settlement:
        return Settlement(acked=0, next_calls=self.upload.part_finished(self.number, str(response["ETag"])))

    def abandon(self) -> list[Call]:
        return self.upload.part_finished(self.number, None)


class CompleteMultipartUpload(UploadCall):
    operation = "CompleteMultipartUpload"
    api_method = "complete_multipart_upload"

    def extra_params(self) -> dict[str, Any]:
        return {"UploadId": self.upload.upload_id, "MultipartUpload": {"Parts": self.upload.parts()}}

    def build_wire(self) -> WireRequest:
        parts = "".join(
            element("Part", element("ETag", text=p["ETag"]), element("PartNumber", text=str(p["PartNumber"])))
            for p in self.upload.parts()
        )
        document = f'<CompleteMultipartUpload xmlns="{S3_NAMESPACE}">{parts}</CompleteMultipartUpload>'
        query = query_string([("uploadId", self.upload.upload_id)])
        return self.target.request("POST", self.key, query, content=document.encode())

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        _check(status, body)  # S3 may answer 200 and still fail: the document says
        root = parse_xml(body)
        return {"ETag": child_text(root, "ETag") if root is not None else ""}

    @property
    def request_bytes(self) -> int:
        return len(self.wire().body)

    def settle(self, response: dict[str, Any]) -> Settlement:
        if self.upload.on_ack is not None:
            self.upload.on_ack(self.key)
        return Settlement(acked=1, acked_keys=(self.key,))

    def abandon(self) -> list[Call]:
        return [AbortMultipartUpload(self.upload)]


class AbortMultipartUpload(UploadCall):
    operation = "AbortMultipartUpload"
    api_method = "abort_multipart_upload"

    def __init__(self, upload: MultipartUpload) -> None:
        super().__init__(upload, items=0)  # carries no record: the record was given up already

    def build_wire(self) -> WireRequest:
        return self.target.request("DELETE", self.key, query_string([("uploadId", self.upload.upload_id)]))

    def settle(self, response: dict[str, Any]) -> Settlement:
        return Settlement(acked=0)


# --------------------------------------------------------------------------- records


class ObjectRecords:
    """An endless, reproducible stream of objects to write: unique key, size, content variant.

    Keys are unique within a stream (one per load-generator process) like the book
    records' ISBNs: the stream number and a bijective scramble of a counter.
    """

    def __init__(self, options: S3Options, seed: int | None = None, stream: int = 0) -> None:
        self.stream = stream % 100
        self._isbn = IsbnKeys(self.stream)
        self._rng = random.Random(None if seed is None else seed * 1000 + stream)
        self._offset = self._rng.randrange(ISBN_SPACE)
        self._count = 0
        self._prefixes = options.prefixes
        self._width = max(2, len(str(options.prefixes - 1)))
        self._sizes = [size for size, _ in options.object_sizes]
        self._cumulative = list(accumulate(weight for _, weight in options.object_sizes))

    def next_key(self) -> str:
        n = (self._offset + self._count * _KEY_SCRAMBLE) % ISBN_SPACE
        self._count += 1
        isbn = self._isbn.key(n)
        if not self._prefixes:
            return isbn
        return f"p{self._rng.randrange(self._prefixes):0{self._width}d}/{isbn}"

    def next(self) -> dict[str, Any]:
        rng = self._rng
        if len(self._sizes) == 1:
            size = self._sizes[0]
        else:
            pick = rng.random() * self._cumulative[-1]
            size = self._sizes[min(bisect.bisect_right(self._cumulative, pick), len(self._sizes) - 1)]
        return {"key": self.next_key(), "size": size, "variant": rng.randrange(OFFSETS)}

    def take(self, n: int) -> list[dict[str, Any]]:
        return [self.next() for _ in range(n)]


# --------------------------------------------------------------------------- workload


_BUCKET_NAME_RULES = "3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


class S3Workload(Workload):
    service = SERVICE
    resource_kind = "bucket"
    default_resource = "books-load-test"
    max_batch = 1
    max_payload_bytes = MAX_OBJECT_SIZE  # --payload-bytes is refused with its own message
    resource_pattern = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
    options_class = S3Options

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--object-size",
            default="4KiB",
            help="object size: bytes or B/KB/MB/KiB/MiB/GiB, or size:weight list like 1KiB:50,64KiB:40,4MiB:10",
        )
        parser.add_argument("--content", default="faker", help="object content: 'faker' (text) or 'random' (bytes)")
        parser.add_argument(
            "--prefixes", type=int, default=16, help="spread keys over this many prefixes p00/..p15/ (0: none)"
        )
        parser.add_argument(
            "--multipart-threshold", default="8MiB", help="objects of at least this size go as multipart uploads"
        )
        parser.add_argument("--part-size", default="8MiB", help="multipart part size (5MiB to 5GiB)")
        parser.add_argument(
            "--read-ratio",
            type=float,
            default=0.0,
            help="share of calls (0..1) that GET objects this process already wrote",
        )
        parser.add_argument(
            "--content-md5", action="store_true", default=False, help="send Content-MD5 with every object and part"
        )
        parser.add_argument(
            "--payload-signing",
            default="unsigned",
            help="raw strategies sign 'unsigned' (UNSIGNED-PAYLOAD) or 'signed' (the body's SHA-256)",
        )

    @classmethod
    def read_options(cls, options: Any, batch: int, payload_bytes: int) -> WorkloadOptions:
        name = str(options.bucket)
        cls.check_resource_name(name)
        if payload_bytes:
            raise ConfigError("--payload-bytes does not apply to S3: set object sizes with --object-size")
        return S3Options(
            resource=name,
            batch=batch,
            object_sizes=parse_distribution(options.object_size),
            content=str(options.content).strip().lower(),
            prefixes=int(options.prefixes),
            multipart_threshold=parse_size(options.multipart_threshold, "--multipart-threshold"),
            part_size=parse_size(options.part_size, "--part-size"),
            read_ratio=float(options.read_ratio),
            content_md5=bool(options.content_md5),
            payload_signing=str(options.payload_signing).strip().lower(),
        )

    @classmethod
    def check_resource_name(cls, name: str) -> None:
        reason = None
        if not re.fullmatch(cls.resource_pattern, name):
            reason = _BUCKET_NAME_RULES
        elif ".." in name or ".-" in name or "-." in name:
            reason = "no '..', '.-' or '-.'"
        elif _IPV4_RE.fullmatch(name):
            reason = "not shaped like an IP address"
        elif name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
            reason = "that prefix or suffix is reserved by AWS"
        if reason:
            raise ConfigError(f"--bucket {name!r} is not a valid S3 bucket name ({reason})")

    def __init__(self, options: WorkloadOptions) -> None:
        if not isinstance(options, S3Options):
            options = S3Options(options.resource, options.batch, options.payload_bytes)
        super().__init__(options)
        os.environ.setdefault(_BOTO_NO_EMPTY_CONTINUE, "true")  # read by botocore at each call
        self.s3 = options
        self.target = S3Target(
            BucketAddress(options.resource), options.content_md5, options.payload_signing == "signed"
        )
        self.acked_keys: deque[str] = deque(maxlen=REMEMBERED_KEYS)
        self._block: ContentBlock | None = None
        self._read_credit = 0.0
        self._rng = random.Random()

    def prepare(self, endpoint: Endpoint) -> None:
        self.target = replace(self.target, bucket=address_for(endpoint, self.s3.resource))

    @property
    def block(self) -> ContentBlock:
        if self._block is None:  # made on first use: after Locust forks, once per process
            self._block = ContentBlock.for_options(self.s3)
        return self._block

    def records(self, seed: int | None, stream: int) -> ObjectRecords:
        return ObjectRecords(self.s3, seed, stream)

    def write_calls(self, records: Sequence[dict[str, Any]]) -> list[Call]:
        """One upload per record; with --read-ratio, that share of them become GETs instead."""
        calls: list[Call] = []
        for record in records:
            if self._read_next():
                calls.append(self.get(self._rng.choice(self.acked_keys)))
            else:
                calls.append(self.upload(record["key"], record["size"], record.get("variant", 0)))
        return calls

    def _read_next(self) -> bool:
        ratio = self.s3.read_ratio
        if not ratio or not self.acked_keys:
            return False
        self._read_credit += ratio
        if self._read_credit >= 1.0:
            self._read_credit -= 1.0
            return True
        return False

    def upload(self, key: str, size: int, variant: int = 0) -> Call:
        """PutObject, or CreateMultipartUpload (whose parts and completion follow) for large objects."""
        if not self.s3.is_multipart(size):
            return PutObject(self.target, key, self.block.body(variant, size), self.acked_keys.append)
        part = self.s3.part_size
        bodies = [self.block.body(variant + i, min(part, size - start)) for i, start in enumerate(range(0, size, part))]
        return CreateMultipartUpload(MultipartUpload(self.target, key, bodies, self.acked_keys.append))

    def get(self, key: str) -> GetObject:
        return GetObject(self.target, key)

    def provision(self, endpoint: Endpoint, timeout: float = 60.0) -> bool:
        client = endpoint.admin_client()
        bucket = self.s3.resource
        if self._bucket_status(client, bucket) == 200:
            return False
        params: dict[str, Any] = {"Bucket": bucket}
        if endpoint.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": endpoint.region}
        try:
            client.create_bucket(**params)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "BucketAlreadyOwnedByYou":
                return False
            if code == "BucketAlreadyExists":
                raise ConfigError(f"bucket {bucket!r} belongs to another account (bucket names are global)") from None
            raise
        deadline = time.monotonic() + timeout
        while self._bucket_status(client, bucket) != 200:
            if time.monotonic() > deadline:
                raise ConfigError(f"bucket {bucket!r} was not usable within {timeout:.0f} s")
            time.sleep(0.2)
        return True

    def preflight(self, endpoint: Endpoint) -> None:
        """The bucket exists and these credentials may use it and write to it: an empty probe
        object is put (only if absent) and deleted at once. A probe that is throttled, fails
        on the server's side or times out says nothing either way: the run will tell."""
        self.prepare(endpoint)
        client, bucket = endpoint.admin_client(), self.s3.resource
        where = endpoint.url or f"AWS {endpoint.region}"
        try:
            if self._bucket_status(client, bucket) == 404:
                raise ConfigError(f"bucket {bucket!r} does not exist at {where}")
        except BotoCoreError as exc:
            raise ConfigError(f"cannot reach S3 at {where}: {type(exc).__name__}") from None
        probe = endpoint.boto3_session().client(
            "s3", endpoint_url=endpoint.url, config=Config(
                retries={"total_max_attempts": 1}, connect_timeout=PROBE_TIMEOUT, read_timeout=PROBE_TIMEOUT,
                **SERVICE.boto3_config(endpoint.url),
            ),
        )  # fmt: skip
        key = f"aws-load-writers-probe/{uuid.uuid4().hex}"
        try:
            probe.put_object(Bucket=bucket, Key=key, Body=b"", IfNoneMatch="*")
            probe.delete_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            error = AwsCallError.from_botocore(exc)
            if error.kind is FailureKind.CLIENT:
                raise ConfigError(f"cannot write to bucket {bucket!r}: {error.code}: {error.message}"[:300]) from None
        except BotoCoreError as exc:
            logger.warning("the write probe of bucket %r got no answer (%s); going on", bucket, type(exc).__name__)

    @staticmethod
    def _bucket_status(client: Any, bucket: str) -> int:
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if status == 403:
                raise ConfigError(S3Workload._forbidden(client, bucket)) from None
            if status != 404:
                raise
            return 404
        return 200

    @staticmethod
    def _forbidden(client: Any, bucket: str) -> str:
        """Why a HEAD was refused: HEAD answers carry no error code, so ask with a GET."""
        try:
            client.list_objects_v2(Bucket=bucket, MaxKeys=0)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            reasons = {
                "SignatureDoesNotMatch": "the secret key does not match the access key",
                "InvalidAccessKeyId": "the access key is not known here",
                "AccessDenied": f"bucket {bucket!r} exists but these credentials may not use it",
            }
            return f"{reasons.get(code, f'bucket {bucket!r} cannot be used')} ({code or 'HTTP 403'})"
        return f"bucket {bucket!r} exists but these credentials may not use it"

    def teardown(self, endpoint: Endpoint) -> None:
        """Abort unfinished uploads, delete every object, then the bucket."""
        try:
            self.empty(endpoint)
            endpoint.admin_client().delete_bucket(Bucket=self.s3.resource)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchBucket":
                raise

    def empty(self, endpoint: Endpoint) -> None:
        """Abort unfinished multipart uploads and delete every object; the bucket stays."""
        client = endpoint.admin_client()
        bucket = self.s3.resource
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})

    def stored_objects(self, endpoint: Endpoint) -> dict[str, int]:
        """Every object in the bucket now: key -> size."""
        pages = endpoint.admin_client().get_paginator("list_objects_v2").paginate(Bucket=self.s3.resource)
        return {o["Key"]: int(o["Size"]) for page in pages for o in page.get("Contents", [])}

    def stored_keys(self, endpoint: Endpoint) -> set[str]:
        return set(self.stored_objects(endpoint))
