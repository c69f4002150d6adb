"""What the calls of a run cost on AWS: the services' billing rules at list prices, summed.

Each service owns its billing (its `Workload.billing`): list prices for **us-east-1**, as
published on its AWS pricing page and checked on the date it names, and the rules that
turn one call and its answer into billed units. Free tiers, storage, data transfer and
KMS are not counted: the estimate is what the *requests* of the run cost. Prices change;
check them before relying on a figure.

This module holds what the services share (a price, a bill, the default rule: one
request per call that reached the service) and the shape of the price table. It names
no service and does not look services up: the registry does (writers.services: the
bill of one call, the price of an operation, the whole price table).

Costs are kept as integers of pico-dollars (1e-12 USD) so that sums stay exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from writers.errors import AwsCallError, FailureKind

if TYPE_CHECKING:
    from writers.calls import Call

PRICES_REGION = "us-east-1"
PICO_PER_USD = 10**12


@dataclass(frozen=True)
class Price:
    unit: str  # what is counted: "WRU", "RRU", "request"
    usd_per_million: float
    note: str
    pico_usd_per_unit: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pico_usd_per_unit", self.usd_per_million * PICO_PER_USD / 1_000_000)


class HourlyCharge(NamedTuple):
    """A charge for every hour a resource exists, whatever is sent to it (Kinesis shard-hours)."""

    service: str
    what: str  # the unit of the price: "shard-hour"
    quantity: float  # how many are billed at once: 4 shards
    price: Price  # per unit-hour

    def cost_usd(self, seconds: float) -> float:
        return self.quantity * seconds / 3600 * self.price.usd_per_million / 1_000_000


class Bill(NamedTuple):
    units: float  # in the price's unit (WRU, RRU, request)
    pico_usd: int
    reported: bool  # units as the service reported them (DynamoDB ConsumedCapacity)


NOTHING = Bill(0.0, 0, False)


def reached_service(response: Mapping[str, Any] | None, error: AwsCallError | None) -> bool:
    """False for a call that failed on the network: it never reached the service."""
    return response is not None or error is None or error.kind is not FailureKind.NETWORK


@dataclass(frozen=True)
class Billing:
    """One service's billing: its prices by operation and the rule that bills a call.

    The default rule counts one request per call that reached the service, failed or
    not; services bill otherwise by overriding `bill`.
    """

    service: str  # as Locust shows it: "S3"
    source: str  # the AWS pricing page the prices come from
    as_of: str  # the date they were checked there
    prices: Mapping[str, Price]  # operation -> price
    reports_units: bool = False  # the service reports billed units in its answers (DynamoDB)

    def price_for(self, operation: str) -> Price | None:
        return self.prices.get(operation)

    def bill(self, call: Call, response: Mapping[str, Any] | None, error: AwsCallError | None = None) -> Bill:
        """What one attempt of `call` is billed: units, cost, and whether the service said so."""
        price = self.prices.get(call.operation)
        if price is None or not reached_service(response, error):
            return NOTHING
        return Bill(1.0, round(price.pico_usd_per_unit), False)

    def hourly(self, options: Any) -> list[HourlyCharge]:
        """What the run's resource (its options: WorkloadOptions) costs per hour it exists; most bill none."""
        return []

    def price_rows(self) -> list[dict[str, Any]]:
        """The prices as the price table lists them (services with more than one price per operation add rows)."""
        return [
            {
                "service": self.service,
                "operation": o,
                "unit": p.unit,
                "usd_per_million": p.usd_per_million,
                "note": p.note,
            }
            for o, p in sorted(self.prices.items())
        ]


# --------------------------------------------------------------------------- the price table


def table(billings: Iterable[Billing], as_of: str) -> dict[str, Any]:
    """The price table of `billings` as data, with the region and the date it holds since
    (reports and the web UI show it; writers.services.price_table gives the services' own)."""
    chosen = sorted(billings, key=lambda b: b.service)
    return {
        "region": PRICES_REGION,
        "as_of": as_of,
        "pricing": "on-demand / standard list prices; free tiers, storage and data transfer not included",
        "sources": {b.service: b.source for b in chosen},
        "checked": {b.service: b.as_of for b in chosen},
        "prices": [row for b in chosen for row in b.price_rows()],
    }


def hourly_rows(charges: list[HourlyCharge], seconds: float) -> list[dict[str, Any]]:
    """The hourly charges of a run that lasted `seconds`, as the live table and reports list them."""
    return [
        {
            "service": c.service, "what": c.what, "quantity": c.quantity, "hours": round(seconds / 3600, 6),
            "cost_usd": c.cost_usd(seconds),
        }
        for c in charges
    ]  # fmt: skip


def cost_usd(units: float, price: Price | None) -> float:
    return 0.0 if price is None else units * price.usd_per_million / 1_000_000
