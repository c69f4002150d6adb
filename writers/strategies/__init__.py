"""The registry of writer strategies: name -> class. Services never appear here."""

from __future__ import annotations

from writers.registry import load_class
from writers.strategies.base import Strategy, StrategyOptions

# name -> "module:Class", imported on first use (writers.registry).
STRATEGIES: dict[str, str] = {
    "sequential": "writers.strategies.sequential:SequentialStrategy",
    "threaded": "writers.strategies.threaded:ThreadedStrategy",
    "aioboto3": "writers.strategies.aioboto3_client:Aioboto3Strategy",
    "aiohttp": "writers.strategies.aiohttp_raw:AiohttpStrategy",
    "gevent": "writers.strategies.gevent_raw:GeventStrategy",
}


def strategy_class(name: str) -> type[Strategy]:
    return load_class(STRATEGIES, name, "strategy")  # type: ignore[no-any-return]


def shutdown_process(timeout: float = 5.0) -> None:
    """End this process's shared threads and loop (closing clients and sockets) before exit."""
    import sys

    threaded = sys.modules.get("writers.strategies.threaded")
    if threaded is not None:
        threaded.shutdown_process_pool(timeout)
    aioloop = sys.modules.get("writers.strategies.aioloop")
    if aioloop is not None:
        aioloop.shutdown_process_loop(timeout)


__all__ = ["STRATEGIES", "Strategy", "StrategyOptions", "shutdown_process", "strategy_class"]
