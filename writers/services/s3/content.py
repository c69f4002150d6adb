"""Object content: one block per process (Faker text or random bytes); bodies are slices of it.

Bodies start at one of OFFSETS places in the block, OFFSET_STEP bytes apart: objects
differ, and the MD5 and SHA-256 of a (start, length) slice are computed once and kept.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass

from writers.services.s3.options import S3Options
from writers.services.s3.sizes import KiB, MiB

OFFSETS = 256
OFFSET_STEP = 251
CONTENT_UNIT = 1 * MiB  # random content is this much, repeated; Faker text is 64 KiB repeated
FAKER_TEXT_CHARS = 64 * KiB
_DIGEST_CACHE_MAX = 4096


class ContentBlock:
    """Object content for one process: bodies are slices of it, never copies."""

    def __init__(self, kind: str, length: int) -> None:
        if kind == "random":
            unit = random.Random(0).randbytes(CONTENT_UNIT)
        else:
            from faker import Faker  # only when text content is wanted

            fake = Faker()
            fake.seed_instance(0)
            unit = (fake.text(max_nb_chars=FAKER_TEXT_CHARS) + "\n").encode()
        data = unit * (-(-length // len(unit)))
        self.data = data[:length] if len(data) > length else data
        self.view = memoryview(self.data)
        self._digests: dict[tuple[str, int, int], str] = {}

    @classmethod
    def for_options(cls, options: S3Options) -> ContentBlock:
        return cls(options.content, options.largest_body() + OFFSETS * OFFSET_STEP)

    def body(self, variant: int, length: int) -> Body:
        return Body(self, (variant % OFFSETS) * OFFSET_STEP, length)

    def digest(self, kind: str, start: int, length: int) -> str:
        key = (kind, start, length)
        value = self._digests.get(key)
        if value is None:
            chunk = self.view[start : start + length]
            if kind == "md5":
                value = base64.b64encode(hashlib.md5(chunk, usedforsecurity=False).digest()).decode()
            else:
                value = hashlib.sha256(chunk).hexdigest()
            if len(self._digests) >= _DIGEST_CACHE_MAX:
                self._digests = {}
            self._digests[key] = value
        return value


@dataclass(frozen=True, slots=True)
class Body:
    """One object's or part's content: `length` bytes of the block from `start`."""

    block: ContentBlock
    start: int
    length: int

    @property
    def view(self) -> memoryview:
        return self.block.view[self.start : self.start + self.length]

    def to_bytes(self) -> bytes:
        return self.block.data[self.start : self.start + self.length]

    def md5_base64(self) -> str:
        return self.block.digest("md5", self.start, self.length)

    def sha256_hex(self) -> str:
        return self.block.digest("sha256", self.start, self.length)
