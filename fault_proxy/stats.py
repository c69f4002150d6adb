"""The proxy's counters, per service and resource (and partition): what /__proxy/stats shows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

COUNTERS = ("requests", "forwarded", "throttled", "errors", "dropped", "lost")


class Stats:
    """Counters overall and per resource (``Service:name``)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # upstream_errors: upstream unreachable (answered 502); held_back_items: writes
        # returned as UnprocessedItems by --partial-batches.
        self.totals: dict[str, int] = dict.fromkeys((*COUNTERS, "upstream_errors", "held_back_items"), 0)
        self.by_resource: dict[str, dict[str, int]] = {}
        self.by_partition: dict[str, dict[str, int]] = {}  # "Service:table#n" -> requests, throttled

    def count_partitions(self, counter: str, service: str, partitions: Iterable[str]) -> None:
        for name in partitions:
            entry = self.by_partition.setdefault(f"{service}:{name}", {"requests": 0, "throttled": 0})
            entry[counter] += 1

    def count(self, counter: str, keys: Iterable[str]) -> None:
        self.totals[counter] += 1
        for key in keys:
            resource = self.by_resource.get(key)
            if resource is None:
                resource = self.by_resource[key] = dict.fromkeys(COUNTERS, 0)
            if counter in resource:
                resource[counter] += 1

    def as_json(self) -> dict[str, Any]:
        return {**self.totals, "by_resource": self.by_resource, "by_partition": self.by_partition}
