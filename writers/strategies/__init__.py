"""The registry of writer strategies: name -> class. Services never appear here."""

from __future__ import annotations

from importlib import import_module

from writers.errors import ConfigError
from writers.strategies.base import Strategy, StrategyOptions

# name -> "module:Class", imported on first use so a missing optional package
# only matters to the strategy that needs it.
STRATEGIES: dict[str, str] = {
    "sequential": "writers.strategies.sequential:SequentialStrategy",
    "threaded": "writers.strategies.threaded:ThreadedStrategy",
    "aioboto3": "writers.strategies.aioboto3_client:Aioboto3Strategy",
    "aiohttp": "writers.strategies.aiohttp_raw:AiohttpStrategy",
    "gevent": "writers.strategies.gevent_raw:GeventStrategy",
}


def strategy_class(name: str) -> type[Strategy]:
    try:
        module, cls = STRATEGIES[name].split(":")
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}") from None
    return getattr(import_module(module), cls)  # type: ignore[no-any-return]


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
