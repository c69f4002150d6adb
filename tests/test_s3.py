"""S3 operations through every writer strategy and the Driver, against real local servers
started here: SeaweedFS (checks SigV4 signatures) and moto. What is acknowledged is what
the bucket holds, with the right sizes and bytes; multipart uploads go Create -> parts ->
Complete (a failed part retried, a part given up aborts the upload); bad options are
refused with one line.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import os
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from helpers import SharedEmulators, drive

from writers.calls import Attempt, Call
from writers.driver import Totals
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.protocols.rest_xml import encode_segment, error_from, uri_path
from writers.records import ISBN_SPACE, isbn13
from writers.services import emulator_names, workload_class
from writers.services.s3 import (
    OFFSET_STEP,
    SERVICE,
    BucketAddress,
    CompleteMultipartUpload,
    CreateMultipartUpload,
    GetObject,
    KiB,
    MiB,
    ObjectRecords,
    PutObject,
    S3Options,
    S3Workload,
    UploadPart,
    parse_distribution,
    parse_size,
)
from writers.services.s3.keys import KEY_SCRAMBLE
from writers.sigv4 import UNSIGNED_PAYLOAD
from writers.strategies import STRATEGIES, Strategy, StrategyOptions, strategy_class
from writers.strategies.boto3_calls import make_client
from writers.strategies.raw import sign_call, signer_for
from writers.target import Endpoint

pytestmark = pytest.mark.timeout(60)

REGION = "us-east-1"
ALL = list(STRATEGIES)
RAW = ["aiohttp", "gevent"]
SMALL_SIZES = ((0, 1.0), (1 * KiB, 3.0), (100 * KiB, 1.0))
MULTIPART = {"object_sizes": ((11 * MiB, 1.0),), "multipart_threshold": 6 * MiB, "part_size": 5 * MiB}


# --------------------------------------------------------------------------- servers and helpers


@pytest.fixture(scope="module")
def seaweedfs(local: SharedEmulators) -> RunningEmulator:
    return local.get("s3", "seaweedfs")


@pytest.fixture(scope="module")
def moto(local: SharedEmulators) -> RunningEmulator:
    return local.get("s3", "moto")


@pytest.fixture(scope="module", params=emulator_names("s3"))
def server(request: pytest.FixtureRequest, local: SharedEmulators) -> RunningEmulator:
    return local.get("s3", request.param)


def endpoint_at(url: str, secret: str = LOCAL_SECRET_KEY) -> Endpoint:
    return Endpoint(SERVICE, REGION, url, LOCAL_ACCESS_KEY, secret)


def bucket_name(hint: str) -> str:
    return f"t-{hint.lower()}-{uuid.uuid4().hex[:8]}"


_shared_buckets: dict[str | None, str] = {}  # server URL -> a bucket the tests share


def shared_bucket(endpoint: Endpoint) -> str:
    """One bucket per server: SeaweedFS takes ~1 s to grow storage for a new bucket's first write."""
    name = _shared_buckets.get(endpoint.url)
    if name is None:
        name = _shared_buckets[endpoint.url] = bucket_name("shared")
        assert S3Workload(S3Options(name)).provision(endpoint, timeout=20) is True
    return name


NewWorkload = Callable[..., S3Workload]


@pytest.fixture
def new_workload() -> Iterator[NewWorkload]:
    """`new_workload(endpoint, **options)`: a workload on the server's shared bucket, prepared as
    each Locust process does; the bucket is emptied after the test."""
    made: list[tuple[S3Workload, Endpoint]] = []

    def make(endpoint: Endpoint, **options: Any) -> S3Workload:
        workload = S3Workload(S3Options(shared_bucket(endpoint), **options))
        workload.prepare(endpoint)
        made.append((workload, endpoint))
        return workload

    yield make
    for workload, endpoint in made:
        workload.empty(endpoint)


