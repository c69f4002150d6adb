"""Faker-made book records, as in the published DynamoDB test: ISBN, title, author, date.

Seedable, so a run can be repeated record for record. Keys are unique across streams
(one stream per load-generator process) and never repeat: the 9 free digits of an
ISBN-13 are the stream number (mod 100) and a bijective scramble of a counter, so no
set of used keys has to be kept in memory; stream 100 and up, and a stream past its
10 million keys, add a suffix (`9780016632860-1.0`) rather than reuse a key.
"""

from __future__ import annotations

import functools
import random
import zlib
from typing import Any

from faker import Faker

ISBN_SPACE = 10_000_000  # keys per stream before they repeat
_SCRAMBLE = 7_654_321  # odd and not a multiple of 5: a bijection modulo 10**7
FILLER_BLOCK = 64 * 1024
POOL_BITS = 10
POOL_SIZE = 1 << POOL_BITS  # Faker values made up front: a Faker call costs ~30 us, a pick ~1 us
POOL_SEED = 1
_POOL_MASK = POOL_SIZE - 1
_WEIGHTS = (1, 3) * 6


@functools.cache
def faker_pools() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Titles, authors and publication dates to pick from: ~0.1 s of Faker calls, made once
    per process (and inherited by the processes Locust's --processes forks from it), not
    once per stream: a worker handling its spawn message must not spend it. A stream's own
    seeded picks make its records reproducible."""
    fake = Faker()
    fake.seed_instance(POOL_SEED)
    titles = tuple(fake.catch_phrase() for _ in range(POOL_SIZE))
    authors = tuple(fake.name() for _ in range(POOL_SIZE))
    dates = tuple(fake.date_between(start_date="-80y", end_date="today").isoformat() for _ in range(POOL_SIZE))
    return titles, authors, dates


def _weighted_sum(digits: str, weights: tuple[int, ...]) -> int:
    return sum(map(int.__mul__, map(int, digits), weights))


# The key's 7 counter digits sit at ISBN positions 5-11 (weights 3,1,3 | 1,3,1,3): their
# share of the check sum, by the top 3 and the low 4 digits. Two look-ups instead of twelve
# int() and multiplications per key (~1 us of ~5 for a whole record).
_TOP3_SUMS = [_weighted_sum(f"{i:03d}", (3, 1, 3)) for i in range(1000)]
_LOW4_SUMS = [_weighted_sum(f"{i:04d}", (1, 3, 1, 3)) for i in range(10_000)]


def isbn13(body9: str) -> str:
    digits = "978" + body9
    total = _weighted_sum(digits, _WEIGHTS)
    return digits + str((10 - total % 10) % 10)


class IsbnKeys:
    """isbn13(two stream digits + 7 counter digits), the check digit from two look-ups."""

    __slots__ = ("_prefix_sum", "prefix")

    def __init__(self, stream: int) -> None:
        self.prefix = f"978{stream % 100:02d}"
        self._prefix_sum = _weighted_sum(self.prefix, _WEIGHTS[:5])

    def key(self, n: int) -> str:
        """The key of counter value n, 0 <= n < ISBN_SPACE."""
        top, low = divmod(n, 10_000)
        return f"{self.prefix}{n:07d}{-(self._prefix_sum + _TOP3_SUMS[top] + _LOW4_SUMS[low]) % 10}"


def record_crc(record: dict[str, Any]) -> str:
    """A checksum of a record's fields (all but `crc` itself): --verify finds corrupt items by it."""
    text = "\x1f".join(f"{k}={v}" for k, v in sorted(record.items()) if k != "crc")
    return _crc_hex(text)


def _crc_hex(text: str) -> str:
    return f"{zlib.crc32(text.encode()):08x}"


def record_size(record: dict[str, Any]) -> int:
    """Bytes as DynamoDB counts them for string attributes: names plus UTF-8 values."""
    return sum(len(k) + len(str(v).encode()) for k, v in record.items())


class BookRecords:
    """An endless, reproducible stream of unique book records."""

    def __init__(self, seed: int | None = None, stream: int = 0, payload_bytes: int = 0) -> None:
        self.stream = stream
        self.payload_bytes = payload_bytes
        self._rng = random.Random(None if seed is None else seed * 1000 + stream)
        faker_seed = self._rng.getrandbits(64)
        self._offset = self._rng.randrange(ISBN_SPACE)
        self._count = 0
        self._isbn = IsbnKeys(stream)
        self._suffixed = stream >= 100  # streams 100 and up share digits with 0-99: keys get a suffix
        block = ""
        if payload_bytes:
            fake = Faker()
            fake.seed_instance(faker_seed)
            block = fake.text(max_nb_chars=FILLER_BLOCK)
        # Long enough for any pad from any start offset (up to FILLER_BLOCK // 2).
        self._filler = block * (2 + (payload_bytes + FILLER_BLOCK) // max(1, len(block))) if block else ""
        self._titles, self._authors, self._dates = faker_pools()

    def next_key(self) -> str:
        """isbn13(stream digits + scrambled counter), with a suffix past the plain key space."""
        cycle, position = divmod(self._count, ISBN_SPACE)
        n = (self._offset + position * _SCRAMBLE) % ISBN_SPACE
        self._count += 1
        key = self._isbn.key(n)
        return key if not (self._suffixed or cycle) else f"{key}-{self.stream // 100}.{cycle}"

    def next(self) -> dict[str, Any]:
        picks = self._rng.getrandbits(3 * POOL_BITS)  # three pool indexes from one draw
        isbn = self.next_key()
        title = self._titles[picks & _POOL_MASK]
        author = self._authors[(picks >> POOL_BITS) & _POOL_MASK]
        published = self._dates[picks >> (2 * POOL_BITS)]
        record: dict[str, Any] = {"isbn": isbn, "title": title, "author": author, "published": published}
        missing = self.payload_bytes and self.payload_bytes - record_size(record) - len("blurb") - len("crc") - 8
        if missing > 0:
            start = self._rng.randrange(FILLER_BLOCK // 2)
            blurb = record["blurb"] = self._filler[start : start + missing]
            # record_crc's text, fields in name order, written out: the same checksum for less work.
            text = f"author={author}\x1fblurb={blurb}\x1fisbn={isbn}\x1fpublished={published}\x1ftitle={title}"
        else:
            text = f"author={author}\x1fisbn={isbn}\x1fpublished={published}\x1ftitle={title}"
        record["crc"] = _crc_hex(text)
        return record

    def take(self, n: int) -> list[dict[str, Any]]:
        return [self.next() for _ in range(n)]
