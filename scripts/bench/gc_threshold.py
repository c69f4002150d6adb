"""A locustfile plug-in for A/B runs of the young-generation GC threshold: with it loaded
beside a locustfile, every request event sets gen0's threshold to $BENCH_GC_GEN0 (default
700, CPython's own), over whatever the users hold (writers/young_gc.py). One C call per
request, the same in both arms of an A/B, so only the threshold differs:

    BENCH_GC_GEN0=700 locust -f locustfiles/dynamodb.py,scripts/bench/cpu_probe.py,scripts/bench/gc_threshold.py ...
    BENCH_GC_GEN0=20000 locust -f ...  (the same)
"""

from __future__ import annotations

import gc
import os
from typing import Any

from locust import events

GEN0 = int(os.environ.get("BENCH_GC_GEN0", "700") or 700)


@events.request.add_listener
def force_threshold(**_: Any) -> None:
    gc.set_threshold(GEN0, *gc.get_threshold()[1:])
