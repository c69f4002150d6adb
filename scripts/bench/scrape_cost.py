#!/usr/bin/env python3
"""What a Prometheus scrape of `/metrics` costs the run it measures (issue 22, point 5).

    .venv/bin/python scripts/bench/scrape_cost.py                        # 3 rounds, ~5 minutes
    .venv/bin/python scripts/bench/scrape_cost.py --locust OTHER/.venv/bin/locust \\
        --locustfile OTHER/locustfiles/dynamodb.py                       # another checkout, same method

One Locust process pinned to CPU 0 sends DynamoDB PutItem at `--rate` (GeventUser) to a
sink that answers every call after `--delay-ms` (scripts/bench/delay_sink.py, pinned to
CPU 1): a service of known latency, so any growth of the intended-time latency is the load
generator's own. Two runs per round, in alternating order, both serving `--metrics-port`:

- `unscraped`: nobody asks for /metrics;
- `scraped`: this script GETs /metrics every `--interval` seconds (from CPU 1), and times
  each answer; where the endpoint reports it (`aws_load_scrape_render_seconds`: the previous
  scrape's wall time on the loop, measured inside the process) that figure is kept too.

Printed per arm (medians over the rounds): the intended-time p99 and start-lag p99 of the
whole run (`--summary-json`), and for the scraped arm the scrape's answer time (median and
max, wall time seen by the scraper: the loop's own work, the trip, and any wait for the loop
while it does something else) and the time the loop spent on it (median and max).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_strategies import LOCUST, REGION, base_env  # noqa: E402
from sink import pin_to  # noqa: E402

from writers.emulators import free_ports  # noqa: E402

ARMS = ("unscraped", "scraped")
ROW = "DynamoDB PutItem [gevent]"


RENDER = re.compile(rb"^aws_load_scrape_render_seconds (\S+)$", re.M)


def scraper(port: int, interval: float, stop: threading.Event, times_ms: list[float], loop_ms: list[float]) -> None:
    while not stop.wait(interval):
        started = time.perf_counter()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/metrics")
            body = connection.getresponse().read()
            connection.close()
        except OSError:
            continue  # not listening yet, or already gone
        times_ms.append(1000 * (time.perf_counter() - started))
        found = RENDER.search(body)
        if found:
            loop_ms.append(1000 * float(found[1]))


def run(arm: str, args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    summary = tmp / f"summary-{arm}.json"
    summary.unlink(missing_ok=True)
    (port,) = free_ports(1)
    argv = [
        args.locust, "-f", args.locustfile, "--headless", "-t", f"{args.seconds}s", "--only-summary",
        "--loglevel", "WARNING", "-u", str(args.users), "-r", str(args.users), "--target", url,
        "--region", REGION, "--no-provision", "--concurrency", str(args.concurrency), "--rate", str(args.rate),
        "--records-per-task", "1000", "--report-dir", "", "--summary-json", str(summary),
        "--metrics-port", str(port), "--metrics-host", "127.0.0.1", "--exit-code-on-error", "0", "GeventUser",
    ]  # fmt: skip
    stop = threading.Event()
    times_ms: list[float] = []
    loop_ms: list[float] = []
    thread = threading.Thread(target=scraper, args=(port, args.interval, stop, times_ms, loop_ms), daemon=True)
    process = subprocess.Popen(argv, env=base_env(), cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=lambda: pin_to(0))  # fmt: skip
    if arm == "scraped":
        thread.start()
    try:
        _, stderr = process.communicate(timeout=args.seconds + 90)
    finally:
        stop.set()
        process.kill()
    if not summary.exists():
        return {"arm": arm, "error": (stderr or b"").decode(errors="replace")[-800:]}
    data = json.loads(summary.read_text())
    return {
        "arm": arm,
        "intended_p99_ms": data.get("intended_latency_ms", {}).get(ROW, {}).get("p99"),
        "lag_p99_ms": data.get("start_lag_ms", {}).get(ROW, {}).get("p99"),
        "achieved": (data.get("rate") or {}).get("achieved"),
        "scrapes": len(times_ms),
        "scrape_median_ms": statistics.median(times_ms) if times_ms else None,
        "scrape_max_ms": max(times_ms) if times_ms else None,
        "loop_median_ms": statistics.median(loop_ms) if loop_ms else None,
        "loop_max_ms": max(loop_ms) if loop_ms else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500, help="records/s (default 500)")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay-ms", type=float, default=10.0, help="the sink's answer time")
    parser.add_argument("--seconds", type=int, default=40, help="each run's -t")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--locust", default=str(LOCUST))
    parser.add_argument("--locustfile", default=str(ROOT / "locustfiles" / "dynamodb.py"))
    parser.add_argument("--json", default="", help="write every raw figure here")
    args = parser.parse_args(argv)
    pin_to(1)  # the scraper and this script stay off the load generator's CPU
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    sink = subprocess.Popen([sys.executable, str(BENCH / "delay_sink.py"), str(args.delay_ms)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert sink.stdout is not None
        url = sink.stdout.readline().strip()
        with tempfile.TemporaryDirectory(prefix="scrape-cost-") as folder:
            for repeat in range(args.repeats):
                order = ARMS if repeat % 2 == 0 else ARMS[::-1]
                for arm in order:
                    runs[arm].append(run(arm, args, url, Path(folder)))
                    print(json.dumps(runs[arm][-1]), flush=True)
    finally:
        sink.kill()
        sink.wait(5)

    def med(arm: str, key: str) -> float:
        values = [r[key] for r in runs[arm] if r.get(key) is not None]
        return statistics.median(values) if values else float("nan")

    print(f"\n--rate {args.rate:g} against a {args.delay_ms:g} ms service, {args.repeats} rounds (medians):")
    for arm in ARMS:
        line = (f"  {arm:9}: intended p99 {med(arm, 'intended_p99_ms'):g} ms, start lag p99 "
                f"{med(arm, 'lag_p99_ms'):g} ms, achieved {med(arm, 'achieved'):g} records/s")  # fmt: skip
        if arm == "scraped":
            line += (f"; a scrape every {args.interval:g} s answered in {med(arm, 'scrape_median_ms'):.1f} ms "
                     f"(median; max {med(arm, 'scrape_max_ms'):.1f} ms), of which the loop spent "
                     f"{med(arm, 'loop_median_ms'):.2f} ms (median; max {med(arm, 'loop_max_ms'):.2f} ms)")  # fmt: skip
        print(line)
    ratios = [s["intended_p99_ms"] / u["intended_p99_ms"] for s, u in zip(runs["scraped"], runs["unscraped"],
              strict=True) if s.get("intended_p99_ms") and u.get("intended_p99_ms")]  # fmt: skip
    if ratios:
        print(f"  scraped / unscraped intended p99, per round: {', '.join(f'{r:.3f}' for r in ratios)}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
