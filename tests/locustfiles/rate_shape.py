"""A test-only RateShape: 100 records/s for 3 s, then 300 for 3 s, then the test ends.
Loaded beside a service locustfile (`-f locustfiles/dynamodb.py,tests/locustfiles/rate_shape.py`)."""

from __future__ import annotations

from aws_locust.rate import RateShape


class TwoSteps(RateShape):
    def rate(self) -> float | None:
        elapsed = self.get_run_time()
        if elapsed < 3:
            return 100
        if elapsed < 6:
            return 300
        return None
