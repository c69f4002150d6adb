"""The Locust user classes: one per strategy, thin; the client funnels every call."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, ClassVar

import gevent
from locust import User, constant, task
from locust.env import Environment
from locust.exception import StopUser

from aws_locust.budget import Holder
from aws_locust.context import RequestContext, RowKey
from aws_locust.mix import workloads_of
from aws_locust.process import parts_of
from aws_locust.runtime import ProcessRuntime, runtime_for
from writers import young_gc
from writers.calls import Attempt, Call
from writers.driver import Driver, Totals
from writers.errors import ConfigError
from writers.pacing import Schedule
from writers.services import Workload
from writers.strategies import STRATEGIES, Strategy, strategy_class

logger = logging.getLogger("aws_locust")


def answered_at(attempt: Attempt) -> float:
    """Wall-clock time the attempt's answer came: the strategy's own stamp, not when the
    driver got round to reporting it (later, and by more on a busy machine)."""
    now = time.perf_counter()
    return time.time() - (now - attempt.finished) if attempt.finished else time.time()


class WriterClient:
    """A strategy plus the driver; every attempt becomes exactly one request event.

    In rate mode the driver paces new calls by this user's schedule (its part of the
    process's rate) and each event also carries the intended-time latency."""

    def __init__(self, environment: Environment, runtime: ProcessRuntime, strategy: str) -> None:
        self._fire = environment.events.request.fire
        self._strategy = strategy
        self._rows: dict[tuple[str, str], tuple[RowKey, str]] = {}
        self._bill = runtime.workload.billing.bill  # the service's own rules (writers.pricing)
        self.runtime = runtime
        self.strategy = self.make_strategy(strategy)
        self.schedule: Schedule | None = None
        parts = parts_of(environment)  # once per user: the process's pace and its part of the run
        self._pace = parts.pace
        if parts.share.paced:  # the master said so, with this process's part (aws_locust.shares)
            self.schedule = self._pace.join(parts.share.arrival, runtime.settings.batch, runtime.workload.service.name)
        self.driver = Driver(self.strategy, self._report, runtime.retry_policy, schedule=self.schedule)
        self._track_keys = runtime.workload.tracks_keys
        self.on_acked: Callable[[int], None] | None = None  # counts acknowledgements as they come (--max-records)
        young_gc.hold()  # while users write: calls in flight would otherwise be collected again and again

    def make_strategy(self, strategy: str) -> Strategy:
        """The strategy this client's calls travel on (a pipeline's client routes each step's)."""
        return strategy_class(strategy)(self.runtime.endpoint, self.runtime.strategy_options)

    def write(self, records: Iterator[dict[str, Any]]) -> Totals:
        return self.driver.run(self.runtime.workload.stream_calls(records))

    def _row(self, call: Call) -> tuple[RowKey, str]:
        """The call's row and Locust's request name for it, made once per operation."""
        key = (call.service.name, call.label)
        row = RowKey(key[0], key[1], self._strategy)
        found = self._rows[key] = (row, row.request_name)
        return found

    def _report(self, attempt: Attempt) -> None:
        """Once per attempt: the one request event, with everything our listeners read."""
        call, error, acked = attempt.call, attempt.error, attempt.acked
        if acked and self.on_acked is not None:
            self.on_acked(acked)
        units, pico_usd, reported = self._bill(call, attempt.response, error)
        row, name = self._rows.get((call.service.name, call.label)) or self._row(call)
        context: RequestContext = {
            "row": row,
            "items": call.items,
            "attempt": call.attempt,
            "acked": acked,
            "acked_keys": attempt.acked_keys,  # for --verify
            "acked_versions": attempt.acked_versions,  # where keys repeat: which version of each (--verify)
            "answered_at": answered_at(attempt) if attempt.acked_versions else None,
            "keys": call.keys if self._track_keys else (),  # where keys repeat: the hottest keys are named
            "found": attempt.found,
            "not_found": attempt.not_found,
            "retried_items": attempt.retried_items,
            "given_up_items": attempt.given_up_items,
            "failure_kind": error.kind.value if error else None,
            "billed_units": units,  # in the price table's unit (WRU, request, ...)
            "cost_pusd": pico_usd,
            "units_reported": reported,  # the service said so (DynamoDB ConsumedCapacity)
            "intended_ms": attempt.intended_ms if self.schedule is not None else None,
            "record_ms": attempt.record_ms,
            "late": call.late,
        }
        self._fire(
            request_type=row.service,
            name=name,
            response_time=attempt.response_time_ms,
            response_length=attempt.bytes_received if call.is_read else call.request_bytes,
            exception=error,
            context=context,
        )

    def close(self) -> None:
        try:
            if self.schedule is not None:
                self._pace.leave(self.schedule)
            self.strategy.close()
        finally:
            young_gc.release()


