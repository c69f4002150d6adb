"""The hottest keys of a run, per resource: by acknowledged writes and by throttles.

What CloudWatch Contributor Insights shows on AWS, counted by the load generator. Only
where a service's keys repeat (its workload's `tracks_keys`: the request events then
carry the call's keys). Each process keeps bounded counters (the least counted keys are
dropped once a counter holds too many: the top is approximate, as Contributor Insights'
is); workers send their top keys with every stats report; the master merges them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from aws_locust.context import is_ours

if TYPE_CHECKING:
    from locust.env import Environment

TOP = 10
KEEP = 2_000  # keys kept per counter after a prune
LIMIT = 20_000  # a counter holding more is pruned to KEEP
SENT = 200  # keys a worker sends per counter and report


class HotKeys:
    def __init__(self) -> None:
        self.writes: defaultdict[str, Counter[str]] = defaultdict(Counter)  # service -> key -> acked writes
        self.throttles: defaultdict[str, Counter[str]] = defaultdict(Counter)  # service -> key -> throttled
        self.resources: dict[str, str] = {}  # service -> resource name (the table)

    def on_request(self, request_type: str = "", context: Any = None, **_: Any) -> None:
        keys = context.get("keys") if context.__class__ is dict else None
        if not keys or not is_ours(context):
            return
        if context.get("acked_keys") and not context.get("found", 0) + context.get("not_found", 0):
            self._count(self.writes[request_type], context["acked_keys"])
        if context.get("failure_kind") == "throttled":
            self._count(self.throttles[request_type], keys)

    @staticmethod
    def _count(counter: Counter[str], keys: Any) -> None:
        counter.update(keys)
        if len(counter) > LIMIT:
            kept = counter.most_common(KEEP)
            counter.clear()
            counter.update(dict(kept))

    def take(self, limit: int = SENT) -> dict[str, Any]:
        """What a worker sends: its top keys since the last report, then forgets them."""
        data = {
            kind: {service: counter.most_common(limit) for service, counter in counters.items() if counter}
            for kind, counters in (("writes", self.writes), ("throttles", self.throttles))
        }
        self.writes.clear()
        self.throttles.clear()
        return data

    def merge(self, data: dict[str, Any]) -> None:
        for kind, counters in (("writes", self.writes), ("throttles", self.throttles)):
            for service, pairs in (data.get(kind) or {}).items():
                self._count(counters[service], {str(key): int(count) for key, count in pairs})

    def clear(self) -> None:
        self.writes.clear()
        self.throttles.clear()

    def top(self, n: int = TOP) -> list[dict[str, Any]]:
        """Per service (and its resource): the top keys by writes and by throttles."""
        services = sorted(set(self.writes) | set(self.throttles))
        return [
            {
                "service": service,
                "resource": self.resources.get(service, ""),
                "writes": [[key, count] for key, count in self.writes[service].most_common(n)],
                "throttles": [[key, count] for key, count in self.throttles[service].most_common(n)],
            }
            for service in services
            if self.writes.get(service) or self.throttles.get(service)
        ]

    def summary(self) -> str:
        lines = []
        for entry in self.top():
            where = f"{entry['service']} {entry['resource']}".strip()
            for kind in ("writes", "throttles"):
                if entry[kind]:
                    shown = ", ".join(f"{key} {count}" for key, count in entry[kind])
                    lines.append(f"hottest keys of {where} by {kind}: {shown}")
        return "\n".join(lines)


def attach(environment: Environment, hot: HotKeys) -> None:
    """Merging and reporting; the request listener is added only for runs whose keys repeat
    (the lifecycle does, at each test start: `listen`)."""
    from locust.runners import WorkerRunner

    def report_to_master(client_id: str, data: dict[str, Any]) -> None:
        if hot.writes or hot.throttles:  # nothing to send without keys written again
            data["aws_hot_keys"] = hot.take()

    def worker_report(client_id: str, data: dict[str, Any]) -> None:
        hot.merge(data.get("aws_hot_keys") or {})

    def test_start(**_: Any) -> None:
        if not isinstance(environment.runner, WorkerRunner):
            hot.clear()

    environment.events.report_to_master.add_listener(report_to_master)
    environment.events.worker_report.add_listener(worker_report)
    environment.events.test_start.add_listener(test_start)
