"""Keys drawn from a fixed key space (--key-space N): uniform, zipfian or hotspot.

Rank 0 is the hottest key. A rank's key is the same in every process (an ISBN-13 on the
979 prefix, which the unique keys of `writers.records` never use), so workers draw from
one space without talking to each other. Ranks are drawn in chunks with numpy (a draw
costs well under a microsecond); the same seed and stream give the same sequence.

- uniform: every key equally likely.
- zipfian: P(rank k) proportional to 1/(k+1)^s (YCSB's s = 0.99 by default); exact inverse
  CDF up to 2^20 keys, Gray et al.'s approximation (YCSB's) beyond: the two hottest keys
  keep their exact share there too.
- hotspot: the hottest key takes `hot_share` of the draws; the rest are uniform over the others.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from writers.records import BookRecords

if TYPE_CHECKING:
    import numpy as np

DISTRIBUTIONS = ("uniform", "zipfian", "hotspot")
MAX_KEY_SPACE = 1_000_000_000  # nine digits of the key
EXACT_ZIPF_MAX = 1 << 20  # up to this many keys the zipfian CDF is kept whole (8 MB)
CHUNK = 4096  # ranks drawn at once
_WEIGHTS = (1, 3) * 6


@lru_cache(maxsize=65_536)
def space_key(rank: int) -> str:
    """The key of `rank`: 979 + nine digits + the ISBN-13 check digit (hot keys are cached)."""
    digits = f"979{rank:09d}"
    total = sum(int(d) * w for d, w in zip(digits, _WEIGHTS, strict=True))
    return f"{digits}{(10 - total % 10) % 10}"


def zipf_cdf(space: int, s: float) -> np.ndarray[Any, Any]:
    return _zipf_cdf(space, s)


@lru_cache(maxsize=4)
def _zipf_cdf(space: int, s: float) -> np.ndarray[Any, Any]:
    import numpy as np

    cdf = np.cumsum(np.arange(1, space + 1, dtype=np.float64) ** -s)
    cdf /= cdf[-1]
    return cdf


@lru_cache(maxsize=4)
def zeta(space: int, s: float) -> float:
    """sum(1/i^s for i in 1..space), in chunks of a million."""
    import numpy as np

    total = 0.0
    for start in range(1, space + 1, 1_000_000):
        total += float(np.sum(np.arange(start, min(space, start + 999_999) + 1, dtype=np.float64) ** -s))
    return total


def top_share(distribution: str, space: int, s: float = 0.99, hot_share: float = 0.5) -> float:
    """What share of draws the hottest key gets, in theory."""
    if distribution == "zipfian":
        return 1.0 / zeta(space, s)
    if distribution == "hotspot":
        return 1.0 if space == 1 else hot_share
    return 1.0 / space


class KeySampler:
    """Ranks 0..space-1 by a distribution; `next()` is one rank."""

    def __init__(
        self, space: int, distribution: str = "uniform", s: float = 0.99, hot_share: float = 0.5,
        seed: int | None = None, stream: int = 0,
    ) -> None:  # fmt: skip
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"unknown key distribution {distribution!r}")
        self.space, self.distribution, self.s, self.hot_share = space, distribution, s, hot_share
        import numpy as np  # imported where keys repeat: runs with new keys never load it

        self._np = np
        self._rng = np.random.default_rng(None if seed is None else [seed, stream])
        self._ranks: list[int] = []
        if distribution == "zipfian" and space > EXACT_ZIPF_MAX:
            s = min(s, 1 - 1e-6)  # Gray's formula divides by 1 - s
            zetan, zeta2 = zeta(space, s), 1 + 0.5**s
            self._gray = (zetan, zeta2, 1 / (1 - s), (1 - (2 / space) ** (1 - s)) / (1 - zeta2 / zetan))

    def draw(self, count: int) -> np.ndarray[Any, Any]:
        np, rng, space = self._np, self._rng, self.space
        if self.distribution == "uniform":
            return rng.integers(0, space, size=count)
        if self.distribution == "hotspot":
            if space == 1:
                return np.zeros(count, dtype=np.int64)
            others = rng.integers(1, space, size=count)
            return np.where(rng.random(count) < self.hot_share, 0, others)
        u = rng.random(count)
        if space <= EXACT_ZIPF_MAX:
            return np.minimum(np.searchsorted(zipf_cdf(space, self.s), u, side="right"), space - 1)
        zetan, zeta2, alpha, eta = self._gray
        uz = u * zetan
        tail = (space * (eta * u - eta + 1) ** alpha).astype(np.int64)
        return np.where(uz < 1.0, 0, np.where(uz < zeta2, 1, np.clip(tail, 0, space - 1)))

    def next(self) -> int:
        ranks = self._ranks
        if not ranks:
            ranks.extend(reversed(self.draw(CHUNK).tolist()))
        return ranks.pop()


class SpaceRecords(BookRecords):
    """Book records whose keys come from a key space: a key is written again and again."""

    def __init__(self, sampler: KeySampler, seed: int | None = None, stream: int = 0, payload_bytes: int = 0) -> None:
        super().__init__(seed, stream, payload_bytes)
        self.sampler = sampler

    def next_key(self) -> str:
        return space_key(self.sampler.next())

    def next_read_key(self) -> str:
        """A key to read, from the same distribution (it may not have been written yet)."""
        return space_key(self.sampler.next())
