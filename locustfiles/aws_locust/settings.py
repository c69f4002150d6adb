"""The custom command-line flags (also shown in the web UI) and their checks."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any

from writers.errors import ConfigError
from writers.services import Workload, WorkloadOptions
from writers.target import default_region, parse_target

REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def add_common_arguments(parser: Any) -> None:
    group = parser  # Locust's own parser: only its add_argument knows include_in_web_ui
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
    group.add_argument("--summary-json", default="", help="write the AWS summary (items, retries, CPU) here as JSON")
    group.add_argument(
        "--report-dir",
        default="reports",
        help="write a JSON and an HTML report of each test run here ('' for none)",
    )
    # Set by the master for its workers: where the local emulators listen, how many share --max-records.
    group.add_argument("--local-endpoints", default="", include_in_web_ui=False, help=argparse.SUPPRESS)
    group.add_argument("--budget-workers", type=int, default=1, include_in_web_ui=False, help=argparse.SUPPRESS)


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


def _at_least(name: str, value: Any, low: int | float, high: int | float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"--{name} must be a number, not {value!r}")
    if value < low or (high is not None and value > high):
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
    _at_least("batch", options.batch, 1, workload.max_batch)
    _at_least("payload-bytes", options.payload_bytes, 0, workload.max_payload_bytes)
    _at_least("max-records", options.max_records, 0)
    _at_least("max-attempts", options.max_attempts, 1, 100)
    _at_least("timeout", options.timeout, 0.001, 3600)
    _at_least("seed", options.seed, -1)
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
    )
