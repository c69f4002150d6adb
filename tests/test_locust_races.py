"""Races in Locust itself that would print a traceback at the end of our runs.

Locust 2.47's shutdown closes the CSV files while the greenlet writing them every
CSV_STATS_INTERVAL_SEC is still alive; anything that yields afterwards (its own atexit
handlers do) lets that greenlet wake and write to a closed file, and the run ends with
"ValueError: I/O operation on closed file". No server can provoke this: the test drives
Locust's writer directly, in a fresh interpreter (Locust patches the standard library on
import, which must happen before anything else imports ssl).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import PROJECT_ROOT

SCRIPT = """
import sys
from locust import stats
from locust.env import Environment
import gevent
from aws_locust.locust_races import install
if {patched}:
    install()
environment = Environment()
environment.create_local_runner()
writer = stats.StatsCSVFileWriter(environment, stats.PERCENTILES_TO_REPORT, {prefix!r}, True)
greenlet = gevent.spawn(writer.stats_writer)
gevent.sleep(0.05)  # the writer has written its headers and sleeps
writer.close_files()
gevent.sleep(stats.CSV_STATS_INTERVAL_SEC + 0.5)  # long enough for it to wake again
print("dead", greenlet.dead, "failed", repr(greenlet.exception))
"""


def run(tmp_path: Path, patched: bool) -> str:
    script = SCRIPT.format(locustfiles=str(PROJECT_ROOT / "locustfiles"), patched=patched, prefix=str(tmp_path / "run"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_unpatched_locust_writes_to_closed_files(tmp_path: Path) -> None:
    """The race exists (if Locust fixes it, this fails and the patch can go)."""
    assert "I/O operation on closed file" in run(tmp_path, patched=False)


def test_csv_writer_stops_before_its_files_close(tmp_path: Path) -> None:
    output = run(tmp_path, patched=True)
    assert "dead True failed None" in output, output
    assert "Traceback" not in output, output
    assert (tmp_path / "run_stats.csv").read_text().startswith("Type,Name")
