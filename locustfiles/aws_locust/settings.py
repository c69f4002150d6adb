"""The custom command-line flags (also shown in the web UI) and their checks."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from typing import Any

from aws_locust.mix import parse_per_service
from writers.errors import ConfigError
from writers.services import Workload, WorkloadOptions
from writers.target import default_region, parse_target

REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
DURATION = re.compile(r"^(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m)?(?:(\d+(?:\.\d*)?)s?)?$")
ARRIVALS = ("uniform", "poisson")
MAX_RATE = 10_000_000.0  # records/s: far beyond any table, but a typo like 1e12 is refused


ENV_PREFIX = "LOCUST_"


def env_var_name(flag: str) -> str:
    """'--max-records' -> 'LOCUST_MAX_RECORDS', the way Locust names its own options' variables."""
    return ENV_PREFIX + flag.lstrip("-").upper().replace("-", "_")


# The groups `locust --help` shows our flags in, after Locust's own options.
GROUP_PREFIX = "AWS load:"
GROUP_COMMON = f"{GROUP_PREFIX} common options"
GROUP_COMMON_NOTE = (
    "Each flag of ours can also be set as LOCUST_<FLAG> (--max-records: LOCUST_MAX_RECORDS) or in locust.conf."
)
GROUP_RATE = f"{GROUP_PREFIX} rate mode and knee finder (open model)"
GROUP_CHECKS = f"{GROUP_PREFIX} checks (exit 4) and --verify (exit 3)"
GROUP_OUTPUTS = f"{GROUP_PREFIX} reports and metrics"


def service_group(service_name: str) -> str:
    return f"{GROUP_PREFIX} {service_name} options"


# Locust's own keywords for a flag in its web UI; its parser takes them, an argparse group does not.
WEB_UI_KEYWORDS = {"include_in_web_ui": True, "is_secret": False, "is_required": False, "is_multiple": False}


