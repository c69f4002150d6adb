"""A locustfile plug-in that caps the request rate of a process at $BENCH_PACE_RPS calls per
second, for latency at a fixed, moderate rate: load it beside any locustfile
(`-f locustfiles/dynamodb.py,scripts/bench/pace.py`).

Our user classes run one task in a loop without a wait_time (as they should: a task is
many calls), so Locust's `constant_throughput` cannot pace them. But every call fires its
request event from the user's greenlet before the next call of that user starts (the
driver reports an answer, then starts the next call; FastHttpUser fires inside its
request). Sleeping in a request listener therefore delays the next call: with one call
in flight per user, calls start at most every 1/rate seconds, process-wide. A call that
ends after its slot is followed at once, never by a burst to catch up. The call's own
response time, measured by the strategy around the call, is not touched by the pause.
"""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from locust import events

RATE = float(os.environ.get("BENCH_PACE_RPS", "0") or 0)
_next_start = [0.0]

if RATE > 0:
    _period = 1.0 / RATE

    @events.request.add_listener
    def _pace(**_: Any) -> None:
        now = time.monotonic()
        start = max(_next_start[0], now)
        _next_start[0] = start + _period
        if start > now:
            gevent.sleep(start - now)
