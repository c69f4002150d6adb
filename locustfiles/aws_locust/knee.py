"""The knee finder (`--find-max`): the highest rate that meets the objectives.

It raises the run's target rate step by step (`--find-max-start`, times
`--find-max-growth`), judging each step against the objectives given (`--slo-p99-ms` on
the step's intended-time p99, `--slo-throttle-ratio`, `--slo-error-ratio`) and always
"achieved at least 95 % of the target". After the first breach it bisects between the
last good and the first bad rate until they are within 5 %, then ends the run.

A breach is confirmed before the search relies on it: the same rate is measured again
over twice the step time, and only a second breach makes it bad (one spike in a short
step, a moment of noise, would otherwise end the search far below the knee). Stopped
before it is done (SIGTERM, Ctrl-C), the search reports the best step that passed.

A step: the target is set; the first third of `--step-time` settles (not judged); then
every process measures (a `StepMeter`: calls, acknowledged records, throttles, errors and
the intended-time latency of the answers that came in, and its own CPU) until the step
ends; the master gathers the meters (custom messages from the workers) and judges. After
a bad step the rate drops to 0 until every process has caught up with its backlog (calls
that were due and not started yet), so the next step is not judged on the last one's.

Several services with a rate each (`--rate dynamodb=200,sqs=100 --find-max`): every step
raises each service's rate in proportion (the run's rate times the service's part), each
service is judged on its own calls against its own rate, and the search names the first
service to break its objective (`find_max.first_breach`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import gevent
from hdrh.histogram import HdrHistogram

from aws_locust.context import is_ours, listen
from aws_locust.latency import new_histogram, release, three_digits, value_at_percentile
from aws_locust.mix import flag_name_of
from aws_locust.pace import ProcessPace
from aws_locust.settings import RateSettings

if TYPE_CHECKING:
    from locust.env import Environment

    from aws_locust.control import RateControl

logger = logging.getLogger("aws_locust")

STEP = "aws_step"  # master -> workers: {"step": n, "action": "open" | "close" | "status"}
STEP_RESULT = "aws_step_result"  # workers -> master: the meter, or {"idle": bool}
ACHIEVED_SHARE = 0.95
BISECT_WITHIN = 0.05
MAX_STEPS = 40
MIN_RATE = 1.0
GATHER_SECONDS = 5.0
CONFIRM_LONGER = 2.0  # a breach is measured again over this many times the step time


COUNTED = ("calls", "acked", "throttled", "errors", "late")  # a meter's counts (and its "histogram")


class ServiceCounts:
    """One service's calls during the open part of a step."""

    __slots__ = ("acked", "calls", "errors", "histogram", "late", "throttled")

    def __init__(self) -> None:
        self.calls = self.acked = self.throttled = self.errors = self.late = 0
        self.histogram: HdrHistogram | None = None

    def as_dict(self) -> dict[str, Any]:
        histogram = self.histogram
        encoded = histogram.encode().decode("ascii") if histogram is not None and histogram.get_total_count() else ""
        return {
            "calls": self.calls,
            "acked": self.acked,
            "throttled": self.throttled,
            "errors": self.errors,
            "late": self.late,
            "histogram": encoded,
        }