class AwsUser(User):
    """Writes records through one strategy: claims them from the process's budget as it
    goes (`--records-per-task` at a time), generating each only when its call is made."""

    abstract = True
    workload: ClassVar[type[Workload]]
    strategy: ClassVar[str]
    wait_time = constant(0)

    def on_start(self) -> None:
        self.holder = Holder()
        parts = parts_of(self.environment)  # bound once: write_records reads them every run
        self.share, self.drain = parts.share, parts.drain
        # the services this user writes (as Locust shows them): the drain notes when each one's last user ends
        self.services = tuple(w.service.name for w in workloads_of([type(self)], self.environment.parsed_options))
        self.share.wait_for_part()  # paced or not, and how many records: before the first call
        try:
            self.runtime = runtime_for(self.environment, self.workload)
            self.client = self.make_client()
        except ConfigError as exc:
            logger.error("%s: %s", type(self).__name__, exc)
            raise StopUser() from None

    def make_client(self) -> WriterClient:
        """This user's client (a pipeline's user makes one that writes every step)."""
        return WriterClient(self.environment, self.runtime, self.strategy)

    @classmethod
    def warm_runtime(cls, environment: Environment) -> None:
        """Build this process's runtime now, not when the first user starts (see `warm_up`)."""
        runtime_for(environment, cls.workload)

    def on_stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    @task
    def write_records(self) -> None:
        """One driver run for as long as records can be claimed: no pause between claims
        (a paced user's schedule would see one as a stall of the service)."""
        share, holder = self.share, self.holder
        budget = share.budget  # this test run's (a new run assigns a new budget)
        # Acknowledgements counted as they come only where a limit needs them (--max-records).
        self.client.on_acked = partial(budget.ack, holder) if budget.limit is not None else None
        wrote = False

        def records() -> Iterator[dict[str, Any]]:
            nonlocal wrote
            runner = self.environment.runner
            settings, source = self.runtime.settings, self.runtime.records
            drain = self.drain
            while not drain.active:  # the test stops: no new records, the calls in flight are answered
                # Users of this process, counting those still to be spawned (a worker's own share).
                sharers = max(runner.user_count, runner.target_user_count) if runner else 1
                granted = budget.claim(holder, settings.records_per_task, sharers, settings.batch)
                if not granted:
                    return
                wrote = True
                for _ in range(granted):
                    if drain.active:  # ~25 ns a record (a call costs ~100 us of CPU)
                        return
                    yield source.next()

        self.drain.enter(self.services)
        try:
            self.client.write(records())
        finally:
            self.drain.leave(self.services)
        budget.settle(holder)
        if budget.done:
            share.report_done()
        if not wrote or budget.done:
            gevent.sleep(0.2)  # others are finishing the last records, or the run is about to end


def user_classes(workload: type[Workload], prefix: str = "") -> dict[str, type[AwsUser]]:
    """`SequentialUser`, `ThreadedUser`, ... for one service: one per registered strategy
    (with `prefix` "DynamoDB": `DynamoDBSequentialUser`, ...)."""
    classes: dict[str, type[AwsUser]] = {}
    for strategy in STRATEGIES:
        name = prefix + strategy.capitalize() + "User"
        doc = f"{workload.service.name} writes through the '{strategy}' strategy."
        attrs = {"workload": workload, "strategy": strategy, "__doc__": doc, "__module__": workload.__module__}
        classes[name] = type(name, (AwsUser,), attrs)
    return classes


def warm_up(environment: Environment, classes: Iterable[Any], runtimes: bool) -> None:
    """Make now what each user would otherwise make when it starts: its strategy's modules
    imported and (with `runtimes`) the process's runtime built (records source, endpoint).
    A paced user's schedule begins when the user does, so start-up spent inside a user is
    rate the run never offered (~0.5 s for aiohttp's imports alone, seconds on a busy machine)."""
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, AwsUser)) or cls.abstract:
            continue
        strategy_class(cls.strategy)
        if runtimes:
            try:
                cls.warm_runtime(environment)
            except Exception:  # the user meets it again at its start, and says so
                logger.debug("warm-up of %s failed", cls.__name__, exc_info=True)


def tracks_keys(environment: Environment, workload: type[Workload]) -> bool:
    """This process writes keys of `workload` that repeat (the hottest keys are named)."""
    try:
        return runtime_for(environment, workload).workload.tracks_keys
    except Exception:  # bad settings: the users say so when they start
        return False
