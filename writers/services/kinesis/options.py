"""Kinesis's options: on-demand or provisioned streams (--shards), and the stream's name."""

from __future__ import annotations

from dataclasses import dataclass

from writers.services.base import WorkloadOptions

MAX_SHARDS = 100_000  # CreateStream's ShardCount (accounts start with a quota of a few hundred)


STREAM_PATTERN = r"[a-zA-Z0-9_.-]{1,128}"


@dataclass(frozen=True)
class KinesisOptions(WorkloadOptions):
    shards: int = 0  # 0: an on-demand stream; N: provisioned, with N shards

    @property
    def provisioned(self) -> bool:
        return self.shards > 0
