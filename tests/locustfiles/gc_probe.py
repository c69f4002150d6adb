"""A test-only plugin: the young-generation GC threshold while request events fire, and at
exit (every user closed, the asyncio loop ended), printed to stderr."""

from __future__ import annotations

import atexit
import gc
import sys
from typing import Any

from locust import events

seen: list[int] = []


@events.request.add_listener
def on_request(**_: Any) -> None:
    seen.append(gc.get_threshold()[0])


@atexit.register
def report() -> None:
    low, high = (min(seen), max(seen)) if seen else (0, 0)
    print(f"gc-probe: while writing {low}-{high}, at exit {gc.get_threshold()[0]}", file=sys.stderr)
