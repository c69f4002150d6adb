"""The web UI's own endpoints, for what an operator may type (issue 22), against one
web-UI Locust process and a stub that answers at once:

- /swarm with a flag our checks refuse (NaN, a word where a number goes) answers
  `success: false` with the reason, and no test starts (it answered `success: true`);
- POST /aws/rate refuses bad JSON (`[1]` was a 500 and a traceback) and a rate no user
  could start (1e7 was taken, leaving a backlog of ~100,000 calls) with 400; after the
  highest rate allowed and then 0, what was owed beyond one second is forgiven: the calls
  stop within seconds;
- Reset Stats clears the AWS tab's counts and histograms and the run-so-far report
  together: right after it the counts are those of the last moment, and each row's
  latency count equals its calls (before, the counts went on and the histograms restarted).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import LocustProcess, assert_no_traceback, locustfile
from helpers.stubs import DelayServer

from writers.emulators import free_ports

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# Six calls in flight against a stub answering after 1 ms: at most 6,000 a second, so 10,000/s builds a
# backlog by construction.
START = {"user_count": "1", "spawn_rate": "1", "user_classes": "GeventUser", "rate": "100", "timeout": "10",
         "concurrency": "6"}  # fmt: skip


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout} s")


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def total_calls(table: dict[str, Any]) -> int:
    return sum(row["calls"] for row in table["rows"])


def test_web_endpoints_refuse_bad_input_and_reset_consistently(tmp_path: Path) -> None:
    # Each write answered 1 ms after it arrives (or later: the stub's loop wakes in whole ms): six calls
    # in flight make at most 6,000 calls a second whatever the machine, so 10,000/s for 3 s always
    # leaves more owed than 1 s of it; and still ~2,000 a second, so 1 s of 10,000 is sent in seconds.
    stub = DelayServer(0.001)
    port = free_ports(1)[0]
    args = ["--no-provision", "--table", "stub", "--target", stub.url, "--web-host", "127.0.0.1", "--web-port",
            str(port), "--report-dir", "", "--exit-code-on-error", "0", "--summary-json", "summary.json"]  # fmt: skip
    run = LocustProcess(locustfile("dynamodb"), args, tmp_path / "run", headless=False)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/aws/stats"), 40, "the web UI")

        refused = [
            requests.post(f"{base}/swarm", data={**START, field: value}, timeout=10).json()
            for field, value in (("timeout", "nan"), ("concurrency", "many"), ("rate", "nan"))
        ]
        time.sleep(1)
        idle = requests.get(f"{base}/aws/stats", timeout=10).json()
        started = requests.post(f"{base}/swarm", data=START, timeout=10).json()
        wait_until(lambda: total_calls(requests.get(f"{base}/aws/stats", timeout=10).json()) > 250, 30, "calls")

        bad_json = requests.post(f"{base}/aws/rate", json=[1], timeout=10)
        absurd = requests.post(f"{base}/aws/rate", data={"rate": "1e7"}, timeout=10)
        not_a_number = requests.post(f"{base}/aws/rate", data={"rate": "nan"}, timeout=10)
        accepted = requests.post(f"{base}/aws/rate", json={"rate": 150}, timeout=10)

        before = total_calls(requests.get(f"{base}/aws/stats", timeout=10).json())
        requests.post(f"{base}/stats/reset", timeout=10)
        just_after = total_calls(requests.get(f"{base}/aws/stats", timeout=10).json())
        time.sleep(2)
        tab = requests.get(f"{base}/aws/stats", timeout=10).json()
        report = requests.get(f"{base}/aws/report.json", timeout=10).json()

        # The most one user may be asked for, for 3 s (six calls in flight send at most 6,000 a second:
        # 12,000 and more are owed), then 0: at most the last second's 10,000 are still sent (a few
        # seconds), the rest forgiven, counted.
        flooded = requests.post(f"{base}/aws/rate", data={"rate": "10000"}, timeout=10)
        time.sleep(3)
        requests.post(f"{base}/aws/rate", data={"rate": "0"}, timeout=10)
        time.sleep(12)
        quiet_from = stub.answered
        time.sleep(2)
        after_zero = stub.answered - quiet_from
        run.process.terminate()
        ended = run.finish(timeout=40)
    finally:
        run.kill()
        stub.close()

    for answer, flag in zip(refused, ("--timeout", "--concurrency", "--rate"), strict=True):
        assert answer["success"] is False and flag in answer["message"], answer
    assert idle["state"] == "ready" and total_calls(idle) == 0, idle  # nothing started
    assert started["success"] is True, started

    assert bad_json.status_code == 400 and "rate" in bad_json.json()["error"]
    assert absurd.status_code == 400 and "10,000 calls a second" in absurd.json()["error"], absurd.text
    assert not_a_number.status_code == 400
    assert accepted.status_code == 200 and accepted.json()["target"] == 150

    assert before > 250 and just_after < 60, (before, just_after)  # ~150/s: the moment after the reset
    summary = report["aws_summary"]
    assert 200 <= summary["calls"] <= 450, summary["calls"]  # ~2 s at 150/s since the reset
    assert abs(total_calls(tab) - summary["calls"]) <= 30, (total_calls(tab), summary["calls"])
    for name, row in summary["rows"].items():  # counts and histograms cleared together
        assert summary["latency_ms"][name]["count"] == row["calls"], (name, row, summary["latency_ms"][name])
    # A change forgives what is owed beyond 1 s of the old rate, and counts it: the calls stop within seconds.
    assert flooded.status_code == 200 and after_zero == 0, after_zero
    assert_no_traceback(ended)
    assert ended.summary["rate"]["missed"] > 0, ended.summary["rate"]  # written at the end, in its folder
