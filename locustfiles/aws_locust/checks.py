"""Pass/fail thresholds for unattended runs (CI jobs, Kubernetes Jobs): `--check-*`.

Evaluated once, at the end of the run, by the master (or the single local process) on
the figures of the whole run, all workers together. Each breach is one line
`check failed: ...` naming the figure and the limit, and the verdict aws_locust.outcome
CHECK_FAILED (exit 4, unless a worse code applies). Every check evaluated, passed or
not, goes into --summary-json and the report as `checks`: name, limit, value, passed.

- `--check-p99-ms`: the p99 of each row (service, operation, strategy); in rate mode the
  intended-time p99 (stalls included), otherwise the service time. The line says which.
- `--check-error-ratio`: calls failed other than throttled / calls.
- `--check-throttle-ratio`: throttled calls / calls (apart from the errors).
- `--check-min-rate`: acknowledged records per second over the run.
- `--check-max-cost-usd`: the estimated AWS cost of the run (calls and hourly charges).
- `--check-given-up`: most records given up (default 0: any record given up fails;
  `off` for none). With --find-max the default is off: the knee finder overloads the
  service on purpose, and records given up past the knee are part of the search.

Several services in one run: `--check-p99-ms`, `--check-error-ratio`,
`--check-throttle-ratio` and `--check-min-rate` also take one limit per service
(`--check-p99-ms dynamodb=20,s3=80`), each judged on that service's calls alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aws_locust.mix import parse_per_service
from writers.errors import ConfigError

OFF = ("off", "none", "no")
KIND_NAMES = {"service": "service time", "intended": "intended-time"}
PER_SERVICE = {  # the checks that take one limit per service: field -> (flag, highest limit)
    "p99_ms": ("--check-p99-ms", 3_600_000.0),
    "error_ratio": ("--check-error-ratio", 1.0),
    "throttle_ratio": ("--check-throttle-ratio", 1.0),
    "min_rate": ("--check-min-rate", 1e9),
}


def add_check_arguments(parser: Any) -> None:
    add = parser.add_argument
    add("--check-p99-ms", default="", help="fail (exit 4) if a row's p99 is above this, ms (rate mode: intended-time)")
    add("--check-error-ratio", default="", help="fail (exit 4) if failed, not throttled calls / calls is above (0..1)")
    add("--check-throttle-ratio", default="", help="fail (exit 4) if throttled calls / calls is above this (0..1)")
    add("--check-min-rate", default="", help="fail (exit 4) if acknowledged records/s over the run is below this")
    add("--check-max-cost-usd", default="", help="fail (exit 4) if the run's estimated AWS cost is above this, USD")
    add(
        "--check-given-up",
        default="",
        help="fail (exit 4) if more records than this were given up (default 0: any, off with --find-max; 'off')",
    )


@dataclass(frozen=True)
class CheckSettings:
    p99_ms: float | None = None
    error_ratio: float | None = None
    throttle_ratio: float | None = None
    min_rate: float | None = None
    max_cost_usd: float | None = None
    given_up: int | None = 0  # None: not checked
    by_service: dict[str, CheckSettings] = field(default_factory=dict)  # registry name -> its own limits

    @property
    def any(self) -> bool:
        return (
            any(
                value is not None
                for value in (self.p99_ms, self.error_ratio, self.throttle_ratio, self.min_rate, self.max_cost_usd)
            )
            or (self.given_up is not None)
            or bool(self.by_service)
        )

    def named(self) -> dict[str, list[str]]:
        """Flag -> the services it gives a limit for."""
        found: dict[str, list[str]] = {}
        for service, limits in self.by_service.items():
            for name, (flag, _) in PER_SERVICE.items():
                if getattr(limits, name) is not None:
                    found.setdefault(flag, []).append(service)
        return found


def _limit(flag: str, text: Any, high: float) -> float | None:
    text = str(text if text is not None else "").strip()
    if text == "" or text.lower() in OFF:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{flag} must be a number, not {text!r}") from None
    if not (0 <= value <= high):  # also false for NaN
        raise ConfigError(f"{flag} must be at least 0 and at most {high:g} (got {text})")
    return value


def read_check_settings(options: Any) -> CheckSettings:
    """Check the --check-* flags; ConfigError with one clear line on the first bad one."""
    given_up_text = str(getattr(options, "check_given_up", "") or "").strip()
    if not given_up_text:  # the default: any record given up fails, except while searching the knee
        given_up_text = "off" if getattr(options, "find_max", False) else "0"
    given_up = _limit("--check-given-up", given_up_text, 1e15)
    if given_up is not None and given_up != int(given_up):
        raise ConfigError(f"--check-given-up must be a whole number of records or 'off' (got {given_up:g})")
    limits: dict[str, float | None] = {}
    by_service: dict[str, dict[str, float | None]] = {}
    for name, (flag, high) in PER_SERVICE.items():
        text = getattr(options, "check_" + name, "")
        per_service = parse_per_service(flag, text)
        if per_service is None:
            limits[name] = _limit(flag, text, high)
            continue
        limits[name] = None
        for service, value in per_service.items():
            by_service.setdefault(service, {})[name] = _limit(f"{flag} {service}", value, high)
    return CheckSettings(
        p99_ms=limits["p99_ms"],
        error_ratio=limits["error_ratio"],
        throttle_ratio=limits["throttle_ratio"],
        min_rate=limits["min_rate"],
        max_cost_usd=_limit("--check-max-cost-usd", getattr(options, "check_max_cost_usd", ""), 1e9),
        given_up=None if given_up is None else int(given_up),
        by_service={
            service: CheckSettings(
                p99_ms=values.get("p99_ms"),
                error_ratio=values.get("error_ratio"),
                throttle_ratio=values.get("throttle_ratio"),
                min_rate=values.get("min_rate"),
                given_up=None,
            )
            for service, values in by_service.items()
        },
    )


@dataclass(frozen=True)
class RowP99:
    row: str  # "DynamoDB PutItem [gevent]"
    kind: str  # "intended" or "service"
    p99_ms: float


@dataclass(frozen=True)
class RunFigures:
    """What the checks judge: the whole run, all workers together."""

    calls: int
    failed: int  # failed calls other than throttled
    throttled: int
    acked: int
    given_up: int
    duration_seconds: float
    cost_usd: float
    p99: list[RowP99] = field(default_factory=list)


@dataclass(frozen=True)
class CheckResult:
    name: str  # the flag without "--check-": p99_ms, error_ratio, ...
    limit: float
    value: float
    passed: bool
    text: str  # "p99 of DynamoDB PutItem [gevent] (service time) 12.3 ms, limit 50 ms (--check-p99-ms)"
    row: str = ""  # p99_ms: the row
    kind: str = ""  # p99_ms: the latency kind judged
    service: str = ""  # a per-service limit: the service (registry name) whose calls alone were judged

    def line(self) -> str:
        return f"check {'passed' if self.passed else 'failed'}: {self.text}"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "limit": self.limit, "value": self.value, "passed": self.passed}
        if self.row:
            data["row"], data["kind"] = self.row, self.kind
        if self.service:
            data["service"] = self.service
        return data


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def evaluate(settings: CheckSettings, figures: RunFigures) -> list[CheckResult]:
    """Every check that is set, in a fixed order."""
    results: list[CheckResult] = []
    if settings.p99_ms is not None:
        limit = settings.p99_ms
        for p99 in figures.p99:
            results.append(
                CheckResult(
                    "p99_ms", limit, p99.p99_ms, p99.p99_ms <= limit,
                    f"p99 of {p99.row} ({KIND_NAMES.get(p99.kind, p99.kind)}) {p99.p99_ms:g} ms, "
                    f"limit {limit:g} ms (--check-p99-ms)",
                    row=p99.row, kind=p99.kind,
                )
            )  # fmt: skip
    if settings.error_ratio is not None:
        value = _ratio(figures.failed, figures.calls)
        results.append(
            CheckResult(
                "error_ratio", settings.error_ratio, round(value, 6), value <= settings.error_ratio,
                f"error ratio {value:.4g} ({figures.failed} of {figures.calls} calls failed, throttles apart), "
                f"limit {settings.error_ratio:g} (--check-error-ratio)",
            )
        )  # fmt: skip
    if settings.throttle_ratio is not None:
        value = _ratio(figures.throttled, figures.calls)
        results.append(
            CheckResult(
                "throttle_ratio", settings.throttle_ratio, round(value, 6), value <= settings.throttle_ratio,
                f"throttle ratio {value:.4g} ({figures.throttled} of {figures.calls} calls throttled), "
                f"limit {settings.throttle_ratio:g} (--check-throttle-ratio)",
            )
        )  # fmt: skip
    if settings.min_rate is not None:
        duration = figures.duration_seconds
        value = figures.acked / duration if duration > 0 else 0.0
        results.append(
            CheckResult(
                "min_rate", settings.min_rate, round(value, 2), value >= settings.min_rate,
                f"rate {value:,.1f} acknowledged records/s ({figures.acked} in {duration:.1f} s), "
                f"limit at least {settings.min_rate:g} (--check-min-rate)",
            )
        )  # fmt: skip
    if settings.max_cost_usd is not None:
        value = figures.cost_usd
        results.append(
            CheckResult(
                "max_cost_usd", settings.max_cost_usd, value, value <= settings.max_cost_usd or math.isclose(
                    value, settings.max_cost_usd),
                f"estimated cost ${value:.6g}, limit ${settings.max_cost_usd:g} (--check-max-cost-usd)",
            )
        )  # fmt: skip
    if settings.given_up is not None:
        results.append(
            CheckResult(
                "given_up", settings.given_up, figures.given_up, figures.given_up <= settings.given_up,
                f"{figures.given_up} records given up, limit {settings.given_up} (--check-given-up)",
            )
        )  # fmt: skip
    return results


def evaluate_by_service(settings: CheckSettings, figures_of: Callable[[str], RunFigures]) -> list[CheckResult]:
    """The per-service limits, each judged on the figures of that service's calls alone
    (`figures_of`: registry name -> figures); every line names the service."""
    results: list[CheckResult] = []
    for service, limits in sorted(settings.by_service.items()):
        for result in evaluate(limits, figures_of(service)):
            text = result.text if result.row else f"{service}: {result.text}"
            results.append(replace(result, text=text.replace("(--check-", f"({service}, --check-"), service=service))
    return results
