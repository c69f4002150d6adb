"""BookRecords: reproducible, unique keys per stream, valid ISBN-13s, sized payloads."""

from __future__ import annotations

import pytest

from writers.records import ISBN_SPACE, BookRecords, isbn13, record_crc, record_size
from writers.services.dynamodb import MAX_ITEM_BYTES

pytestmark = pytest.mark.timeout(60)


def isbn13_is_valid(isbn: str) -> bool:
    """The ISBN-13 rule, written independently of writers.records: weights 1,3,1,3,...
    over all 13 digits sum to a multiple of 10."""
    if len(isbn) != 13 or not isbn.isdigit():
        return False
    return sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(isbn)) % 10 == 0


def test_same_seed_gives_same_records() -> None:
    first = BookRecords(seed=42).take(500)
    second = BookRecords(seed=42).take(500)
    assert first == second


def test_same_seed_and_stream_with_payload_gives_same_records() -> None:
    first = BookRecords(seed=7, stream=3, payload_bytes=2000).take(50)
    second = BookRecords(seed=7, stream=3, payload_bytes=2000).take(50)
    assert first == second


def test_different_seeds_give_different_records() -> None:
    assert BookRecords(seed=1).take(50) != BookRecords(seed=2).take(50)


def test_unseeded_streams_differ() -> None:
    assert BookRecords().take(50) != BookRecords().take(50)


def test_different_streams_have_disjoint_keys() -> None:
    streams = [BookRecords(seed=42, stream=s) for s in range(4)]
    keys = [{r["isbn"] for r in records.take(10_000)} for records in streams]
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            assert not keys[i] & keys[j], f"streams {i} and {j} share keys"


def test_different_streams_disjoint_even_with_different_seeds() -> None:
    # Two load-generator processes seeded differently must still never collide.
    a = {r["isbn"] for r in BookRecords(seed=1, stream=0).take(20_000)}
    b = {r["isbn"] for r in BookRecords(seed=2, stream=1).take(20_000)}
    assert not a & b


def test_keys_unique_over_100k() -> None:
    records = BookRecords(seed=3, stream=5)
    keys = [r["isbn"] for r in records.take(100_000)]
    assert len(set(keys)) == len(keys) == 100_000


def test_keys_unique_without_seed() -> None:
    records = BookRecords()
    keys = [records.next_key() for _ in range(100_000)]
    assert len(set(keys)) == 100_000


def test_isbn13_check_digit_known_value() -> None:
    # The textbook example: ISBN 978-0-306-40615-7.
    assert isbn13("030640615") == "9780306406157"


def test_every_key_is_a_valid_isbn13() -> None:
    for stream in (0, 1, 42, 99):
        for record in BookRecords(seed=stream, stream=stream).take(5_000):
            isbn = record["isbn"]
            assert isbn.startswith("978"), isbn
            assert isbn13_is_valid(isbn), isbn


def test_records_have_book_fields() -> None:
    for record in BookRecords(seed=9).take(100):
        assert set(record) == {"isbn", "title", "author", "published", "crc"}
        assert record["crc"] == record_crc(record)  # the checksum --verify reads back
        assert all(isinstance(v, str) and v for v in record.values())
        assert len(record["published"]) == 10  # ISO date


def test_no_payload_means_no_blurb_and_small_records() -> None:
    for record in BookRecords(seed=1, payload_bytes=0).take(200):
        assert "blurb" not in record
        assert record_size(record) < 200


@pytest.mark.parametrize(
    "payload_bytes",
    [
        200,
        1_000,
        4_096,
        50_000,
        90_000,
        100_000,
        200_000,
        MAX_ITEM_BYTES,
    ],
)
def test_payload_bytes_honoured(payload_bytes: int) -> None:
    records = BookRecords(seed=5, payload_bytes=payload_bytes)
    sizes = [record_size(records.next()) for _ in range(20)]
    # Close to what was asked: within 1% (and never over DynamoDB's item limit).
    for size in sizes:
        assert abs(size - payload_bytes) <= max(8, payload_bytes // 100), (payload_bytes, sizes)
        assert size <= MAX_ITEM_BYTES


def test_payload_smaller_than_a_bare_record_adds_nothing() -> None:
    record = BookRecords(seed=5, payload_bytes=10).next()
    assert "blurb" not in record


def test_streams_past_100_and_counters_past_the_isbn_space_never_reuse_a_key() -> None:
    first = BookRecords(seed=9, stream=0).next_key()
    assert BookRecords(seed=9, stream=100).next_key() != first  # stream 100 shares digits with stream 0
    wrapped = BookRecords(seed=9, stream=0)
    wrapped._count = ISBN_SPACE  # the 10,000,001st key of the stream
    assert wrapped.next_key() == f"{first}-0.1"


@pytest.mark.parametrize("stream", [0, 7, 99, 100, 342])
def test_keys_are_the_isbn13_of_stream_digits_and_counter(stream: int) -> None:
    """next_key's table-driven check digit is isbn13's, and the suffix rule holds past the space."""
    records = BookRecords(seed=11, stream=stream)
    records._count = ISBN_SPACE - 3  # the last keys of the first cycle and the first of the second
    for _ in range(6):
        cycle, position = divmod(records._count, ISBN_SPACE)
        n = (records._offset + position * 7_654_321) % ISBN_SPACE
        expected = isbn13(f"{stream % 100:02d}{n:07d}")
        if stream >= 100 or cycle:
            expected += f"-{stream // 100}.{cycle}"
        assert records.next_key() == expected


@pytest.mark.parametrize("payload_bytes", [0, 1500])
def test_record_checksum_is_record_crc_of_the_fields(payload_bytes: int) -> None:
    """The generator writes each record's checksum out field by field; --verify recomputes it
    with record_crc from whatever fields an item has: both must agree."""
    for record in BookRecords(seed=4, payload_bytes=payload_bytes).take(200):
        assert ("blurb" in record) == bool(payload_bytes)
        assert record["crc"] == record_crc(record)
