"""What one of our request events carries, defined once.

Locust's request event has `request_type` (the service), `name` (`Operation [strategy]`),
`response_time` (the service time, ms), `response_length` and `exception`; everything
else about the call travels in `context`. The tally, the latency histograms, `--verify`
and the metrics read these keys and no others. A row of every table is a `RowKey`, never
a `"Service Operation [strategy]"` text parsed back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypedDict


class RowKey(NamedTuple):
    """One row of the tables: a service's operation through one strategy."""

    service: str  # "DynamoDB"
    operation: str  # "PutItem"
    strategy: str  # "gevent"

    @property
    def name(self) -> str:
        """As Locust shows it (request type + name): "DynamoDB PutItem [gevent]"."""
        return f"{self.service} {self.operation} [{self.strategy}]"

    @property
    def request_name(self) -> str:
        """Locust's request name: "PutItem [gevent]"."""
        return f"{self.operation} [{self.strategy}]"


class RequestContext(TypedDict):
    row: RowKey
    items: int  # items the call carried (a batch's size)
    attempt: int  # 1 for the first attempt of a call
    acked: int  # records the service acknowledged
    acked_keys: tuple[str, ...]  # which (for --verify)
    acked_versions: tuple[str, ...]  # their versions, where keys are written again (--key-space)
    answered_at: float | None  # with acked_versions: time.time() when the answer came (not when reported)
    keys: tuple[str, ...]  # every key the call carried, where keys repeat (hot keys); else empty
    found: int  # reads: items the service had
    not_found: int  # reads: items it did not have
    retried_items: int  # items to be sent again (retry, or a batch's unprocessed part)
    given_up_items: int  # items given up for good
    failure_kind: str | None  # throttled, client, server, network; None on success
    billed_units: float  # in the price table's unit (WRU, request, ...)
    cost_pusd: int  # pico-dollars
    units_reported: bool  # the service said so (DynamoDB ConsumedCapacity)
    intended_ms: float | None  # rate mode: from the call's intended start to its answer
    record_ms: float | None  # acked records: from their first call's intended start to this answer
    late: bool  # rate mode: a new call whose intended start found every slot busy


def is_ours(context: object) -> bool:
    """A request event fired by our users (other plug-ins may fire their own)."""
    return isinstance(context, dict) and isinstance(context.get("row"), RowKey)


def listen(hook: Any, listener: Callable[..., Any], on: bool) -> None:
    """Keep `listener` on Locust's event `hook` only while its feature is on: every listener
    of the request event runs once per call, so a feature that is off must not be there."""
    handlers = hook._handlers
    if on and listener not in handlers:
        hook.add_listener(listener)
    elif not on and listener in handlers:
        hook.remove_listener(listener)
