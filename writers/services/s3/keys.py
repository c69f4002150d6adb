"""The stream of objects a process writes: unique keys over the prefixes, sizes, content variants."""

from __future__ import annotations

import bisect
import random
from itertools import accumulate
from typing import Any

from writers.records import ISBN_SPACE, IsbnKeys
from writers.services.s3.content import OFFSETS
from writers.services.s3.options import S3Options

KEY_SCRAMBLE = 3_214_567  # odd, not a multiple of 5: a bijection modulo ISBN_SPACE


class ObjectRecords:
    """An endless, reproducible stream of objects to write: unique key, size, content variant.

    Keys are unique within a stream (one per load-generator process) like the book
    records' ISBNs: the stream number and a bijective scramble of a counter.
    """

    def __init__(self, options: S3Options, seed: int | None = None, stream: int = 0) -> None:
        self.stream = stream % 100
        self._isbn = IsbnKeys(self.stream)
        self._rng = random.Random(None if seed is None else seed * 1000 + stream)
        self._offset = self._rng.randrange(ISBN_SPACE)
        self._count = 0
        self._prefixes = options.prefixes
        self._width = max(2, len(str(options.prefixes - 1)))
        self._sizes = [size for size, _ in options.object_sizes]
        self._cumulative = list(accumulate(weight for _, weight in options.object_sizes))

    def next_key(self) -> str:
        n = (self._offset + self._count * KEY_SCRAMBLE) % ISBN_SPACE
        self._count += 1
        isbn = self._isbn.key(n)
        if not self._prefixes:
            return isbn
        return f"p{self._rng.randrange(self._prefixes):0{self._width}d}/{isbn}"

    def next(self) -> dict[str, Any]:
        rng = self._rng
        if len(self._sizes) == 1:
            size = self._sizes[0]
        else:
            pick = rng.random() * self._cumulative[-1]
            size = self._sizes[min(bisect.bisect_right(self._cumulative, pick), len(self._sizes) - 1)]
        return {"key": self.next_key(), "size": size, "variant": rng.randrange(OFFSETS)}

    def take(self, n: int) -> list[dict[str, Any]]:
        return [self.next() for _ in range(n)]
