"""--verify: after the run, read back every acknowledged record and report what is lost.

Every process collects the keys its calls had acknowledged; workers send theirs to the
master with their stats reports; the master (or the single local process) reads them
back through the service (DynamoDB BatchGetItem with a checksum per item, S3 listing,
SQS receive-and-count) once every writer has stopped and before any teardown.

Three verdicts, never confused (aws_locust.outcome): records lost or corrupt (exit 3),
the read-back itself failed so nothing is known (exit 7), and records that cannot be
checked at all (exit 8: the run's own consumers took them, or the run never reached a
working endpoint).

Keys written more than once (DynamoDB's --key-space): each acknowledged write also carries
its record's version (checksum) and when it was sent and acknowledged (wall clock). The
stored item must be the last acknowledged version; writes of one key that were in flight
at the same time may be applied in either order, so every version whose write was still
unacknowledged when the last-sent acknowledged write of that key was sent is accepted too.
What is kept is per key, not per write (writers.services.base.KeyVersions): a long run
at a high rate over a small key space costs the memory of its keys.

The end of a test is exact: the users stop only once the writes they had in flight are
answered (aws_locust.drain), so a write the service applied is not left unacknowledged.
If some were still unanswered when the drain gave up (a stalled service), a key found
holding a version newer than its last acknowledged one is `uncertain`, not lost: one of
those writes may have put it there.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from aws_locust import outcome
from aws_locust.outcome import Verdicts
from aws_locust.runtime import endpoint_for
from writers.errors import one_line
from writers.services import Workload
from writers.services.base import KeyVersions, VerifyResult

if TYPE_CHECKING:
    from locust.env import Environment

    from aws_locust.provisioning import Provisioning

logger = logging.getLogger("aws_locust")
READ_BACK_ATTEMPTS = 4
RETRY_BUDGET_SECONDS = 20.0  # waiting between attempts, at most: a stopped pod has a grace period


class Verifier:
    def __init__(self) -> None:
        self.keys: defaultdict[str, list[str]] = defaultdict(list)  # service name -> acknowledged keys (unique)
        self.versions: defaultdict[str, KeyVersions] = defaultdict(KeyVersions)  # service -> keys written again
        self.unanswered = 0  # users still waiting for answers when the drain at the end gave up
        self.results: dict[str, VerifyResult] = {}
        self.options: Any = None

    def add_argument(self, parser: Any) -> None:
        parser.add_argument(
            "--verify",
            action="store_true",
            default=False,
            help="after the run, read back every acknowledged record; exit 3 if any is lost or corrupt",
        )

    def attach(self, environment: Environment) -> None:
        """Reporting and merging; the request listener is added only while --verify is on
        (the lifecycle does, at each test start: `listen`)."""
        self.options = environment.parsed_options  # on workers, the master's flags arrive later, in here
        environment.events.report_to_master.add_listener(self.report_to_master)
        environment.events.worker_report.add_listener(self.worker_report)

    def on_request(self, request_type: str, context: dict[str, Any], response_time: float = 0.0, **_: Any) -> None:
        keys = context.get("acked_keys")
        if not keys:
            return
        versions = context.get("acked_versions")
        if not versions:
            self.keys[request_type].extend(keys)
            return
        acked = context.get("answered_at") or time.time()  # when the answer came, by the strategy's clock
        sent = acked - (response_time or 0.0) / 1000.0
        log = self.versions[request_type]
        for key, version in zip(keys, versions, strict=False):
            log.add(key, version, sent, acked)

    def add_unanswered(self, users: int) -> None:
        """Users that still waited for answers when the drain at the end gave up (aws_locust.drain)."""
        self.unanswered += users

    def report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        if self.keys:
            data["aws_acked_keys"] = dict(self.keys)
            self.keys.clear()
        if self.versions:
            data["aws_acked_versions"] = {service: log.to_message() for service, log in self.versions.items()}
            self.versions.clear()
        if self.unanswered:
            data["aws_unanswered"] = self.unanswered
            self.unanswered = 0

    def worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        for service, keys in data.get("aws_acked_keys", {}).items():
            self.keys[service].extend(keys)
        for service, rows in data.get("aws_acked_versions", {}).items():
            self.versions[service].merge_message(rows)
        self.unanswered += int(data.get("aws_unanswered", 0))

    def clear(self) -> None:
        self.keys.clear()
        self.versions.clear()
        self.unanswered = 0
        self.results.clear()

    @staticmethod
    def read_back(workload: Workload, endpoint: Any, keys: list[str]) -> VerifyResult:
        """The service's read-back, tried again patiently: a throttled table must not end it.
        The same workload object is asked again, so a read-back that consumes (SQS) goes on
        from where it stopped instead of starting over."""
        started = time.monotonic()
        error = ""
        for attempt in range(READ_BACK_ATTEMPTS):
            try:
                return workload.verify(endpoint, keys)
            except (BotoCoreError, ClientError) as exc:
                error = one_line(exc)
                pause = 2 ** (attempt + 1)
                if attempt + 1 < READ_BACK_ATTEMPTS and time.monotonic() - started + pause <= RETRY_BUDGET_SECONDS:
                    logger.warning("verify: read-back failed (%s); again in %d s", error, pause)
                    time.sleep(pause)
                else:
                    break
        return VerifyResult(len(keys), error=error)

    def verify_all(
        self, environment: Environment, provisioning: Provisioning, verdicts: Verdicts, skip_reason: str = ""
    ) -> None:
        """Read back every service's acknowledged records; record the verdicts in `verdicts`."""
        for workload in provisioning.workloads:
            self.verify(environment, provisioning, workload, verdicts, skip_reason)

    def verify(
        self,
        environment: Environment,
        provisioning: Provisioning,
        workload: type[Workload],
        verdicts: Verdicts,
        skip_reason: str,
    ) -> None:
        name = workload.service.name
        versions = self.versions.get(name)
        keys = self.keys.get(name, []) + (list(versions.rows) if versions else [])
        settings = provisioning.provisioned.get(workload)
        if settings is None:
            return
        instance = workload(settings.workload)
        reason = skip_reason or instance.unverifiable()
        if reason:
            verdicts.record(
                outcome.NOT_VERIFIABLE, f"verify {name}: {len(keys)} acknowledged records cannot be checked: {reason}"
            )
            return
        endpoint = endpoint_for(settings, workload, environment.parsed_options)
        if versions:
            instance.expect_versions(versions.acceptable(), newer_may_exist=self.unanswered > 0)
        result = self.read_back(instance, endpoint, keys)
        self.results[name] = result
        line = (
            f"verify {name}: {result.acknowledged} acknowledged, {result.lost} lost, {result.corrupt} corrupt, "
            f"{result.duplicates} duplicates"
        )
        if result.uncertain:
            line += f", {result.uncertain} uncertain"
            logger.warning(
                "verify %s: %d keys hold a version written after their last acknowledged write, by one of the "
                "writes still unanswered when the users stopped: not counted as lost",
                name, result.uncertain,
            )  # fmt: skip
        if result.error:
            verdicts.record(
                outcome.VERIFY_FAILED, f"verify {name}: could not read back {len(keys)} records: {result.error}"
            )
        elif result.lost or result.corrupt:
            verdicts.record(outcome.LOST, f"{line} (e.g. {', '.join(result.examples)})")
        else:
            logger.info(line)
