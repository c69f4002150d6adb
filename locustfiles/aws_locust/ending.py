"""The end of a run, whatever ended it (-t, --max-records, the knee finder, --abort-after,
SIGTERM, Ctrl-C): one sequence, run once. Every user stops sending; native threads and
event loops end; `--verify` reads back (master only, after every writer stopped);
teardown; the `--check-*` verdicts; the AWS summary, `--summary-json` and the report are
written; the exit code is the worst verdict (aws_locust.outcome); the emulators stop last.

The decisions (what the summary says, what the checks judge, whether the target was
reached, why a read-back is skipped) are functions of their inputs, tested on their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from aws_locust import checks, mix, outcome
from aws_locust.checks import CheckResult, CheckSettings, RowP99, RunFigures
from aws_locust.files import write_atomically
from aws_locust.hotkeys import HotKeys
from aws_locust.keep import ReportKeeper
from aws_locust.latency import LatencyHistograms
from aws_locust.outcome import Verdicts
from aws_locust.process import ProcessParts
from aws_locust.provisioning import Provisioning
from aws_locust.report import Reports
from aws_locust.settings import RateSettings
from aws_locust.tally import AwsTally
from aws_locust.verify import Verifier
from writers.errors import one_line
from writers.pricing import PICO_PER_USD, hourly_rows
from writers.strategies import shutdown_process

if TYPE_CHECKING:
    from locust.env import Environment

logger = logging.getLogger("aws_locust")


@dataclass
class RunTargets:
    """What the run was asked for, as its end judges it (set before each test starts)."""

    rate: RateSettings = field(default_factory=RateSettings)
    checks: CheckSettings = field(default_factory=CheckSettings)
    max_records: int = 0


# ---------------------------------------------------------------------- decisions


def verify_skip_reason(verdicts: Collection[int]) -> str:
    """Why `--verify` reads nothing back ("" : it reads)."""
    if outcome.ABORTED in verdicts:
        return "the endpoint failed every call at the end of the run (--abort-after)"
    if outcome.PERMANENT in verdicts:
        return "every call failed with a client error at the end of the run"
    return ""


def target_missed(max_records: int, acked: int) -> str | None:
    """The verdict line when --max-records was not reached (None: reached, or no target)."""
    if not max_records or acked >= max_records:
        return None
    return f"error: --max-records {max_records} not reached: {acked} acknowledged"


def run_figures(
    tally: AwsTally, latency: LatencyHistograms, paced: bool, duration: float, hourly_usd: float, service: str = ""
) -> RunFigures:
    """The whole run's figures, as the --check-* flags judge them: p99 of the intended time
    where the run was paced and has it, of the service time otherwise. `service` (a registry
    name, "dynamodb"): that service's calls alone (the hourly charges stay the run's)."""
    shown = mix.shown_name(service) if service else ""
    rows = {key: row for key, row in tally.rows.items() if not shown or key.service == shown}
    p99: list[RowP99] = []
    for key in sorted(rows):
        intended = latency.percentiles(key, "intended") if paced else {}
        kind, pct = ("intended", intended) if intended else ("service", latency.percentiles(key, "service"))
        if "p99" in pct:
            p99.append(RowP99(key.name, kind, pct["p99"]))

    def total(name: str) -> int:
        return sum(row[name] for row in rows.values())

    failed = sum(v for row in rows.values() for k, v in row.items() if k.startswith("failed_"))
    throttled = total("failed_throttled")
    return RunFigures(
        calls=total("calls"),
        failed=failed - throttled,
        throttled=throttled,
        acked=total("acked") if shown else tally.records(),
        given_up=total("given_up_items"),
        duration_seconds=duration,
        cost_usd=total("cost_pusd") / PICO_PER_USD + hourly_usd,
        p99=p99,
    )


def rate_summary(
    rate: RateSettings, target: float, changes: list[dict[str, Any]], acked: int, duration: float, late: int,
    missed: int,
) -> dict[str, Any]:  # fmt: skip
    """--summary-json's `rate`: the target (None when searched), its changes, what was achieved."""
    return {
        "target": target if not rate.find_max else None,
        "targets": changes,
        "achieved": round(acked / duration, 1) if duration > 0 else 0.0,
        "late": late,
        "missed": missed,
        "arrival": rate.arrival,
    }


# ---------------------------------------------------------------------- the sequence


