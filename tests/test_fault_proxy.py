"""The fault-injecting proxy (scripts/fault_proxy.py), run as a subprocess in front of
real emulators (dynalite, SeaweedFS, moto) or a small aiohttp upstream (helpers/echo_upstream.py).

Every server binds 127.0.0.1 and every request goes to 127.0.0.1. Proxies are shared
per module and reconfigured through POST /__proxy/config, so few processes start;
timing assertions compare medians with wide margins (2 busy cores).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from helpers import PROXY_SCRIPT, SharedEmulators
from helpers import FaultProxy as Proxy
from helpers.echo_upstream import BIG, GZIPPED, EchoUpstream

import fault_proxy as fp
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator
from writers.errors import AwsCallError, FailureKind
from writers.services.s3 import faults as s3_faults

pytestmark = pytest.mark.timeout(60)

REGION = "us-east-1"


@pytest.fixture(scope="module")
def proxy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fault-proxy")


@pytest.fixture(scope="module")
def start_proxy(proxy_dir: Path) -> Iterator[Callable[..., Proxy]]:
    """``start_proxy(upstream, *flags)``; every proxy must exit 0 on SIGTERM at the end."""
    started: list[Proxy] = []

    def start(upstream: str, *flags: str) -> Proxy:
        proxy = Proxy(upstream, *flags, tmp_dir=proxy_dir)
        started.append(proxy)
        return proxy

    yield start
    codes = {proxy.url: proxy.stop() for proxy in started}
    assert all(code == 0 for code in codes.values()), codes
    noisy = {proxy.url: proxy.stderr() for proxy in started if "Traceback" in proxy.stderr()}
    assert not noisy, noisy


# --------------------------------------------------------------------------- upstreams


@pytest.fixture(scope="module")
def dynalite(local: SharedEmulators) -> RunningEmulator:
    return local.get("dynamodb", "dynalite")


@pytest.fixture(scope="module")
def moto(local: SharedEmulators) -> RunningEmulator:
    """One moto server answers S3 and SQS alike."""
    return local.get("s3", "moto")


@pytest.fixture(scope="module")
def seaweedfs(local: SharedEmulators) -> RunningEmulator:
    return local.get("s3", "seaweedfs")


@pytest.fixture(scope="module")
def ddb_proxy(start_proxy: Callable[..., Proxy], dynalite: RunningEmulator) -> Proxy:
    return start_proxy(dynalite.endpoint)


@pytest.fixture(scope="module")
def moto_proxy(start_proxy: Callable[..., Proxy], moto: RunningEmulator) -> Proxy:
    return start_proxy(moto.endpoint)


@pytest.fixture(scope="module")
def upstream() -> Iterator[EchoUpstream]:
    server = EchoUpstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def raw_proxy(start_proxy: Callable[..., Proxy], upstream: EchoUpstream) -> Proxy:
    return start_proxy(upstream.url)


@pytest.fixture(autouse=True)
def _fresh_shared_proxies(request: pytest.FixtureRequest) -> None:
    """Tests using a shared proxy start from the defaults and zeroed counters."""
    for name in ("ddb_proxy", "moto_proxy", "raw_proxy"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


# --------------------------------------------------------------------------- clients


def _client(service: str, endpoint: str, *, secret: str = LOCAL_SECRET_KEY, access: str = LOCAL_ACCESS_KEY) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        config=Config(
            retries={"total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=15,
            s3={"addressing_style": "path"},
        ),
    )


def _create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture(scope="module")
def table(dynalite: RunningEmulator) -> str:
    name = f"proxy-{uuid.uuid4().hex[:8]}"
    _create_table(_client("dynamodb", dynalite.endpoint), name)
    return name


@pytest.fixture(scope="module")
def bucket(moto: RunningEmulator) -> str:
    name = f"proxy-{uuid.uuid4().hex[:8]}"
    _client("s3", moto.endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def stream(moto: RunningEmulator) -> str:
    name = f"proxy-{uuid.uuid4().hex[:8]}"
    kinesis = _client("kinesis", moto.endpoint)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    return name


@pytest.fixture(scope="module")
def queue_url(moto: RunningEmulator) -> str:
    return str(_client("sqs", moto.endpoint).create_queue(QueueName=f"proxy-{uuid.uuid4().hex[:8]}")["QueueUrl"])


def _item(key: str) -> dict[str, Any]:
    return {"pk": {"S": key}, "payload": {"S": "x" * 20}}


def _call(service: str, proxy: Proxy, table: str, bucket: str, queue_url: str, stream: str = "") -> Any:
    """One typical write for ``service`` through the proxy."""
    if service == "kinesis":
        return _client("kinesis", proxy.url).put_record(StreamName=stream, Data=b"hello", PartitionKey="k")
    if service == "dynamodb":
        return _client("dynamodb", proxy.url).put_item(TableName=table, Item=_item(uuid.uuid4().hex))
    if service == "s3":
        return _client("s3", proxy.url).put_object(Bucket=bucket, Key=f"k/{uuid.uuid4().hex}", Body=b"hello" * 100)
    return _client("sqs", proxy.url).send_message(QueueUrl=queue_url, MessageBody="hello")


def _failure(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def _status(error: ClientError) -> int:
    return int(error.response["ResponseMetadata"]["HTTPStatusCode"])


@pytest.fixture(params=["dynamodb", "s3", "sqs", "kinesis"])
def service_call(
    request: pytest.FixtureRequest, table: str, bucket: str, queue_url: str, stream: str
) -> tuple[str, Proxy, Callable[[], Any]]:
    """(service, its proxy, one write through it) for each service in turn."""
    service = request.param
    proxy: Proxy = request.getfixturevalue("ddb_proxy" if service == "dynamodb" else "moto_proxy")
    proxy.reset()
    return service, proxy, lambda: _call(service, proxy, table, bucket, queue_url, stream)


# --------------------------------------------------------------------------- unit tests


def test_classify_finds_service_operation_and_cost_per_resource() -> None:
    ddb = {"X-Amz-Target": "DynamoDB_20120810.BatchWriteItem"}
    body = json.dumps({"RequestItems": {"a": [{}] * 3, "b": [{}] * 2}}).encode()
    info = fp.classify("/", ddb, body)
    assert (info.service, info.operation, info.costs) == ("DynamoDB", "BatchWriteItem", {"a": 3, "b": 2})
    put = fp.classify("/", {"X-Amz-Target": "DynamoDB_20120810.PutItem"}, b'{"TableName": "t1"}')
    assert put.costs == {"t1": 1}
    transact = {"TransactItems": [{"Put": {"TableName": "a"}}, {"Update": {"TableName": "a"}}]}
    assert fp.classify(
        "/", {"X-Amz-Target": "DynamoDB_20120810.TransactWriteItems"}, json.dumps(transact).encode()
    ).costs == {"a": 2}
    assert fp.classify("/", {"X-Amz-Target": "DynamoDB_20120810.ListTables"}, b"{}").costs == {}
    sqs = {"X-Amz-Target": "AmazonSQS.SendMessageBatch"}
    batch = json.dumps({"QueueUrl": "http://sqs.x.localhost:1/000000000000/q1", "Entries": [{}] * 4}).encode()
    assert fp.classify("/", sqs, batch).costs == {"000000000000/q1": 4}
    assert fp.classify("/", sqs, b"not json").costs == {}


def test_a_request_no_service_claims_gets_no_made_up_answer() -> None:
    """An unknown X-Amz-Target is nobody's: it is not answered in some other service's format."""
    info = fp.classify("/", {"X-Amz-Target": "Unknown_20990101.DoThing"}, b'{"TableName": "t1"}')
    assert (info.service, info.faults, info.costs) == ("", None, {})
    assert info.stats_keys == ["unknown"]


@pytest.mark.parametrize(
    ("raw_path", "host", "bucket"),
    [
        ("/my-bucket/some/key?x=1", "127.0.0.1:9000", "my-bucket"),
        ("/my-bucket", "localhost:9000", "my-bucket"),
        ("/?list-type=2", "127.0.0.1:9000", None),
        ("/some/key", "my-bucket.s3.us-east-1.amazonaws.com", "my-bucket"),
        ("/some/key", "my.dotted.bucket.s3.amazonaws.com", "my.dotted.bucket"),
        ("/", "my-bucket.s3-accelerate.amazonaws.com", "my-bucket"),
        ("/key", "my-bucket.localhost:4566", "my-bucket"),
    ],
)
def test_s3_bucket_path_style_and_virtual_hosted(raw_path: str, host: str, bucket: str | None) -> None:
    assert s3_faults.bucket_of(raw_path, host) == bucket
    costs = fp.classify(raw_path, {"Host": host}, None, "PUT").costs
    assert costs == ({bucket: 1} if bucket else {})


def test_token_bucket_all_or_nothing_and_partial() -> None:
    buckets = fp.Buckets(rate=0.001, burst=10)  # refill negligible during the test
    assert buckets.try_take({"a": 6})
    assert not buckets.try_take({"a": 6})  # 4 left: all or nothing
    assert not buckets.try_take({"a": 1, "b": 11})  # b can never hold 11 ...
    assert buckets.try_take({"a": 4})  # ... and a was not charged for it
    assert buckets.take_up_to({"b": 25, "c": 3}) == {"b": 10, "c": 3}
    assert buckets.take_up_to({"b": 5}) == {"b": 0}


def test_seeded_dice_replay_and_ignore_jitter() -> None:
    config = fp.FaultConfig(error_rate=0.5, drop_rate=0.2, throttle_rate=0.3, seed=7)
    first, second = fp.Dice(7), fp.Dice(7)
    second.delay(10, 5)  # jitter draws use their own generator
    assert [first.roll(config) for _ in range(50)] == [second.roll(config) for _ in range(50)]


def test_error_bodies_have_each_services_shape() -> None:
    ddb = fp.throttle_answer("DynamoDB")
    assert ddb.status == 400 and ddb.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert json.loads(ddb.body)["__type"] == "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
    sqs = fp.throttle_answer("SQS")
    assert sqs.status == 403 and sqs.headers["x-amzn-query-error"] == "RequestThrottled;Sender"
    assert json.loads(sqs.body)["__type"] == "com.amazonaws.sqs#RequestThrottled"
    s3 = fp.throttle_answer("S3")
    assert s3.status == 503 and b"<Code>SlowDown</Code><Message>Please reduce your request rate.</Message>" in s3.body
    kinesis = fp.throttle_answer("Kinesis")
    assert kinesis.status == 400 and kinesis.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert json.loads(kinesis.body)["__type"] == "ProvisionedThroughputExceededException"
    assert AwsCallError.from_response(400, "ProvisionedThroughputExceededException").kind is FailureKind.THROTTLED


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    "flags",
    [
        [],  # --upstream missing
        ["--upstream", "ftp://127.0.0.1:1"],
        ["--upstream", "http://127.0.0.1:1/path"],
        ["--upstream", "http://127.0.0.1:1", "--throttle-rate", "1.5"],
        ["--upstream", "http://127.0.0.1:1", "--latency-ms", "-5"],
        ["--upstream", "http://127.0.0.1:1", "--error-status", "500,404"],
        ["--upstream", "http://127.0.0.1:1", "--capacity", "0"],
        ["--upstream", "http://127.0.0.1:1", "--burst", "5"],
        ["--upstream", "http://127.0.0.1:1", "--listen", "nowhere"],
        ["--upstream", "http://127.0.0.1:1", "--no-such-flag"],
    ],
)
def test_bad_flags_exit_2_with_one_line(flags: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, str(PROXY_SCRIPT), *flags], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fault_proxy.py: error:"), result.stderr


def test_every_flag_reaches_the_runtime_config(start_proxy: Callable[..., Proxy], upstream: EchoUpstream) -> None:
    proxy = start_proxy(
        upstream.url,
        *("--latency-ms", "12", "--connect-latency-ms", "34", "--jitter-ms", "5", "--capacity", "100"),
        *("--burst", "7", "--throttle-rate", "0.25", "--error-rate", "0.5", "--error-status", "503"),
        *("--drop-rate", "0.125", "--partial-batches", "--seed", "42"),
        *("--partitions", "8", "--partition-write-units", "100", "--partition-read-units", "300"),
    )
    status, config = proxy.control("GET", "config")
    assert status == 200
    assert config == {
        "latency_ms": 12.0,
        "connect_latency_ms": 34.0,
        "jitter_ms": 5.0,
        "capacity": 100.0,
        "burst": 7.0,
        "throttle_rate": 0.25,
        "error_rate": 0.5,
        "error_status": [503],
        "drop_rate": 0.125,
        "lose_rate": 0.0,
        "partial_batches": True,
        "seed": 42,
        "partitions": 8,
        "partition_write_units": 100.0,
        "partition_read_units": 300.0,
    }


def test_sigint_exits_0_and_a_dead_upstream_gives_502(start_proxy: Callable[..., Proxy], proxy_dir: Path) -> None:
    dead = Proxy("http://127.0.0.1:9", tmp_dir=proxy_dir)  # port 9 (discard): nothing listens
    try:
        connection = http.client.HTTPConnection("127.0.0.1", dead.port, timeout=10)
        connection.request("GET", "/bucket/key")
        response = connection.getresponse()
        assert response.status == 502 and b"upstream" in response.read()
        connection.close()
        assert dead.stats()["upstream_errors"] == 1
    finally:
        assert dead.stop(signal.SIGINT) == 0, dead.stderr()
    assert "Traceback" not in dead.stderr()


# --------------------------------------------------------------------------- passthrough


def test_dynamodb_passthrough_and_stats(ddb_proxy: Proxy, table: str) -> None:
    client = _client("dynamodb", ddb_proxy.url)
    for n in range(5):
        client.put_item(TableName=table, Item=_item(f"pass-{n}"))
    assert client.get_item(TableName=table, Key={"pk": {"S": "pass-3"}})["Item"] == _item("pass-3")
    client.list_tables()
    stats = ddb_proxy.stats()
    assert (stats["requests"], stats["forwarded"], stats["throttled"], stats["errors"], stats["dropped"]) == (
        7,
        7,
        0,
        0,
        0,
    )
    assert stats["by_resource"][f"DynamoDB:{table}"] == {
        "requests": 6,
        "forwarded": 6,
        "throttled": 0,
        "errors": 0,
        "dropped": 0,
        "lost": 0,
    }
    assert stats["by_resource"]["DynamoDB"]["requests"] == 1  # ListTables names no table


def test_signatures_still_validate_through_the_proxy(
    start_proxy: Callable[..., Proxy], seaweedfs: RunningEmulator
) -> None:
    """SeaweedFS checks SigV4: odd keys, HEAD, listing and a presigned URL all pass unchanged."""
    proxy = start_proxy(seaweedfs.endpoint)
    s3 = _client("s3", proxy.url)
    bucket = f"sig-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    key = "dir/a b+c=d&e~f*(g)'h!ü%.txt"
    body = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key=key, Body=io.BytesIO(body))  # a file body: botocore sends Expect
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]] == [key]

    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60)
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    connection.request("GET", url.split(str(proxy.port), 1)[1])  # the raw path + query, as signed
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, body)
    connection.close()

    wrong = _failure(lambda: _client("s3", proxy.url, secret="not-the-secret").get_object(Bucket=bucket, Key=key))
    assert wrong.response["Error"]["Code"] == "SignatureDoesNotMatch"  # so signatures really are checked
    stats = proxy.stats()
    assert stats["forwarded"] == stats["requests"] == 7


def test_raw_request_and_response_pass_unchanged(raw_proxy: Proxy) -> None:
    path = "/a%2Fb//c%20d;p=1/%7Euser?y=%2F&z=a+b&empty=&x=%E2%9C%93"
    body = os.urandom(5000)
    headers = [("Host", "example.test:1234"), ("X-Dup", "1"), ("x-dup", "2"), ("Content-Length", str(len(body)))]
    connection = http.client.HTTPConnection("127.0.0.1", raw_proxy.port, timeout=10)
    connection.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders(body)
    response = connection.getresponse()
    echo = json.loads(response.read())
    assert response.status == 201 and response.getheader("X-Upstream") == "echo"
    assert echo["method"] == "PUT" and echo["raw_path"] == path
    # Same order, values and duplicates, nothing added; a repeated name takes its first spelling.
    assert echo["headers"] == [["Host", "example.test:1234"], ["X-Dup", "1"], ["X-Dup", "2"], list(headers[-1])]
    assert (echo["body_length"], echo["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())

    # A chunked upload arrives whole; a chunked download streams back byte for byte.
    connection.request("POST", "/chunked", body=iter([b"abc", b"defg"]), encode_chunked=True)
    assert json.loads(connection.getresponse().read())["body_sha256"] == hashlib.sha256(b"abcdefg").hexdigest()
    connection.request("GET", "/big")
    response = connection.getresponse()
    assert response.read() == BIG and response.headers.get_all("X-Custom") == ["one", "two"]
    connection.request("GET", "/gzip", headers={"Accept-Encoding": "gzip"})
    response = connection.getresponse()
    assert response.getheader("Content-Encoding") == "gzip" and response.read() == GZIPPED  # not decoded
    connection.close()


# --------------------------------------------------------------------------- faults


def test_throttle_rate_1_answers_like_each_service(service_call: tuple[str, Proxy, Callable[[], Any]]) -> None:
    service, proxy, call = service_call
    proxy.configure(throttle_rate=1.0)
    error = _failure(call)
    expected = {
        "dynamodb": ("ProvisionedThroughputExceededException", 400),
        "kinesis": ("ProvisionedThroughputExceededException", 400),
        "s3": ("SlowDown", 503),
    }
    code, status = expected.get(service, ("RequestThrottled", 403))
    assert (error.response["Error"]["Code"], _status(error)) == (code, status)
    assert AwsCallError.from_response(status, code).kind is FailureKind.THROTTLED
    if service == "sqs":  # botocore maps it to the modeled exception class
        assert type(error).__name__ == "RequestThrottled"
    stats = proxy.stats()
    assert (stats["throttled"], stats["forwarded"]) == (1, 0)


def test_a_request_no_service_claims_is_forwarded_even_when_everything_fails(raw_proxy: Proxy) -> None:
    """An unknown X-Amz-Target used to be answered as S3 (503 SlowDown, XML): now it is forwarded."""
    raw_proxy.configure(throttle_rate=1.0, error_rate=1.0, lose_rate=1.0)
    connection = http.client.HTTPConnection("127.0.0.1", raw_proxy.port, timeout=10)
    headers = {"X-Amz-Target": "Unknown_20990101.DoThing", "Content-Type": "application/x-amz-json-1.1"}
    connection.request("POST", "/", body=b'{"StreamName": "s"}', headers=headers)
    response = connection.getresponse()
    echo = json.loads(response.read())
    connection.close()
    assert response.status == 201 and echo["body_length"] == len(b'{"StreamName": "s"}')  # the upstream's answer
    stats = raw_proxy.stats()
    assert (stats["forwarded"], stats["throttled"], stats["errors"], stats["lost"]) == (1, 0, 0, 0)


@pytest.mark.parametrize("status", [500, 503])
def test_error_rate_1_answers_5xx_in_each_services_format(
    service_call: tuple[str, Proxy, Callable[[], Any]], status: int
) -> None:
    service, proxy, call = service_call
    proxy.configure(error_rate=1.0, error_status=[status])
    error = _failure(call)
    codes = {
        ("dynamodb", 500): "InternalServerError",
        ("dynamodb", 503): "ServiceUnavailable",
        ("s3", 500): "InternalError",
        ("s3", 503): "ServiceUnavailable",
        ("sqs", 500): "InternalFailure",
        ("sqs", 503): "ServiceUnavailable",
        ("kinesis", 500): "InternalFailure",
        ("kinesis", 503): "ServiceUnavailable",
    }
    assert (error.response["Error"]["Code"], _status(error)) == (codes[service, status], status)
    assert proxy.stats()["errors"] == 1


@pytest.mark.parametrize("service", ["dynamodb", "s3"])
def test_drop_rate_1_closes_the_connection(
    service: str, ddb_proxy: Proxy, moto_proxy: Proxy, table: str, bucket: str, queue_url: str
) -> None:
    proxy = ddb_proxy if service == "dynamodb" else moto_proxy
    proxy.configure(drop_rate=1.0)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        _call(service, proxy, table, bucket, queue_url)
    proxy.configure(drop_rate=0.0)
    _call(service, proxy, table, bucket, queue_url)  # the proxy itself is fine
    stats = proxy.stats()
    assert (stats["dropped"], stats["forwarded"]) == (1, 1)


def test_throttled_upload_waiting_for_100_continue(moto_proxy: Proxy, bucket: str) -> None:
    """S3 answers SlowDown before the body is sent; the client then carries on normally."""
    s3 = _client("s3", moto_proxy.url)
    moto_proxy.configure(throttle_rate=1.0)
    started = time.monotonic()
    error = _failure(lambda: s3.put_object(Bucket=bucket, Key="expect", Body=io.BytesIO(b"z" * 200_000)))
    assert (error.response["Error"]["Code"], _status(error)) == ("SlowDown", 503)
    moto_proxy.configure(throttle_rate=0.0)
    s3.put_object(Bucket=bucket, Key="expect", Body=io.BytesIO(b"z" * 200_000))
    assert s3.get_object(Bucket=bucket, Key="expect")["Body"].read() == b"z" * 200_000
    assert time.monotonic() - started < 10


def test_runtime_config_turns_faults_on_and_off(ddb_proxy: Proxy, table: str) -> None:
    client = _client("dynamodb", ddb_proxy.url)
    client.put_item(TableName=table, Item=_item("cfg"))
    assert ddb_proxy.configure(throttle_rate=1.0)["throttle_rate"] == 1.0
    assert _failure(lambda: client.put_item(TableName=table, Item=_item("cfg"))).response["Error"]["Code"] == (
        "ProvisionedThroughputExceededException"
    )
    ddb_proxy.configure(throttle_rate=0.0)
    client.put_item(TableName=table, Item=_item("cfg"))
    assert ddb_proxy.stats()["by_resource"][f"DynamoDB:{table}"]["throttled"] == 1
    for bad in ({"throttle_rate": 2}, {"no_such_option": 1}, {"error_status": [404]}, {"capacity": -1}):
        status, answer = ddb_proxy.control("POST", "config", bad)
        assert status == 400 and "error" in answer, bad
    assert ddb_proxy.control("POST", "config", "not an object")[0] == 400
    assert ddb_proxy.control("GET", "nothing")[0] == 404
    assert ddb_proxy.control("GET", "config")[1]["throttle_rate"] == 0.0  # bad updates changed nothing


def test_seed_replays_the_same_fault_sequence(raw_proxy: Proxy) -> None:
    def outcomes() -> list[int]:
        connection = http.client.HTTPConnection("127.0.0.1", raw_proxy.port, timeout=10)
        statuses = []
        for _ in range(40):
            connection.request("GET", "/bucket/key")
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()
        return statuses

    raw_proxy.configure(seed=1234, error_rate=0.5)
    first = outcomes()
    raw_proxy.configure(seed=1234, jitter_ms=2, latency_ms=1)  # jitter draws do not shift the faults
    second = outcomes()
    assert first == second
    assert {201, 500, 503} <= set(first)


# --------------------------------------------------------------------------- capacity


def test_capacity_limits_throughput_to_rate_times_time_plus_burst(
    ddb_proxy: Proxy, dynalite: RunningEmulator, table: str
) -> None:
    capacity, burst, seconds = 15, 5, 1.5
    ddb_proxy.configure(capacity=capacity, burst=burst)

    def worker(_: int) -> tuple[int, int]:
        client = _client("dynamodb", ddb_proxy.url)
        ok = throttled = 0
        while time.monotonic() < deadline:
            try:
                client.put_item(TableName=table, Item=_item(uuid.uuid4().hex))
                ok += 1
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
                throttled += 1
        return ok, throttled

    _client("dynamodb", ddb_proxy.url)  # warm botocore's loaders before the clock starts
    started = time.monotonic()
    deadline = started + seconds
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(worker, range(4)))
    elapsed = time.monotonic() - started
    ok, throttled = sum(r[0] for r in results), sum(r[1] for r in results)
    expected = burst + capacity * elapsed
    assert throttled >= ok, (ok, throttled)  # the offered load really was above capacity
    assert 0.6 * expected <= ok <= 1.2 * expected + 2, (ok, expected, elapsed)
    resource = ddb_proxy.stats()["by_resource"][f"DynamoDB:{table}"]
    assert (resource["forwarded"], resource["throttled"]) == (ok, throttled)

    other = f"other-{uuid.uuid4().hex[:8]}"  # another table has its own bucket
    _create_table(_client("dynamodb", dynalite.endpoint), other)
    _client("dynamodb", ddb_proxy.url).put_item(TableName=other, Item=_item("own-bucket"))


def test_batches_cost_one_unit_per_item(ddb_proxy: Proxy, moto_proxy: Proxy, table: str, queue_url: str) -> None:
    ddb_proxy.configure(capacity=0.01, burst=10)  # refill is negligible: only the burst counts
    ddb = _client("dynamodb", ddb_proxy.url)

    def batch(n: int, prefix: str) -> Any:
        writes = [{"PutRequest": {"Item": _item(f"{prefix}-{i}")}} for i in range(n)]
        return ddb.batch_write_item(RequestItems={table: writes})

    throttled = "ProvisionedThroughputExceededException"
    assert _failure(lambda: batch(25, "big")).response["Error"]["Code"] == throttled  # 25 > burst: never fits
    batch(5, "a")
    batch(5, "b")
    assert _failure(lambda: batch(5, "c")).response["Error"]["Code"] == throttled

    moto_proxy.configure(capacity=0.01, burst=10)
    sqs = _client("sqs", moto_proxy.url)
    entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)]
    assert len(sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)["Successful"]) == 10
    error = _failure(lambda: sqs.send_message(QueueUrl=queue_url, MessageBody="one too many"))
    assert (error.response["Error"]["Code"], _status(error)) == ("RequestThrottled", 403)
    queue_key = "SQS:" + queue_url.split("://", 1)[1].split("/", 1)[1]
    assert moto_proxy.stats()["by_resource"][queue_key]["throttled"] == 1


def test_partial_batches_return_unprocessed_items(start_proxy: Callable[..., Proxy], dynalite: RunningEmulator) -> None:
    proxy = start_proxy(dynalite.endpoint, "--partial-batches", "--capacity", "0.01", "--burst", "10")
    name = f"partial-{uuid.uuid4().hex[:8]}"
    _create_table(_client("dynamodb", dynalite.endpoint), name)
    writes = [{"PutRequest": {"Item": _item(f"p-{i:02d}")}} for i in range(25)]
    answer = _client("dynamodb", proxy.url).batch_write_item(RequestItems={name: writes})
    assert answer["UnprocessedItems"] == {name: writes[10:]}  # the first 10 fit, the rest come back
    assert proxy.stats()["held_back_items"] == 15
    stored = _client("dynamodb", dynalite.endpoint).scan(TableName=name)["Items"]
    assert sorted(item["pk"]["S"] for item in stored) == [f"p-{i:02d}" for i in range(10)]
    error = _failure(lambda: _client("dynamodb", proxy.url).batch_write_item(RequestItems={name: writes[:5]}))
    assert error.response["Error"]["Code"] == "ProvisionedThroughputExceededException"  # nothing fits: all refused


def test_partial_batches_fail_the_records_of_a_put_records_that_do_not_fit(
    start_proxy: Callable[..., Proxy], local: SharedEmulators
) -> None:
    kinesalite = local.get("kinesis", "kinesalite")
    proxy = start_proxy(kinesalite.endpoint, "--partial-batches", "--capacity", "0.01", "--burst", "10")
    name = f"partial-{uuid.uuid4().hex[:8]}"
    direct = _client("kinesis", kinesalite.endpoint)
    direct.create_stream(StreamName=name, ShardCount=1)
    direct.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    records = [{"Data": f"r-{i:02d}".encode(), "PartitionKey": f"k-{i}"} for i in range(25)]
    answer = _client("kinesis", proxy.url).put_records(StreamName=name, Records=records)
    assert answer["FailedRecordCount"] == 15 and len(answer["Records"]) == 25  # one result per record, in order
    assert all("SequenceNumber" in r for r in answer["Records"][:10])  # the first 10 fit ...
    assert {r.get("ErrorCode") for r in answer["Records"][10:]} == {"ProvisionedThroughputExceededException"}
    assert proxy.stats()["held_back_items"] == 15
    shard = direct.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    iterator = direct.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    stored = direct.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [r["Data"] for r in stored] == [f"r-{i:02d}".encode() for i in range(10)]  # ... and only they were stored


def test_partial_batches_are_re_signed_validly(start_proxy: Callable[..., Proxy], upstream: EchoUpstream) -> None:
    proxy = start_proxy(upstream.url, "--partial-batches", "--capacity", "0.01", "--burst", "3")
    upstream.batches.clear()
    writes = [{"PutRequest": {"Item": _item(f"s-{i}")}} for i in range(5)]
    answer = _client("dynamodb", proxy.url).batch_write_item(RequestItems={"signed-table": writes})
    assert answer["UnprocessedItems"] == {"signed-table": writes[3:]}
    assert upstream.batches == [{"items": {"signed-table": 3}, "signed_ok": True}]
    # Signed with a key the proxy does not hold: it cannot cut the batch, so throttles it whole.
    stranger = _client("dynamodb", proxy.url, access="AKIASOMEONEELSE00000")
    assert _failure(lambda: stranger.batch_write_item(RequestItems={"signed-table": writes})).response["Error"][
        "Code"
    ] == ("ProvisionedThroughputExceededException")
    assert len(upstream.batches) == 1


# --------------------------------------------------------------------------- latency


def _median_ms(call: Callable[[], Any], times: int = 7) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def test_latency_is_added_in_both_directions(ddb_proxy: Proxy, dynalite: RunningEmulator) -> None:
    direct, proxied = _client("dynamodb", dynalite.endpoint), _client("dynamodb", ddb_proxy.url)
    direct.list_tables()
    proxied.list_tables()  # connections open, loaders warm
    ddb_proxy.configure(latency_ms=40)
    extra = _median_ms(proxied.list_tables) - _median_ms(direct.list_tables)
    assert 60 <= extra <= 600, extra  # 2 x 40 ms expected


def test_connect_latency_shows_only_on_new_connections(raw_proxy: Proxy) -> None:
    raw_proxy.configure(connect_latency_ms=150)
    kept = http.client.HTTPConnection("127.0.0.1", raw_proxy.port, timeout=10)

    def keep_alive() -> None:
        kept.request("GET", "/ping")
        kept.getresponse().read()

    def new_connection() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", raw_proxy.port, timeout=10)
        connection.request("GET", "/ping", headers={"Connection": "close"})
        connection.getresponse().read()
        connection.close()

    first = _median_ms(keep_alive, times=1)  # opens the connection: pays once
    reused = _median_ms(keep_alive)
    fresh = _median_ms(new_connection)
    kept.close()
    assert first >= 120 and fresh >= 120, (first, fresh)
    assert fresh - reused >= 100, (fresh, reused)
