"""Locust glue shared by every service's locustfile.

A locustfile names its service; this package adds the flags, starts local emulators,
provisions, and builds one user class per writer strategy.
"""

from __future__ import annotations

from typing import Any

from writers.services import workload_class, workloads

_lifecycle: Any = None


def process_lifecycle() -> Any:
    """The process's one Lifecycle (aws_locust.lifecycle), made on first use."""
    global _lifecycle
    from aws_locust.lifecycle import Lifecycle

    if _lifecycle is None:
        _lifecycle = Lifecycle()
    return _lifecycle


def service_users(service: str, module: str, prefix: str = "") -> dict[str, Any]:
    """User classes for `service` ("dynamodb", ...), to place in the locustfile's namespace
    (`prefix` before each class name: several services' classes in one locustfile)."""
    from aws_locust.users import user_classes

    run = process_lifecycle()
    workload = workload_class(service)
    # At import, before a worker connects and before --processes forks (the children inherit):
    # what a worker would otherwise make while handling its spawn message or its first answers.
    workload.make_shared_data()
    workloads()  # every service module: pricing looks them all up at the first answer
    run.register(workload)
    classes = user_classes(workload, prefix)
    for cls in classes.values():
        cls.__module__ = module
    return classes


def mixed_users(module: str) -> dict[str, Any]:
    """User classes of every service, named `<Service><Strategy>User` (`DynamoDBGeventUser`,
    `S3AiohttpUser`, ...), to place in the locustfile's namespace: a run picks any of them."""
    from writers.services import SERVICES

    classes: dict[str, Any] = {}
    for service in SERVICES:
        classes.update(service_users(service, module, prefix=workload_class(service).service.name))
    return classes
