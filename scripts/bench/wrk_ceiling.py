"""The C ceiling: wrk sending the same fixed request as the FastHttpUser anchor.

wrk (Debian's `wrk` package, 4.1) is one C process: an epoll loop per thread, a request
made once by Lua (`wrk.format`) and written again and again. Its CPU is the child's own
resource usage (`os.wait4`: user + system, all its threads), so requests per CPU-second
are comparable with the probe's figures for Locust. wrk pays no signing, no Python and
no per-call record; it is the most a load generator can get out of a core here.

`delay_ms` > 0 adds wrk's Lua `delay()` hook: each connection waits that long after an
answer before sending again (a paced, moderate rate, for latency).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bodies import FixedRequest

SCRIPT = """
local body_file = {body_file}
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()
local req = wrk.format({method}, {path}, {{ {headers} }}, body)

function request()
  return req
end
{delay}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {{"requests":%d,"duration_us":%d,"socket_errors":%d,"status_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""
DELAY = """
function delay()
  return {delay_ms}
end
"""
RESULT = re.compile(r"^WRK_JSON (\{.*\})$", re.M)


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def _lua(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII is a valid Lua string literal


def write_script(request: FixedRequest, url: str, directory: Path, delay_ms: int = 0) -> Path:
    body_file = directory / f"wrk-{request.operation}-{request.items}.body"
    body_file.write_bytes(request.body)
    # The request is made once, at load: before wrk's own init() would add a Host header.
    all_headers = {"Host": urlsplit(url).netloc, **request.headers}
    headers = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in all_headers.items())
    script = SCRIPT.format(
        body_file=_lua(str(body_file)),
        method=_lua(request.method),
        path=_lua(request.path),
        headers=headers,
        delay=DELAY.format(delay_ms=int(delay_ms)) if delay_ms > 0 else "",
    )
    path = directory / f"wrk-{request.operation}-{request.items}-{delay_ms}.lua"
    path.write_text(script)
    return path


def run_wrk(
    request: FixedRequest,
    url: str,
    directory: Path,
    seconds: float,
    connections: int,
    threads: int = 1,
    delay_ms: int = 0,
    preexec_fn: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run wrk once; its figures plus its own CPU seconds (user + system) from wait4."""
    binary = wrk_binary()
    if binary is None:
        raise RuntimeError("wrk is needed for the C ceiling (apt-get install wrk)")
    script = write_script(request, url, directory, delay_ms)
    duration = max(1, round(seconds))  # wrk takes whole seconds
    command = [binary, "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "-s", str(script), url]
    out_path = directory / "wrk.out"
    with open(out_path, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text(errors="replace")
    match = RESULT.search(text)
    if process.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit {process.returncode}): {text.strip()[-500:]}")
    figures: dict[str, Any] = json.loads(match.group(1))
    figures["cpu"] = usage.ru_utime + usage.ru_stime
    figures["wall"] = figures["duration_us"] / 1e6
    figures["command"] = command
    return figures
