"""The registry of services: name -> workload class. Strategies never appear here."""

from __future__ import annotations

from writers.registry import load_class
from writers.services.base import Workload, WorkloadOptions

SERVICES: dict[str, str] = {
    "dynamodb": "writers.services.dynamodb:DynamoDBWorkload",
    "s3": "writers.services.s3:S3Workload",
    "sqs": "writers.services.sqs:SQSWorkload",
}


def workload_class(name: str) -> type[Workload]:
    return load_class(SERVICES, name, "service")  # type: ignore[no-any-return]


__all__ = ["SERVICES", "Workload", "WorkloadOptions", "workload_class"]
