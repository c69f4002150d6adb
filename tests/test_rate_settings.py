"""The flags' checks on constructed inputs, without Locust (aws_locust/settings.py):
durations, rate profiles, the rate mode's flags and their conflicts, the run's flags, and
the LOCUST_* variable each flag gets. tests/test_bad_input.py runs the same checks
through Locust, one process per bad value."""

from __future__ import annotations

import argparse
import math
from typing import Any

import configargparse
import pytest

from aws_locust.settings import (
    MAX_RATE,
    RateSettings,
    WithEnvVars,
    env_var_name,
    parse_rate_steps,
    parse_seconds,
    read_rate_settings,
    read_settings,
)
from writers.errors import ConfigError
from writers.services import workload_class

RATE_DEFAULTS = {
    "rate": "0",
    "arrival": "uniform",
    "rate_steps": "",
    "find_max": False,
    "find_max_start": "100",
    "find_max_growth": "2",
    "step_time": "15s",
    "slo_p99_ms": "",
    "slo_throttle_ratio": "",
    "slo_error_ratio": "",
}


def rate_options(**changes: Any) -> argparse.Namespace:
    return argparse.Namespace(**{**RATE_DEFAULTS, **changes})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("1m30s", 90), ("1.5m", 90), ("2h", 7200), ("1h30m", 5400), (" 2M ", 120), ("0", 0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_seconds(text, "--step-time") == seconds


@pytest.mark.parametrize("text", ["", "  ", "s", "10 s", "1d", "-5s", "m30", "abc"])
def test_a_bad_duration_is_one_line_naming_the_flag(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--step-time .* is not a duration like 30s, 2m or 1h30m$"):
        parse_seconds(text, "--step-time")


def test_rate_steps() -> None:
    assert parse_rate_steps("500:30s, 1000:1m,0:5") == ((500.0, 30.0), (1000.0, 60.0), (0.0, 5.0))
    for bad, why in [
        ("500", "each step is RATE:DURATION"),
        ("500:0s", "every step needs a duration above 0"),
        ("x:30s", "must be a number"),
        (f"{MAX_RATE * 10:g}:30s", "at most"),
        ("-1:30s", "at least 0"),
        ("nan:30s", "at most"),  # NaN compares false with every bound: refused
    ]:
        with pytest.raises(ConfigError, match=why):
            parse_rate_steps(bad)


def test_a_closed_loop_is_not_paced_and_each_source_of_a_rate_is() -> None:
    assert read_rate_settings(rate_options()) == RateSettings()
    assert not RateSettings().paced
    assert read_rate_settings(rate_options(rate="250.5")).rate == 250.5
    assert read_rate_settings(rate_options(rate_steps="10:1s")).paced
    knee = read_rate_settings(rate_options(find_max=True, slo_error_ratio="0.01", step_time="3s"))
    assert knee.paced and knee.slo_error_ratio == 0.01 and knee.step_seconds == 3
    assert read_rate_settings(rate_options(arrival=" Poisson ")).arrival == "poisson"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arrival": "burst"}, "--arrival must be 'uniform' or 'poisson', not 'burst'"),
        ({"rate": "nan"}, "--rate must be at least 0 and at most"),
        ({"rate": "1e12"}, "--rate must be at least 0 and at most"),
        ({"rate": "ten"}, "--rate must be a number, not 'ten'"),
        ({"rate": "10", "rate_steps": "10:1s"}, "--rate and --rate-steps both set the rate: choose one"),
        ({"rate": "10", "find_max": True, "slo_p99_ms": "5"}, "--rate and --find-max both set the rate"),
        ({"find_max": True}, "--find-max needs an objective"),
        ({"find_max": True, "slo_p99_ms": "5", "step_time": "2s"}, "--step-time must be at least 3s"),
        ({"find_max_growth": "1"}, "--find-max-growth must be above 1"),
        ({"find_max_start": "0"}, "--find-max-start must be above 0"),
        ({"slo_p99_ms": "0"}, "--slo-p99-ms must be above 0"),
        ({"slo_throttle_ratio": "1.5"}, "--slo-throttle-ratio must be at least 0 and at most 1"),
    ],
)
def test_bad_rate_flags_are_one_line_each(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        read_rate_settings(rate_options(**changes))
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)


def run_options(**changes: Any) -> argparse.Namespace:
    defaults = {
        "target": "local",
        "region": "eu-west-1",
        "records_per_task": 100,
        "concurrency": 8,
        "batch": 1,
        "payload_bytes": 0,
        "max_records": 0,
        "seed": -1,
        "max_attempts": 8,
        "timeout": 10.0,
        "keep_alive": True,
        "provision": True,
        "teardown": False,
        "abort_after": "30",
        "table": "books",
        "key_space": 0,
        "read_ratio": 0.0,
    }
    return argparse.Namespace(**{**defaults, **changes})


def test_the_run_settings_read_back_what_was_given() -> None:
    dynamodb = workload_class("dynamodb")
    settings = read_settings(run_options(seed=7, batch=25, abort_after="1m", timeout=2.5), dynamodb)
    assert (settings.target, settings.region, settings.seed, settings.batch) == ("local", "eu-west-1", 7, 25)
    assert (settings.abort_after, settings.timeout) == (60.0, 2.5)
    assert read_settings(run_options(), dynamodb).seed is None  # -1: random


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch": 0}, "--batch must be between 1 and 100"),  # 100: BatchGetItem, for reads
        ({"batch": 26}, "--batch 26: BatchWriteItem takes up to 25 items"),  # the service's own check
        ({"concurrency": 0}, "--concurrency must be between 1 and 10000"),
        ({"timeout": math.nan}, "--timeout must be between 0.001 and 3600"),
        ({"max_records": True}, "--max-records must be a number"),
        ({"region": "Mars"}, "--region 'Mars' is not an AWS region name"),
        ({"abort_after": "soon"}, "--abort-after 'soon' is not a duration"),
    ],
)
def test_bad_run_flags_are_one_line_each(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}"):
        read_settings(run_options(**changes), workload_class("dynamodb"))


def test_every_flag_added_gets_its_locust_variable_but_hidden_ones() -> None:
    assert env_var_name("--max-records") == "LOCUST_MAX_RECORDS"
    parser = configargparse.ArgumentParser()
    ours = WithEnvVars(parser)
    ours.add_argument("--max-records", type=int, default=0)
    ours.add_argument_group("g").add_argument("--slo-p99-ms", default="")
    ours.add_argument("--rate-mode", default="", help=argparse.SUPPRESS)
    env = {"LOCUST_MAX_RECORDS": "12", "LOCUST_SLO_P99_MS": "40", "LOCUST_RATE_MODE": "on"}
    options = parser.parse_args([], env_vars=env)
    assert (options.max_records, options.slo_p99_ms, options.rate_mode) == (12, "40", "")  # hidden: not read
    assert parser.parse_args(["--max-records", "3"], env_vars=env).max_records == 3  # the flag wins
