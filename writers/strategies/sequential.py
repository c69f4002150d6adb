"""`sequential`: one boto3 client, one call at a time. The baseline of every write-up."""

from __future__ import annotations

from collections import deque

from writers.calls import Attempt, Call
from writers.strategies.base import Strategy, StrategyOptions
from writers.strategies.boto3_calls import call_boto3, shared_client
from writers.target import Endpoint


class SequentialStrategy(Strategy):
    name = "sequential"

    def __init__(self, endpoint: Endpoint, options: StrategyOptions) -> None:
        super().__init__(endpoint, options)
        self._client = shared_client(endpoint, options)
        self._queued: deque[Call] = deque()

    @property
    def concurrency(self) -> int:
        return 1  # by definition, whatever --concurrency says

    def start(self, call: Call) -> None:
        self._queued.append(call)

    def collect(self, timeout: float | None) -> list[Attempt]:
        if not self._queued:
            return []
        return [call_boto3(self._client, self._queued.popleft())]

    def close(self) -> None:
        self._queued.clear()
