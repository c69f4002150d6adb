"""The messages SQS writes: JSON bodies of a chosen size, made from pools of Faker text."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from faker import Faker

POOL_SIZE = 1024  # Faker paragraphs made up front: a pick costs ~1 us, a Faker paragraph ~40 us
FILLER_BLOCK = 64 * 1024
_JSON_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')  # what orjson would escape: keeps sizes exact
# {"message_id":"<36>","message_content":""}: the bytes of a message around its content.
MESSAGE_OVERHEAD = len(orjson.dumps({"message_id": str(uuid.UUID(int=0)), "message_content": ""}))


class MessageRecords:
    """An endless, reproducible stream of Faker JSON messages, unique by message_id.

    With ``payload_bytes`` each message body is exactly that many bytes (or the smallest
    message, if fewer); without, the content is one Faker paragraph.
    """

    def __init__(self, seed: int | None = None, stream: int = 0, payload_bytes: int = 0) -> None:
        self.payload_bytes = payload_bytes
        self._rng = random.Random(None if seed is None else seed * 1000 + stream)
        fake = Faker()
        fake.seed_instance(self._rng.getrandbits(64))
        self._paragraphs = [_json_safe(fake.paragraph(nb_sentences=4)) for _ in range(POOL_SIZE)]
        self._content_bytes = max(0, payload_bytes - MESSAGE_OVERHEAD)
        if self._content_bytes:
            block = _json_safe(fake.text(max_nb_chars=FILLER_BLOCK))
            copies = -(-(self._content_bytes + FILLER_BLOCK // 2) // len(block))  # enough past any start
            self._filler = block * copies

    def next(self) -> dict[str, Any]:
        rng = self._rng
        message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if self._content_bytes:
            start = rng.randrange(FILLER_BLOCK // 2)
            content = self._filler[start : start + self._content_bytes]
        elif self.payload_bytes:
            content = ""  # asked for less than the smallest message
        else:
            content = self._paragraphs[rng.randrange(POOL_SIZE)]
        return {"message_id": message_id, "message_content": content}

    def take(self, n: int) -> list[dict[str, Any]]:
        return [self.next() for _ in range(n)]


class Placeholders:
    """Consume mode writes nothing: one empty record per message to receive."""

    def next(self) -> dict[str, Any]:
        return {}

    def take(self, n: int) -> list[dict[str, Any]]:
        return [{}] * n


def _json_safe(text: str) -> str:
    return _JSON_UNSAFE.sub(" ", text)


def message_body(record: Mapping[str, Any]) -> str:
    return orjson.dumps(record).decode()


def message_id_of(message: Mapping[str, Any]) -> str:
    """The record's message_id from a received message (SQS's MessageId if not ours)."""
    try:
        data = orjson.loads(message["Body"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("message_id"), str):
        return str(data["message_id"])
    return str(message.get("MessageId", ""))
