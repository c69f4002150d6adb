"""Run-level work, done once by the master (or the single local process), never by workers:
check the flags, start local emulators, provision and check the resource, pace the run,
watch it, and end it in order.

The end of a run, whatever ended it (-t, --max-records, the knee finder, --abort-after,
SIGTERM, Ctrl-C), is one sequence, run once: every user stops sending; native threads
and event loops end; `--verify` reads back (master only, after every writer stopped);
teardown; the AWS summary, `--summary-json` and the report are written; the exit code is
the worst verdict (aws_locust.outcome); the emulators stop last.

SIGTERM: Locust's own handler shuts down at once, while users still write, and its
shutdown can then run twice. Ours stops the users and lets Locust's main flow end the
usual way (a second SIGTERM still gets Locust's immediate shutdown).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import orjson
from botocore.exceptions import BotoCoreError, ClientError
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

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
    rate,
    shares,
    webui,
)
from aws_locust.checks import CheckResult, CheckSettings, RowP99, RunFigures
from aws_locust.context import listen
from aws_locust.files import write_atomically
from aws_locust.latency import LatencyHistograms
from aws_locust.rate import RateControl, RateShape
from aws_locust.report import Reports
from aws_locust.runtime import endpoint_for, format_local_endpoints, sent_to
from aws_locust.settings import (
    RateSettings,
    RunSettings,
    WithEnvVars,
    add_common_arguments,
    read_rate_settings,
    read_settings,
)
from aws_locust.tally import AwsTally, attach
from aws_locust.users import tracks_keys, warm_up
from aws_locust.verify import Verifier
from aws_locust.watchdog import Watchdog
from writers.emulators import LOCAL_SECRET_KEY, EmulatorError, RunningEmulator, banner, start_emulator
from writers.errors import ConfigError, one_line
from writers.pricing import PICO_PER_USD, HourlyCharge, hourly_rows
from writers.redact import redact_logs
from writers.services import Workload
from writers.strategies import shutdown_process

logger = logging.getLogger("aws_locust")


class Lifecycle:
    def __init__(self) -> None:
        self.workloads: list[type[Workload]] = []
        self.emulators: dict[str, RunningEmulator] = {}
        self.provisioned: dict[type[Workload], RunSettings] = {}
        self.tally = AwsTally()
        self.latency = LatencyHistograms()
        # --report-dir: one report per test run, with the same summary as --summary-json
        self.reports = Reports(self.tally, self.latency, self.summary)
        self.verifier = Verifier()
        self.hot = hotkeys.HotKeys()
        self.rate_settings = RateSettings()
        self.check_settings = CheckSettings()
        self.check_results: list[CheckResult] | None = None  # evaluated at the end
        self.distributor: shares.Distributor | None = None
        self.control: RateControl | None = None
        self.knee: knee.KneeFinder | None = None
        self.watchdog: Watchdog | None = None
        self.metrics: prometheus.MetricsServer | None = None  # --metrics-port (master or local process)
        self.keeper = keep.ReportKeeper()  # --report-s3-uri
        self.max_records = 0
        self.capacities: dict[str, dict[str, float]] = {}  # service -> provisioned units/s by billed unit
        self._ended = False
        events.init_command_line_parser.add_listener(self.on_parser)
        events.init.add_listener(self.on_init)
        events.test_start.add_listener(self.on_test_start)
        events.test_stop.add_listener(self.on_test_stop)
        events.quitting.add_listener(self.on_quitting)

    def register(self, workload: type[Workload]) -> None:
        if workload not in self.workloads:
            self.workloads.append(workload)

    def on_parser(self, parser: Any) -> None:
        parser = WithEnvVars(parser)  # every flag of ours: also LOCUST_<FLAG> and locust.conf
        add_common_arguments(parser)
        checks.add_check_arguments(parser)
        prometheus.add_argument(parser)
        keep.add_argument(parser)
        self.verifier.add_argument(parser)
        services = mix.OncePerFlag(parser)  # several services: a flag they share is added once
        for workload in self.workloads:
            workload.add_arguments(services)

    # ------------------------------------------------------------------ start-up

    def on_init(self, environment: Environment, **_: Any) -> None:
        redact_logs([LOCAL_SECRET_KEY])  # every process: secrets never reach a log
        attach(environment, self.tally)
        latency.attach(environment, self.latency)
        self.verifier.attach(environment)
        drain.Drainer(environment, self.verifier.add_unanswered)  # the end of a test: calls in flight answered
        hotkeys.attach(environment, self.hot)
        knee.METER.attach(environment)  # it listens to the calls while a step of --find-max is open
        otel.attach(environment)  # --otel: our figures as OpenTelemetry metrics, from every process that sends
        intercept_sigterm(lambda fallback: self.on_sigterm(environment, fallback))
        locust_races.install()
        locust_fixes.install(environment)
        runner = environment.runner
        self.distributor = shares.attach(environment)
        if not isinstance(runner, MasterRunner):
            warm_up(environment, runtimes=False)  # imports, before any test's clock starts
        if isinstance(runner, WorkerRunner):
            runner.register_message(knee.STEP, lambda msg, **_: knee.on_step_message(environment, msg.data))
            return  # workers take their settings from the master
        assert self.distributor is not None
        environment.events.reset_stats.add_listener(self.on_reset_stats)
        self.control = rate.CONTROL = RateControl(environment, self.distributor)
        self.knee = knee.KneeFinder(environment, self.control, self._broadcast(environment), self.distributor.end_run)
        self.watchdog = Watchdog(environment, self.tally, self.distributor.end_run)
        if isinstance(runner, MasterRunner):
            knee_finder = self.knee
            runner.register_message(knee.STEP_RESULT, lambda msg, **_: knee_finder.on_reply(msg.data))
        live_stats = live.attach(environment, self.tally, self.latency)
        if live_stats is not None:
            live_stats.hourly = self.hourly_charges
            live_stats.capacity = self.capacity
            live_stats.hot_keys = self.hot.top
            control = self.control
            live_stats.target_rate = lambda: control.target if control.paced else None
        self.reports.attach(environment, live_stats)
        self.metrics = prometheus.attach(
            environment,
            prometheus.RunMetrics(
                self.tally,
                self.latency,
                self.hourly_charges,
                prometheus.RunParts(lambda: environment.runner, live_stats, self.control, self.knee),
            ),
        )
        webui.attach(environment, live_stats, self.reports, self.control, self.check_flags)
        if environment.parsed_options is None:
            return
        try:
            check_run_shape(environment.parsed_options)
            self.prepare(environment)
        except (ConfigError, EmulatorError) as exc:
            self.stop_emulators()
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

    def check_flags(self, options: Any) -> None:
        """Every check of our flags that needs no service (ConfigError: the first bad one)."""
        for workload in self.workloads:
            read_settings(options, workload)
        read_rate_settings(options)
        checks.read_check_settings(options)

    def prepare(self, environment: Environment) -> None:
        """Check flags, start emulators, provision and check the resources: all before any user starts."""
        options = environment.parsed_options
        assert options is not None
        used = mix.in_run(environment, self.workloads)  # the services of the user classes this run runs
        settings = {w: read_settings(options, w) for w in used}
        self.rate_settings = read_rate_settings(options)
        self.check_settings = checks.read_check_settings(options)
        mix.check_named_in_run("--rate", self.rate_settings.by_service, used, every=bool(self.rate_settings.by_service))
        for flag, named in self.check_settings.named().items():
            mix.check_named_in_run(flag, named, used)
        check_outputs(options)
        self.keeper.prepare(options)  # --report-s3-uri: the bucket, before the swarm
        if self.metrics is not None:
            self.metrics.start(options)  # before the swarm: a port in use is one line, exit 2
        if any(s.target == "local" for s in settings.values()):
            missing = [w.service.boto3_name for w in used if w.service.boto3_name not in self.emulators]
            for name in missing:
                self.emulators[name] = start_emulator(name)
            options.local_endpoints = format_local_endpoints({k: e.endpoint for k, e in self.emulators.items()})
            if missing:
                logger.info("local emulators:\n%s", banner(self.emulators.values()))
        for workload, setting in settings.items():
            self.provision(environment, workload, setting)
        # Locust's Host (the web UI's field, each user class's host): where the calls go.
        environment.host = " ".join(dict.fromkeys(sent_to(s, w, options) for w, s in settings.items()))

    def provision(self, environment: Environment, workload: type[Workload], settings: RunSettings) -> None:
        if self.provisioned.get(workload) == settings:
            return
        endpoint = endpoint_for(settings, workload, environment.parsed_options)
        frozen = endpoint.credentials().get_frozen_credentials()  # none at all: say so now, not per call
        redact_logs([frozen.secret_key, frozen.token])
        where = endpoint.url or f"AWS {settings.region}"
        instance = workload(settings.workload)
        created = False
        try:
            if settings.provision:
                created = instance.provision(endpoint)
            instance.preflight(endpoint)  # e.g. a missing queue, a table keyed otherwise: one line now
        except (BotoCoreError, ClientError, KeyError) as exc:
            raise ConfigError(
                f"cannot prepare {workload.service.name} {workload.resource_kind} "
                f"{settings.workload.resource!r} at {where}: {one_line(exc)}"
            ) from None
        found = instance.discovered()  # e.g. the table's own capacity mode: every process uses it
        options = environment.parsed_options
        if found and any(getattr(options, name, None) != value for name, value in found.items()):
            for name, value in found.items():
                setattr(options, name, value)
            settings = read_settings(options, workload)
            instance = workload(settings.workload)
        if settings.provision:
            verb = "created" if created else "using existing"
            logger.info(
                "%s %s %s %r at %s",
                workload.service.name, verb, workload.resource_kind, settings.workload.resource, where,
            )  # fmt: skip
        capacity = instance.describe_capacity()
        if capacity:
            name = settings.workload.resource
            logger.info("%s %s %r: %s", workload.service.name, workload.resource_kind, name, capacity)
        self.provisioned[workload] = settings
        self.capacities[workload.service.name] = instance.capacity()
        self.hot.resources[workload.service.name] = settings.workload.resource

    def capacity(self) -> dict[str, dict[str, float]]:
        return {service: units for service, units in self.capacities.items() if units}

    def hourly_charges(self) -> list[HourlyCharge]:
        """What the resources of this run cost per hour they exist (a provisioned stream's shards)."""
        return [charge for w, settings in self.provisioned.items() for charge in w.billing.hourly(settings.workload)]

    # ------------------------------------------------------------------ a test

    def on_test_start(self, environment: Environment, **_: Any) -> None:
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            warm_up(environment, runtimes=True)  # before the users start their schedules
            self.listen_for_features(environment)
            return
        outcome.reset()
        self.check_results = None
        self.reports.test_started(environment)  # before the counts of a previous test are cleared
        self.verifier.clear()
        options = environment.parsed_options
        try:  # the web UI may have changed the flags since start-up
            self.prepare(environment)
        except (ConfigError, EmulatorError) as exc:
            logger.error("cannot start the test: %s", exc)
            assert runner is not None
            runner.stop()  # type: ignore[no-untyped-call]
            return
        if not isinstance(runner, MasterRunner):
            warm_up(environment, runtimes=True)  # before the test's clock and the users' schedules start
            self.listen_for_features(environment)
        assert options is not None and self.distributor and self.control and self.knee and self.watchdog
        paced = self.rate_settings
        shaped = isinstance(environment.shape_class, RateShape)
        options.rate_mode = "1" if paced.paced or shaped else ""  # reaches the workers with the spawn message
        self.max_records = int(options.max_records or 0)
        self.control.start(paced, bool(options.rate_mode), shaped)
        self.distributor.start(
            self.max_records or None,
            self.control.target,
            mix.rate_weights(paced.by_service),
            mix.classes_by_service(environment.user_classes),
        )
        if paced.find_max:
            self.knee.start(paced, mix.rate_weights(paced.by_service))
        self.watchdog.start(read_settings(options, self.workloads[0]).abort_after if self.workloads else 0)
        if options.rate_mode:
            logger.info("rate mode: calls start on a schedule (%s arrivals)", paced.arrival)

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

    def listen_for_features(self, environment: Environment) -> None:
        """The request listeners of features this test uses, and no others: each one runs
        once per call (a feature that is off costs nothing per call)."""
        options = environment.parsed_options
        requests = environment.events.request
        listen(requests, self.verifier.on_request, bool(getattr(options, "verify", False)))
        listen(requests, self.hot.on_request, any(tracks_keys(environment, w) for w in self.workloads))

    def on_test_stop(self, environment: Environment, **_: Any) -> None:
        for part in (self.control, self.knee, self.watchdog):
            if part is not None:
                part.stop()
        if self.distributor is not None and not isinstance(environment.runner, WorkerRunner):
            self.distributor.on_test_stop()

    # ------------------------------------------------------------------ the end

    def on_sigterm(self, environment: Environment, fallback: Callable[[], None]) -> None:
        if self._ended or getattr(self, "_sigterm", False):
            fallback()  # a second SIGTERM: Locust's own shutdown, now
            return
        self._sigterm = True
        logger.info("Got SIGTERM: stopping the users, then ending the run")
        runner = environment.runner
        assert runner is not None
        if isinstance(runner, WorkerRunner):
            gevent.spawn(self._quit_worker, runner)
            return
        gevent.spawn(runner.quit)
        if environment.web_ui is not None:
            gevent.spawn_later(0.5, environment.web_ui.stop)

    @staticmethod
    def _quit_worker(runner: WorkerRunner) -> None:
        """Stop, send the last counts, and tell the master before leaving (Locust's own quit
        on a worker does neither: the master would wait for missing heartbeats)."""
        runner.stop()
        runner._send_stats()
        runner.send_message("quit")
        runner.greenlet.kill(block=True)

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        if self._ended:
            return  # the end runs once, however many times Locust fires quitting
        self._ended = True
        runner = environment.runner
        if runner is not None and runner.state not in ("stopped", "ready"):
            # Ctrl-C: Locust fires quitting while users still write
            runner.stop() if isinstance(runner, WorkerRunner) else runner.quit()
        self.on_test_stop(environment)
        shutdown_process()  # every process: native threads and loops must end before exit
        if isinstance(runner, WorkerRunner):
            return
        if self.distributor is not None:
            self.distributor.stop()
            self.check_target()
        options = environment.parsed_options
        if getattr(options, "verify", False):
            skipped = ""
            if outcome.has(outcome.ABORTED):
                skipped = "the endpoint failed every call at the end of the run (--abort-after)"
            elif outcome.has(outcome.PERMANENT):
                skipped = "every call failed with a client error at the end of the run"
            self.verifier.verify_all(environment, self, skipped)
        self.teardown(environment)
        self.run_checks(environment)
        self.write_summary(environment)
        self.keeper.upload(self.reports.written, orjson.dumps(self.summary(), option=orjson.OPT_INDENT_2))
        code = outcome.exit_code()
        if code is not None:
            environment.process_exit_code = code
        self.stop_emulators()

    def check_target(self) -> None:
        assert self.distributor is not None
        if not self.max_records:
            return
        acked = self.distributor.acked_total()
        if acked < self.max_records:
            outcome.record(outcome.SHORT, f"error: --max-records {self.max_records} not reached: {acked} acknowledged")

    def figures(self, environment: Environment, service: str = "") -> RunFigures:
        """The whole run's figures, as the --check-* flags judge them (`service`, a registry
        name: that service's calls alone; the hourly charges stay the run's)."""
        paced = bool(getattr(environment.parsed_options, "rate_mode", ""))
        duration = self.reports.live.duration() if self.reports.live is not None else 0.0
        shown = mix.shown_name(service) if service else ""
        rows = {key: row for key, row in self.tally.rows.items() if not shown or key.service == shown}
        p99: list[RowP99] = []
        for key in sorted(rows):
            intended = self.latency.percentiles(key, "intended") if paced else {}
            kind, pct = ("intended", intended) if intended else ("service", self.latency.percentiles(key, "service"))
            if "p99" in pct:
                p99.append(RowP99(key.name, kind, pct["p99"]))
        hourly = sum(charge["cost_usd"] for charge in hourly_rows(self.hourly_charges(), duration))

        def total(field: str) -> int:
            return sum(row[field] for row in rows.values())

        calls = total("calls")
        failed = sum(v for row in rows.values() for k, v in row.items() if k.startswith("failed_"))
        throttled = total("failed_throttled")
        return RunFigures(
            calls=calls,
            failed=failed - throttled,
            throttled=throttled,
            acked=total("acked"),
            given_up=total("given_up_items"),
            duration_seconds=duration,
            cost_usd=total("cost_pusd") / PICO_PER_USD + hourly,
            p99=p99,
        )

    def run_checks(self, environment: Environment) -> None:
        """--check-*: one line per check; a breach is the verdict CHECK_FAILED (exit 4)."""
        self.check_results = checks.evaluate(self.check_settings, self.figures(environment))
        self.check_results += checks.evaluate_by_service(self.check_settings, lambda s: self.figures(environment, s))
        for result in self.check_results:
            if result.passed:
                logger.info("%s", result.line())
            else:
                outcome.record(outcome.CHECK_FAILED, result.line())

    def teardown(self, environment: Environment) -> None:
        for workload, settings in self.provisioned.items():
            if settings.teardown:
                endpoint = endpoint_for(settings, workload, environment.parsed_options)
                try:
                    workload(settings.workload).teardown(endpoint)
                    logger.info(
                        "deleted %s %s %r", workload.service.name, workload.resource_kind, settings.workload.resource
                    )
                except (BotoCoreError, ClientError) as exc:
                    logger.error("teardown failed: %s", one_line(exc))

    def summary(self) -> dict[str, Any]:
        """--summary-json: the tally, every latency kind, the rate, the knee finder's search."""
        data = self.tally.as_dict(self.latency.summary())
        duration = self.reports.live.duration() if self.reports.live is not None else 0.0
        if self.rate_settings.paced or (self.control is not None and self.control.changes):
            assert self.control is not None
            data["rate"] = {
                "target": self.control.target if not self.rate_settings.find_max else None,
                "targets": self.control.changes,
                "achieved": round(data["acked"] / duration, 1) if duration > 0 else 0.0,
                "late": self.tally.total("late"),
                "missed": self.distributor.missed_total() if self.distributor is not None else 0,
                "arrival": self.rate_settings.arrival,
                "by_service": mix.rate_by_service(
                    self.tally.rows,
                    self.control.target if not self.rate_settings.find_max else None,
                    mix.rate_weights(self.rate_settings.by_service),
                    duration,
                ),
            }
        if self.knee is not None and self.knee.search is not None:
            cost = self.tally.total("cost_pusd") / 1e12
            per_record = cost / data["acked"] if data["acked"] else None
            data["find_max"] = self.knee.search.result(per_record)
        by_service = mix.counts_by_service(self.tally.rows)
        if len(by_service) > 1:
            data["by_service"] = by_service
        hot = self.hot.top()
        if hot:
            data["hot_keys"] = hot
        if self.capacity():
            data["provisioned_units_per_s"] = self.capacity()
        if self.check_results is not None:
            data["checks"] = [result.as_dict() for result in self.check_results]
        data["verdicts"] = {str(code): line for code, line in sorted(outcome.verdicts().items())}
        return data

    def write_summary(self, environment: Environment) -> None:
        data = self.summary()
        if self.tally.rows:
            logger.info("AWS summary:\n%s", self.tally.summary(self.latency.summary()))
        if self.hot.top():
            logger.info("%s", self.hot.summary())
        rate = data.get("rate")
        if rate:
            logger.info(
                "rate: target %s records/s, achieved %s records/s, %d late starts, %d missed starts",
                rate["target"] if rate["target"] is not None else "(searched)", rate["achieved"], rate["late"],
                rate["missed"],
            )  # fmt: skip
            if len(rate["by_service"]) > 1:
                logger.info("rate by service: %s", mix.format_rate_by_service(rate["by_service"]))
        path = getattr(environment.parsed_options, "summary_json", "")
        if path:
            try:
                write_atomically(path, orjson.dumps(data, option=orjson.OPT_INDENT_2))
            except OSError as exc:  # checked before the swarm; the disk may still fill up
                outcome.record(outcome.NOT_KEPT, f"could not write --summary-json {path}: {one_line(exc)}")
        self.reports.write(environment)
        if self.reports.live is not None:
            self.reports.live.stop_sampling()

    def stop_emulators(self) -> None:
        if self.metrics is not None:
            self.metrics.stop()
        for emulator in list(self.emulators.values()):
            emulator.stop()
        self.emulators.clear()


def check_run_shape(options: Any) -> None:
    """Locust's own flags that make no run: one line before anything starts."""
    if (
        getattr(options, "headless", False)
        and getattr(options, "num_users", None) == 0
        and not getattr(options, "worker", False)
    ):
        raise ConfigError("-u/--users 0 starts no user: nothing would be written (give at least 1)")


def check_outputs(options: Any) -> None:
    """--summary-json and --report-dir must be writable now, not after the run."""
    path = str(getattr(options, "summary_json", "") or "")
    if path:
        target = Path(path)
        if target.is_dir():
            raise ConfigError(f"--summary-json {path!r} is a folder, not a file")
        _writable_folder(target.parent, "--summary-json", path)
        if target.exists() and not os.access(target, os.W_OK):
            raise ConfigError(f"--summary-json {path!r} cannot be written (no permission)")
    folder = str(getattr(options, "report_dir", "") or "")
    if folder:
        _writable_folder(Path(folder), "--report-dir", folder)


def _writable_folder(folder: Path, flag: str, given: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{flag} {given!r} cannot be written: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {given!r} cannot be written: no permission on {str(folder)!r}")


_original_signal_handler: Any = None


def intercept_sigterm(handler: Callable[[Callable[[], None]], None]) -> None:
    """Make Locust's SIGTERM handler (installed after the init event) call `handler`, which
    gets Locust's own as a fallback."""
    global _original_signal_handler
    if _original_signal_handler is not None:
        return
    original = _original_signal_handler = gevent.signal_handler

    def signal_handler(signum: int, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if signum == signal.SIGTERM:
            gevent.signal_handler = original
            return original(signum, lambda: handler(callback))
        return original(signum, callback, *args, **kwargs)

    gevent.signal_handler = signal_handler
