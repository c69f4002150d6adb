"""What a strategy is: a way to move calls, with some number in flight."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from writers.calls import Attempt, Call
from writers.target import Endpoint


@dataclass(frozen=True)
class StrategyOptions:
    concurrency: int = 1
    keep_alive: bool = True
    timeout: float = 10.0  # seconds, for connect and for read


class Strategy(ABC):
    """Starts calls and hands back finished attempts, in the caller's greenlet/thread.

    `start` never blocks for long; `collect` blocks (cooperatively under gevent) until
    at least one started call has finished, or `timeout` seconds have passed.
    """

    name: ClassVar[str]

    def __init__(self, endpoint: Endpoint, options: StrategyOptions) -> None:
        self.endpoint = endpoint
        self.options = options

    @property
    def concurrency(self) -> int:
        return self.options.concurrency

    def prepare(self, call: Call) -> None:  # noqa: B027 - most strategies have nothing to do ahead
        """Make ahead what `start` would make for `call` (a signed request), so that its start
        comes closer to its intended time: a paced sender calls this while it waits for it."""

    @abstractmethod
    def start(self, call: Call) -> None: ...

    @abstractmethod
    def collect(self, timeout: float | None) -> list[Attempt]: ...

    def share_collect(self, other: Strategy) -> bool:
        """From now on, hand `other`'s answers out of this strategy's `collect` too, if this
        strategy can (True): one wait for the answers of both. A user with a strategy per
        service (a pipeline's) then waits once, instead of on each strategy in turn. Called
        before either has started a call."""
        return False

    def close(self) -> None:  # noqa: B027 - most strategies hold nothing to release
        """Cancel what is in flight and release what this strategy holds."""