class WithEnvVars:
    """Locust's parser (or one of its groups), where every flag added gets its LOCUST_* environment
    variable (Locust gives its own options one each, but not those a locustfile adds). configargparse
    then reads the variable, and `locust.conf`, exactly as it reads the command line: same types,
    same checks. Hidden flags (set by the master for its workers) get none. Each flag's help ends
    with its default, in --help and in the web UI alike."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser

    def add_argument(self, *flags: str, **options: Any) -> Any:
        long_flag = next((flag for flag in flags if flag.startswith("--")), None)
        hidden = options.get("help") is argparse.SUPPRESS
        if long_flag and "env_var" not in options and not hidden:
            options["env_var"] = env_var_name(long_flag)
        web_ui = {key: options.pop(key, default) for key, default in WEB_UI_KEYWORDS.items()}
        action = self._parser.add_argument(*flags, **options)
        for key, value in web_ui.items():  # what Locust's own add_argument records, for its web UI
            setattr(action, key, value)
        if not hidden and action.help and "default" not in action.help and action.default is not None:
            action.help = f"{action.help} (default: {show_default(action.default)})"
        return action

    def add_argument_group(self, *args: Any, **options: Any) -> WithEnvVars:
        return WithEnvVars(self._parser.add_argument_group(*args, **options))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def show_default(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value) if str(value) else "none"


def add_common_arguments(parser: Any) -> None:
    group = parser
    # The web UI opens with the class picker: one user class per strategy, chosen per test.
    parser.set_defaults(class_picker=True)
    group.add_argument(
        "--target", default="local", help="'local' (an emulator started for you), 'aws', or an endpoint URL"
    )
    group.add_argument("--region", default="", help="AWS region (default: boto3's configured region, else us-east-1)")
    group.add_argument("--records-per-task", type=int, default=100, help="records each user writes per task run")
    group.add_argument(
        "--concurrency", type=int, default=8, help="calls in flight per user (threads, tasks or sockets)"
    )
    group.add_argument("--batch", type=int, default=1, help="items per call: 1 = single-item API, more = batch API")
    group.add_argument(
        "--payload-bytes", type=int, default=0, help="pad each record to about this many bytes (0: ~100 B)"
    )
    group.add_argument(
        "--max-records", type=int, default=0, help="stop after this many acknowledged records (0: no limit)"
    )
    group.add_argument("--seed", type=int, default=-1, help="seed for reproducible records (-1: random)")
    group.add_argument("--max-attempts", type=int, default=8, help="attempts per call before its items are given up")
    group.add_argument("--timeout", type=float, default=10.0, help="connect and read timeout per call, seconds")
    group.add_argument(
        "--keep-alive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="reuse connections (--no-keep-alive sends 'Connection: close': a new connection per call)",
    )
    group.add_argument(
        "--provision",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="create the table/bucket/queue if missing (--no-provision: it must exist; no create rights needed)",
    )
    group.add_argument(
        "--teardown", action="store_true", default=False, help="delete the table/bucket/queue at the end"
    )
    group.add_argument(
        "--abort-after",
        default="30",
        help="stop the run when every call has failed for this many seconds (0: never); exit 5, or 2 for client errors",
    )
    # Set by the master for its workers: where the local emulators listen. (Whether a test is
    # paced, and how, reaches them with their part of the run: aws_locust.shares.)
    group.add_argument("--local-endpoints", default="", include_in_web_ui=False, help=argparse.SUPPRESS)


def add_output_arguments(parser: Any) -> None:
    parser.add_argument("--summary-json", default="", help="write the AWS summary (items, retries, CPU) here as JSON")
    parser.add_argument(
        "--report-dir",
        default="reports",
        help="write a JSON and an HTML report of each test run here ('' for none)",
    )


def add_rate_arguments(parser: Any) -> None:
    """The open model (--rate and friends) and the knee finder (--find-max)."""
    add = parser.add_argument
    add(
        "--rate",
        default="0",
        help="target records/s for the whole run, all workers together (0: closed loop); "
        "per service: dynamodb=200,sqs=100",
    )
    add("--arrival", default="uniform", help="rate mode: 'uniform' (evenly spaced) or 'poisson' arrivals")
    add("--rate-steps", default="", help="rate profile, e.g. 500:30s,1000:30s,2000:60s (the run ends after the last)")
    add("--find-max", action="store_true", default=False, help="search the highest rate meeting the --slo-* objectives")
    add("--find-max-start", default="100", help="--find-max: first rate tried, records/s")
    add("--find-max-growth", default="2", help="--find-max: factor between rates until the first breach")
    add("--step-time", default="15s", help="--find-max: time at each rate, e.g. 15s or 1m (the first third settles)")
    add("--slo-p99-ms", default="", help="objective: intended-time p99 of each step, ms")
    add("--slo-throttle-ratio", default="", help="objective: share of calls throttled (0..1)")
    add("--slo-error-ratio", default="", help="objective: share of calls failed other than throttled (0..1)")


def parse_seconds(text: str, flag: str) -> float:
    """'90', '90s', '1m30s', '2h' -> seconds."""
    match = DURATION.match(str(text).strip().lower())
    if not str(text).strip() or match is None or not any(match.groups()):
        raise ConfigError(f"{flag} {text!r} is not a duration like 30s, 2m or 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _number(flag: str, text: Any, low: float, high: float, *, above_low: bool = False) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ConfigError(f"{flag} must be a number, not {text!r}") from None
    if not (low < value if above_low else low <= value) or not value <= high:  # also false for NaN
        bound = f"above {low:g}" if above_low else f"at least {low:g}"
        raise ConfigError(f"{flag} must be {bound} and at most {high:g} (got {text})")
    return value


def parse_rate_steps(text: str) -> tuple[tuple[float, float], ...]:
    """'500:30s,1000:1m' -> ((500.0, 30.0), (1000.0, 60.0)): (records/s, seconds) per step."""
    steps = []
    for term in str(text).split(","):
        rate, colon, duration = term.strip().partition(":")
        if not colon:
            raise ConfigError(f"--rate-steps {text!r}: each step is RATE:DURATION, like 500:30s")
        seconds = parse_seconds(duration, "--rate-steps")
        if seconds <= 0:
            raise ConfigError(f"--rate-steps {text!r}: every step needs a duration above 0")
        steps.append((_number("--rate-steps", rate, 0, MAX_RATE), seconds))
    return tuple(steps)


@dataclass(frozen=True)
class RateSettings:
    """How the run is paced: a closed loop (nothing set), a rate, a profile, or a search."""

    rate: float = 0.0  # records/s, all workers together (every service)
    by_service: dict[str, float] = field(default_factory=dict)  # --rate dynamodb=200,sqs=100 (registry names)
    arrival: str = "uniform"
    steps: tuple[tuple[float, float], ...] = ()  # --rate-steps: (records/s, seconds)
    find_max: bool = False
    find_max_start: float = 100.0
    find_max_growth: float = 2.0
    step_seconds: float = 15.0
    slo_p99_ms: float | None = None
    slo_throttle_ratio: float | None = None
    slo_error_ratio: float | None = None

    @property
    def paced(self) -> bool:
        return self.rate > 0 or bool(self.steps) or self.find_max


def _optional(flag: str, text: Any, low: float, high: float, above_low: bool = False) -> float | None:
    return None if str(text or "").strip() == "" else _number(flag, text, low, high, above_low=above_low)


def read_rate_settings(options: Any) -> RateSettings:
    """Check the rate mode's flags; ConfigError with one clear line on the first bad one."""
    arrival = str(getattr(options, "arrival", "uniform") or "uniform").strip().lower()
    if arrival not in ARRIVALS:
        raise ConfigError(f"--arrival must be 'uniform' or 'poisson', not {arrival!r}")
    rate_text = getattr(options, "rate", "0") or "0"
    per_service = parse_per_service("--rate", rate_text)
    by_service = {
        name: _number(f"--rate {name}", text, 0, MAX_RATE, above_low=True) for name, text in (per_service or {}).items()
    }
    settings = RateSettings(
        rate=sum(by_service.values()) if by_service else _number("--rate", rate_text, 0, MAX_RATE),
        by_service=by_service,
        arrival=arrival,
        steps=parse_rate_steps(options.rate_steps) if str(getattr(options, "rate_steps", "") or "").strip() else (),
        find_max=bool(getattr(options, "find_max", False)),
        find_max_start=_number("--find-max-start", options.find_max_start, 0, MAX_RATE, above_low=True),
        find_max_growth=_number("--find-max-growth", options.find_max_growth, 1, 100, above_low=True),
        step_seconds=parse_seconds(options.step_time, "--step-time"),
        slo_p99_ms=_optional("--slo-p99-ms", options.slo_p99_ms, 0, 3_600_000, above_low=True),
        slo_throttle_ratio=_optional("--slo-throttle-ratio", options.slo_throttle_ratio, 0, 1),
        slo_error_ratio=_optional("--slo-error-ratio", options.slo_error_ratio, 0, 1),
    )
    # Per-service figures with --rate-steps or --find-max give each service's part of their rate.
    proportions = bool(by_service) and (bool(settings.steps) or settings.find_max)
    sources = [name for name, on in (("--rate", settings.rate > 0 and not proportions),
                                     ("--rate-steps", bool(settings.steps)),
                                     ("--find-max", settings.find_max)) if on]  # fmt: skip
    if len(sources) > 1:
        raise ConfigError(f"{' and '.join(sources)} both set the rate: choose one")
    if settings.find_max:
        if all(value is None for value in (settings.slo_p99_ms, settings.slo_throttle_ratio, settings.slo_error_ratio)):
            raise ConfigError("--find-max needs an objective: --slo-p99-ms, --slo-throttle-ratio or --slo-error-ratio")
        if settings.step_seconds < 3:
            raise ConfigError(f"--step-time must be at least 3s for --find-max (got {options.step_time})")
    return settings


