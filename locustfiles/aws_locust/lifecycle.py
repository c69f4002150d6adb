"""Run-level work, coordinated from Locust's events: the flags, the resources
(aws_locust.provisioning), each test's start and stop, SIGTERM (aws_locust.signals) and
the end of the run (aws_locust.ending). Resources, rate control and the end are the
master's (or the single local process's), never a worker's.

What each process holds for the run (its pace, its part of the run, and on the master the
rate control, the distributor and the knee finder) is made here at init and kept on the
environment (aws_locust.process).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, STATE_STOPPED, STATE_STOPPING, MasterRunner, WorkerRunner

from aws_locust import (
    checks,
    drain,
    hotkeys,
    keep,
    knee,
    latency,
    live,
    locust_fixes,
    locust_races,
    mix,
    otel,
    outcome,
    prometheus,
    shares,
    webui,
)
from aws_locust.context import listen
from aws_locust.control import RateControl
from aws_locust.ending import RunEnd, RunTargets
from aws_locust.latency import LatencyHistograms
from aws_locust.process import ProcessParts, hold
from aws_locust.provisioning import Provisioning, check_outputs, check_run_shape
from aws_locust.rate import RateShape
from aws_locust.settings import (
    GROUP_CHECKS,
    GROUP_COMMON,
    GROUP_COMMON_NOTE,
    GROUP_OUTPUTS,
    GROUP_RATE,
    RateSettings,
    WithEnvVars,
    add_common_arguments,
    add_output_arguments,
    add_rate_arguments,
    read_rate_settings,
    read_settings,
    service_group,
)
from aws_locust.signals import Sigterm, intercept_sigterm
from aws_locust.tally import AwsTally, attach
from aws_locust.users import tracks_keys, warm_up
from aws_locust.verify import Verifier
from aws_locust.watchdog import Watchdog
from writers.emulators import LOCAL_SECRET_KEY, EmulatorError
from writers.errors import ConfigError
from writers.redact import redact_logs
from writers.services import Workload

logger = logging.getLogger("aws_locust")


class Lifecycle:
    def __init__(self) -> None:
        self.tally = AwsTally()
        self.verdicts = outcome.Verdicts()  # the run's, for its exit code (master or local process)
        self.tests_started = 0  # tests this process began (a failed start stops its own test only)
        self.latency = LatencyHistograms()
        self.verifier = Verifier()
        self.hot = hotkeys.HotKeys()
        self.keeper = keep.ReportKeeper()  # --report-s3-uri
        self.targets = RunTargets()
        self.parts = ProcessParts()  # this process's, made again at init (after --processes forks)
        self.provisioning = Provisioning(self.hot.resources)
        self.ending = RunEnd(
            self.targets, self.tally, self.latency, self.hot, self.verifier, self.keeper, self.provisioning,
            self.stop_services, self.verdicts,
        )  # fmt: skip
        self.ending.parts = self.parts
        self.reports = self.ending.reports
        self.sigterm = Sigterm(lambda: self.ending.ended)
        # A locustfile's own additions: sections of --summary-json (and the report), e.g. a
        # pipeline's, and checks of its own flags (the web UI's Start runs them too).
        self.summary_sections = self.ending.summary_sections
        self.flag_checks: list[Callable[[Any], None]] = []
        # ... and what it adds to the AWS tab's /aws/stats and to /metrics (master or local process).
        self.live_sections: list[Callable[[dict[str, Any]], None]] = []
        self.metric_sections: list[Callable[[prometheus.Exposition], None]] = []
        self.watchdog: Watchdog | None = None
        self.metrics: prometheus.MetricsServer | None = None  # --metrics-port (master or local process)
        events.init_command_line_parser.add_listener(self.on_parser)
        events.init.add_listener(self.on_init)
        events.test_start.add_listener(self.on_test_start)
        events.test_stop.add_listener(self.on_test_stop)
        events.quitting.add_listener(self.on_quitting)

    @property
    def workloads(self) -> list[type[Workload]]:
        return self.provisioning.workloads

    def register(self, workload: type[Workload]) -> None:
        self.provisioning.register(workload)

    def on_parser(self, parser: Any) -> None:
        parser = WithEnvVars(parser)  # every flag of ours: also LOCUST_<FLAG> and locust.conf
        add_common_arguments(parser.add_argument_group(GROUP_COMMON, GROUP_COMMON_NOTE))
        add_rate_arguments(parser.add_argument_group(GROUP_RATE))
        verdicts = parser.add_argument_group(GROUP_CHECKS)
        checks.add_check_arguments(verdicts)
        self.verifier.add_argument(verdicts)
        outputs = parser.add_argument_group(GROUP_OUTPUTS)
        add_output_arguments(outputs)
        prometheus.add_argument(outputs)
        keep.add_argument(outputs)
        for workload in self.workloads:  # several services (mixed.py): a flag they share is added once
            workload.add_arguments(mix.FirstFlagWins(parser.add_argument_group(service_group(workload.service.name))))

    # ------------------------------------------------------------------ start-up

    def on_init(self, environment: Environment, **_: Any) -> None:
        redact_logs([LOCAL_SECRET_KEY])  # every process: secrets never reach a log
        parts = self.parts = self.ending.parts = ProcessParts()
        hold(environment, parts)  # users and shapes find them there (bound once per user)
        attach(environment, self.tally)
        latency.attach(environment, self.latency)
        self.verifier.attach(environment)
        parts.drainer = drain.Drainer(environment, parts.drain, self.verifier.add_unanswered)  # calls answered
        hotkeys.attach(environment, self.hot)
        parts.meter.attach(environment)  # it listens to the calls while a step of --find-max is open
        otel.attach(environment)  # --otel: our figures as OpenTelemetry metrics, from every process that sends
        worker = isinstance(environment.runner, WorkerRunner)
        intercept_sigterm(lambda fallback: self.sigterm.on_sigterm(environment, fallback, worker))
        locust_races.install()
        locust_fixes.install(environment)
        runner = environment.runner
        distributor = parts.distributor = shares.attach(environment, parts.share, self.verdicts)
        if not isinstance(runner, MasterRunner):
            warm_up(environment, environment.user_classes, runtimes=False)  # imports, before any test's clock
        if isinstance(runner, WorkerRunner):
            worker_runner = runner
            runner.register_message(
                knee.STEP, lambda msg, **_: knee.on_step_message(worker_runner, parts.meter, parts.pace, msg.data)
            )
            return  # workers take their settings from the master
        assert distributor is not None
        environment.events.reset_stats.add_listener(self.on_reset_stats)
        control = parts.control = RateControl(environment, distributor)
        knee_finder = parts.knee = knee.KneeFinder(
            environment, control, self._broadcast(environment), distributor.end_run, parts.meter, parts.pace
        )
        self.watchdog = Watchdog(environment, self.tally, distributor.end_run, self.verdicts)
        if isinstance(runner, MasterRunner):
            runner.register_message(knee.STEP_RESULT, lambda msg, **_: knee_finder.on_reply(msg.data))
        live_stats = live.attach(environment, self.tally, self.latency)
        if live_stats is not None:
            live_stats.hourly = self.provisioning.hourly_charges
            live_stats.capacity = self.provisioning.capacity
            live_stats.hot_keys = self.hot.top
            live_stats.target_rate = lambda: control.target if control.paced else None
        self.reports.attach(environment, live_stats)
        self.metrics = prometheus.attach(
            environment,
            prometheus.RunMetrics(
                self.tally,
                self.latency,
                self.provisioning.hourly_charges,
                prometheus.RunParts(lambda: environment.runner, live_stats, control, knee_finder, self.metric_sections),
            ),
        )
        webui.attach(environment, live_stats, self.reports, control, self.check_flags, self.live_sections)
        if environment.parsed_options is None:
            return
        try:
            check_run_shape(environment.parsed_options)
            self.prepare(environment)
        except (ConfigError, EmulatorError) as exc:
            self.stop_services()
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(2 if isinstance(exc, ConfigError) else 1)

    @staticmethod
    def _broadcast(environment: Environment) -> Callable[[dict[str, Any]], int]:
        def broadcast(data: dict[str, Any]) -> int:
            runner = environment.runner
            if not isinstance(runner, MasterRunner):
                return 0
            workers = [*runner.clients.ready, *runner.clients.spawning, *runner.clients.running]
            for worker in workers:
                runner.send_message(knee.STEP, data, client_id=worker.id)
            return len(workers)

        return broadcast

    def check_flags(self, options: Any, user_classes: list[Any]) -> None:
        """Every check of our flags before a test with these user classes starts (the web
        UI's Start): ConfigError, the first bad one."""
        used = mix.in_run(user_classes, options, self.workloads)
        self.provisioning.read(options, used)
        self.check_named_in_run(read_rate_settings(options), checks.read_check_settings(options), used)
        for check in self.flag_checks:
            check(options)

    @staticmethod
    def check_named_in_run(rate: RateSettings, check_settings: checks.CheckSettings, used: list[Any]) -> None:
        """A per-service figure (--rate, --check-*) for each service of the run, and only for those."""
        mix.check_named_in_run("--rate", rate.by_service, used, every=bool(rate.by_service))
        for flag, named in check_settings.named().items():
            mix.check_named_in_run(flag, named, used)

    def prepare(self, environment: Environment) -> None:
        """Check flags, start emulators, provision and check the resources: all before any user starts."""
        options = environment.parsed_options
        assert options is not None
        used = mix.in_run(environment.user_classes, options, self.workloads)  # the services of this run's users
        settings = self.provisioning.read(options, used)
        rate = self.targets.rate = read_rate_settings(options)
        self.targets.checks = checks.read_check_settings(options)
        self.check_named_in_run(rate, self.targets.checks, used)
        check_outputs(options)
        self.keeper.prepare(options)  # --report-s3-uri: the bucket, before the swarm
        if self.metrics is not None:
            self.metrics.start(options)  # before the swarm: a port in use is one line, exit 2
        self.provisioning.prepare(environment, settings)

    # ------------------------------------------------------------------ a test

    def on_test_start(self, environment: Environment, **_: Any) -> None:
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            classes = self.run_classes(environment)  # the master's picks (a worker's own list holds every class)
            warm_up(environment, classes, runtimes=True)  # before the users start their schedules
            self.listen_for_features(environment, classes)
            return
        self.tests_started += 1
        self.verdicts.clear()
        self.ending.check_results = None
        self.reports.test_started(environment)  # before the counts of a previous test are cleared
        self.verifier.clear()
        options = environment.parsed_options
        try:  # the web UI may have changed the flags since start-up
            self.prepare(environment)
        except (ConfigError, EmulatorError) as exc:
            self.verdicts.record(outcome.PERMANENT, f"cannot start the test: {exc}")
            assert runner is not None
            self.refuse_start(runner)
            return
        if not isinstance(runner, MasterRunner):
            warm_up(environment, environment.user_classes, runtimes=True)  # before the users' schedules start
            self.listen_for_features(environment, environment.user_classes)
        parts = self.parts
        control, distributor = parts.control, parts.distributor
        assert options is not None and distributor and control and parts.knee and self.watchdog
        rate = self.targets.rate
        shaped = isinstance(environment.shape_class, RateShape)
        paced = rate.paced or shaped
        self.targets.max_records = int(options.max_records or 0)
        control.start(rate, paced, shaped)  # the first target: sent with the parts, just below
        weights = mix.rate_weights(rate.by_service)  # several services with a rate each: each one's part
        by_class = mix.classes_by_service(environment.user_classes)
        distributor.start(self.targets.max_records or None, control.target, paced, rate.arrival, weights, by_class)
        if rate.find_max:
            parts.knee.start(rate, weights)
        self.watchdog.start(read_settings(options, self.workloads[0]).abort_after if self.workloads else 0)
        if paced:
            logger.info("rate mode: calls start on a schedule (%s arrivals)", rate.arrival)

    def on_reset_stats(self, **_: Any) -> None:
        """The web UI's Reset Stats: the AWS tab, its charts and the report of the run so far
        start again from now, all from the same (cleared) counts and histograms, as Locust's
        own table does. --verify still reads back every record acknowledged in the test."""
        self.tally.rows.clear()
        self.tally.acked_by_worker.clear()
        self.tally.cpu_seconds = 0.0
        self.tally.mark_cpu()
        self.latency.clear()
        self.hot.clear()
        if self.reports.live is not None:
            self.reports.live.start_test()  # rate windows, timeline and run time from now

    def run_classes(self, environment: Environment) -> list[Any]:
        """A worker's user classes of this test: those writing the services of the master's
        part (a worker's own list holds every class of the locustfile, not the run's picks)."""
        services = set(self.parts.share.services)
        if not services:
            return list(environment.user_classes)
        options = environment.parsed_options
        writes = {c: {w.service.name for w in mix.workloads_of([c], options)} for c in environment.user_classes}
        return [c for c, written in writes.items() if written & services]

    def refuse_start(self, runner: Any) -> None:
        """A test whose start failed: every process (the workers, or this one) gets a part of
        nothing for it, not the last test's, and it is stopped once Locust has started it."""
        if self.parts.distributor is not None:
            self.parts.distributor.start(0, 0.0, nothing=True)
        test = self.tests_started  # a stop of this test only, not of one started after it
        gevent.spawn(stop_once_started, runner, lambda: test == self.tests_started)

    def listen_for_features(self, environment: Environment, classes: list[Any]) -> None:
        """The request listeners of features this test uses, and no others: each one runs
        once per call (a feature that is off costs nothing per call)."""
        options = environment.parsed_options
        requests = environment.events.request
        listen(requests, self.verifier.on_request, bool(getattr(options, "verify", False)))
        used = mix.in_run(classes, options, self.workloads)  # not a service the run leaves out: its runtime calls it
        listen(requests, self.hot.on_request, any(tracks_keys(environment, w) for w in used))

    def on_test_stop(self, environment: Environment, **_: Any) -> None:
        for part in (self.parts.control, self.parts.knee, self.watchdog):
            if part is not None:
                part.stop()
        if self.parts.distributor is not None and not isinstance(environment.runner, WorkerRunner):
            self.parts.distributor.on_test_stop()

    # ------------------------------------------------------------------ the end

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        self.ending.on_quitting(environment, self.on_test_stop, isinstance(environment.runner, WorkerRunner))

    def stop_services(self) -> None:
        if self.metrics is not None:
            self.metrics.stop()
        self.provisioning.stop_emulators()


START_SECONDS = 60.0  # the most a test that cannot start is waited for before it is stopped anyway


def stop_once_started(runner: Any, still_current: Callable[[], bool]) -> None:
    """Stop a test whose start failed. Locust goes on to spawn its users after test_start,
    whatever the listeners found, and `runner.stop()` inside the listener does nothing when
    the last test had stopped; so the stop comes from here, once the start has gone out
    (a local runner: as its spawning begins; a master: once its spawn messages are sent),
    unless the test was stopped meanwhile or another one started."""
    began = time.monotonic()
    started = (STATE_RUNNING,) if isinstance(runner, MasterRunner) else (STATE_SPAWNING, STATE_RUNNING)
    while runner.state not in started and time.monotonic() - began < START_SECONDS:
        if runner.state in (STATE_STOPPING, STATE_STOPPED) and time.monotonic() - began > 1:
            return  # stopped by someone else (the state is STOPPED for a moment after the failed start)
        gevent.sleep(0.01)
    if still_current() and runner.state in started:
        runner.stop()
