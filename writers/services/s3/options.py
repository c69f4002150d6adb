"""S3's own flags and their checks: sizes, content, prefixes, multipart, reads, signing, the bucket name."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from writers.errors import ConfigError
from writers.services.base import WorkloadOptions
from writers.services.s3.sizes import (
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MAX_SINGLE_PUT,
    MIN_PART_SIZE,
    GiB,
    KiB,
    MiB,
    format_size,
    parse_distribution,
    parse_size,
)

MAX_BODY_IN_MEMORY = 1 * GiB  # the content block must hold the largest single body (object or part)
MAX_PREFIXES = 10_000
CONTENT_KINDS = ("faker", "random")
PAYLOAD_SIGNING = ("unsigned", "signed")
BUCKET_PATTERN = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_BUCKET_NAME_RULES = "3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_IPV4_RE = re.compile(r"\d+\.\d+\.\d+\.\d+")


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

    def reading_flag(self) -> str:
        return f"--read-ratio {self.read_ratio:g}" if self.read_ratio else ""

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


def add_arguments(parser: Any) -> None:
    """S3's flags, after the common ones (--bucket comes from the workload's resource kind)."""
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


def read_options(options: Any, name: str, batch: int, payload_bytes: int) -> S3Options:
    """Check the service's own flags (the name is checked already); ConfigError with one clear line."""
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


def check_bucket_name(name: str) -> None:
    reason = None
    if not re.fullmatch(BUCKET_PATTERN, name):
        reason = _BUCKET_NAME_RULES
    elif ".." in name or ".-" in name or "-." in name:
        reason = "no '..', '.-' or '-.'"
    elif _IPV4_RE.fullmatch(name):
        reason = "not shaped like an IP address"
    elif name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        reason = "that prefix or suffix is reserved by AWS"
    if reason:
        raise ConfigError(f"--bucket {name!r} is not a valid S3 bucket name ({reason})")