class StepMeter:
    """Every process: what the calls answered during the open part of a step did, per service."""

    def __init__(self) -> None:
        self.step = -1
        self.open = False
        self.requests: Any = None  # the request event's hook, set by attach: listened to while a step is open
        self.services: dict[str, ServiceCounts] = {}
        # A pipeline: only its last step's acknowledgements are records through (that service's name).
        self.acked_from: str | None = None
        self._reset()

    def attach(self, environment: Environment) -> None:
        self.requests = environment.events.request

    def _reset(self) -> None:
        release([c.histogram for c in self.services.values() if c.histogram is not None])
        self.services = {}
        self.started = time.perf_counter()
        self.cpu = time.process_time()

    def on_request(self, context: Any = None, exception: Any = None, **_: Any) -> None:
        if not self.open or not is_ours(context):
            return
        service = context["row"].service
        counts = self.services.get(service)
        if counts is None:
            counts = self.services[service] = ServiceCounts()
        counts.calls += 1
        if self.acked_from is None or service == self.acked_from:
            counts.acked += context["acked"]
        counts.late += bool(context.get("late"))
        if exception is not None:
            if context["failure_kind"] == "throttled":
                counts.throttled += 1
            else:
                counts.errors += 1
        intended = context.get("intended_ms")
        if intended is not None:
            if counts.histogram is None:
                counts.histogram = new_histogram()
            counts.histogram.record_value(max(1, min(3_600_000_000, round(intended * 1000))))

    def start(self, step: int) -> None:
        self._reset()
        self.step, self.open = step, True
        if self.requests is not None:
            listen(self.requests, self.on_request, True)

    def finish(self, step: int) -> dict[str, Any]:
        """The step's figures, to add up on the master (histograms encoded): every service's
        calls together, and each service's apart (`by_service`)."""
        self.open = False
        if self.requests is not None:
            listen(self.requests, self.on_request, False)
        if step != self.step:
            return {"step": step, "seconds": 0.0}
        by_service = {service: counts.as_dict() for service, counts in self.services.items()}
        totals: dict[str, Any] = {key: sum(c[key] for c in by_service.values()) for key in COUNTED}
        if len(by_service) == 1:
            totals["histogram"] = next(iter(by_service.values()))["histogram"]
        else:  # several services (once per step): their histograms added up
            merged = new_histogram()
            for counts in self.services.values():
                if counts.histogram is not None:
                    merged.add(counts.histogram)
            totals["histogram"] = merged.encode().decode("ascii") if merged.get_total_count() else ""
            release([merged])
        return {
            "step": step,
            "seconds": time.perf_counter() - self.started,
            "cpu": time.process_time() - self.cpu,
            **totals,
            "by_service": by_service,
        }


@dataclass
class Step:
    rate: float
    achieved: float = 0.0
    p99_intended_ms: float | None = None
    throttle_ratio: float = 0.0
    error_ratio: float = 0.0
    verdict: str = ""  # "ok" or "breach: ..."
    late: int = 0
    cpu_seconds: float = 0.0
    acked: int = 0
    seconds: float = 0.0  # the judged part of the step (after the settling third)
    confirms: bool = False  # this step measured again a rate that breached
    # several services with a rate each: each one's figures and verdict (registry names), and who breached
    by_service: dict[str, dict[str, Any]] = field(default_factory=dict)
    breached_by: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu_per_1000_records"] = round(1000 * self.cpu_seconds / self.acked, 4) if self.acked else None
        return data


def combine(
    rate: float, meters: list[dict[str, Any]], settings: RateSettings, weights: dict[str, float] | None = None
) -> Step:
    """One step's verdict from every process's meter. `weights`: each service's part of the
    rate (several services with a rate each): each service is judged on its own calls."""
    step = judge(rate, [([m], m["seconds"]) for m in meters], settings)  # every service's calls together
    step.cpu_seconds = round(sum(m.get("cpu", 0.0) for m in meters), 3)
    if not weights:
        return step
    breaches = []
    for service, part in sorted(weights.items()):
        parts = [
            ([m["by_service"][service]] if service in m.get("by_service", {}) else [], m["seconds"]) for m in meters
        ]
        alone = judge(rate * part, parts, settings)
        name = flag_name_of(service)
        step.by_service[name] = {
            "rate": round(rate * part, 1), "achieved": alone.achieved, "p99_intended_ms": alone.p99_intended_ms,
            "throttle_ratio": alone.throttle_ratio, "error_ratio": alone.error_ratio, "verdict": alone.verdict,
        }  # fmt: skip
        if not alone.ok:
            step.breached_by.append(name)
            breaches.append(f"{name}: {alone.verdict.removeprefix('breach: ')}")
    step.verdict = "breach: " + "; ".join(breaches) if breaches else "ok"
    return step


