"""Locust glue of pipelines (locustfiles/pipeline.py): each record through an ordered chain of services.

What is here, and nowhere else:
- `--pipeline` (default dynamodb,s3,sqs), checked before the swarm (one line, exit 2);
- the user classes (`GeventUser`, `AiohttpUser`, ... one per strategy, as every locustfile has),
  each step on the user's strategy (writers.pipeline: the chain itself);
- the pipeline row (`PipelineTally`): records through the last step, records given up by
  step, and the end-to-end record latency as an HdrHistogram that workers send to the master
  in their stats reports and the master adds up, as aws_locust.latency does for the rows;
- `--summary-json`'s `pipeline` section, the bottleneck step, and the run's achieved rate
  counted in records through the pipeline (not the acknowledgements of every step); the same
  row in the report (it is the summary's), in the AWS tab (`/aws/stats`' `pipeline`) and in
  /metrics (`aws_load_pipeline_*`), all read on the master from the merged tally.

Several services in one process: every service's flags in one parser (`add_service_arguments`,
with aws_locust.mix.FirstFlagWins, as mixed runs use it), only the pipeline's services
started, provisioned and read back (`use_services`).
"""

from __future__ import annotations

import logging
import sys
from array import array
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from hdrh.histogram import HdrHistogram
from locust import events
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from aws_locust import process_lifecycle
from aws_locust.buckets import BucketReader
from aws_locust.context import RowKey
from aws_locust.latency import add_sparse, new_histogram, record_all, release, sparse, summarize
from aws_locust.mix import FirstFlagWins, parse_per_service
from aws_locust.process import parts_of
from aws_locust.prometheus import Exposition, label_text
from aws_locust.runtime import ProcessRuntime, runtime_for
from aws_locust.settings import GROUP_PREFIX, WithEnvVars, service_group
from aws_locust.users import AwsUser, WriterClient
from writers.calls import Attempt
from writers.driver import Totals
from writers.errors import ConfigError
from writers.pipeline import DEFAULT_PIPELINE, Link, Pipeline, StepRouter, link_of, parse_pipeline
from writers.services import Workload, bill, workload_class, workloads
from writers.strategies import STRATEGIES, Strategy, strategy_class

logger = logging.getLogger("aws_locust")
MESSAGE = "aws_pipeline"


def add_arguments(parser: Any, **_: Any) -> None:
    add_service_arguments(parser)
    WithEnvVars(parser.add_argument_group(f"{GROUP_PREFIX} pipeline options")).add_argument(
        "--pipeline",
        default=DEFAULT_PIPELINE,
        help="pipeline.py: the services each record is written to, in order (any order and subset, each once)",
    )


def read_pipeline(options: Any) -> tuple[str, ...]:
    """The pipeline's steps from the flags; ConfigError (one line) if they make no pipeline."""
    given = getattr(options, "pipeline", None)
    steps = parse_pipeline(DEFAULT_PIPELINE if given is None else str(given))
    if int(getattr(options, "batch", 1) or 1) != 1:
        raise ConfigError("--pipeline writes one record per call at each step: --batch must be 1")
    if parse_per_service("--rate", getattr(options, "rate", "")) is not None:
        raise ConfigError("--rate of a pipeline is its records/s through every step: one figure, not one per service")
    return steps


def check_pipeline(options: Any) -> tuple[str, ...]:
    """`read_pipeline`, and each step's own flags read (once, where the flags are checked:
    at start-up and the web UI's Start): a step must write the record it passes on."""
    steps = read_pipeline(options)
    payload_bytes = int(getattr(options, "payload_bytes", 0) or 0)
    for step in steps:
        reading = workload_class(step).read_options(options, 1, payload_bytes).reading_flag()
        if reading:
            raise ConfigError(f"--pipeline: each step writes the record it passes on: {step} cannot run with {reading}")
    return steps


# ---------------------------------------------------------------- several services in one process


