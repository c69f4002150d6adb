"""The Locust user classes: one per strategy, thin; the client funnels every call."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import gevent
from locust import User, constant, task
from locust.env import Environment
from locust.exception import StopUser

from aws_locust import finish
from aws_locust.runtime import ProcessRuntime, runtime_for
from writers import young_gc
from writers.calls import Attempt
from writers.driver import Driver, Totals
from writers.errors import ConfigError
from writers.pricing import bill
from writers.services import Workload
from writers.strategies import STRATEGIES, strategy_class

logger = logging.getLogger("aws_locust")


class WriterClient:
    """A strategy plus the driver; every attempt becomes exactly one request event."""

    def __init__(self, environment: Environment, runtime: ProcessRuntime, strategy: str) -> None:
        self._fire = environment.events.request.fire
        self._suffix = f" [{strategy}]"
        self.runtime = runtime
        self.strategy = strategy_class(strategy)(runtime.endpoint, runtime.strategy_options)
        self.driver = Driver(self.strategy, self._report, runtime.retry_policy)
        young_gc.hold()  # while users write: calls in flight would otherwise be collected again and again

    def write(self, records: Sequence[dict[str, Any]]) -> Totals:
        return self.driver.run(self.runtime.workload.write_calls(records))

    def _report(self, attempt: Attempt) -> None:
        call, error = attempt.call, attempt.error
        billed = bill(call, attempt.response, error)
        self._fire(
            request_type=call.service.name,
            name=call.label + self._suffix,
            response_time=attempt.response_time_ms,
            response_length=attempt.response_length,
            exception=error,
            context={
                "items": call.items,
                "attempt": call.attempt,
                "acked": attempt.acked,
                "acked_keys": attempt.acked_keys,  # for --verify
                "retried_items": attempt.retried_items,
                "given_up_items": attempt.given_up_items,
                "failure_kind": error.kind.value if error else None,
                "billed_units": billed.units,  # in the price table's unit (WRU, request, ...)
                "cost_pusd": billed.pico_usd,
                "units_reported": billed.reported,  # the service said so (DynamoDB ConsumedCapacity)
            },
        )

    def close(self) -> None:
        try:
            self.strategy.close()
        finally:
            young_gc.release()


class AwsUser(User):
    """Writes `--records-per-task` records per task through one strategy."""

    abstract = True
    workload: ClassVar[type[Workload]]
    strategy: ClassVar[str]
    wait_time = constant(0)

    def on_start(self) -> None:
        try:
            self.runtime = runtime_for(self.environment, self.workload)
            self.client = WriterClient(self.environment, self.runtime, self.strategy)
        except ConfigError as exc:
            logger.error("%s: %s", type(self).__name__, exc)
            raise StopUser() from None

    def on_stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    @task
    def write_records(self) -> None:
        budget = self.runtime.budget
        runner = self.environment.runner
        # Users of this process, counting those still to be spawned (a worker's own share).
        sharers = max(runner.user_count, runner.target_user_count) if runner else 1
        settings = self.runtime.settings
        claimed = budget.claim(settings.records_per_task, sharers, settings.batch)
        if claimed:
            totals = self.client.write(self.runtime.records.take(claimed))
            budget.settle(claimed, totals.acked)
        if budget.done:
            finish.quota_reached(self.environment)
        if not claimed:
            gevent.sleep(0.2)  # others are finishing the last records


def user_classes(workload: type[Workload]) -> dict[str, type[AwsUser]]:
    """`SequentialUser`, `ThreadedUser`, ... for one service: one per registered strategy."""
    classes: dict[str, type[AwsUser]] = {}
    for strategy in STRATEGIES:
        name = strategy.capitalize() + "User"
        doc = f"{workload.service.name} writes through the '{strategy}' strategy."
        attrs = {"workload": workload, "strategy": strategy, "__doc__": doc, "__module__": workload.__module__}
        classes[name] = type(name, (AwsUser,), attrs)
    return classes