def judge(rate: float, parts: list[tuple[list[dict[str, Any]], float]], settings: RateSettings) -> Step:
    """A step's figures and verdict at `rate` from each process's (counts, seconds measured):
    its counts are a list (its meter, or the counts of one service of it; none: it had no calls)."""
    step = Step(rate)
    counts = [c for services, _ in parts for c in services]
    calls = sum(c.get("calls", 0) for c in counts)
    step.acked = sum(c.get("acked", 0) for c in counts)
    # each process's rate over its own measured time: they opened and closed within ms of each other
    step.achieved = round(
        sum(sum(c.get("acked", 0) for c in services) / seconds for services, seconds in parts if seconds), 1
    )
    step.throttle_ratio = round(sum(c.get("throttled", 0) for c in counts) / calls, 4) if calls else 0.0
    step.error_ratio = round(sum(c.get("errors", 0) for c in counts) / calls, 4) if calls else 0.0
    step.late = sum(c.get("late", 0) for c in counts)
    merged = new_histogram()
    for count in counts:
        if count.get("histogram"):
            decoded = HdrHistogram.decode(count["histogram"].encode("ascii"))
            merged.add(decoded)
            release([decoded])
    if merged.get_total_count():
        step.p99_intended_ms = three_digits(value_at_percentile(merged, 99.0) / 1000)
    release([merged])
    breaches = []
    if step.achieved < ACHIEVED_SHARE * rate:
        breaches.append(f"achieved {step.achieved:g} < 95 % of {rate:g}")
    if settings.slo_p99_ms is not None and (step.p99_intended_ms is None or step.p99_intended_ms > settings.slo_p99_ms):
        breaches.append(f"p99 {step.p99_intended_ms} ms > {settings.slo_p99_ms:g} ms")
    if settings.slo_throttle_ratio is not None and step.throttle_ratio > settings.slo_throttle_ratio:
        breaches.append(f"throttled {step.throttle_ratio:.2%} > {settings.slo_throttle_ratio:.2%}")
    if settings.slo_error_ratio is not None and step.error_ratio > settings.slo_error_ratio:
        breaches.append(f"errors {step.error_ratio:.2%} > {settings.slo_error_ratio:.2%}")
    step.verdict = "breach: " + "; ".join(breaches) if breaches else "ok"
    return step


def next_rate(good: float | None, bad: float | None, current: float, settings: RateSettings) -> float | None:
    """The next rate to try, or None when the search is done."""
    if bad is None:
        return current * settings.find_max_growth  # no breach yet: grow
    if good is None:  # even the first rate breached: halve until one holds
        return bad / 2 if bad / 2 >= MIN_RATE else None
    if bad - good <= BISECT_WITHIN * good:
        return None
    return (good + bad) / 2


@dataclass
class Search:
    settings: RateSettings
    steps: list[Step] = field(default_factory=list)
    sustainable: float | None = None
    done: bool = False
    weights: dict[str, float] = field(default_factory=dict)  # several services: each one's part of the rate

    def first_breach(self) -> list[str]:
        """The services that broke their objective first (several services with a rate each)."""
        return next((step.breached_by for step in self.steps if step.breached_by), [])

    def best_passed(self) -> Step | None:
        return max((s for s in self.steps if s.ok), key=lambda s: s.rate, default=None)

    def result(self, cost_per_record_usd: float | None) -> dict[str, Any]:
        best = self.best_passed()
        cpu = best.as_json()["cpu_per_1000_records"] if best is not None else None
        # stopped before the end: the best step that passed (what is known so far)
        rate = self.sustainable if self.done else best.rate if best is not None else 0.0
        rate = rate or 0.0
        return {
            "sustainable_rate": round(rate, 1),
            "objectives": {
                "p99_intended_ms": self.settings.slo_p99_ms,
                "throttle_ratio": self.settings.slo_throttle_ratio,
                "error_ratio": self.settings.slo_error_ratio,
                "achieved_share": ACHIEVED_SHARE,
            },
            "cpu_per_1000_records": cpu,
            "cores_per_10000_records_per_s": round(cpu * 10, 3) if cpu else None,
            "cost_per_hour_usd": round(cost_per_record_usd * rate * 3600, 4) if cost_per_record_usd else None,
            "steps": [step.as_json() for step in self.steps],
            "complete": self.done,
            **({"first_breach": self.first_breach()} if self.weights else {}),
        }