def add_service_arguments(parser: Any) -> None:
    """Every service's flags in one parser (--table, --bucket, --queue, ...): which services a
    run uses is known only once the flags are read (`use_services`)."""
    for workload in workloads():
        group = parser.add_argument_group(service_group(workload.service.name))
        workload.add_arguments(WithEnvVars(FirstFlagWins(group)))


def use_services(run: Any, services: tuple[str, ...]) -> None:
    """The run's services from now on: only theirs are started, provisioned and read back.
    Called before the lifecycle's own start-up, and before each test's (the web UI may
    have changed the flags)."""
    chosen = [workload_class(name) for name in services]
    for workload in chosen:
        workload.make_shared_data()
    run.workloads[:] = chosen


# ---------------------------------------------------------------- the pipeline row


class PipelineTally:
    """Records through the pipeline, records given up at each step, the record latency.

    Every process counts its own users' records; a worker sends what it counted since its
    last stats report (counts, and its histogram as `sparse` buckets); the master adds them."""

    def __init__(self) -> None:
        self.steps: tuple[str, ...] = ()
        self.acked = 0
        self.given_up: list[int] = []
        self.values: array[float] = array("d")  # record latencies (ms) not yet folded
        self.histogram: HdrHistogram = new_histogram()
        self.incoming: list[list[Any]] = []  # master: the workers' histograms, added when read
        self.worker = False

    def set_steps(self, steps: tuple[str, ...]) -> None:
        if steps != self.steps:
            self.steps = steps
            self.clear()

    def note(self, attempt: Attempt, link: Link) -> int:
        """Count one attempt of a pipeline's call; returns the records it took through the last step."""
        if attempt.given_up_items:
            given_up = self.given_up
            while len(given_up) <= link.step:
                given_up.append(0)
            given_up[link.step] += attempt.given_up_items
        if not (link.last and attempt.acked):
            return 0
        self.acked += attempt.acked
        if attempt.record_ms is not None:
            self.values.append(attempt.record_ms)
        return attempt.acked

    def fold(self) -> None:
        if self.values:
            record_all(self.histogram, self.values)
            del self.values[:]
        if self.incoming:
            add_sparse([self.histogram], self.incoming)
            self.incoming.clear()

    def take_message(self) -> dict[str, Any]:
        """A worker's report: what it counted since the last one."""
        self.fold()
        if not (self.acked or any(self.given_up) or self.histogram.get_total_count()):
            return {}
        message = {"acked": self.acked, "given_up": list(self.given_up)}
        if self.histogram.get_total_count():
            message["histogram"] = sparse(self.histogram)
        self.clear()
        return message

    def merge_message(self, message: dict[str, Any]) -> None:
        self.acked += int(message.get("acked", 0))
        for step, count in enumerate(message.get("given_up", [])):
            while len(self.given_up) <= step:
                self.given_up.append(0)
            self.given_up[step] += int(count)
        if message.get("histogram"):
            self.incoming.append(message["histogram"])

    def clear(self, **_: Any) -> None:
        self.acked = 0
        self.given_up = []
        del self.values[:]
        self.incoming.clear()
        release([self.histogram])
        self.histogram = new_histogram()

    def record_latency(self) -> dict[str, float]:
        self.fold()
        pct = summarize(self.histogram)
        return {key: pct[key] for key in ("p50", "p90", "p99", "p99.9", "max") if key in pct}

    def given_up_by_step(self) -> dict[str, int]:
        return {step: self.given_up[i] if i < len(self.given_up) else 0 for i, step in enumerate(self.steps)}

    def attach(self, environment: Environment) -> None:
        runner = environment.runner
        self.worker = isinstance(runner, WorkerRunner)

        def report_to_master(client_id: str, data: dict[str, Any]) -> None:
            if self.worker:
                message = self.take_message()
                if message:
                    data[MESSAGE] = message

        def worker_report(client_id: str, data: dict[str, Any]) -> None:
            message = data.get(MESSAGE)
            if message:
                self.merge_message(message)

        def test_start(**_: Any) -> None:
            if not self.worker:
                self.clear()  # a new test: its counts start from zero, as Locust's do

        environment.events.report_to_master.add_listener(report_to_master)
        environment.events.test_start.add_listener(test_start)
        environment.events.reset_stats.add_listener(self.clear)
        if isinstance(runner, MasterRunner):
            environment.events.worker_report.add_listener(worker_report)


