"""Rate mode and the knee finder, end to end: real Locust runs against servers whose
behaviour is known by construction (tests/helpers/stubs.py, and the fault proxy's token
bucket), each asserting what the construction implies.

- A server that stalls for 1 s every 5 s (20 % of the time): a closed loop hides it
  (service-time p99 of a few ms); at a steady rate the intended-time p99 is ~0.95 s,
  because 1 % of calls are meant to start in the last 5 % of a stall. Without stalls, no
  delay is invented.
- A FIFO server of 300 calls/s and a token bucket of 300 units/s: the knee finder lands
  within 15 % of 300 and ends the run by itself. The module's five searches (those two and
  three through a spike) run at once, in one module fixture: the suite waits for one.
- Master and two workers hold one global rate between them.

Every server binds 127.0.0.1; every run is bounded by -t (or its own end) and a timeout.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import (
    PROJECT_ROOT,
    FaultProxy,
    LocustProcess,
    LocustResult,
    assert_no_traceback,
    locustfile,
    own_master_port,
    run_locust,
    unique,
)
from helpers.stubs import FifoServer, StallingServer, StubProcess, StubServer

from writers.emulators import free_ports


def closed_port() -> int:
    return free_ports(1)[0]


pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PACED = ["--no-provision", "--table", "stub", "--exit-code-on-error", "0"]


@pytest.fixture
def stalling() -> Iterator[StallingServer]:
    server = StallingServer(period=5.0, stall=1.0)
    yield server
    server.close()


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer()
    yield server
    server.close()


def latency(result: LocustResult, kind: str, row: str = "DynamoDB PutItem [gevent]") -> dict[str, float]:
    values: dict[str, float] = result.summary[kind][row]
    return values


def test_a_closed_loop_hides_a_stall_that_the_rate_mode_shows(stalling: StallingServer, tmp_path: Path) -> None:
    common = [*PACED, "--target", stalling.url, "-u", "1", "-r", "1", "-t", "21s", "--concurrency", "4", "GeventUser"]
    # both at once, against the same stalls (the server's clock): half the wall time
    runs = [
        LocustProcess(locustfile("dynamodb"), args, tmp_path / name)
        for name, args in (("closed", common), ("paced", [*common, "--rate", "200"]))
    ]
    closed, paced = (run.finish(timeout=60) for run in runs)

    for result in (closed, paced):
        assert result.returncode == 0, result.tail()
        assert_no_traceback(result)
    # the closed loop: only the 4 calls in flight when a stall begins wait; thousands do not
    assert latency(closed, "latency_ms")["p99"] < 100, closed.summary["latency_ms"]
    assert "intended_latency_ms" not in closed.summary  # not measured without a schedule
    # at 200 calls/s the same stalls: 20 % of the calls are meant to start during one
    intended = latency(paced, "intended_latency_ms")
    assert 850 <= intended["p99"] <= 1150, intended
    assert latency(paced, "latency_ms")["p99"] < 100  # what the service time alone would have said
    rate = paced.summary["rate"]
    assert rate["target"] == 200 and 190 <= rate["achieved"] <= 205, rate
    assert rate["late"] > 0  # calls due during a stall found the 4 slots busy
    assert intended["count"] == paced.summary["acked"]


def test_no_stall_no_invented_delay(stub: StubServer, tmp_path: Path) -> None:
    args = [*PACED, "--target", stub.url, "-u", "2", "-r", "2", "-t", "8s", "--rate", "300", "--arrival", "poisson",
            "GeventUser", "AiohttpUser"]  # fmt: skip
    result = run_locust("dynamodb", args, tmp_path, timeout=60)

    assert result.returncode == 0, result.tail()
    for row in ("DynamoDB PutItem [gevent]", "DynamoDB PutItem [aiohttp]"):
        service, intended = latency(result, "latency_ms", row), latency(result, "intended_latency_ms", row)
        assert intended["p50"] < service["p50"] + 5, (row, service, intended)
        assert intended["p99"] < 100, (row, intended)
    # a late start needs 8 calls due at once on one user: only a pause of the load generator
    # itself (~50 ms, which a busy CI machine can cause) makes one, never the stub
    assert result.summary["rate"]["late"] <= 0.01 * result.summary["calls"], result.summary["rate"]
    # over the whole run, the users' own start-up included: ~0.2 s on a quiet machine (the
    # strategies and the process's records are made before the test's clock starts), up to
    # ~1.5 s of the 8 on a busy one; never more than asked
    assert 300 * (8 - 1.5) / 8 <= result.summary["rate"]["achieved"] <= 310, result.summary["rate"]


def test_rate_steps_follow_the_profile_and_end_the_run(stub: StubServer, tmp_path: Path) -> None:
    args = [*PACED, "--target", stub.url, "-u", "2", "-r", "2", "--rate-steps", "100:4s,300:4s", "GeventUser"]
    result = run_locust("dynamodb", args, tmp_path, timeout=60)

    assert result.returncode == 0, result.tail()
    assert "--rate-steps completed" in result.output, result.tail()
    targets = [(change["rate"], change["source"]) for change in result.summary["rate"]["targets"]]
    assert targets == [(100, "--rate-steps step 1/2"), (300, "--rate-steps step 2/2")]
    assert 1440 <= result.summary["acked"] <= 1700, result.summary["acked"]  # 100 x 4 s + 300 x 4 s


def test_master_and_two_workers_hold_one_global_rate(stub: StubServer, tmp_path: Path) -> None:
    args = [*PACED, "--target", stub.url, "--processes", "2", *own_master_port(),
            "-u", "4", "-r", "4", "-t", "10s", "--rate", "400",
            "GeventUser"]  # fmt: skip
    result = run_locust("dynamodb", args, tmp_path, timeout=90)

    assert result.returncode == 0, result.tail()
    rate = result.summary["rate"]
    # the workers start after the master's clock (forked, connected, spawned): up to ~2 s of 10
    # on a busy machine
    assert 400 * (10 - 2) / 10 <= rate["achieved"] <= 410, rate
    by_worker = result.summary["acked_by_worker"]
    assert len(by_worker) == 2
    low, high = sorted(by_worker.values())
    assert low > 0.8 * high, by_worker  # each worker carried half of the one rate


def find_max(result: LocustResult) -> dict[str, Any]:
    data: dict[str, Any] = result.summary["find_max"]
    return data


SEARCH = ["--find-max", "--find-max-start", "50", "--step-time", "3s", "-u", "2", "-r", "2", "--concurrency", "64"]


@pytest.fixture(scope="module")
def knee_searches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LocustResult]:
    """The module's five knee searches, run at once: each takes ~65 s of 3 s steps, bisections
    and confirmations alone, and side by side they take the longest one's time (each search
    against a server of its own, in a process of its own; the shared machine adds its own
    noise, which a confirmed breach absorbs). "fifo": a FIFO server of 300/s under a p99
    objective; "token_bucket": a token bucket of 300/s under a throttle objective;
    "spike0".."spike2": three identical FIFO servers of 300/s that stall 0.4 s once
    (test_three_identical_knee_searches_agree_through_a_spike)."""
    folder = tmp_path_factory.mktemp("knees")
    fifo = StubProcess("FifoServer", capacity=300)
    # The stall at the 750th request: ~1.5 s into the 3 s step at 200/s (after 150 + 300 of the
    # steps before), in its judged part (after the first second), and its queue (80 calls, gone
    # at 100/s of spare capacity) drained ~0.3 s before the step ends. At the 850th, ~1 s before
    # the end, the queue reached into the confirming step on a slow machine (p99 102 ms there).
    spiked = [StubProcess("FifoServer", capacity=300, spike_after=750, spike=0.4) for _ in range(3)]
    stub = StubProcess("StubServer")
    proxy = FaultProxy(stub.url, "--capacity", "300", "--burst", "30", tmp_dir=folder)
    p99 = [*SEARCH, "--slo-p99-ms", "100", "GeventUser"]
    throttles = [*SEARCH, "--slo-throttle-ratio", "0.01", "--table", unique("tb"), "GeventUser"]
    searches = {
        "fifo": [*PACED, "--target", fifo.url, *p99],
        "token_bucket": [*PACED, "--target", proxy.url, *throttles],
        **{f"spike{i}": [*PACED, "--target", server.url, *p99] for i, server in enumerate(spiked)},
    }
    try:
        runs = {name: LocustProcess(locustfile("dynamodb"), args, folder / name) for name, args in searches.items()}
        results = {name: run.finish(timeout=180) for name, run in runs.items()}
    finally:  # not kept until the module ends: its other tests measure time too
        proxy.stop()
        for server in (fifo, *spiked, stub):
            server.close()
    return results


def test_the_knee_of_a_fifo_server_under_a_p99_objective(knee_searches: dict[str, LocustResult]) -> None:
    result = knee_searches["fifo"]
    assert result.returncode == 0, result.tail()
    assert_no_traceback(result)
    search = find_max(result)
    assert search["complete"] and 255 <= search["sustainable_rate"] <= 345, json.dumps(search, indent=1)
    assert f"sustainable rate: {search['sustainable_rate']:g} records/s" in result.output
    verdicts = [step["verdict"] for step in search["steps"]]
    assert verdicts[0] == "ok" and any(v.startswith("breach") for v in verdicts), verdicts
    assert search["cpu_per_1000_records"] > 0


def test_the_knee_of_a_token_bucket_under_a_throttle_objective(knee_searches: dict[str, LocustResult]) -> None:
    result = knee_searches["token_bucket"]
    assert result.returncode == 0, result.tail()
    search = find_max(result)
    assert search["complete"] and 255 <= search["sustainable_rate"] <= 345, json.dumps(search, indent=1)
    breaches = [step for step in search["steps"] if step["verdict"] != "ok"]
    assert breaches
    assert all(step["throttle_ratio"] > 0.01 or step["achieved"] < 0.95 * step["rate"] for step in breaches)


BAD_RATE_FLAGS = [
    (["--rate", "-5"], "--rate"),
    (["--rate", "fast"], "--rate"),
    (["--rate-steps", "500:30s,oops"], "--rate-steps"),
    (["--rate-steps", "500:0s"], "--rate-steps"),
    (["--arrival", "bursty"], "--arrival"),
    (["--find-max"], "--find-max"),
    (["--find-max", "--slo-p99-ms", "-1"], "--slo-p99-ms"),
    (["--find-max", "--slo-throttle-ratio", "1.5"], "--slo-throttle-ratio"),
    (["--rate", "100", "--find-max", "--slo-p99-ms", "50"], "--find-max"),
    (["--abort-after", "soon"], "--abort-after"),
]


@pytest.mark.parametrize(("flags", "flag"), BAD_RATE_FLAGS, ids=[" ".join(f) for f, _ in BAD_RATE_FLAGS])
def test_bad_rate_flags_are_one_line_before_the_swarm(tmp_path: Path, flags: list[str], flag: str) -> None:
    args = ["-u", "1", "-r", "1", "-t", "5s", "--target", "http://127.0.0.1:9", *flags, "GeventUser"]
    result = run_locust("dynamodb", args, tmp_path, timeout=40)

    assert result.returncode == 2, result.tail()
    assert_no_traceback(result)
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and flag in lines[0] and len(lines[0]) < 200, result.tail()
    assert "Ramping to" not in result.output


def test_a_rate_shape_in_a_locustfile_sets_the_rate(stub: StubServer, tmp_path: Path) -> None:
    files = f"{locustfile('dynamodb')},{PROJECT_ROOT / 'tests' / 'locustfiles' / 'rate_shape.py'}"
    run = LocustProcess(files, [*PACED, "--target", stub.url, "-u", "2", "-r", "2", "GeventUser"], tmp_path / "run")
    result = run.finish(timeout=60)

    assert result.returncode == 0, result.tail()
    targets = [(change["rate"], change["source"]) for change in result.summary["rate"]["targets"]]
    assert targets == [(100, "TwoSteps"), (300, "TwoSteps")], targets
    assert 850 <= result.summary["acked"] <= 1400, result.summary["acked"]  # ~100 x 3 s + 300 x 3 s


def test_the_rate_changes_from_the_web_ui_during_a_test(stub: StubServer, tmp_path: Path) -> None:
    port = closed_port()
    args = [*PACED, "--target", stub.url, "--web-host", "127.0.0.1", "--web-port", str(port), "--autostart",
            "--autoquit", "0", "-t", "8s", "-u", "1", "-r", "1", "--rate", "100", "--summary-json", "summary.json",
            "--report-dir", "", "GeventUser"]  # fmt: skip
    run = LocustProcess(locustfile("dynamodb"), args, tmp_path / "run", headless=False)
    run.wait_for("All users spawned", timeout=40)
    time.sleep(3)
    base = f"http://127.0.0.1:{port}/aws"
    refused = requests.post(f"{base}/rate", data={"rate": "-1"}, timeout=10)
    answer = requests.post(f"{base}/rate", data={"rate": "400"}, timeout=10)
    stats = requests.get(f"{base}/stats", timeout=10).json()
    result = run.finish(timeout=40)

    assert result.returncode == 0, result.tail()
    assert refused.status_code == 400 and "rate" in refused.json()["error"]
    assert answer.status_code == 200 and answer.json() == {"target": 400.0, "source": "web UI"}
    assert stats["rate"] == {"target": 400.0, "source": "web UI", "paced": True}
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    targets = [(change["rate"], change["source"]) for change in summary["rate"]["targets"]]
    assert targets == [(100, "--rate"), (400, "web UI")]
    assert 1700 <= summary["acked"] <= 2400, summary["acked"]  # ~100 x 3 s + 400 x 5 s


@pytest.mark.timeout(200)
def test_three_identical_knee_searches_agree_through_a_spike(knee_searches: dict[str, LocustResult]) -> None:
    """A FIFO server of 300/s that, once, stalls 0.4 s (at its 750th request: in the judged
    part of the 200/s step). That step's p99 breaches; a search that believed it ended at
    ~190, far below the knee. Measured again over twice the time, the breach is not
    confirmed and the search goes on: three identical searches (at once: the shared
    machine adds its own noise) each land near 300 and agree within 15 %."""
    results = [knee_searches[f"spike{i}"] for i in range(3)]

    found = []
    for result in results:
        assert result.returncode == 0, result.tail()
        search = find_max(result)
        assert search["complete"], json.dumps(search, indent=1)
        spiked = [s for s in search["steps"] if s["rate"] == 200]
        assert [s["verdict"] != "ok" for s in spiked] == [True, False], json.dumps(search, indent=1)
        assert spiked[1]["confirms"] and spiked[1]["seconds"] >= 2 * spiked[0]["seconds"] - 0.5
        for step in search["steps"]:  # every breach the search relied on was measured twice
            if step["verdict"] != "ok" and not step["confirms"]:
                assert any(s["confirms"] and s["rate"] == step["rate"] for s in search["steps"]), step
        found.append(search["sustainable_rate"])
    assert all(255 <= rate <= 345 for rate in found), found
    assert max(found) <= 1.15 * min(found), found


@pytest.mark.timeout(120)
def test_sigterm_during_the_search_reports_the_best_step_that_passed(tmp_path: Path) -> None:
    server = FifoServer(capacity=300)
    try:
        args = [*PACED, "--target", server.url, *SEARCH, "--slo-p99-ms", "100", "GeventUser"]
        run = LocustProcess(locustfile("dynamodb"), args, tmp_path / "run")
        run.wait_for("find-max step 2:", timeout=60)  # 50 and 100 records/s passed
        run.process.send_signal(signal.SIGTERM)
        result = run.finish(timeout=60)
    finally:
        server.close()

    assert result.returncode == 0, result.tail()
    search = find_max(result)
    passed = [step["rate"] for step in search["steps"] if step["verdict"] == "ok"]
    assert passed[:2] == [50, 100], json.dumps(search, indent=1)
    assert not search["complete"] and search["sustainable_rate"] == max(passed), json.dumps(search, indent=1)
    assert "the best step that passed was" in result.output, result.tail()
