"""The proxy's configuration: every option with its check, changed live through /__proxy/config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ERROR_STATUSES = (500, 503)


@dataclass(frozen=True)
class FaultConfig:
    """Everything that can be changed at runtime. Rates are 0..1, times in ms."""

    latency_ms: float = 0.0
    connect_latency_ms: float = 0.0
    jitter_ms: float = 0.0
    capacity: float | None = None  # units per second per resource; None: unlimited
    burst: float | None = None  # None: same as capacity
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    error_status: tuple[int, ...] = ERROR_STATUSES
    drop_rate: float = 0.0
    lose_rate: float = 0.0  # writes answered as done but never forwarded: a lost write, for --verify
    partial_batches: bool = False
    seed: int | None = None
    partitions: int = 0  # per resource, by a hash of each item's key; 0: no partition limits
    partition_write_units: float | None = None  # per partition and second; None: the service's figure
    partition_read_units: float | None = None

    @property
    def effective_burst(self) -> float | None:
        return self.burst if self.burst is not None else self.capacity

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["error_status"] = list(self.error_status)
        return out

    def updated(self, changes: Mapping[str, Any]) -> FaultConfig:
        """A copy with ``changes`` applied; ValueError (one line) on a bad name or value."""
        values: dict[str, Any] = {}
        known = {f.name for f in dataclasses.fields(self)}
        for raw_name, raw in changes.items():
            name = str(raw_name).replace("-", "_")
            if name not in known:
                raise ValueError(f"unknown option {raw_name!r}; known: {', '.join(sorted(known))}")
            values[name] = CHECKS[name](name, raw)
        return dataclasses.replace(self, **values)


def _number(name: str, raw: Any, *, low: float = 0.0, high: float | None = None, positive: bool = False) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"{name} must be a number, not {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, not {raw!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be greater than 0, not {raw!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ValueError(f"{name} must be {bounds}, not {raw!r}")
    return value


def _ms(name: str, raw: Any) -> float:
    return _number(name, raw)


def _rate(name: str, raw: Any) -> float:
    return _number(name, raw, high=1.0)


def _optional_positive(name: str, raw: Any) -> float | None:
    return None if raw is None else _number(name, raw, positive=True)


def _statuses(name: str, raw: Any) -> tuple[int, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    try:
        codes = tuple(int(str(item).strip()) for item in items)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a comma-separated list of {ERROR_STATUSES}, not {raw!r}") from None
    if not codes or any(code not in ERROR_STATUSES for code in codes):
        raise ValueError(f"{name} must list only 500 and/or 503, not {raw!r}")
    return codes


def _flag(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    raise ValueError(f"{name} must be true or false, not {raw!r}")


def _seed(name: str, raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"{name} must be an integer, not {raw!r}")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None


CHECKS = {
    "latency_ms": _ms,
    "connect_latency_ms": _ms,
    "jitter_ms": _ms,
    "capacity": _optional_positive,
    "burst": _optional_positive,
    "throttle_rate": _rate,
    "error_rate": _rate,
    "error_status": _statuses,
    "drop_rate": _rate,
    "lose_rate": _rate,
    "partial_batches": _flag,
    "seed": _seed,
    "partitions": lambda name, raw: int(_number(name, raw, high=100_000)),
    "partition_write_units": _optional_positive,
    "partition_read_units": _optional_positive,
}
