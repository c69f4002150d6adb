"""The benchmark sink: nginx answering every write with a canned, minimal, valid AWS answer.

Why nginx: it answers from its configuration (`return 200 '...'`), never copies or parses
the request body (it reads and discards it), keeps connections alive for a million
requests, and one worker on one core answers tens of thousands of small requests per
second for a few microseconds of CPU each: an order of magnitude more than any Python
load generator on the other core can send. Its own CPU is measured in every run
(`Sink.cpu_seconds`), so "never the bottleneck" is shown, not assumed.

What it answers (one server, routed by method and by the X-Amz-Target header):

| request | answer |
|---|---|
| DynamoDB `PutItem` | `{"ConsumedCapacity":{..."CapacityUnits":1.0}}`, as DynamoDB answers our ask |
| DynamoDB `BatchWriteItem` | `{"UnprocessedItems":{},"ConsumedCapacity":[...25.0]}`: every item written |
| DynamoDB `DescribeTable` | an active table keyed by `isbn` (the tool checks the table before the swarm) |
| anything else JSON | `{}` |
| SQS `GetQueueUrl` | `{"QueueUrl":"<sink>/000000000000/<queue>"}` (looked up once per process) |
| SQS `SendMessage` | `{"MD5OfMessageBody":..., "MessageId":...}` (fixed values, see below) |
| SQS `SendMessageBatch` | `Successful` entries with Ids `"0"`..`"9"`, `Failed` empty |
| S3 `PUT /bucket/key` (any non-POST) | 200, empty body, an `ETag` header |

SQS and MD5OfMessageBody: the answer's MD5 is fixed, so it matches no message. The
clients in this project do not check it: botocore (1.43.117, pinned) has no SQS MD5
handler (boto 2 and the Java SDK had one; botocore never did), aiobotocore reuses
botocore's handlers, and the raw strategies read only Ids and failures. A client that
starts checking would show failures in every SQS row, so this cannot go wrong silently.

Run standalone to look at it: `.venv/bin/python scripts/bench/sink.py` prints the URL
and serves until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUEUE = "messages"  # the SQS workload's default queue name
TABLE = "books"  # the DynamoDB workload's default table name
BUCKET = "books-load-test"  # the S3 workload's default bucket name
# A well-formed MD5 (of an empty body) and message id: fixed, see the module's doc.
SQS_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SQS_MESSAGE_ID = "5fea7756-0ea4-451a-a703-a558b933e274"
S3_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'

NGINX_CONF = """
worker_processes 1;
master_process off;
daemon off;
worker_rlimit_nofile 20000;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 16000; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_max_body_size 0;
    client_body_buffer_size 1m;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server_tokens off;
    map $http_x_amz_target $aws_json_answer {{
        default '{{}}';
        DynamoDB_20120810.PutItem '{{"ConsumedCapacity":{{"TableName":"{table}","CapacityUnits":1.0}}}}';
        DynamoDB_20120810.BatchWriteItem
            '{{"UnprocessedItems":{{}},"ConsumedCapacity":[{{"TableName":"{table}","CapacityUnits":25.0}}]}}';
        DynamoDB_20120810.DescribeTable
            '{{"Table":{{"TableName":"{table}","TableStatus":"ACTIVE","KeySchema":[{{"AttributeName":"isbn","KeyType":"HASH"}}],"AttributeDefinitions":[{{"AttributeName":"isbn","AttributeType":"S"}}]}}}}';
        AmazonSQS.GetQueueUrl '{{"QueueUrl":"{url}/000000000000/{queue}"}}';
        AmazonSQS.SendMessage '{{"MD5OfMessageBody":"{md5}","MessageId":"{message_id}"}}';
        AmazonSQS.SendMessageBatch '{{"Successful":[{batch_entries}],"Failed":[]}}';
    }}
    map $request_method $answer {{
        POST $aws_json_answer;
        default '';
    }}
    map $request_method $s3_etag {{
        POST '';
        default '{etag}';
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            # S3's conditional write (the tool's write probe, If-None-Match: *): nginx answers a 200
            # to it with 304 Not Modified, as if the object existed; a 204 it leaves alone.
            if ($http_if_none_match) {{
                return 204;
            }}
            add_header ETag $s3_etag always;
            return 200 $answer;
        }}
    }}
}}
"""
JSON_TYPE = "default_type application/x-amz-json-1.0;"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_binary() -> str | None:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if Path(found).exists() else None


def render_conf(tmp: Path, port: int) -> str:
    url = f"http://127.0.0.1:{port}"
    entries = ",".join(
        f'{{"Id":"{i}","MessageId":"{SQS_MESSAGE_ID[:-2]}{i:02d}","MD5OfMessageBody":"{SQS_MD5}"}}' for i in range(10)
    )
    conf = NGINX_CONF.format(
        tmp=tmp, port=port, url=url, queue=QUEUE, md5=SQS_MD5, message_id=SQS_MESSAGE_ID,
        batch_entries=entries, etag=S3_ETAG, table=TABLE,
    )  # fmt: skip
    # The JSON answers' Content-Type, as DynamoDB and SQS send it.
    return conf.replace("access_log off;", "access_log off;\n    " + JSON_TYPE, 1)


def _clock_ticks() -> int:
    return int(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc (0.0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()  # utime, stime


class Sink:
    """nginx on 127.0.0.1:<free port>, one process (no master), optionally pinned to one CPU."""

    def __init__(self, cpu: int | None = None) -> None:
        self.cpu = cpu
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self, timeout: float = 10.0) -> Sink:
        nginx = nginx_binary()
        if nginx is None:
            raise RuntimeError("nginx is needed for the sink (apt-get install nginx-light)")
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-sink-")
        tmp = Path(self._tmp.name)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = tmp / "nginx.conf"
        conf.write_text(render_conf(tmp, self.port))
        cpu = self.cpu

        def pin() -> None:
            die_with_parent()
            if cpu is not None:
                pin_to(cpu)

        self.process = subprocess.Popen(
            [nginx, "-c", str(conf), "-e", str(tmp / "error.log")],
            preexec_fn=pin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"nginx exited: {err.strip()[:500]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid) if self.process else 0.0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def die_with_parent() -> None:
    """In a child, before exec: SIGTERM when the process that started it dies (Linux), so a
    killed benchmark never leaves its nginx behind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def pin_to(cpu: int) -> None:
    """Pin the calling process to one CPU, where there are several (no-op otherwise)."""
    count = os.cpu_count() or 1
    if hasattr(os, "sched_setaffinity") and count > 1:
        os.sched_setaffinity(0, {cpu % count})


def _exit_on_term(*_: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_term)  # `kill` stops nginx too (the with-block's exit)
    with Sink(cpu=1) as sink:
        print(sink.url, flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            sys.exit(0)
