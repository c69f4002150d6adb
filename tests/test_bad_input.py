"""Bad flag values: one clear line naming the flag and a non-zero exit, before the
swarm starts and before any emulator is started; never a traceback."""

from __future__ import annotations

import re
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest
from helpers import RunLocust, stats_totals

# The glue's pure parts import without Locust (see test_report): no monkey-patching here.
from aws_locust.checks import add_check_arguments, read_check_settings
from aws_locust.settings import add_common_arguments, add_rate_arguments, read_rate_settings, read_settings
from writers.errors import ConfigError
from writers.services.dynamodb import DynamoDBWorkload

pytestmark = pytest.mark.timeout(60)

# (flag, value); every run is bounded anyway in case a bad value slipped through.
BAD_VALUES = [
    ("--batch", "26"),
    ("--batch", "0"),
    ("--concurrency", "0"),
    ("--records-per-task", "-1"),
    ("--payload-bytes", "-5"),
    ("--payload-bytes", "500000"),
    ("--max-records", "-1"),
    ("--target", "ftp://x"),
    ("--target", "nowhere"),
    ("--region", "not a region"),
    ("--table", "x"),
    ("--timeout", "0"),
    ("--timeout", "nan"),  # was accepted: a run against a stalled endpoint then never ended
]
BOUNDS = ["-u", "1", "-r", "1", "-t", "10s", "--max-records", "10"]
SWARM_STARTED = ("Ramping to", "All users spawned", "Run time limit set")
EMULATOR_STARTED = ("DynamoDB -> ", "dynalite", "moto", "local emulators")


@pytest.mark.parametrize(("flag", "value"), BAD_VALUES, ids=[f"{f}={v}" for f, v in BAD_VALUES])
def test_bad_flag_is_rejected_before_the_swarm(run_locust: RunLocust, flag: str, value: str) -> None:
    args = [*BOUNDS, flag, value]
    if flag != "--target":
        args = ["--target", "local", *args]
    if flag != "--table":
        args += ["--table", "bad-input-test"]
    run = run_locust([*args, "SequentialUser"], timeout=45)
    output = run.output

    assert run.returncode != 0, output
    assert "Traceback" not in output, output
    messages = [line for line in output.splitlines() if flag in line]
    assert len(messages) == 1, output  # one line, and it names the flag
    assert messages[0].startswith("error: "), output
    assert len(messages[0]) < 200, messages[0]
    assert not [s for s in SWARM_STARTED if s in output], output
    assert not [s for s in EMULATOR_STARTED if s in output], output  # rejected before any emulator starts
    assert stats_totals(run.stats) == (0, 0)


# --------------------------------------------------------------------------- NaN, everywhere


class FlagDefaults:
    """Stands in for Locust's parser: each flag's destination, default and type."""

    def __init__(self) -> None:
        self.flags: dict[str, tuple[str, Any, Any]] = {}  # dest -> (flag, default, type)

    def add_argument(self, *flags: str, **options: Any) -> None:
        flag = next(f for f in flags if f.startswith("--"))
        dest = options.get("dest") or flag[2:].replace("-", "_")
        self.flags[dest] = (flag, options.get("default"), options.get("type"))

    def set_defaults(self, **_: Any) -> None:
        pass


def numeric(dest: str, default: Any, kind: Any) -> bool:
    if kind in (int, float) or dest.startswith(("check_", "slo_")):  # thresholds and objectives: "" when unset
        return True
    try:
        float(str(default))
    except ValueError:
        return False
    return not isinstance(default, bool)


def read_all(options: Namespace) -> None:
    """Every check our flags go through before the swarm (aws_locust.lifecycle)."""
    read_settings(options, DynamoDBWorkload)
    read_rate_settings(options)
    read_check_settings(options)


def test_nan_is_refused_by_every_numeric_flag() -> None:
    """NaN compares false with everything, so a check written `value < low` lets it through
    (`--timeout nan` did, and a run against a stalled endpoint never ended). Each numeric
    flag of ours, set to NaN, must be refused naming the flag: as argparse would hand it
    over (a float, for float flags) or as text (the rest are parsed by our checks)."""
    recorder = FlagDefaults()
    add_common_arguments(recorder)
    add_rate_arguments(recorder)
    add_check_arguments(recorder)
    DynamoDBWorkload.add_arguments(recorder)
    defaults = {dest: default for dest, (_, default, _) in recorder.flags.items()}
    read_all(Namespace(**defaults))  # the defaults pass
    tried = []
    for dest, (flag, default, kind) in recorder.flags.items():
        if not numeric(dest, default, kind):
            continue
        tried.append(flag)
        nan = float("nan") if kind in (int, float) else "nan"
        with pytest.raises(ConfigError, match=re.escape(flag)):
            read_all(Namespace(**{**defaults, dest: nan}))
    assert {"--timeout", "--rate", "--zipf-s", "--read-ratio", "--check-p99-ms", "--slo-p99-ms"} <= set(tried), tried


@pytest.mark.parametrize("where", ["env", "conf"])
def test_nan_from_the_environment_or_a_config_file_is_one_line(
    run_locust: RunLocust, tmp_path: Path, where: str
) -> None:
    args = [*BOUNDS, "--target", "http://127.0.0.1:9", "--table", "bad-input-test", "SequentialUser"]
    env = {}
    if where == "env":
        env["LOCUST_TIMEOUT"] = "nan"
    else:
        conf = tmp_path / "nan.conf"
        conf.write_text("timeout = nan\n")
        args = ["--config", str(conf), *args]
    run = run_locust(args, timeout=45, env=env)

    assert run.returncode == 2, run.output
    lines = [line for line in run.output.splitlines() if "--timeout" in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), run.output
    assert "Traceback" not in run.output and not [s for s in SWARM_STARTED if s in run.output], run.output