class KneeFinder:
    """Master or local process: runs the search in a greenlet of its own."""

    def __init__(
        self,
        environment: Environment,
        control: RateControl,
        broadcast: Callable[[dict[str, Any]], int],
        end_run: Callable[[str], None],
        meter: StepMeter,
        pace: ProcessPace,
    ) -> None:
        self.environment = environment
        self.control = control
        self.meter = meter  # this process's (local runs measure here; a master's workers measure)
        self.pace = pace
        self.broadcast = broadcast  # send to every worker; how many were sent to (0: local)
        self.end_run = end_run
        self.search: Search | None = None
        self._greenlet: gevent.Greenlet | None = None
        self._replies: dict[int, list[dict[str, Any]]] = {}
        self._step_number = 0

    def start(self, settings: RateSettings, weights: dict[str, float] | None = None) -> None:
        self.stop()
        self.search = Search(settings, weights=dict(weights or {}))
        self._greenlet = gevent.spawn(self._run, self.search)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
            search = self.search
            if search is not None and not search.done:
                best = search.best_passed()
                logger.info(
                    "find-max stopped before the end: the best step that passed was %s records/s",
                    f"{best.rate:g}" if best is not None else "none",
                )

    def on_reply(self, data: dict[str, Any]) -> None:
        self._replies.setdefault(int(data["step"]), []).append(data)

    # ------------------------------------------------------------------ the search

    def _run(self, search: Search) -> None:
        settings = search.settings
        rate: float | None = settings.find_max_start
        good = bad = None
        while rate is not None and len(search.steps) < MAX_STEPS:
            step = self._step(search, rate, settings.step_seconds)
            if not step.ok:  # confirmed before the search relies on it: once more, over a longer time
                self._drain(settings)
                step = self._step(search, rate, CONFIRM_LONGER * settings.step_seconds, confirms=True)
            if step.late and not step.ok:
                logger.warning(
                    "find-max: %d calls found every slot busy at %g records/s: if the service was not the limit, "
                    "add users or --concurrency",
                    step.late, rate,
                )  # fmt: skip
            if step.ok:
                good = rate if good is None else max(good, rate)
            else:
                bad = rate if bad is None else min(bad, rate)
                self._drain(settings)
            rate = next_rate(good, bad, rate, settings)
        search.sustainable = good or 0.0
        search.done = True
        logger.info("sustainable rate: %g records/s", round(search.sustainable, 1))
        if search.first_breach():
            logger.info("first to break its objective: %s", ", ".join(search.first_breach()))
        self.end_run("--find-max done")

    def _step(self, search: Search, rate: float, seconds: float, confirms: bool = False) -> Step:
        step = self._measure(rate, seconds, search.settings, search.weights)
        step.confirms = confirms
        search.steps.append(step)
        logger.info(
            "find-max step %d: %g records/s%s -> achieved %g, intended p99 %s ms, throttled %.2f%%, "
            "errors %.2f%%: %s",
            len(search.steps), rate, " (the breach measured again, longer)" if confirms else "", step.achieved,
            step.p99_intended_ms, 100 * step.throttle_ratio, 100 * step.error_ratio, step.verdict,
        )  # fmt: skip
        return step

    def _measure(self, rate: float, seconds: float, settings: RateSettings, weights: dict[str, float]) -> Step:
        self.control.set_target(rate, "--find-max")
        settle = settings.step_seconds / 3
        gevent.sleep(settle)
        self._step_number += 1
        number = self._step_number
        self._replies[number] = []
        self.meter.start(number)
        workers = self.broadcast({"step": number, "action": "open"})
        gevent.sleep(seconds - settle)
        meters = [self.meter.finish(number)] if not workers else []
        meters += self._gather(number, {"step": number, "action": "close"}, workers)
        step = combine(rate, [m for m in meters if m.get("seconds")], settings, weights)
        step.seconds = round(seconds - settle, 1)
        return step

    def _gather(self, step: int, message: dict[str, Any], expected: int) -> list[dict[str, Any]]:
        if not expected:
            return []
        self._replies[step] = []
        self.broadcast(message)
        deadline = time.monotonic() + GATHER_SECONDS
        while len(self._replies[step]) < expected and time.monotonic() < deadline:
            gevent.sleep(0.05)
        return self._replies.pop(step, [])

    def _drain(self, settings: RateSettings) -> None:
        """Rate 0 until every process has started the calls it still owed."""
        self.control.set_target(0, "--find-max (catching up)")
        deadline = time.monotonic() + max(30.0, 4 * settings.step_seconds)
        while time.monotonic() < deadline:
            gevent.sleep(0.5)
            self._step_number += 1
            number = self._step_number
            workers = _worker_count(self.environment)
            statuses = self._gather(number, {"step": number, "action": "status"}, workers)
            idle = all(s.get("idle") for s in statuses) if statuses else self.pace.idle()
            if idle:
                gevent.sleep(1.0)  # calls in flight answer
                return
        logger.warning("find-max: the backlog of the last step did not drain; going on")


def _worker_count(environment: Environment) -> int:
    from locust.runners import MasterRunner

    runner = environment.runner
    return runner.worker_count if isinstance(runner, MasterRunner) else 0


def on_step_message(runner: Any, meter: StepMeter, pace: ProcessPace, data: dict[str, Any]) -> None:
    """A worker: open or close its meter, or say whether it has caught up."""
    step, action = int(data["step"]), data.get("action")
    if action == "open":
        meter.start(step)
    elif action == "close":
        runner.send_message(STEP_RESULT, meter.finish(step))
    elif action == "status":
        runner.send_message(STEP_RESULT, {"step": step, "idle": pace.idle()})