@dataclass(frozen=True)
class RunSettings:
    target: str
    region: str
    workload: WorkloadOptions  # the service's own options, resource name first
    records_per_task: int
    concurrency: int
    batch: int
    payload_bytes: int
    max_records: int
    seed: int | None
    max_attempts: int
    timeout: float
    keep_alive: bool
    provision: bool
    teardown: bool
    abort_after: float  # seconds; 0: never


def _at_least(name: str, value: Any, low: int | float, high: int | float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"--{name} must be a number, not {value!r}")
    if not low <= value or (high is not None and not value <= high):  # also true for NaN
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"--{name} must be {bound} (got {value})")


def read_settings(options: Any, workload: type[Workload]) -> RunSettings:
    """Check every flag; the first bad one raises ConfigError with one clear line."""
    target = parse_target(str(options.target))
    region = str(options.region or "").strip() or default_region()
    if not REGION_PATTERN.match(region):
        raise ConfigError(f"--region {region!r} is not an AWS region name like us-east-1")
    _at_least("records-per-task", options.records_per_task, 1, 1_000_000)
    _at_least("concurrency", options.concurrency, 1, 10_000)
    _at_least("batch", options.batch, 1, max(workload.max_batch, workload.max_read_batch))
    _at_least("payload-bytes", options.payload_bytes, 0, workload.max_payload_bytes)
    _at_least("max-records", options.max_records, 0)
    _at_least("max-attempts", options.max_attempts, 1, 100)
    _at_least("timeout", options.timeout, 0.001, 3600)
    _at_least("seed", options.seed, -1)
    abort_after = parse_seconds(str(getattr(options, "abort_after", "30")), "--abort-after")
    return RunSettings(
        target=target,
        region=region,
        workload=workload.read_options(options, int(options.batch), int(options.payload_bytes)),
        records_per_task=int(options.records_per_task),
        concurrency=int(options.concurrency),
        batch=int(options.batch),
        payload_bytes=int(options.payload_bytes),
        max_records=int(options.max_records),
        seed=None if options.seed == -1 else int(options.seed),
        max_attempts=int(options.max_attempts),
        timeout=float(options.timeout),
        keep_alive=bool(options.keep_alive),
        provision=bool(options.provision),
        teardown=bool(options.teardown),
        abort_after=abort_after,
    )
