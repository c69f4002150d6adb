"""The run's resources, on the master (or the single local process), never on workers:
each workload's flags read, local emulators started, each resource provisioned and
checked before any user starts; torn down at the end; what they cost per hour and the
capacity they were given.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from aws_locust.runtime import endpoint_for, format_local_endpoints, sent_to
from aws_locust.settings import RunSettings, read_settings
from writers.emulators import RunningEmulator
from writers.errors import ConfigError, one_line
from writers.pricing import HourlyCharge
from writers.redact import redact_logs
from writers.services import Workload, banner, start_emulator

if TYPE_CHECKING:
    from locust.env import Environment

logger = logging.getLogger("aws_locust")


class Provisioning:
    def __init__(self, resources: dict[str, str]) -> None:
        self.workloads: list[type[Workload]] = []
        self.emulators: dict[str, RunningEmulator] = {}
        self.provisioned: dict[type[Workload], RunSettings] = {}
        self.capacities: dict[str, dict[str, float]] = {}  # service -> provisioned units/s by billed unit
        self.resources = resources  # service -> its resource's name (the hottest keys name it)

    def register(self, workload: type[Workload]) -> None:
        if workload not in self.workloads:
            self.workloads.append(workload)

    def read(self, options: Any, used: list[type[Workload]] | None = None) -> dict[type[Workload], RunSettings]:
        """Every workload's flags, or those of the workloads `used` (ConfigError: the first bad one)."""
        return {workload: read_settings(options, workload) for workload in (self.workloads if used is None else used)}

    def prepare(self, environment: Environment, settings: dict[type[Workload], RunSettings]) -> None:
        """Start the local emulators, provision and check the resources (of the workloads in `settings`)."""
        options = environment.parsed_options
        assert options is not None
        if any(s.target == "local" for s in settings.values()):
            missing = [w.service.boto3_name for w in settings if w.service.boto3_name not in self.emulators]
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
        self.resources[workload.service.name] = settings.workload.resource

    def capacity(self) -> dict[str, dict[str, float]]:
        return {service: units for service, units in self.capacities.items() if units}

    def hourly_charges(self) -> list[HourlyCharge]:
        """What the resources of this run cost per hour they exist (a provisioned stream's shards)."""
        return [charge for w, settings in self.provisioned.items() for charge in w.billing.hourly(settings.workload)]

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

    def stop_emulators(self) -> None:
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
