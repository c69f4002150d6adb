"""--verify: after the run, read back every acknowledged record and report what is lost.

Every process collects the keys its calls had acknowledged; workers send theirs to the
master with their stats reports; the master (or the single local process) reads them
back through the service (DynamoDB BatchGetItem with a checksum per item, S3 listing,
SQS receive-and-count) before any teardown, reports lost/corrupt/duplicate counts, and
exits with code 3 if anything acknowledged was lost or corrupt.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from aws_locust.runtime import endpoint_for
from writers.errors import one_line
from writers.services import Workload
from writers.services.base import VerifyResult

logger = logging.getLogger("aws_locust")
EXIT_LOST = 3
READ_BACK_ATTEMPTS = 4


class Verifier:
    def __init__(self, lifecycle: Any) -> None:
        self.lifecycle = lifecycle  # its workloads, provisioned settings and endpoints
        self.keys: defaultdict[str, list[str]] = defaultdict(list)  # service name -> acknowledged keys
        self.results: dict[str, VerifyResult] = {}
        events.init_command_line_parser.add_listener(self.on_parser)
        events.init.add_listener(self.on_init)
        # quitting fires in reverse order of registration: this runs before the lifecycle's teardown.
        events.quitting.add_listener(self.on_quitting)

    def on_parser(self, parser: Any) -> None:
        parser.add_argument(
            "--verify",
            action="store_true",
            default=False,
            help="after the run, read back every acknowledged record; exit 3 if any is lost or corrupt",
        )

    def on_init(self, environment: Environment, **_: Any) -> None:
        self.options = environment.parsed_options  # on workers, the master's flags arrive later, in here
        environment.events.request.add_listener(self.on_request)
        environment.events.report_to_master.add_listener(self.report_to_master)
        environment.events.worker_report.add_listener(self.worker_report)

    def on_request(self, request_type: str, context: dict[str, Any], **_: Any) -> None:
        keys = context.get("acked_keys")
        if keys and getattr(self.options, "verify", False):
            self.keys[request_type].extend(keys)

    def report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        if self.keys:
            data["aws_acked_keys"] = dict(self.keys)
            self.keys.clear()

    def worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        for service, keys in data.get("aws_acked_keys", {}).items():
            self.keys[service].extend(keys)

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        if isinstance(environment.runner, WorkerRunner) or not getattr(environment.parsed_options, "verify", False):
            return
        failed = False
        for workload in self.lifecycle.workloads:
            result = self.verify(environment, workload)
            failed |= not result.ok
        if failed:
            environment.process_exit_code = EXIT_LOST

    @staticmethod
    def read_back(workload: Workload, endpoint: Any, keys: list[str]) -> VerifyResult:
        """The service's read-back, tried again patiently: a throttled table must not end it."""
        for attempt in range(READ_BACK_ATTEMPTS):
            try:
                return workload.verify(endpoint, keys)
            except (BotoCoreError, ClientError) as exc:
                error = one_line(exc)
                if attempt + 1 < READ_BACK_ATTEMPTS:
                    logger.warning("verify: read-back failed (%s); again in %d s", error, 2 ** (attempt + 1))
                    time.sleep(2 ** (attempt + 1))
        return VerifyResult(len(keys), error=error)

    def verify(self, environment: Environment, workload: type[Workload]) -> VerifyResult:
        name = workload.service.name
        keys = self.keys.get(name, [])
        settings = self.lifecycle.provisioned.get(workload)
        if settings is None:
            return VerifyResult(len(keys))
        endpoint = endpoint_for(settings, workload, environment.parsed_options)
        result = self.read_back(workload(settings.workload), endpoint, keys)
        self.results[name] = result
        line = (
            f"verify {name}: {result.acknowledged} acknowledged, {result.lost} lost, {result.corrupt} corrupt, "
            f"{result.duplicates} duplicates"
        )
        if result.error:
            logger.error("verify %s: could not read back %d records: %s", name, len(keys), result.error)
        elif result.ok:
            logger.info(line)
        else:
            logger.error("%s (e.g. %s)", line, ", ".join(result.examples))
        return result
