"""Pipelines: each record written through an ordered chain of services, as an application would.

`--pipeline dynamodb,s3,sqs`: a record is first written to the first service; when that
service acknowledges it, the next service's write for it is made, and so on. Each step's
call is built by its own service (`Workload.write_calls`, from that service's own record
stream: each service writes the shape it knows), and the chain travels through the driver's
follow-up mechanism (`Settlement.next_calls`): a step's call is a follow-up of the last
step's acknowledgement, so

- a step that fails is retried on its own (the driver retries that call; earlier steps
  are not written again), and a record given up at a step goes no further;
- the end-to-end record latency is the driver's own `record_ms` at the last step: from the
  first step's first intended start (the pacer's, with --rate) to the last acknowledgement,
  across every retry and every step.

Nothing here is on the path of a run that is not a pipeline: a call joins a chain by
becoming an instance of a subclass of its own class (`chain_class`) whose `settle` adds the
next step. The driver, strategies and services are unchanged.

A user sends each step on its own strategy, bound to that step's endpoint: `StepRouter`
holds one strategy instance per step and hands each call to its service's. Strategies that
can collect each other's answers (`Strategy.share_collect`: gevent's, one multiplexer for
every step) are waited on once; the others in turn, a short slice each.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from writers.calls import Attempt, Call, Settlement
from writers.errors import ConfigError
from writers.services import SERVICES, Workload
from writers.services.base import RecordSource
from writers.strategies.base import Strategy

DEFAULT_PIPELINE = "dynamodb,s3,sqs"
# While calls of several steps are in flight on strategies that cannot collect each other's
# answers (Strategy.share_collect: ours all can, or have one call in flight), a user waits on
# one step's strategy at a time, this long, then looks at the others.
POLL_SLICE = 0.0005  # seconds


def parse_pipeline(text: str) -> tuple[str, ...]:
    """'dynamodb,s3,sqs' -> ("dynamodb", "s3", "sqs"); ConfigError (one line) if it is not a pipeline."""
    steps = tuple(part.strip().lower() for part in str(text).split(","))
    if not any(steps) or "" in steps:
        raise ConfigError(f"--pipeline {text!r}: give services separated by commas, like {DEFAULT_PIPELINE}")
    for step in steps:
        if step not in SERVICES:
            raise ConfigError(f"--pipeline: unknown service {step!r}; choose from {', '.join(SERVICES)}")
    repeated = sorted({step for step in steps if steps.count(step) > 1})
    if repeated:
        raise ConfigError(f"--pipeline {text!r}: {', '.join(repeated)} appears more than once (each step once)")
    return steps


class Link:
    """Where a chained call stands: its pipeline and its step (0 = first). One per step, shared."""

    __slots__ = ("last", "pipeline", "step")

    def __init__(self, pipeline: Pipeline, step: int) -> None:
        self.pipeline = pipeline
        self.step = step
        self.last = step == len(pipeline.workloads) - 1


def link_of(call: Call) -> Link | None:
    """The call's place in a pipeline; None for a call of no pipeline (e.g. an aborted upload's cleanup)."""
    link: Link | None = getattr(call, "link", None)
    return link


@functools.cache
def chain_class(cls: type[Call]) -> type[Call]:
    """`cls`, whose acknowledged records go on to the next step of their pipeline."""

    def settle(self: Call, response: dict[str, Any]) -> Settlement:
        settlement = cls.settle(self, response)
        link: Link = self.link  # type: ignore[attr-defined]
        pipeline = link.pipeline
        for call in settlement.next_calls:  # the step's own next calls (an upload's parts): the same step
            pipeline.attach(call, link.step)
        if settlement.acked and not link.last:
            settlement.next_calls.extend(pipeline.step_calls(link.step + 1, settlement.acked))
        return settlement

    namespace = {"settle": settle, "__module__": cls.__module__, "__doc__": cls.__doc__}
    chained: type[Call] = type(cls.__name__, (cls,), namespace)  # ABCMeta, as its base: type() defers to it
    return chained


class Pipeline:
    """One user's pipeline: each step's service (prepared, for this process) and its records."""

    def __init__(self, workloads: Sequence[Workload], records: Sequence[RecordSource]) -> None:
        self.workloads = list(workloads)
        self.records = list(records)
        self.names = [workload.service.name for workload in self.workloads]
        self.links = [Link(self, step) for step in range(len(self.workloads))]

    def attach(self, call: Call, step: int) -> Call:
        call.__class__ = chain_class(type(call))
        call.link = self.links[step]  # type: ignore[attr-defined]
        return call

    def step_calls(self, step: int, records: int = 1) -> list[Call]:
        """The calls of `step` for `records` records that the step before acknowledged."""
        source, attach = self.records[step], self.attach
        made = self.workloads[step].write_calls(source.take(records))
        return [attach(call, step) for call in made]

    def first_calls(self, records: Iterable[dict[str, Any]]) -> Iterator[Call]:
        """The first step's calls, one record at a time, as the records come."""
        write, attach = self.workloads[0].write_calls, self.attach
        for record in records:
            for call in write((record,)):
                yield attach(call, 0)


class StepRouter(Strategy):
    """One user's strategy for every step: each call goes to its own service's strategy.

    At most `concurrency` calls in flight across all steps (the user's --concurrency)."""

    name = "pipeline"

    def __init__(self, strategies: dict[str, Strategy]) -> None:
        first = next(iter(strategies.values()))
        super().__init__(first.endpoint, first.options)
        self._by_service = strategies
        self._limit = first.concurrency
        # Each service's collector: the first strategy that collects its answers too, or its own.
        collectors: list[Strategy] = []
        self._collector: dict[str, Strategy] = {}
        for name, strategy in strategies.items():
            collector = next((c for c in collectors if c.share_collect(strategy)), None)
            if collector is None:
                collectors.append(strategy)
                collector = strategy
            self._collector[name] = collector
        self._in_flight = dict.fromkeys(collectors, 0)
        self._turn = 0

    @property
    def concurrency(self) -> int:
        return self._limit

    def prepare(self, call: Call) -> None:
        self._by_service[call.service.name].prepare(call)

    def start(self, call: Call) -> None:
        name = call.service.name
        self._by_service[name].start(call)
        self._in_flight[self._collector[name]] += 1

    def collect(self, timeout: float | None) -> list[Attempt]:
        busy = [collector for collector, n in self._in_flight.items() if n]
        if not busy:
            return []
        if len(busy) == 1:
            attempts = busy[0].collect(timeout)
        else:
            attempts = self._collect_any(busy, timeout)
        for attempt in attempts:
            self._in_flight[self._collector[attempt.call.service.name]] -= 1
        return attempts

    def _collect_any(self, busy: list[Strategy], timeout: float | None) -> list[Attempt]:
        """What any of several strategies has answered: each is asked without waiting, then
        one (in turn) waits a short slice, until an answer comes or `timeout` has passed."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            attempts: list[Attempt] = []
            for strategy in busy:
                attempts += strategy.collect(0.0)
            if attempts:
                return attempts
            remaining = POLL_SLICE if end is None else min(POLL_SLICE, end - time.monotonic())
            if remaining <= 0:
                return attempts
            self._turn = (self._turn + 1) % len(busy)
            attempts = busy[self._turn].collect(remaining)
            if attempts:
                return attempts

    def close(self) -> None:
        for strategy in self._by_service.values():
            strategy.close()
