"""Sizes as people write them (4KiB, 1.5MB, a size:weight list) and S3's size limits."""

from __future__ import annotations

import math
import re

from writers.errors import ConfigError

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
MIN_PART_SIZE = 5 * MiB  # S3: every part but the last
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_SINGLE_PUT = 5 * GiB
MAX_OBJECT_SIZE = 5 * TiB


_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB,
}  # fmt: skip
_SIZE_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)")


def parse_size(text: str, flag: str) -> int:
    """Bytes from '4096', '64KiB', '1.5MB' (B, KB/MB/GB/TB = powers of 1000, KiB/MiB/GiB/TiB = of 1024)."""
    match = _SIZE_RE.fullmatch(str(text).strip())
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ConfigError(f"{flag} {text!r} is not a size like 4096, 64KiB or 4MiB (B, KB, MB, GB, KiB, MiB, GiB)")
    return int(float(match.group(1)) * unit)


def format_size(size: int) -> str:
    for unit, name in ((TiB, "TiB"), (GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{name}"
    return f"{size}B"


def parse_distribution(text: str, flag: str = "--object-size") -> tuple[tuple[int, float], ...]:
    """'4KiB' or '1KiB:50,64KiB:40,4MiB:10' -> ((size, weight), ...); a missing weight is 1."""
    terms = [term.strip() for term in str(text).split(",")]
    if not all(terms):
        raise ConfigError(f"{flag} {text!r} is not a size or a list like 1KiB:50,64KiB:40,4MiB:10")
    sizes: list[tuple[int, float]] = []
    for term in terms:
        size_text, colon, weight_text = term.partition(":")
        weight = 1.0
        if colon:
            try:
                weight = float(weight_text)
            except ValueError:
                weight = math.nan
        if not 0 < weight < math.inf:
            raise ConfigError(f"{flag}: the weight in {term!r} must be a positive number (size:weight)")
        sizes.append((parse_size(size_text, flag), weight))
    return tuple(sizes)
