"""What each load-generator process holds for a run, made after Locust forks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gevent
from gevent.lock import Semaphore

from aws_locust.settings import RunSettings, read_settings
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from writers.per_process import PerProcess
from writers.retry import RetryPolicy
from writers.services import Workload
from writers.services.base import RecordSource
from writers.strategies import StrategyOptions
from writers.target import Endpoint, resolve_endpoint

if TYPE_CHECKING:
    from locust.env import Environment


def format_local_endpoints(endpoints: dict[str, str]) -> str:
    return ",".join(f"{service}={url}" for service, url in sorted(endpoints.items()))


def parse_local_endpoints(value: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in value.split(",") if "=" in part)


def endpoint_for(settings: RunSettings, workload: type[Workload], options: Any) -> Endpoint:
    local = parse_local_endpoints(getattr(options, "local_endpoints", "") or "")
    return resolve_endpoint(
        settings.target,
        workload.service,
        settings.region,
        local_url=local.get(workload.service.boto3_name),
        local_credentials=(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY),
    )


def sent_to(settings: RunSettings, workload: type[Workload], options: Any) -> str:
    """Where this workload's calls go: the local emulator's URL, the URL given, or AWS's endpoint
    for the region (what Locust's Host field shows)."""
    return endpoint_for(settings, workload, options).raw_url


@dataclass
class ProcessRuntime:
    settings: RunSettings
    workload: Workload
    endpoint: Endpoint
    records: RecordSource
    strategy_options: StrategyOptions
    retry_policy: RetryPolicy


# Made under a gevent lock: prepare() may do I/O and yield, and users starting meanwhile wait for this runtime.
_runtimes: PerProcess[tuple[type[Workload], RunSettings], ProcessRuntime] = PerProcess(Semaphore)


def runtime_for(environment: Environment, workload: type[Workload]) -> ProcessRuntime:
    """The process's runtime for these settings (a new one when the web UI changed them)."""
    options = environment.parsed_options
    settings = read_settings(options, workload)

    def make() -> ProcessRuntime:
        index = max(0, getattr(environment.runner, "worker_index", 0))
        instance = workload(settings.workload)
        endpoint = endpoint_for(settings, workload, options)
        instance.prepare(endpoint)
        return ProcessRuntime(
            settings=settings,
            workload=instance,
            endpoint=endpoint,
            # Faker's value pools take ~0.1 s of CPU: a native thread makes them, so the loop
            # (heartbeats, the master's messages) never waits for them.
            records=gevent.get_hub().threadpool.apply(instance.records, (settings.seed, index)),
            strategy_options=StrategyOptions(settings.concurrency, settings.keep_alive, settings.timeout),
            retry_policy=RetryPolicy(max_attempts=settings.max_attempts),
        )

    return _runtimes.get((workload, settings), make)