def step_figures(run: Any, steps: tuple[str, ...], paced: bool) -> dict[str, dict[str, Any]]:
    """Per step: calls, failed attempts (throttled ones apart), records given up, and the
    worst p99 of its rows (intended-time in rate mode, else service time)."""
    figures: dict[str, dict[str, Any]] = {}
    for step in steps:
        name = workload_class(step).service.name
        rows: list[RowKey] = [row for row in run.tally.rows if row.service == name]
        counts = [run.tally.rows[row] for row in rows]
        calls = sum(c["calls"] for c in counts)
        failed = sum(v for c in counts for k, v in c.items() if k.startswith("failed_"))
        p99s = []
        for row in rows:
            pct = run.latency.percentiles(row, "intended") if paced else {}
            pct = pct or run.latency.percentiles(row, "service")
            if "p99" in pct:
                p99s.append(pct["p99"])
        figures[step] = {
            "calls": calls,
            "failed": failed,
            "throttled": sum(c["failed_throttled"] for c in counts),
            "failed_ratio": round(failed / calls, 4) if calls else 0.0,
            "given_up": sum(c["given_up_items"] for c in counts),
            "p99_ms": max(p99s) if p99s else None,
        }
    return figures


def bottleneck(figures: dict[str, dict[str, Any]]) -> str | None:
    """The step that held the records back: the one whose calls failed (throttled or not) the
    most often, records given up breaking a tie; if no call failed, the slowest (p99)."""
    ran = {name: f for name, f in figures.items() if f["calls"]}
    if not ran:
        return None
    if any(f["failed"] for f in ran.values()):
        return max(ran, key=lambda name: (ran[name]["failed_ratio"], ran[name]["given_up"]))
    return max(ran, key=lambda name: ran[name]["p99_ms"] or 0.0)


def pipeline_row(run: Any, tally: PipelineTally, paced: bool) -> dict[str, Any]:
    """The pipeline's figures so far (the summary's section, the AWS tab's row)."""
    figures = step_figures(run, tally.steps, paced)
    return {
        "steps": list(tally.steps),
        "acked": tally.acked,
        "given_up_by_step": tally.given_up_by_step(),
        "record_latency_ms": tally.record_latency(),
        "bottleneck": bottleneck(figures),
        "by_step": figures,
    }


def live_section(run: Any, tally: PipelineTally) -> Callable[[dict[str, Any]], None]:
    """/aws/stats' `pipeline` (the AWS tab): the row so far, and records through per second over the run."""

    def add_section(table: dict[str, Any]) -> None:
        if not tally.steps:
            return
        row = pipeline_row(run, tally, paced=run.targets.rate.paced)
        duration = run.reports.live.duration() if run.reports.live is not None else 0.0
        row["records_per_s"] = round(tally.acked / duration, 1) if duration > 0 else 0.0
        table["pipeline"] = row

    return add_section


def metric_section(tally: PipelineTally) -> Callable[[Exposition], None]:
    """/metrics: records through, records given up by step, the record latency (buckets in seconds)."""
    reader = BucketReader()

    def add_families(out: Exposition) -> None:
        if not tally.steps:
            return
        labels = label_text(("pipeline",), (",".join(tally.steps),))
        name = "aws_load_pipeline_records_acked_total"
        out.family(name, "counter", "pipeline: records acknowledged by its last step (through every step)")
        out.sample(name, labels, tally.acked)
        name = "aws_load_pipeline_records_given_up_total"
        out.family(name, "counter", "pipeline: records given up, by the step they were given up at")
        for step, count in tally.given_up_by_step().items():
            out.sample(name, f"{labels},{label_text(('step',), (step,))}", count)
        name = "aws_load_pipeline_record_latency_seconds"
        text = "pipeline: a record's first intended start at the first step to its last step's acknowledgement"
        out.family(name, "histogram", text)
        tally.fold()
        out.histogram(name, labels, tally.histogram, reader)

    return add_families


