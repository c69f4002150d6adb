"""The registry of services: every module or package in writers/services/ but `base` is one.

A service is named by its module ("dynamodb") and says what it is with ``WORKLOAD``,
its Workload class: flags and option checks, calls, provisioning, billing, local
emulators, read-back, fault answers. Glue asks the registry and names no service, so
a new service is a new module here (and a locustfile). Modules are imported on first
use: a missing optional package only matters to the service that needs it.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

from writers.errors import ConfigError
from writers.services.base import Workload, WorkloadOptions

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


def service_named(display_name: str) -> type[Workload] | None:
    """The service Locust shows as `display_name` ("DynamoDB"), or None."""
    return next((w for w in workloads() if w.service.name == display_name), None)


__all__ = ["SERVICES", "Workload", "WorkloadOptions", "service_named", "workload_class", "workloads"]