def content_of(call: Call) -> bytes:
    """What an upload call (PutObject, or CreateMultipartUpload and its parts) stores."""
    if isinstance(call, PutObject):
        return call.body.to_bytes()
    assert isinstance(call, CreateMultipartUpload)
    return b"".join(body.to_bytes() for body in call.upload.bodies)


def read_back(endpoint: Endpoint, strategy: str, workload: S3Workload, keys: list[str]) -> dict[str, Attempt]:
    totals, attempts = drive(strategy, [workload.get(key) for key in keys], endpoint)
    assert totals.failures == 0 and totals.acked == 0  # reads acknowledge no record
    return {attempt.call.key: attempt for attempt in attempts}  # type: ignore[attr-defined]


def pending_uploads(endpoint: Endpoint, bucket: str) -> list[Any]:
    return endpoint.admin_client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- options (no server)


@pytest.mark.parametrize(
    ("text", "size"),
    [("4096", 4096), ("1KiB", 1024), ("64kib", 65536), ("4MiB", 4 * MiB), ("1KB", 1000), ("2MB", 2_000_000),
     ("1.5MiB", 3 * MiB // 2), ("0", 0), ("7B", 7), ("5TiB", 5 << 40)],
)  # fmt: skip
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text, "--object-size") == size


def test_distribution() -> None:
    assert parse_distribution("1KiB:50,64KiB:40,4MiB:10") == ((1024, 50.0), (65536, 40.0), (4 * MiB, 10.0))
    assert parse_distribution("4KiB") == ((4096, 1.0),)
    assert parse_distribution(" 1KiB , 2KiB:3 ") == ((1024, 1.0), (2048, 3.0))


def cli(**overrides: Any) -> argparse.Namespace:
    values = {
        "bucket": "books-load-test", "object_size": "4KiB", "content": "faker", "prefixes": 16,
        "multipart_threshold": "8MiB", "part_size": "8MiB", "read_ratio": 0.0, "content_md5": False,
        "payload_signing": "unsigned",
    }  # fmt: skip
    values.update(overrides)
    return argparse.Namespace(**values)


def test_read_options_from_flags() -> None:
    options = S3Workload.read_options(
        cli(object_size="1KiB:50,64KiB:40,4MiB:10", part_size="5MiB", multipart_threshold="16MiB", read_ratio=0.25,
            content="Random", payload_signing="signed", content_md5=True, prefixes=0),
        1, 0,
    )  # fmt: skip
    assert options == S3Options(
        "books-load-test", object_sizes=((1024, 50.0), (65536, 40.0), (4 * MiB, 10.0)), content="random",
        prefixes=0, multipart_threshold=16 * MiB, part_size=5 * MiB, read_ratio=0.25, content_md5=True,
        payload_signing="signed",
    )  # fmt: skip
    assert workload_class("s3") is S3Workload


BAD_OPTIONS = [
    ({"object_size": "1KiB:x"}, 0, "--object-size: the weight"),
    ({"object_size": "1KiB:0"}, 0, "--object-size: the weight"),
    ({"object_size": "12 parsecs"}, 0, "--object-size '12 parsecs' is not a size"),
    ({"object_size": "1KiB,,2KiB"}, 0, "--object-size '1KiB,,2KiB' is not a size or a list"),
    ({"object_size": "6TiB"}, 0, "--object-size 6TiB is over S3's 5TiB object limit"),
    ({"part_size": "4MiB"}, 0, "--part-size must be between 5MiB and 5GiB"),
    ({"part_size": "6GiB"}, 0, "--part-size must be between 5MiB and 5GiB"),
    ({"multipart_threshold": "6GiB"}, 0, "--multipart-threshold must be between 1B and 5GiB"),
    ({"object_size": "1TiB", "part_size": "5MiB"}, 0, "over S3's 10000: use --part-size of at least 105MiB"),
    ({"object_size": "2GiB", "multipart_threshold": "5GiB"}, 0, "this tool allows 1GiB"),
    ({"read_ratio": 1.5}, 0, "--read-ratio must be between 0 and 1"),
    ({"read_ratio": -0.1}, 0, "--read-ratio must be between 0 and 1"),
    ({"read_ratio": float("nan")}, 0, "--read-ratio must be between 0 and 1"),
    ({"prefixes": -1}, 0, "--prefixes must be between 0 and 10000"),
    ({"content": "lorem"}, 0, "--content must be 'faker' or 'random'"),
    ({"payload_signing": "maybe"}, 0, "--payload-signing must be 'unsigned' or 'signed'"),
    ({}, 100, "--payload-bytes does not apply to S3"),
    ({"bucket": "Books"}, 0, "--bucket 'Books' is not a valid S3 bucket name (3-63 lowercase"),
    ({"bucket": "ab"}, 0, "is not a valid S3 bucket name"),
    ({"bucket": "a" * 64}, 0, "is not a valid S3 bucket name"),
    ({"bucket": "-books"}, 0, "is not a valid S3 bucket name"),
    ({"bucket": "books..x"}, 0, "no '..'"),
    ({"bucket": "192.168.5.4"}, 0, "IP address"),
    ({"bucket": "xn--books"}, 0, "reserved"),
    ({"bucket": "books-s3alias"}, 0, "reserved"),
]


@pytest.mark.parametrize(("flags", "payload_bytes", "message"), BAD_OPTIONS, ids=[m for _, _, m in BAD_OPTIONS])
def test_bad_options_are_one_clear_line(flags: dict[str, Any], payload_bytes: int, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        S3Workload.read_options(cli(**flags), 1, payload_bytes)
    text = str(raised.value)
    assert message in text and "\n" not in text and len(text) < 200, text


def test_batch_must_be_one() -> None:
    assert S3Workload.max_batch == 1
    with pytest.raises(ConfigError, match="--batch must be 1 for S3"):
        S3Workload.read_options(cli(), 2, 0)


def test_records_are_unique_spread_over_prefixes_and_weighted() -> None:
    options = S3Options("b", object_sizes=((1 * KiB, 3.0), (64 * KiB, 1.0)), prefixes=12)
    records = ObjectRecords(options, seed=7, stream=3).take(4000)
    keys = [r["key"] for r in records]
    assert len(set(keys)) == 4000
    assert all(k[0] == "p" and k[3] == "/" and len(k) == 17 and k[4:7] == "978" for k in keys), keys[:3]
    assert {k[:3] for k in keys} == {f"p{i:02d}" for i in range(12)}
    sizes = Counter(r["size"] for r in records)
    assert 2800 < sizes[1 * KiB] < 3200 and sizes[1 * KiB] + sizes[64 * KiB] == 4000
    assert records == ObjectRecords(options, seed=7, stream=3).take(4000)  # reproducible with a seed
    other = {r["key"] for r in ObjectRecords(options, seed=7, stream=4).take(4000)}
    assert not other & set(keys)  # another stream (process): other keys
    assert all("/" not in r["key"] for r in ObjectRecords(S3Options("b", prefixes=0)).take(10))


@pytest.mark.parametrize("stream", [0, 3, 142])
def test_object_keys_are_the_isbn13_of_stream_digits_and_counter(stream: int) -> None:
    """The table-driven keys are isbn13's (the same keys as before it), the stream taken mod 100."""
    records = ObjectRecords(S3Options("b", prefixes=0), seed=5, stream=stream)
    records._count = ISBN_SPACE - 2  # across the wrap of the counter
    for count in range(ISBN_SPACE - 2, ISBN_SPACE + 2):
        n = (records._offset + count * KEY_SCRAMBLE) % ISBN_SPACE
        assert records.next()["key"] == isbn13(f"{stream % 100:02d}{n:07d}")


@pytest.mark.parametrize(
    "segment", ["9780012345678", "p07/9780012345678", "a b", "ü/ß", "k+e=y&?#", "~tilde_dot.dash-", "%41", ""]
)
def test_path_segments_are_encoded_as_quote_does(segment: str) -> None:
    """The no-encoding shortcut gives quote()'s answer, and the bucket's own segment too."""
    assert encode_segment(segment) == quote(segment, safe="/~")
    assert BucketAddress("my.bucket").path(segment) == uri_path("my.bucket", segment)
    assert BucketAddress("b", "https://b.example", virtual_hosted=True).path(segment) == uri_path(segment)


# --------------------------------------------------------------------------- wire requests (no server)


def test_put_wire_is_a_slice_of_the_block_unsigned_or_hashed() -> None:
    unsigned = S3Workload(S3Options("books", object_sizes=((1000, 1.0),), content="random", content_md5=True))
    call = unsigned.upload("p01/9780000000001", 1000, variant=3)
    assert isinstance(call, PutObject)
    wire = call.wire()
    assert (wire.method, wire.path, wire.query, wire.base_url) == ("PUT", "/books/p01/9780000000001", "", None)
    assert isinstance(wire.body, memoryview) and wire.body.obj is unsigned.block.data  # a view, not a copy
    assert bytes(wire.body) == unsigned.block.data[3 * OFFSET_STEP : 3 * OFFSET_STEP + 1000]
    assert wire.payload_hash == UNSIGNED_PAYLOAD
    assert wire.headers["Content-MD5"] == base64.b64encode(hashlib.md5(bytes(wire.body)).digest()).decode()
    assert call.request_bytes == 1000
    params = call.params
    assert params["Body"] == bytes(wire.body) and params["ContentMD5"] == wire.headers["Content-MD5"]
    assert (params["Bucket"], params["Key"]) == ("books", "p01/9780000000001")

    signed = S3Workload(S3Options("books", payload_signing="signed"))
    wire = signed.upload("k", 4096).wire()
    assert wire.payload_hash == hashlib.sha256(bytes(wire.body)).hexdigest()
    assert "Content-MD5" not in wire.headers


def test_virtual_hosted_on_aws_path_style_elsewhere() -> None:
    aws = Endpoint(SERVICE, "eu-west-1", None, "AKIDEXAMPLE", "secret")  # nothing is sent anywhere
    workload = S3Workload(S3Options("books"))
    workload.prepare(aws)
    call = workload.upload("p01/x", 10)
    wire = call.wire()
    assert wire.base_url == "https://books.s3.eu-west-1.amazonaws.com" and wire.path == "/p01/x"
    signed = sign_call(signer_for(aws), aws.raw_url, call, keep_alive=True)
    assert signed.url == "https://books.s3.eu-west-1.amazonaws.com/p01/x"
    assert signed.headers["Host"] == "books.s3.eu-west-1.amazonaws.com"
    assert signed.base_url == "https://books.s3.eu-west-1.amazonaws.com"
    assert SERVICE.boto3_config(None) == {}  # botocore goes virtual-hosted on AWS by itself

    dotted = S3Workload(S3Options("books.example"))  # dots break TLS on a virtual host: path-style
    dotted.prepare(aws)
    assert dotted.upload("k", 1).wire().path == "/books.example/k"

    custom = S3Workload(S3Options("books"))
    custom.prepare(Endpoint(SERVICE, REGION, "http://127.0.0.1:9", "AKID", "secret"))
    assert (custom.upload("k", 1).wire().base_url, custom.upload("k", 1).wire().path) == (None, "/books/k")
    assert SERVICE.boto3_config("http://minio:9000") == {"s3": {"addressing_style": "path"}}


def test_multipart_calls_and_their_wire_requests() -> None:
    workload = S3Workload(S3Options("books", **MULTIPART))  # type: ignore[arg-type]
    create = workload.upload("p02/k", 11 * MiB, variant=5)
    assert isinstance(create, CreateMultipartUpload)
    assert (create.wire().method, create.wire().query, create.request_bytes) == ("POST", "uploads", 0)
    assert [b.length for b in create.upload.bodies] == [5 * MiB, 5 * MiB, 1 * MiB]

    upload_id = "a+b/c=_~"  # ids are opaque: they are percent-encoded like botocore does
    settlement = create.settle({"UploadId": upload_id})
    assert settlement.acked == 0
    parts = settlement.next_calls
    assert [type(p) for p in parts] == [UploadPart] * 3
    wire = parts[0].wire()
    assert (wire.method, wire.path, wire.query) == ("PUT", "/books/p02/k", "partNumber=1&uploadId=a%2Bb%2Fc%3D_~")
    assert [p.request_bytes for p in parts] == [5 * MiB, 5 * MiB, 1 * MiB]
    assert parts[2].params["PartNumber"] == 3 and parts[2].params["UploadId"] == upload_id

    assert parts[1].settle({"ETag": '"e2"'}).next_calls == []
    assert parts[0].settle({"ETag": '"e1"'}).next_calls == []
    last = parts[2].settle({"ETag": '"e3"'})
    assert last.acked == 0 and [type(c) for c in last.next_calls] == [CompleteMultipartUpload]
    complete = last.next_calls[0]
    parts_sent = [{"ETag": f'"e{n}"', "PartNumber": n} for n in (1, 2, 3)]
    assert complete.params["MultipartUpload"] == {"Parts": parts_sent}
    body = bytes(complete.wire().body)
    assert body.startswith(b"<CompleteMultipartUpload")
    assert b'<Part><ETag>"e2"</ETag><PartNumber>2</PartNumber></Part>' in body
    assert complete.settle({}).acked == 1 and workload.acked_keys[-1] == "p02/k"  # acknowledged only here


def test_error_answers_are_classified() -> None:
    def error(status: int, code: str) -> AwsCallError | None:
        return error_from(status, f"<Error><Code>{code}</Code><Message>m</Message></Error>".encode())

    assert error(403, "SignatureDoesNotMatch").kind is FailureKind.CLIENT  # type: ignore[union-attr]
    assert error(503, "SlowDown").kind is FailureKind.THROTTLED  # type: ignore[union-attr]
    assert error(500, "InternalError").kind is FailureKind.SERVER  # type: ignore[union-attr]
    in_200 = error(200, "InternalError")  # S3 may fail a CompleteMultipartUpload with HTTP 200
    assert in_200 is not None and in_200.kind is FailureKind.SERVER and in_200.code == "InternalError"
    assert error_from(200, b"") is None and error_from(204, b"") is None
    assert error_from(404, b"").kind is FailureKind.CLIENT  # type: ignore[union-attr]  # HEAD: no body


def test_read_ratio_mixes_gets_of_acknowledged_keys() -> None:
    workload = S3Workload(S3Options("books", read_ratio=0.5))
    records = workload.records(1, 0).take(10)
    assert all(isinstance(c, PutObject) for c in workload.write_calls(records[:4]))  # nothing written yet: no GETs
    workload.acked_keys.extend(["a", "b"])
    calls = workload.write_calls(records[4:])
    assert [type(c) for c in calls] == [PutObject, GetObject] * 3
    assert {c.key for c in calls if isinstance(c, GetObject)} <= {"a", "b"}

    reads_only = S3Workload(S3Options("books", read_ratio=1.0))
    reads_only.acked_keys.append("a")
    assert all(isinstance(c, GetObject) for c in reads_only.write_calls(records))
    assert isinstance(reads_only.acked_keys, deque) and reads_only.acked_keys.maxlen == 100_000


# --------------------------------------------------------------------------- against the servers


@pytest.mark.parametrize("strategy", ALL)
def test_puts_are_stored_and_gets_return_the_bytes(
    server: RunningEmulator, strategy: str, new_workload: NewWorkload
) -> None:
    endpoint = endpoint_at(server.endpoint)
    workload = new_workload(endpoint, object_sizes=SMALL_SIZES, content="random", prefixes=4)
    records = workload.records(11, ALL.index(strategy)).take(10)
    calls = workload.write_calls(records)
    totals, attempts = drive(strategy, calls, endpoint)

    assert totals == Totals(calls=10, acked=10, retried_items=0, given_up_items=0, failures=0)
    assert {a.call.operation for a in attempts} == {"PutObject"}
    assert all(a.response_length == a.call.request_bytes for a in attempts)  # bytes sent
    assert workload.stored_objects(endpoint) == {r["key"]: r["size"] for r in records}
    assert set(workload.acked_keys) == {r["key"] for r in records}

    got = read_back(endpoint, strategy, workload, [c.key for c in calls])  # type: ignore[attr-defined]
    for call in calls:
        attempt = got[call.key]  # type: ignore[attr-defined]
        assert attempt.response is not None and attempt.response["Body"] == content_of(call)
        assert attempt.response_length == len(content_of(call))  # bytes received


@pytest.mark.parametrize(
    ("emulator", "strategy"), [("seaweedfs", s) for s in ALL] + [("moto", "sequential"), ("moto", "gevent")]
)
def test_multipart_upload(
    request: pytest.FixtureRequest, emulator: str, strategy: str, new_workload: NewWorkload
) -> None:
    endpoint = endpoint_at(request.getfixturevalue(emulator).endpoint)
    workload = new_workload(endpoint, content_md5=True, **MULTIPART)
    calls = workload.write_calls(workload.records(12, 0).take(1))
    totals, attempts = drive(strategy, calls, endpoint)

    assert totals.acked == 1 and totals.failures == 0 and totals.calls == 5
    ops = [a.call.operation for a in attempts]
    assert ops[0] == "CreateMultipartUpload" and ops[-1] == "CompleteMultipartUpload"
    assert sorted(ops[1:-1]) == ["UploadPart"] * 3
    assert [a.acked for a in attempts] == [0, 0, 0, 0, 1]  # the record is acknowledged at Complete only
    assert sorted(a.response_length for a in attempts if a.call.operation == "UploadPart") == [MiB, 5 * MiB, 5 * MiB]
    key = calls[0].key  # type: ignore[attr-defined]
    assert workload.stored_objects(endpoint) == {key: 11 * MiB}
    assert pending_uploads(endpoint, workload.options.resource) == []
    assert read_back(endpoint, strategy, workload, [key])[key].response["Body"] == content_of(calls[0])  # type: ignore[index]


@pytest.mark.parametrize("signing", ["unsigned", "signed"])
@pytest.mark.parametrize("strategy", RAW)
def test_raw_payload_signing_modes_on_seaweedfs(
    seaweedfs: RunningEmulator, strategy: str, signing: str, new_workload: NewWorkload
) -> None:
    endpoint = endpoint_at(seaweedfs.endpoint)
    workload = new_workload(endpoint, payload_signing=signing, content_md5=True)
    calls = workload.write_calls(workload.records(13, 0).take(6))
    expected_hash = UNSIGNED_PAYLOAD if signing == "unsigned" else hashlib.sha256(content_of(calls[0])).hexdigest()
    assert calls[0].wire().payload_hash == expected_hash
    totals, _ = drive(strategy, calls, endpoint)
    assert totals.acked == 6 and totals.failures == 0
    assert len(workload.stored_objects(endpoint)) == 6


@pytest.mark.parametrize("strategy", ALL)
def test_wrong_secret_is_a_client_error_not_retried(
    seaweedfs: RunningEmulator, strategy: str, new_workload: NewWorkload
) -> None:
    good = endpoint_at(seaweedfs.endpoint)
    workload = new_workload(good)
    bad = endpoint_at(seaweedfs.endpoint, secret="not-the-secret")
    totals, attempts = drive(strategy, workload.write_calls(workload.records(14, 0).take(3)), bad)
    assert totals.acked == 0 and totals.given_up_items == 3 and totals.retried_items == 0
    assert {a.error.kind for a in attempts if a.error} == {FailureKind.CLIENT}
    assert {a.error.code for a in attempts if a.error} == {"SignatureDoesNotMatch"}
    assert workload.stored_objects(good) == {}


@pytest.mark.parametrize("strategy", ["sequential", "aioboto3", "aiohttp", "gevent"])
def test_other_origin_and_host_name_endpoints(
    seaweedfs: RunningEmulator, strategy: str, new_workload: NewWorkload
) -> None:
    """boto3 stays path-style on a host name (botocore alone would try bucket.localhost); the raw
    strategies send to a call's own origin (WireRequest.base_url), gevent with a client per origin."""
    by_name = endpoint_at(seaweedfs.endpoint.replace("127.0.0.1", "localhost"))  # /etc/hosts: 127.0.0.1
    workload = new_workload(endpoint_at(seaweedfs.endpoint))
    if strategy in RAW:
        endpoint = endpoint_at(seaweedfs.endpoint)
        workload.target = replace(workload.target, bucket=BucketAddress(workload.options.resource, by_name.url))
    else:
        endpoint = by_name
    calls = workload.write_calls(workload.records(15, 0).take(4))
    instance = strategy_class(strategy)(endpoint, StrategyOptions(concurrency=2))
    clients = getattr(instance, "_clients", None)
    totals, _ = drive(instance, calls, endpoint)
    assert totals.acked == 4 and totals.failures == 0
    if strategy == "gevent":
        assert clients is not None and set(clients) == {endpoint.raw_url, by_name.url}
    assert len(workload.stored_objects(endpoint_at(seaweedfs.endpoint))) == 4


def test_mixed_reads_against_the_server(moto: RunningEmulator, new_workload: NewWorkload) -> None:
    endpoint = endpoint_at(moto.endpoint)
    workload = new_workload(endpoint, read_ratio=0.5, object_sizes=((2 * KiB, 1.0),))
    records = workload.records(16, 0)
    totals, _ = drive("gevent", workload.write_calls(records.take(4)), endpoint)
    assert totals.acked == 4
    calls = workload.write_calls(records.take(8))
    totals, attempts = drive("gevent", calls, endpoint)
    gets = [a for a in attempts if isinstance(a.call, GetObject)]
    assert len(gets) == 4 and totals.acked == 4 and totals.failures == 0
    assert all(a.acked == 0 and a.response_length == a.bytes_received == 2 * KiB for a in gets)
    assert len(workload.stored_objects(endpoint)) == 8


def record_expect(sent: list[str | None], request: Any, **_: Any) -> None:
    sent.append(request.headers.get("Expect"))


def test_boto3_clients_send_no_expect_continue_with_an_empty_body(
    seaweedfs: RunningEmulator, new_workload: NewWorkload
) -> None:
    """botocore's Expect: 100-continue stays on bodies with bytes, off empty ones (SeaweedFS answers
    those at once, which would confuse a kept-alive connection), and no process-wide switch is set."""
    endpoint = endpoint_at(seaweedfs.endpoint)
    bucket = new_workload(endpoint).options.resource  # emptied after the test
    assert "BOTO_EXPERIMENTAL__NO_EMPTY_CONTINUE" not in os.environ
    for client in (make_client(endpoint, StrategyOptions(), 2), endpoint.admin_client()):
        sent: list[str | None] = []
        client.meta.events.register("before-send", functools.partial(record_expect, sent))
        for body in (b"", b"x", b""):
            client.put_object(Bucket=bucket, Key=f"expect-{len(sent)}", Body=body)
        assert sent == [None, b"100-continue", None]


# --------------------------------------------------------------------------- part failures


class FailingParts(Strategy):
    """A real strategy, except that chosen UploadPart attempts fail without being sent."""

    name = "failing-parts"

    def __init__(self, inner: Strategy, fail: dict[int, AwsCallError], attempts: int = 1) -> None:
        super().__init__(inner.endpoint, inner.options)
        self.inner = inner
        self.fail = fail  # part number -> the error its attempts get
        self.failed_attempts = attempts  # how many attempts of each such part fail (a large number: all)
        self.injected: list[Attempt] = []

    @property
    def concurrency(self) -> int:
        return self.inner.concurrency

    def start(self, call: Call) -> None:
        if isinstance(call, UploadPart) and call.number in self.fail and call.attempt <= self.failed_attempts:
            self.injected.append(Attempt(call, 1.0, error=self.fail[call.number]))
        else:
            self.inner.start(call)

    def collect(self, timeout: float | None) -> list[Attempt]:
        injected, self.injected = self.injected, []
        return injected + self.inner.collect(0 if injected else timeout)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("strategy", ["sequential", "gevent"])
def test_failed_part_is_retried(seaweedfs: RunningEmulator, strategy: str, new_workload: NewWorkload) -> None:
    endpoint = endpoint_at(seaweedfs.endpoint)
    workload = new_workload(endpoint, **MULTIPART)
    calls = workload.write_calls(workload.records(17, 0).take(1))
    flaky = FailingParts(
        strategy_class(strategy)(endpoint, StrategyOptions(concurrency=4)),
        {2: AwsCallError.from_response(500, "InternalError")},
        attempts=2,
    )
    totals, attempts = drive(flaky, calls, endpoint)

    assert totals.acked == 1 and totals.failures == 2 and totals.retried_items == 2 and totals.given_up_items == 0
    part2 = [a for a in attempts if isinstance(a.call, UploadPart) and a.call.number == 2]
    assert [(a.call.attempt, a.error is None) for a in part2] == [(1, False), (2, False), (3, True)]
    key = calls[0].key  # type: ignore[attr-defined]
    assert workload.stored_objects(endpoint) == {key: 11 * MiB}
    assert read_back(endpoint, strategy, workload, [key])[key].response["Body"] == content_of(calls[0])  # type: ignore[index]


@pytest.mark.parametrize("strategy", ["sequential", "aiohttp"])
def test_part_given_up_aborts_the_upload(server: RunningEmulator, strategy: str, new_workload: NewWorkload) -> None:
    endpoint = endpoint_at(server.endpoint)
    workload = new_workload(endpoint, **MULTIPART)
    calls = workload.write_calls(workload.records(18, 0).take(1))
    broken = FailingParts(
        strategy_class(strategy)(endpoint, StrategyOptions(concurrency=4)),
        {2: AwsCallError.from_response(400, "InvalidRequest")},
        attempts=100,
    )
    totals, attempts = drive(broken, calls, endpoint)

    ops = Counter(a.call.operation for a in attempts)
    assert ops == {"CreateMultipartUpload": 1, "UploadPart": 3, "AbortMultipartUpload": 1}
    assert attempts[-1].call.operation == "AbortMultipartUpload" and attempts[-1].error is None
    assert totals.acked == 0 and totals.given_up_items == 1 and totals.retried_items == 0
    assert workload.stored_objects(endpoint) == {}
    assert pending_uploads(endpoint, workload.options.resource) == []
    assert not workload.acked_keys


# --------------------------------------------------------------------------- provisioning


def test_provision_creates_once_and_teardown_deletes_everything(server: RunningEmulator) -> None:
    endpoint = endpoint_at(server.endpoint)
    workload = S3Workload(S3Options(bucket_name("provision")))
    assert workload.provision(endpoint, timeout=20) is True
    assert workload.provision(endpoint, timeout=20) is False  # exists: used as is
    client = endpoint.admin_client()
    client.put_object(Bucket=workload.options.resource, Key="p00/x", Body=b"x")
    client.create_multipart_upload(Bucket=workload.options.resource, Key="p00/unfinished")
    workload.teardown(endpoint)
    with pytest.raises(ClientError) as raised:
        client.head_bucket(Bucket=workload.options.resource)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    workload.teardown(endpoint)  # already gone: nothing to do
