"""The registry of services: every module or package in writers/services/ but `base` is one.

A service is named by its module ("dynamodb") and says what it is with ``WORKLOAD``,
its Workload class: flags and option checks, calls, provisioning, billing, local
emulators, read-back, fault answers. Glue asks the registry and names no service, so
a new service is a new module here (and a locustfile). Modules are imported on first
use: a missing optional package only matters to the service that needs it.

Every look-up by service lives here, so that what a service uses (writers.emulators,
writers.pricing) never imports the registry back: which emulators a service has and
starting them by service name, and a service's billing and prices.
"""

from __future__ import annotations

import functools
import pkgutil
from collections.abc import Iterable, Mapping, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any

from writers import pricing
from writers.emulators import LOOPBACK, Emulator, EmulatorError, RunningEmulator, start_one_of
from writers.emulators.ports import check_bind, check_int
from writers.errors import ConfigError
from writers.pricing import NOTHING, Bill, Billing, Price
from writers.services.base import Workload, WorkloadOptions

if TYPE_CHECKING:
    from writers.calls import Call
    from writers.errors import AwsCallError

_NOT_SERVICES = frozenset({"base"})  # the contract every service fulfils

SERVICES: tuple[str, ...] = tuple(
    sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_SERVICES and not m.name.startswith("_"))
)


def workload_class(name: str) -> type[Workload]:
    """The service called `name` ("dynamodb"): its Workload class."""
    if name not in SERVICES:
        raise ConfigError(f"unknown service {name!r}; choose from {', '.join(SERVICES)}")
    workload: type[Workload] = import_module(f"{__name__}.{name}").WORKLOAD
    return workload


def workloads() -> list[type[Workload]]:
    """Every service, in registry order."""
    return [workload_class(name) for name in SERVICES]


def service_named(shown: str) -> type[Workload] | None:
    """The service Locust shows as `shown` ("DynamoDB"), or None."""
    return next((w for w in workloads() if w.service.name == shown), None)


def display_name(service: str) -> str:
    """The service as Locust shows it ("DynamoDB"); a name the registry does not know, as given."""
    return workload_class(service).service.name if service in SERVICES else service


# --------------------------------------------------------------------------- emulators, by service


def _emulated(service: str) -> type[Workload]:
    """The service `service` names, any case; an unknown one is an EmulatorError."""
    key = str(service).lower()
    if key not in SERVICES:
        raise EmulatorError(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
    return workload_class(key)


def emulators_for(service: str) -> tuple[Emulator, ...]:
    """The emulators of ``service``, most preferred first."""
    return _emulated(service).emulators


def emulator_names(service: str) -> tuple[str, ...]:
    return tuple(emulator.name for emulator in emulators_for(service))


def all_emulators() -> dict[str, Emulator]:
    """Every emulator any service names, by name."""
    return {e.name: e for workload in workloads() for e in workload.emulators}


def find_emulator(name: str) -> Emulator:
    emulators = all_emulators()
    emulator = emulators.get(name)
    if emulator is None:
        raise EmulatorError(f"unknown emulator {name!r}; choose from {', '.join(emulators)}")
    return emulator


def why_unavailable(name: str) -> str | None:
    """None if emulator ``name`` can run on this machine, else why not."""
    return find_emulator(name).unavailable()


def available_emulators(service: str) -> list[str]:
    """Emulators that can run here for ``service``, most preferred first."""
    return [e.name for e in emulators_for(service) if e.unavailable() is None]


def port_offsets() -> dict[str, int]:
    """With ``port_base`` N, each service's client-facing port is N + its offset."""
    return {name: workload_class(name).local_port_offset for name in SERVICES}


def max_port_base() -> int:
    return 65535 - max(port_offsets().values())


def check_port_base(port_base: object, what: str = "port_base") -> int:
    """A port base: each service on it + its offset (`port_offsets`), all within 1..65535."""
    return check_int(port_base, 1, max_port_base(), what)


def start_emulator(
    service: str,
    *,
    prefer: str | None = None,
    timeout: float = 30.0,
    bind: str = LOOPBACK,
    port: int | None = None,
) -> RunningEmulator:
    """Start the best available emulator for ``service`` and wait until it answers
    (writers.emulators.start_one_of: ``prefer``, ``bind`` and ``port`` are explained there)."""
    workload = _emulated(service)
    return start_one_of(
        workload.emulators,
        service=str(service).lower(),
        shown=workload.service.name,
        prefer=prefer,
        timeout=timeout,
        bind=bind,
        port=port,
    )


def start_emulators(
    services: Sequence[str],
    *,
    prefer: str | None = None,
    timeout: float = 30.0,
    bind: str = LOOPBACK,
    port_base: int | None = None,
) -> list[RunningEmulator]:
    """Start one emulator per service; on any failure stop those already started.

    With ``port_base`` N, each service listens on N + its offset (``port_offsets``:
    DynamoDB on N, S3 on N + 1, ...), whichever of them are asked for.
    """
    keys = [str(service).lower() for service in services]
    for key in keys:
        _emulated(key)  # an unknown service: before anything starts
    bind = check_bind(bind)
    if port_base is not None:
        port_base = check_port_base(port_base)
    offsets = port_offsets()
    started: list[RunningEmulator] = []
    try:
        for key in keys:
            port = None if port_base is None else port_base + offsets[key]
            started.append(start_emulator(key, prefer=prefer, timeout=timeout, bind=bind, port=port))
    except BaseException:
        for emulator in started:
            emulator.stop()
        raise
    return started


def banner(emulators: Iterable[RunningEmulator]) -> str:
    """One line per emulator: ``DynamoDB -> dynalite at http://127.0.0.1:45123``."""
    return "\n".join(f"{display_name(e.service)} -> {e.name} at {e.endpoint}" for e in emulators)


# --------------------------------------------------------------------------- billing, by service


@functools.cache
def billings() -> Mapping[str, Billing]:
    """Every service's billing, by the name Locust shows."""
    return {workload.service.name: workload.billing for workload in workloads()}


def billing_for(service: str) -> Billing | None:
    return billings().get(service)


def bill(call: Call, response: Mapping[str, Any] | None, error: AwsCallError | None = None) -> Bill:
    """What one attempt of `call` is billed, by its service's rules (once per call, on the load generator)."""
    billing = billings().get(call.service.name)
    return NOTHING if billing is None else billing.bill(call, response, error)


def price_for(service: str, operation: str) -> Price | None:
    """The price of one unit of this operation, or None if its service's table does not know it."""
    billing = billings().get(service)
    return None if billing is None else billing.price_for(operation)


def prices_as_of() -> str:
    """The oldest date any service's prices were checked: the table holds at least since then."""
    return min(billing.as_of for billing in billings().values())


def price_table(services: Iterable[str] | None = None) -> dict[str, Any]:
    """The price table as data (writers.pricing.table), dated by every service's prices;
    `services`: only their prices (a run's report lists the services it used)."""
    wanted = None if services is None else set(services)
    chosen = [b for b in billings().values() if wanted is None or b.service in wanted]
    return pricing.table(chosen, prices_as_of())


__all__ = [
    "SERVICES",
    "Workload",
    "WorkloadOptions",
    "all_emulators",
    "available_emulators",
    "banner",
    "bill",
    "billing_for",
    "billings",
    "check_port_base",
    "display_name",
    "emulator_names",
    "emulators_for",
    "find_emulator",
    "max_port_base",
    "port_offsets",
    "price_for",
    "price_table",
    "prices_as_of",
    "service_named",
    "start_emulator",
    "start_emulators",
    "why_unavailable",
    "workload_class",
    "workloads",
]
