#!/usr/bin/env python3
"""What a master costs per worker: ours against Locust's own, with as many workers.

    .venv/bin/python scripts/bench/master_cpu.py                          # 20 workers, 3 rounds of 2 x 60 s
    .venv/bin/python scripts/bench/master_cpu.py --workers 100 --seconds 60 --rounds 1

Each round runs, in alternating order, one master with `--workers` forked workers
(`--processes N`) and 2 users each, for `--seconds`, against a sink that answers after
1 ms (scripts/bench/delay_sink.py):

- `ours`: locustfiles/dynamodb.py, GeventUser, `--rate` 10 records/s per worker (the
  master divides the rate, merges the tally, the HdrHistograms and everything else the
  workers report every 3 s);
- `locust`: Locust's own FastHttpUser (scripts/bench/anchor_fasthttp.py), the same
  request unsigned, paced at the same rate (constant_throughput), no plug-in at all.

The master's CPU (user + system, from /proc/PID/stat) is read 10 s after every user is
spawned and again 3 s before the run ends: CPU seconds per worker per minute of that
window, what a master spends to keep one more worker. Workers are not counted.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "scripts" / "bench"
LOCUST = str(ROOT / ".venv" / "bin" / "locust")
TICKS = os.sysconf("SC_CLK_TCK")
PER_WORKER_RATE = 10.0  # records (requests) per second per worker
USERS_PER_WORKER = 2


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (after the command's closing paren)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(arm: str, workers: int, seconds: int, sink: str, folder: Path) -> float:
    """One run; the master's CPU seconds per worker-minute in the steady window."""
    users = USERS_PER_WORKER * workers
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "PYTHONUNBUFFERED": "1",
           "LOCUST_WAIT_FOR_WORKERS_REPORT_AFTER_RAMP_UP": "10"}  # fmt: skip
    port = str(free_port())  # not Locust's default 5557: another run on the machine may hold it
    common = ["--headless", "--processes", str(workers), "--master-bind-host", "127.0.0.1", "--master-bind-port",
              port, "--master-port", port, "-u", str(users), "-r", str(users), "-t", f"{seconds}s"]  # fmt: skip
    if arm == "ours":
        argv = [LOCUST, "-f", str(ROOT / "locustfiles" / "dynamodb.py"), *common, "--rate",
                str(PER_WORKER_RATE * workers), "--target", sink, "--no-provision", "--table", "stub",
                "--report-dir", "", "--exit-code-on-error", "0", "GeventUser"]  # fmt: skip
    else:
        env["BENCH_THROUGHPUT"] = str(PER_WORKER_RATE / USERS_PER_WORKER)  # tasks/s per user
        argv = [LOCUST, "-f", str(BENCH / "anchor_fasthttp.py"), *common, "-H", sink, "--exit-code-on-error", "0"]
    log = (folder / f"{arm}.log").open("w+")
    master = subprocess.Popen(
        argv, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )

    def stop_all() -> None:  # the master and the workers it forked
        try:
            os.killpg(master.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    spawned = threading.Event()

    def watch() -> None:
        while master.poll() is None and not spawned.is_set():
            log.flush()
            if "total users)" in (folder / f"{arm}.log").read_text(errors="replace"):  # the ramp is done
                spawned.set()
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    started = time.monotonic()
    if not spawned.wait(seconds):
        stop_all()
        raise SystemExit(f"{arm}: users not spawned within {seconds} s (see {folder / f'{arm}.log'})")
    time.sleep(10)
    begin_cpu, begin = cpu_seconds(master.pid), time.monotonic()
    left = seconds - (begin - started) - 3
    if left < 10:
        stop_all()
        raise SystemExit(f"{arm}: --seconds {seconds} leaves no steady window after the spawn")
    time.sleep(left)
    end_cpu, end = cpu_seconds(master.pid), time.monotonic()
    try:
        master.wait(seconds + 120)
    finally:
        stop_all()
    return (end_cpu - begin_cpu) / workers / ((end - begin) / 60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60, help="each run's -t")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    sink_process = subprocess.Popen(
        [sys.executable, str(BENCH / "delay_sink.py"), "1"], stdout=subprocess.PIPE, text=True
    )
    assert sink_process.stdout is not None
    sink = sink_process.stdout.readline().strip()
    results: dict[str, list[float]] = {"ours": [], "locust": []}
    try:
        with tempfile.TemporaryDirectory(prefix="master-cpu-") as tmp:
            for index in range(args.rounds):
                order = ("ours", "locust") if index % 2 == 0 else ("locust", "ours")
                for arm in order:
                    folder = Path(tmp) / f"{index}-{arm}"
                    folder.mkdir()
                    value = run(arm, args.workers, args.seconds, sink, folder)
                    results[arm].append(value)
                    print(f"round {index + 1} {arm:6}: {value:.4f} master CPU-s per worker-minute", flush=True)
    finally:
        sink_process.terminate()
    ratios = [o / lo for o, lo in zip(results["ours"], results["locust"], strict=True) if lo]
    print(f"{args.workers} workers, {args.seconds} s runs, {args.rounds} rounds (median):")
    for arm, values in results.items():
        each = ", ".join(f"{v:.4f}" for v in values)
        print(f"  {arm:6} {statistics.median(values):.4f} CPU-s per worker-minute  (all: {each})")
    if ratios:
        print(f"  ours / locust, per round: {', '.join(f'{r:.2f}' for r in ratios)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