def summary_section(run: Any, tally: PipelineTally) -> Callable[[dict[str, Any]], None]:
    def add_section(data: dict[str, Any]) -> None:
        services = [workload_class(step).service.name for step in tally.steps]
        section = pipeline_row(run, tally, paced="rate" in data)
        verified = run.verifier.results
        if verified:
            section["missing_by_step"] = {
                step: verified[name].lost for step, name in zip(tally.steps, services, strict=True) if name in verified
            }
        data["pipeline"] = section
        duration = run.reports.live.duration() if run.reports.live is not None else 0.0
        if "rate" in data:  # records through the pipeline, not every step's acknowledgements
            data["rate"]["achieved"] = round(tally.acked / duration, 1) if duration > 0 else 0.0

    return add_section


# ---------------------------------------------------------------- users


class PipelineClient(WriterClient):
    """A user's client for a pipeline: one strategy per step (a `StepRouter`), each call
    billed by its own service, and the pipeline row counted. `on_acked` (--max-records)
    counts records through the whole pipeline, not every step's acknowledgements."""

    def __init__(
        self, environment: Environment, runtimes: list[ProcessRuntime], strategy: str, tally: PipelineTally
    ) -> None:
        self._runtimes = runtimes
        self._tally = tally
        self._through: Callable[[int], None] | None = None
        super().__init__(environment, runtimes[0], strategy)
        self._bill = bill  # by each call's service (writers.services)
        self.pipeline = Pipeline([r.workload for r in runtimes], [r.records for r in runtimes])

    @property  # type: ignore[override]
    def on_acked(self) -> Callable[[int], None] | None:
        return None  # WriterClient would count every step's acknowledgements: see _report

    @on_acked.setter
    def on_acked(self, count: Callable[[int], None] | None) -> None:
        self._through = count

    def make_strategy(self, strategy: str) -> Strategy:
        cls = strategy_class(strategy)
        return StepRouter({r.workload.service.name: cls(r.endpoint, r.strategy_options) for r in self._runtimes})

    def write(self, records: Iterator[dict[str, Any]]) -> Totals:
        return self.driver.run(self.pipeline.first_calls(records))

    def _report(self, attempt: Attempt) -> None:
        link = link_of(attempt.call)
        if link is not None:
            through = self._tally.note(attempt, link)
            if through and self._through is not None:
                self._through(through)
        super()._report(attempt)


class PipelineUser(AwsUser):
    """Writes each record through the pipeline's steps, each step on this user's strategy."""

    abstract = True
    tally: ClassVar[PipelineTally]
    workload: ClassVar[type[Workload]] = workload_class(DEFAULT_PIPELINE.split(",")[0])

    def on_start(self) -> None:
        try:
            steps = read_pipeline(self.environment.parsed_options)
        except ConfigError as exc:  # checked before the swarm: only a web UI change gets here
            logger.error("%s: %s", type(self).__name__, exc)
            raise StopUser() from None
        self.steps = steps
        self.workload = workload_class(steps[0])  # type: ignore[misc]  # AwsUser's records and pacing: the first step's
        parts_of(self.environment).meter.acked_from = workload_class(steps[-1]).service.name
        super().on_start()

    def make_client(self) -> WriterClient:
        runtimes = [runtime_for(self.environment, workload_class(step)) for step in self.steps]
        return PipelineClient(self.environment, runtimes, self.strategy, self.tally)

    @classmethod
    def workloads_written(cls, options: Any) -> list[type[Workload]]:
        """Every step's service (aws_locust.mix: the run's services are those its users write to)."""
        if options is None:
            return [cls.workload]
        return [workload_class(step) for step in read_pipeline(options)]

    @classmethod
    def warm_runtime(cls, environment: Environment) -> None:
        for step in read_pipeline(environment.parsed_options):
            runtime_for(environment, workload_class(step))


