"""The registry of services: name -> workload class. Strategies never appear here."""

from __future__ import annotations

from importlib import import_module

from writers.errors import ConfigError
from writers.services.base import Workload, WorkloadOptions

SERVICES: dict[str, str] = {
    "dynamodb": "writers.services.dynamodb:DynamoDBWorkload",
    "s3": "writers.services.s3:S3Workload",
    "sqs": "writers.services.sqs:SQSWorkload",
}


def workload_class(name: str) -> type[Workload]:
    try:
        module, cls = SERVICES[name].split(":")
    except KeyError:
        raise ConfigError(f"unknown service {name!r}; choose from {', '.join(SERVICES)}") from None
    return getattr(import_module(module), cls)  # type: ignore[no-any-return]


__all__ = ["SERVICES", "Workload", "WorkloadOptions", "workload_class"]
