"""helpers/turns.py: under pytest-xdist a timing test runs alone. Real processes take
turns as two xdist workers would; the order of what they record shows who ran when."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from helpers import PROJECT_ROOT

TAKE_A_TURN = """
import sys, time
sys.path.insert(0, sys.argv[1])
from helpers.turns import turn
alone, name, hold, log = sys.argv[2] == "alone", sys.argv[3], float(sys.argv[4]), sys.argv[5]
with turn(alone):
    with open(log, "a") as out:
        out.write(f"{name} in\\n")
    time.sleep(hold)
    with open(log, "a") as out:
        out.write(f"{name} out\\n")
"""


def take_turn(kind: str, name: str, hold: float, log: Path, run: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTEST_XDIST_WORKER": f"gw-{name}", "PYTEST_XDIST_TESTRUNUID": run}
    argv = [sys.executable, "-c", TAKE_A_TURN, str(PROJECT_ROOT / "tests"), kind, name, str(hold), str(log)]
    return subprocess.Popen(argv, env=env)


def test_a_timing_turn_waits_for_the_shared_ones_and_runs_alone(tmp_path: Path) -> None:
    log, run = tmp_path / "log", uuid.uuid4().hex
    first = take_turn("shared", "a", 1.5, log, run)
    while not log.exists():  # a is in
        time.sleep(0.01)
    alone = take_turn("alone", "t", 1.0, log, run)
    time.sleep(0.3)  # t waits at the turnstile...
    late = take_turn("shared", "b", 0.1, log, run)  # ...and b, come after it, waits behind it
    for process in (first, alone, late):
        assert process.wait(20) == 0
    assert log.read_text().split("\n")[:-1] == ["a in", "a out", "t in", "t out", "b in", "b out"]


def test_shared_turns_run_together(tmp_path: Path) -> None:
    log, run = tmp_path / "log", uuid.uuid4().hex
    processes = [take_turn("shared", name, 1.0, log, run) for name in ("a", "b")]
    for process in processes:
        assert process.wait(20) == 0
    assert log.read_text().split("\n")[:2] == ["a in", "b in"] or log.read_text().split("\n")[:2] == ["b in", "a in"]
