"""helpers/turns.py: under pytest-xdist timing tests take turns and some tests run alone. Real
turns as two xdist workers would; the order of what they record shows who ran when."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from helpers import PROJECT_ROOT

TURNS = PROJECT_ROOT / "tests" / "helpers" / "turns.py"
TAKE_A_TURN = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("turns", sys.argv[1])  # alone: helpers/ imports a lot
turns = importlib.util.module_from_spec(spec)
spec.loader.exec_module(turns)
turn = turns.turn
kind, name, hold, log, folder = sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5], sys.argv[6]
with open(log, "a") as out:
    out.write(f"{name} waits\\n")
import pathlib
with turn(kind, pathlib.Path(folder)):
    with open(log, "a") as out:
        out.write(f"{name} in\\n")
    time.sleep(hold)
    with open(log, "a") as out:
        out.write(f"{name} out\\n")
"""


def wait_for(log: Path, line: str) -> None:
    """Until `line` is in the log, plus a moment for its writer to reach the lock."""
    deadline = time.monotonic() + 20
    while not (log.exists() and line in log.read_text().split("\n")):
        assert time.monotonic() < deadline, f"no {line!r} in 20 s"
        time.sleep(0.01)
    time.sleep(0.3)


def turns(log: Path) -> list[str]:
    return [line for line in log.read_text().split("\n") if line and not line.endswith(" waits")]


def take_turn(kind: str, name: str, hold: float, log: Path, folder: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-c", TAKE_A_TURN, str(TURNS), kind, name, str(hold), str(log), str(folder)]
    return subprocess.Popen(argv)


def test_a_timing_turn_waits_for_the_shared_ones_and_runs_alone(tmp_path: Path) -> None:
    log, locks = tmp_path / "log", tmp_path / "locks"
    locks.mkdir()
    first = take_turn("shared", "a", 3.0, log, locks)
    wait_for(log, "a in")
    alone = take_turn("alone", "t", 1.0, log, locks)
    wait_for(log, "t waits")  # t waits at the turnstile...
    late = take_turn("shared", "b", 0.1, log, locks)  # ...and b, come after it, waits behind it
    for process in (first, alone, late):
        assert process.wait(30) == 0
    assert turns(log) == ["a in", "a out", "t in", "t out", "b in", "b out"]


def test_shared_turns_run_together(tmp_path: Path) -> None:
    log, locks = tmp_path / "log", tmp_path / "locks"
    locks.mkdir()
    processes = [take_turn("shared", name, 1.0, log, locks) for name in ("a", "b")]
    for process in processes:
        assert process.wait(30) == 0
    assert sorted(turns(log)[:2]) == ["a in", "b in"]  # both in before either is out


def test_timing_turns_take_turns_with_each_other_but_not_with_shared_ones(tmp_path: Path) -> None:
    log, locks = tmp_path / "log", tmp_path / "locks"
    locks.mkdir()
    first = take_turn("timing", "t1", 4.0, log, locks)
    wait_for(log, "t1 in")
    second = take_turn("timing", "t2", 0.1, log, locks)
    wait_for(log, "t2 waits")
    shared = take_turn("shared", "s", 0.1, log, locks)  # goes in beside t1, before t2
    for process in (first, second, shared):
        assert process.wait(30) == 0
    assert turns(log) == ["t1 in", "s in", "s out", "t1 out", "t2 in", "t2 out"]
