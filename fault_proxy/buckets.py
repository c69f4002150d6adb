"""Token buckets per resource, and per partition of a resource (--partitions)."""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping

from writers.faults import KeyedCost, ServiceFaults


class TokenBucket:
    """``rate`` units per second, at most ``burst`` saved up; starts full."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def available(self) -> float:
        self._refill()
        return self.tokens

    def take(self, units: float) -> None:
        self._refill()
        self.tokens -= units


class Buckets:
    """One token bucket per resource, created full on first use."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, resource: str) -> TokenBucket:
        bucket = self._buckets.get(resource)
        if bucket is None:
            bucket = self._buckets[resource] = TokenBucket(self.rate, self.burst)
        return bucket

    def try_take(self, costs: Mapping[str, int]) -> bool:
        """All or nothing: take every resource's units, or none if any bucket is short."""
        if any(self._bucket(name).available() < units for name, units in costs.items()):
            return False
        for name, units in costs.items():
            self._bucket(name).take(units)
        return True

    def take_up_to(self, costs: Mapping[str, int]) -> dict[str, int]:
        """Take as many whole units as each bucket holds, up to the cost: units granted per resource."""
        granted: dict[str, int] = {}
        for name, units in costs.items():
            bucket = self._bucket(name)
            granted[name] = max(0, min(units, int(bucket.available())))
            bucket.take(granted[name])
        return granted


class Partitions:
    """--partitions: per resource, P partitions (a key's partition: CRC-32 of the key mod P),
    each with a write and a read token bucket holding one second of its rate."""

    def __init__(self, count: int, write_units: float | None, read_units: float | None) -> None:
        self.count = count
        self.write_units, self.read_units = write_units, read_units
        self._buckets: dict[tuple[str, int, str], TokenBucket] = {}

    def partition(self, key: str) -> int:
        return zlib.crc32(key.encode()) % self.count

    def _needs(self, faults: ServiceFaults, costs: list[KeyedCost]) -> dict[tuple[str, int, str], float]:
        needs: dict[tuple[str, int, str], float] = {}
        for cost in costs:
            part = self.partition(cost.key)
            if cost.write_units:
                slot = (cost.resource, part, "write")
                needs[slot] = needs.get(slot, 0.0) + cost.write_units
            if cost.read_units:
                slot = (cost.resource, part, "read")
                needs[slot] = needs.get(slot, 0.0) + cost.read_units
        return needs

    def _bucket(self, faults: ServiceFaults, slot: tuple[str, int, str]) -> TokenBucket | None:
        bucket = self._buckets.get(slot)
        if bucket is None:
            own = faults.partition_write_units if slot[2] == "write" else faults.partition_read_units
            rate = (self.write_units if slot[2] == "write" else self.read_units) or own
            if not rate:
                return None  # the service has no partition limit of this kind
            bucket = self._buckets[slot] = TokenBucket(rate, rate)
        return bucket

    def short(self, faults: ServiceFaults, costs: list[KeyedCost]) -> list[str]:
        """The partitions (``table#n``) that cannot take these costs now; none: all can."""
        short = []
        for slot, units in self._needs(faults, costs).items():
            bucket = self._bucket(faults, slot)
            if bucket is not None and bucket.available() < units:
                short.append(f"{slot[0]}#{slot[1]}")
        return short

    def take(self, faults: ServiceFaults, costs: list[KeyedCost]) -> None:
        for slot, units in self._needs(faults, costs).items():
            bucket = self._bucket(faults, slot)
            if bucket is not None:
                bucket.take(units)

    def names(self, costs: list[KeyedCost]) -> list[str]:
        return sorted({f"{cost.resource}#{self.partition(cost.key)}" for cost in costs})