class RunEnd:
    def __init__(
        self,
        targets: RunTargets,
        tally: AwsTally,
        latency: LatencyHistograms,
        hot: HotKeys,
        verifier: Verifier,
        keeper: ReportKeeper,
        provisioning: Provisioning,
        stop_services: Callable[[], None],
        verdicts: Verdicts,
    ) -> None:
        self.targets = targets
        self.tally = tally
        self.latency = latency
        self.hot = hot
        self.verifier = verifier
        self.keeper = keeper
        self.provisioning = provisioning
        self.stop_services = stop_services  # the metrics server and the emulators: last
        self.verdicts = verdicts  # the run's (the lifecycle holds them): the exit code
        # --report-dir: the same summary as --summary-json
        self.reports = Reports(tally, latency, verdicts, self.summary)
        self.parts = ProcessParts()  # the lifecycle's, from its init event on
        self.check_results: list[CheckResult] | None = None  # evaluated at the end
        self.summary_sections: list[Callable[[dict[str, Any]], None]] = []  # each adds to the summary
        self.ended = False

    def on_quitting(self, environment: Environment, stop_test: Callable[[Environment], None], worker: bool) -> None:
        """Locust quits (`worker`: this process is a worker; it ends only itself)."""
        if self.ended:
            return  # the end runs once, however many times Locust fires quitting
        self.ended = True
        runner = environment.runner
        if runner is not None and runner.state not in ("stopped", "ready"):
            # Ctrl-C: Locust fires quitting while users still write
            runner.stop() if worker else runner.quit()
        stop_test(environment)
        shutdown_process()  # every process: native threads and loops must end before exit
        if worker:
            return
        distributor = self.parts.distributor
        if distributor is not None:
            distributor.stop()
            missed = target_missed(self.targets.max_records, distributor.acked_total())
            if missed:
                self.verdicts.record(outcome.SHORT, missed)
        if getattr(environment.parsed_options, "verify", False):
            skip_reason = verify_skip_reason(self.verdicts.lines())
            self.verifier.verify_all(environment, self.provisioning, self.verdicts, skip_reason)
        self.provisioning.teardown(environment)
        self.run_checks(environment)
        self.write_summary(environment)
        summary = orjson.dumps(self.summary(), option=orjson.OPT_INDENT_2)
        self.keeper.upload(self.reports.written, summary, self.verdicts)
        code = self.verdicts.exit_code()
        if code is not None:
            environment.process_exit_code = code
        self.stop_services()

    def duration(self, service: str = "") -> float:
        """The test's seconds; with several services, a service's (as Locust shows it) end when
        its last user finished after the test stopped, not when another's did (aws_locust.drain)."""
        live, drainer = self.reports.live, self.parts.drainer
        if live is None:
            return 0.0
        ends = drainer.service_ends() if service and drainer is not None else {}
        return live.duration(ends.get(service) if len(ends) > 1 else None)  # one service: the test's time

    def figures(self, service: str = "") -> RunFigures:
        """The run's figures (`service`, a registry name: that service's calls alone)."""
        control = self.parts.control
        duration = self.duration(mix.shown_name(service) if service else "")
        hourly = sum(charge["cost_usd"] for charge in hourly_rows(self.provisioning.hourly_charges(), duration))
        return run_figures(self.tally, self.latency, control is not None and control.paced, duration, hourly, service)

    def run_checks(self, environment: Environment) -> None:
        """--check-*: one line per check; a breach is the verdict CHECK_FAILED (exit 4)."""
        self.check_results = checks.evaluate(self.targets.checks, self.figures())
        self.check_results += checks.evaluate_by_service(self.targets.checks, self.figures)
        for result in self.check_results:
            if result.passed:
                logger.info("%s", result.line())
            else:
                self.verdicts.record(outcome.CHECK_FAILED, result.line())

    def summary(self) -> dict[str, Any]:
        """--summary-json: the tally, every latency kind, the rate, the knee finder's search."""
        data = self.tally.as_dict(self.latency.summary())
        control, distributor, knee = self.parts.control, self.parts.distributor, self.parts.knee
        rate = self.targets.rate
        if rate.paced or (control is not None and control.changes):
            assert control is not None
            missed = distributor.missed_total() if distributor is not None else 0
            late = self.tally.total("late")
            data["rate"] = rate_summary(rate, control.target, control.changes, data["acked"], self.duration(), late,
                                        missed)  # fmt: skip
            data["rate"]["by_service"] = mix.rate_by_service(
                self.tally.rows, control.target if not rate.find_max else None, mix.rate_weights(rate.by_service),
                self.duration,
            )  # fmt: skip
        if knee is not None and knee.search is not None:
            cost = self.tally.total("cost_pusd") / 1e12
            per_record = cost / data["acked"] if data["acked"] else None
            data["find_max"] = knee.search.result(per_record)
        by_service = mix.counts_by_service(self.tally.rows)
        if len(by_service) > 1:  # several services in the run: each one's counts
            data["by_service"] = by_service
        hot = self.hot.top()
        if hot:
            data["hot_keys"] = hot
        if self.provisioning.capacity():
            data["provisioned_units_per_s"] = self.provisioning.capacity()
        if self.check_results is not None:
            data["checks"] = [result.as_dict() for result in self.check_results]
        for section in self.summary_sections:
            section(data)
        data["verdicts"] = {str(code): line for code, line in sorted(self.verdicts.lines().items())}
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
                line = f"could not write --summary-json {path}: {one_line(exc)}"
                self.verdicts.record(outcome.NOT_KEPT, line)
        self.reports.write(environment)
        if self.reports.live is not None:
            self.reports.live.stop_sampling()
