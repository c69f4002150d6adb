"""Kinesis's options: on-demand or provisioned streams (--shards), and the stream's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from writers.errors import ConfigError
from writers.services.base import WorkloadOptions
from writers.services.kinesis.calls import MAX_CALL_BYTES, RECORD_OVERHEAD

MAX_SHARDS = 100_000  # CreateStream's ShardCount (accounts start with a quota of a few hundred)
STREAM_PATTERN = r"[a-zA-Z0-9_.-]{1,128}"


@dataclass(frozen=True)
class KinesisOptions(WorkloadOptions):
    shards: int = 0  # 0: an on-demand stream; N: provisioned, with N shards

    @property
    def provisioned(self) -> bool:
        return self.shards > 0


def add_arguments(parser: Any) -> None:
    """The service's own flags (besides --stream)."""
    parser.add_argument(
        "--shards", type=int, default=0, help="0: an on-demand stream (the default); N: provisioned, N shards"
    )


def read_options(options: Any, name: str, batch: int, payload_bytes: int) -> KinesisOptions:
    """Check the service's own flags (the name is checked already); ConfigError with one clear line."""
    shards = getattr(options, "shards", 0)
    if isinstance(shards, bool) or not isinstance(shards, int) or not 0 <= shards <= MAX_SHARDS:
        raise ConfigError(f"--shards must be 0 (on-demand) or a shard count up to {MAX_SHARDS}, not {shards!r}")
    record = payload_bytes + RECORD_OVERHEAD
    if batch > 1 and batch * record > MAX_CALL_BYTES:
        raise ConfigError(
            f"--batch {batch} records of --payload-bytes {payload_bytes} go over the 5 MiB one PutRecords "
            f"may carry: use --batch {MAX_CALL_BYTES // record} or less"
        )
    return KinesisOptions(name, batch, payload_bytes, shards)
