"""Run-level work, done once by the master (or the single local process), never by workers:
check the flags, start local emulators, provision, tear down, print the summary."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from aws_locust import finish, latency, live, webui
from aws_locust.latency import LatencyHistograms
from aws_locust.report import Reports
from aws_locust.runtime import endpoint_for, format_local_endpoints
from aws_locust.settings import RunSettings, add_common_arguments, read_settings
from aws_locust.tally import AwsTally, attach
from writers.emulators import LOCAL_SECRET_KEY, EmulatorError, RunningEmulator, banner, start_emulator
from writers.errors import ConfigError, one_line
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
        self.reports = Reports(self.tally, self.latency)  # --report-dir: one report per test run
        events.init_command_line_parser.add_listener(self.on_parser)
        events.init.add_listener(self.on_init)
        events.test_start.add_listener(self.on_test_start)
        events.quitting.add_listener(self.on_quitting)

    def register(self, workload: type[Workload]) -> None:
        if workload not in self.workloads:
            self.workloads.append(workload)

    def on_parser(self, parser: Any) -> None:
        add_common_arguments(parser)
        for workload in self.workloads:
            workload.add_arguments(parser)

    def on_init(self, environment: Environment, **_: Any) -> None:
        redact_logs([LOCAL_SECRET_KEY])  # every process: secrets never reach a log
        attach(environment, self.tally)
        latency.attach(environment, self.latency)
        runner = environment.runner
        if not isinstance(runner, WorkerRunner):  # live figures, the AWS tab (web UI only) and reports
            live_stats = live.attach(environment, self.tally, self.latency)
            self.reports.attach(environment, live_stats)
            webui.attach(environment, live_stats, self.reports)
        if isinstance(runner, MasterRunner):
            runner.register_message(finish.QUOTA_DONE, lambda msg, **kw: finish.on_quota_done(environment, msg))
        if isinstance(runner, WorkerRunner) or environment.parsed_options is None:
            return  # workers take their settings from the master
        try:
            self.prepare(environment)
        except (ConfigError, EmulatorError) as exc:
            self.stop_emulators()
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(2 if isinstance(exc, ConfigError) else 1)

    def prepare(self, environment: Environment) -> None:
        """Check flags, start emulators, provision: all before any user starts."""
        options = environment.parsed_options
        assert options is not None
        settings = {w: read_settings(options, w) for w in self.workloads}
        if any(s.target == "local" for s in settings.values()):
            missing = [w.service.boto3_name for w in self.workloads if w.service.boto3_name not in self.emulators]
            for name in missing:
                self.emulators[name] = start_emulator(name)
            options.local_endpoints = format_local_endpoints({k: e.endpoint for k, e in self.emulators.items()})
            if missing:
                logger.info("local emulators:\n%s", banner(self.emulators.values()))
        for workload, setting in settings.items():
            self.provision(environment, workload, setting)

    def provision(self, environment: Environment, workload: type[Workload], settings: RunSettings) -> None:
        if self.provisioned.get(workload) == settings:
            return
        endpoint = endpoint_for(settings, workload, environment.parsed_options)
        frozen = endpoint.credentials().get_frozen_credentials()  # none at all: say so now, not per call
        redact_logs([frozen.secret_key, frozen.token])
        if not settings.provision:
            workload(settings.workload).prepare(endpoint)  # e.g. a missing queue: one line now, not per user
            self.provisioned[workload] = settings
            return
        where = endpoint.url or f"AWS {settings.region}"
        try:
            instance = workload(settings.workload)
            created = instance.provision(endpoint)
        except (BotoCoreError, ClientError, KeyError) as exc:
            raise ConfigError(
                f"cannot prepare {workload.service.name} {workload.resource_kind} "
                f"{settings.workload.resource!r} at {where}: {one_line(exc)}"
            ) from None
        verb = "created" if created else "using existing"
        logger.info(
            "%s %s %s %r at %s", workload.service.name, verb, workload.resource_kind, settings.workload.resource, where
        )
        self.provisioned[workload] = settings

    def on_test_start(self, environment: Environment, **_: Any) -> None:
        finish.reset()
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            return
        self.reports.test_started(environment)  # before the counts of a previous test are cleared
        if isinstance(runner, MasterRunner) and environment.parsed_options is not None:
            environment.parsed_options.budget_workers = max(1, runner.worker_count)
        try:  # the web UI may have changed the flags since start-up
            self.prepare(environment)
        except (ConfigError, EmulatorError) as exc:
            logger.error("cannot start the test: %s", exc)
            assert runner is not None
            runner.stop()  # type: ignore[no-untyped-call]

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        shutdown_process()  # every process: native threads and loops must end before exit
        if isinstance(environment.runner, WorkerRunner):
            return
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
        if self.tally.rows:
            logger.info("AWS summary:\n%s", self.tally.summary(self.latency.all_percentiles()))
        path = getattr(environment.parsed_options, "summary_json", "")
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(
                orjson.dumps(self.tally.as_dict(self.latency.all_percentiles()), option=orjson.OPT_INDENT_2)
            )
        self.reports.write(environment)
        if self.reports.live is not None:
            self.reports.live.stop_sampling()
        self.stop_emulators()

    def stop_emulators(self) -> None:
        for emulator in self.emulators.values():
            emulator.stop()
        self.emulators.clear()
