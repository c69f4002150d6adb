"""DynamoDB's own flags and their checks: keys, reads, the table's capacity mode."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from writers.errors import ConfigError
from writers.services.base import WorkloadOptions
from writers.services.dynamodb.keys import DISTRIBUTIONS, MAX_KEY_SPACE

MAX_BATCH_WRITE = 25  # BatchWriteItem
MAX_BATCH_GET = 100  # BatchGetItem
BILLING_MODES = ("on-demand", "provisioned")
MAX_CAPACITY = 40_000  # AWS's default per-table quota of each kind of unit
DEFAULT_CAPACITY = 5  # the console's default for a provisioned table
DEFAULT_HOT_KEY_SHARE = 0.5


@dataclass(frozen=True)
class DynamoDBOptions(WorkloadOptions):
    key_space: int = 0  # 0: every key new
    key_distribution: str = "uniform"
    zipf_s: float = 0.99
    hot_key_share: float | None = None  # hotspot only (None: DEFAULT_HOT_KEY_SHARE)
    read_ratio: float = 0.0
    consistent_read: bool = False
    billing_mode: str = "on-demand"
    write_capacity: int | None = None  # provisioned: units per second (None: DEFAULT_CAPACITY)
    read_capacity: int | None = None

    def reading_flag(self) -> str:
        return f"--read-ratio {self.read_ratio:g}" if self.read_ratio else ""

    def __post_init__(self) -> None:
        """The first broken rule raises ConfigError (one line)."""
        if not 0 <= self.key_space <= MAX_KEY_SPACE:
            raise ConfigError(f"--key-space must be between 0 and {MAX_KEY_SPACE:,} (got {self.key_space})")
        if self.key_distribution not in DISTRIBUTIONS:
            raise ConfigError(
                f"--key-distribution must be one of {', '.join(DISTRIBUTIONS)}, not {self.key_distribution!r}"
            )
        if self.key_distribution != "uniform" and not self.key_space:
            raise ConfigError(f"--key-distribution {self.key_distribution} needs --key-space N (0: every key new)")
        if not (0 < self.zipf_s < math.inf):  # also false for NaN
            raise ConfigError(f"--zipf-s must be a positive number (got {self.zipf_s})")
        if self.hot_key_share is not None:
            if self.key_distribution != "hotspot":
                raise ConfigError("--hot-key-share is for --key-distribution hotspot")
            if not 0.0 <= self.hot_key_share <= 1.0:
                raise ConfigError(f"--hot-key-share must be between 0 and 1 (got {self.hot_key_share})")
        if not 0.0 <= self.read_ratio <= 1.0:
            raise ConfigError(f"--read-ratio must be between 0 and 1 (got {self.read_ratio})")
        if self.batch > MAX_BATCH_WRITE and self.read_ratio < 1.0:
            raise ConfigError(
                f"--batch {self.batch}: BatchWriteItem takes up to {MAX_BATCH_WRITE} items; "
                f"batches of up to {MAX_BATCH_GET} are for reads alone (--read-ratio 1)"
            )
        if self.billing_mode not in BILLING_MODES:
            raise ConfigError(f"--billing-mode must be 'on-demand' or 'provisioned', not {self.billing_mode!r}")
        for flag, units in (("--write-capacity", self.write_capacity), ("--read-capacity", self.read_capacity)):
            if units is None:
                continue
            if self.billing_mode == "on-demand":
                raise ConfigError(f"{flag} is for provisioned tables: add --billing-mode provisioned")
            if not 1 <= units <= MAX_CAPACITY:
                raise ConfigError(f"{flag} must be between 1 and {MAX_CAPACITY:,} units per second (got {units})")

    @property
    def provisioned(self) -> bool:
        return self.billing_mode == "provisioned"

    @property
    def write_units(self) -> int:
        return self.write_capacity or DEFAULT_CAPACITY

    @property
    def read_units(self) -> int:
        return self.read_capacity or DEFAULT_CAPACITY


def add_arguments(parser: Any) -> None:
    """The service's own flags (besides --table)."""
    add = parser.add_argument
    add("--key-space", type=int, default=0, help="draw keys from this many distinct keys (0: every key new)")
    add("--key-distribution", default="uniform", help="with --key-space: 'uniform', 'zipfian' or 'hotspot'")
    add("--zipf-s", type=float, default=0.99, help="zipfian exponent (YCSB: 0.99)")
    add(
        "--hot-key-share",
        type=float,
        default=None,
        help=f"hotspot: share of calls that go to the hottest key (0..1, default {DEFAULT_HOT_KEY_SHARE})",
    )
    add(
        "--read-ratio",
        type=float,
        default=0.0,
        help="share of calls (0..1) that read: GetItem, BatchGetItem with --batch",
    )
    add("--consistent-read", action="store_true", default=False, help="strongly consistent reads (twice the units)")
    add("--billing-mode", default="on-demand", help="a table the tool creates: 'on-demand' or 'provisioned'")
    add("--write-capacity", type=int, default=None, help=f"provisioned: write units/s (default {DEFAULT_CAPACITY})")
    add("--read-capacity", type=int, default=None, help=f"provisioned: read units/s (default {DEFAULT_CAPACITY})")


def read_options(options: Any, name: str, batch: int, payload_bytes: int) -> DynamoDBOptions:
    """Check the service's own flags (the name is checked already); ConfigError with one clear line."""

    def number(dest: str, kind: type, default: Any) -> Any:
        value = getattr(options, dest, default)
        if value is None or str(value).strip() in ("", "None"):  # the web UI's form sends unset values so
            return default
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"--{dest.replace('_', '-')} must be a number, not {value!r}") from None

    return DynamoDBOptions(
        resource=name,
        batch=batch,
        payload_bytes=payload_bytes,
        key_space=number("key_space", int, 0),
        key_distribution=str(getattr(options, "key_distribution", "uniform") or "uniform").strip().lower(),
        zipf_s=number("zipf_s", float, 0.99),
        hot_key_share=number("hot_key_share", float, None),
        read_ratio=number("read_ratio", float, 0.0),
        consistent_read=bool(getattr(options, "consistent_read", False)),
        billing_mode=str(getattr(options, "billing_mode", "on-demand") or "on-demand").strip().lower(),
        write_capacity=number("write_capacity", int, None),
        read_capacity=number("read_capacity", int, None),
    )
