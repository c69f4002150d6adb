#!/usr/bin/env python3
"""Requests per load-generator CPU-second of each writer strategy inside Locust.

Every strategy (and the FastHttpUser anchor) writes DynamoDB PutItem calls to an nginx
sink that answers `{}` at once, so the sink is never the bottleneck: nginx runs on one
CPU, Locust pinned to the other. CPU is counted from test start to test stop by
scripts/bench/cpu_probe.py (all threads of the process), so start-up is left out.
Runs are interleaved (A B C A B C ...) so drift hits every strategy alike; the table
gives medians and ratios.

    .venv/bin/python scripts/bench_strategies.py --seconds 10 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCUST = ROOT / ".venv" / "bin" / "locust"
STRATEGIES = ["sequential", "threaded", "aioboto3", "aiohttp", "gevent"]
ANCHOR = "FastHttpUser"

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_buffer_size 1m;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type application/x-amz-json-1.0;
            return 200 '{{}}';
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {cpu})


def start_nginx(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("error: nginx is needed for the sink (apt-get install nginx-light)")
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
    process = subprocess.Popen([nginx, "-c", str(conf), "-e", str(tmp / "error.log")], preexec_fn=lambda: pin(1))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit("error: nginx did not start")


def run_one(name: str, url: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    probe_out = tmp / f"probe-{name}.json"
    probe = ROOT / "scripts" / "bench" / "cpu_probe.py"
    common = ["--headless", "-t", f"{args.seconds}s", "--only-summary", "--loglevel", "WARNING"]
    if name == ANCHOR:
        files = f"{ROOT / 'scripts' / 'bench' / 'anchor_fasthttp.py'},{probe}"
        users = args.users * args.concurrency  # the same number of requests in flight
        command = [str(LOCUST), "-f", files, *common, "-u", str(users), "-r", str(users), "-H", url]
    else:
        files = f"{ROOT / 'locustfiles' / 'dynamodb.py'},{probe}"
        command = [
            str(LOCUST), "-f", files, *common, "-u", str(args.users), "-r", str(args.users),
            "--target", url, "--no-provision", "--concurrency", str(args.concurrency),
            "--records-per-task", "200", name.capitalize() + "User",
        ]  # fmt: skip
    env = {
        **os.environ,
        "CPU_PROBE_JSON": str(probe_out),
        "AWS_ACCESS_KEY_ID": "AKIDBENCH",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    subprocess.run(
        command, env=env, cwd=tmp, capture_output=True, timeout=args.seconds + 120, preexec_fn=lambda: pin(0)
    )
    result: dict[str, float] = json.loads(probe_out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="run time of each Locust run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each strategy (medians are reported)")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=10, help="calls in flight per user")
    parser.add_argument("--strategies", default=",".join([*STRATEGIES, ANCHOR]))
    parser.add_argument("--json", default="", help="also write the raw figures here")
    args = parser.parse_args()
    names = [n for n in args.strategies.split(",") if n]
    unknown = set(names) - set(STRATEGIES) - {ANCHOR}
    if unknown or args.seconds < 1 or args.repeats < 1 or args.users < 1 or args.concurrency < 1:
        sys.exit(f"error: bad arguments ({', '.join(sorted(unknown)) or 'counts must be at least 1'})")
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        nginx, url = start_nginx(tmp)
        try:
            for repeat in range(args.repeats):
                for name in names:
                    result = run_one(name, url, args, tmp)
                    runs[name].append(result)
                    rate = result["requests"] / result["cpu"] if result["cpu"] else 0
                    print(f"run {repeat + 1}/{args.repeats} {name:<13} {rate:>9,.0f} req/CPU-s", file=sys.stderr)
        finally:
            nginx.terminate()
            nginx.wait(10)
    medians = {n: statistics.median(r["requests"] / r["cpu"] for r in rs if r["cpu"]) for n, rs in runs.items() if rs}
    print(
        f"\n| strategy | requests per CPU-second (median of {args.repeats}) | vs sequential | vs {ANCHOR} | failures |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in names:
        vs_seq = f"{medians[name] / medians['sequential']:.1f}x" if "sequential" in medians else "-"
        vs_anchor = f"{medians[name] / medians[ANCHOR]:.2f}x" if ANCHOR in medians else "-"
        failures = sum(int(r["failures"]) for r in runs[name])
        print(f"| {name} | {medians[name]:,.0f} | {vs_seq} | {vs_anchor} | {failures} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs, "medians": medians}, indent=2))


if __name__ == "__main__":
    main()