def pipeline_users(module: str) -> dict[str, type[AwsUser]]:
    """The pipeline locustfile's user classes, one per strategy, and the pipeline's glue."""
    tally = PipelineTally()
    events.init_command_line_parser.add_listener(add_arguments)

    def on_init(environment: Environment, **_: Any) -> None:
        # Before the lifecycle's own start-up (registered first): it starts and provisions
        # only what the pipeline names.
        options = environment.parsed_options
        tally.attach(environment)
        if options is None:
            return
        try:
            steps = check_pipeline(options)
        except ConfigError as exc:
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(2)
        run = process_lifecycle()
        apply_steps(run, steps)
        if not isinstance(environment.runner, WorkerRunner):
            run.summary_sections.append(summary_section(run, tally))
            run.live_sections.append(live_section(run, tally))
            run.metric_sections.append(metric_section(tally))

    def apply_steps(run: Any, steps: tuple[str, ...]) -> None:
        use_services(run, steps)
        tally.set_steps(steps)
        # Records are acknowledged by the last step: what --find-max and the master count per
        # worker (the end of --max-records, who carried the load) is that step's acknowledgements.
        last = workload_class(steps[-1]).service.name
        run.parts.meter.acked_from = run.tally.records_from = last
        if run.parts.distributor is not None:
            run.parts.distributor.records_from = last

    def on_test_start(environment: Environment, **_: Any) -> None:
        # Before the lifecycle's (registered first): the web UI may have changed --pipeline.
        if tally.worker or environment.parsed_options is None:
            return
        try:
            steps = read_pipeline(environment.parsed_options)
        except ConfigError as exc:  # the users say so too, and stop
            logger.error("cannot change the pipeline: %s", exc)
            return
        apply_steps(process_lifecycle(), steps)

    def on_quit(**_: Any) -> None:
        # Locust's last event, after the lifecycle's end of the run (the read-back, the summary).
        if tally.worker or not tally.steps:
            return
        pct = tally.record_latency()
        given_up = ", ".join(f"{s} {n}" for s, n in tally.given_up_by_step().items())
        run = process_lifecycle()
        worst = bottleneck(step_figures(run, tally.steps, paced=run.targets.rate.paced))
        logger.info(
            "pipeline %s: %d records through; record latency ms p50 %s p99 %s max %s; given up by step: %s; "
            "bottleneck: %s",
            " -> ".join(tally.steps), tally.acked, pct.get("p50", "-"), pct.get("p99", "-"), pct.get("max", "-"),
            given_up, worst or "-",
        )  # fmt: skip

    events.init.add_listener(on_init)
    events.test_start.add_listener(on_test_start)
    run = process_lifecycle()  # made after on_init is registered: the lifecycle's own init listener runs after it
    run.flag_checks.append(check_pipeline)  # the web UI's Start refuses a bad --pipeline with its reason

    def after_lifecycle_init(environment: Environment, **_: Any) -> None:
        if tally.steps:
            apply_steps(process_lifecycle(), tally.steps)  # the distributor exists now

    events.init.add_listener(after_lifecycle_init)
    events.quit.add_listener(on_quit)
    workloads()  # every service module: the bill looks them all up at the first answer
    classes: dict[str, type[AwsUser]] = {}
    for strategy in STRATEGIES:
        name = strategy.capitalize() + "User"
        doc = f"Each record through the pipeline (--pipeline), every step through the '{strategy}' strategy."
        attrs = {"strategy": strategy, "tally": tally, "__doc__": doc, "__module__": module}
        classes[name] = type(name, (PipelineUser,), attrs)
    return classes
