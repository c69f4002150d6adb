"""Bad flag values: one clear line naming the flag and a non-zero exit, before the
swarm starts and before any emulator is started; never a traceback."""

from __future__ import annotations

import pytest
from conftest import RunLocust, stats_totals

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
