"""--summary-json and --report-dir when the disk cannot take them (issue 22): each file is
written whole or not at all, an older file survives, and the exit code says so (9).

The failure is made for the run alone: its file-size limit (RLIMIT_FSIZE, `ulimit -f`) is
1 KiB, smaller than any summary or report, as a full disk would refuse the writes.
Before, the summary was truncated to 0 bytes over the older good one, and the exit was 0.
"""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from helpers import LocustProcess, locustfile
from helpers.stubs import StubServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

LIMIT = 1024


def small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_a_summary_and_a_report_the_disk_refuses_keep_the_older_file_and_exit_9(tmp_path: Path) -> None:
    summary, reports = tmp_path / "summary.json", tmp_path / "reports"
    older = b'{"acked": 12345, "note": "an older run"}\n'
    summary.write_bytes(older)
    stub = StubServer()
    try:
        args = ["--headless", "-u", "1", "-r", "1", "-t", "3s", "--rate", "50", "--target", stub.url,
                "--no-provision", "--table", "stub", "--summary-json", str(summary), "--report-dir", str(reports),
                "GeventUser"]  # fmt: skip
        # run from a folder beside the files (the helper reads a summary.json in its own folder back)
        run = LocustProcess(locustfile("dynamodb"), args, tmp_path / "run", headless=False, preexec_fn=small_files)
        done = run.finish(timeout=60)
    finally:
        stub.close()
    output = done.output

    assert summary.read_bytes() == older, output[-2000:]  # not truncated, not half-written
    assert not list(reports.iterdir()), list(reports.iterdir())  # no partial report, no temporary file
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    errors = [line for line in output.splitlines() if "ERROR" in line and "could not write" in line]
    assert len(errors) == 2 and "--summary-json" in errors[0] and "report" in errors[1], output[-3000:]
    assert "Traceback" not in output
    assert done.returncode == 9, output[-3000:]
