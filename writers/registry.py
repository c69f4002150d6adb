"""Name -> "module:Class" registries, imported on first use, so a missing optional
package only matters to the service or strategy that needs it."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from writers.errors import ConfigError


def load_class(registry: dict[str, str], name: str, kind: str) -> Any:
    try:
        module, cls = registry[name].split(":")
    except KeyError:
        raise ConfigError(f"unknown {kind} {name!r}; choose from {', '.join(registry)}") from None
    return getattr(import_module(module), cls)
