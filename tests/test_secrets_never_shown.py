"""Secrets never appear in logs (even at DEBUG, where botocore prints request headers),
in Locust's and our output files, or in any process's command line during a run."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psutil
import pytest
from helpers import DYNAMODB_LOCUSTFILE, USER_CLASSES, LocustProcess, own_master_port

from writers.emulators import RunningEmulator

SECRET = "SeCrEt-for-the-security-test-0123456789abcdef"
TOKEN = "ToKeN-for-the-security-test-FwoGZXIvYXdzEJr"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moto(moto_server: RunningEmulator) -> RunningEmulator:
    return moto_server  # accepts any credentials


def command_lines() -> str:
    lines = []
    for process in psutil.process_iter(["cmdline"]):
        lines.append(" ".join(process.info["cmdline"] or []))
    return "\n".join(lines)


def test_secrets_stay_out_of_logs_files_and_process_list(moto: RunningEmulator, tmp_path: Path) -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIDSECURITYTEST", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN}
    args = [
        "--headless", "--processes", "2", *own_master_port(),
        "-u", "5", "-r", "5", "-t", "20s", "--max-records", "60", "--records-per-task", "10",
        "--target", moto.endpoint, "--table", "security", "--loglevel", "DEBUG",
        "--logfile", str(tmp_path / "locust.log"), "--json-file", str(tmp_path / "stats"),
        "--csv", str(tmp_path / "stats"), "--html", str(tmp_path / "report.html"),
        "--summary-json", str(tmp_path / "summary.json"), *USER_CLASSES,
    ]  # fmt: skip
    run = LocustProcess(DYNAMODB_LOCUSTFILE, args, tmp_path, env=env, headless=False, credentials=False)
    try:
        deadline = time.monotonic() + 120
        while run.process.poll() is None and time.monotonic() < deadline:  # every command line while it runs
            seen_lines = command_lines()
            assert SECRET not in seen_lines and TOKEN not in seen_lines
            time.sleep(0.3)
        result = run.finish(10)
    finally:
        run.kill()
    output = result.output
    assert result.returncode == 0, output[-3000:]
    acked = re.search(r"acknowledged records: (\d+)", output + (tmp_path / "locust.log").read_text())
    assert acked and int(acked.group(1)) > 0  # it really ran
    assert "X-Amz-Security-Token" in (tmp_path / "locust.log").read_text()  # DEBUG really logged the headers...
    written = [output] + [p.read_text(errors="replace") for p in tmp_path.iterdir() if p.is_file()]
    for text in written:
        assert SECRET not in text and TOKEN not in text  # ...but never the values
