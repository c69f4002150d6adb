"""Local emulators: real servers, started and stopped by the tests themselves.

Every server here binds 127.0.0.1, or 127.0.0.2 in the ``bind`` tests (another
loopback address), and every request goes to one of those two. Nothing here binds
0.0.0.0: the wildcard is tested with fake port probes and a fake server.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from writers import emulators
from writers import services as registry
from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, EmulatorError, RunningEmulator
from writers.emulators import ports as emulator_ports
from writers.services import available_emulators, banner, start_emulator, workload_class
from writers.services.s3 import emulator as s3_emulator

pytestmark = pytest.mark.timeout(60)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLI = PROJECT_ROOT / "scripts" / "emulators.py"
REGION = "us-east-1"

MAX_PORT_BASE = 65535 - max(registry.port_offsets().values())
COMBINATIONS = [(service, name) for service in registry.SERVICES for name in registry.emulator_names(service)]


# --------------------------------------------------------------------------- helpers


def _client(service: str, endpoint: str, secret: str = LOCAL_SECRET_KEY, **config: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10, **config),
    )


def _listening(port: int) -> list[str]:
    """Local addresses in LISTEN state on ``port``, from /proc/net/tcp and tcp6."""
    found: list[str] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        found += _listening_in(Path(table).read_text(), port)
    return found


def _listening_in(table: str, port: int) -> list[str]:
    found = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        address_hex, port_hex = fields[1].rsplit(":", 1)
        if int(port_hex, 16) != port or fields[3] != "0A":  # 0A = TCP_LISTEN
            continue
        if len(address_hex) == 8:  # IPv4, little-endian
            found.append(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address_hex)[::-1]))
        else:  # IPv6: four little-endian 32-bit words
            raw = b"".join(bytes.fromhex(address_hex[i : i + 8])[::-1] for i in range(0, 32, 8))
            found.append(socket.inet_ntop(socket.AF_INET6, raw))
    return found


def _assert_loopback_only(emulator: RunningEmulator) -> None:
    assert emulator.ports, "the emulator reports the ports it opened"
    for port in emulator.ports:
        addresses = _listening(port)
        assert addresses == ["127.0.0.1"], f"{emulator.name} port {port} listens on {addresses}"


def _refuses(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except OSError:
        return True


def _gone(pid: int) -> bool:
    """True when no live process has this pid (a zombie nobody reaps counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _group_empty(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return False
    return True


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _assert_stopped(emulator: RunningEmulator) -> None:
    assert emulator.process is not None
    pid = emulator.process.pid
    assert not emulator.alive()
    assert emulator.process.poll() is not None
    assert _gone(pid)
    assert _group_empty(pid), "nothing is left in the server's process group"
    for port in emulator.ports:
        assert _refuses(port, emulators.connect_host(emulator.bind)), f"port {port} still accepts connections"
    assert emulator.workdir is not None and not emulator.workdir.exists()


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The emulators' temp dirs go here: other test runs on this machine cannot add theirs."""
    private = tmp_path / "private-tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    return private


def _skip_unless_available(service: str, name: str) -> None:
    reason = registry.why_unavailable(name)
    if reason is not None:
        pytest.skip(f"{name} cannot run here: {reason}")


# --------------------------------------------------------------------------- round trips


def _dynamodb_round_trip(endpoint: str) -> None:
    client = _client("dynamodb", endpoint)
    client.create_table(
        TableName="emulator-test",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # As on AWS, a new table is CREATING for a moment (dynalite too, under load): wait for ACTIVE.
    deadline = time.monotonic() + 10
    while client.describe_table(TableName="emulator-test")["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, "the table did not become ACTIVE"
        time.sleep(0.05)
    client.put_item(TableName="emulator-test", Item={"pk": {"S": "k1"}, "payload": {"S": "hello"}})
    item = client.get_item(TableName="emulator-test", Key={"pk": {"S": "k1"}}, ConsistentRead=True)["Item"]
    assert item == {"pk": {"S": "k1"}, "payload": {"S": "hello"}}


def _s3_round_trip(endpoint: str) -> None:
    client = _client("s3", endpoint)
    client.create_bucket(Bucket="emulator-test")
    client.put_object(Bucket="emulator-test", Key="dir/object.bin", Body=b"\x00hello" * 1000)
    body = client.get_object(Bucket="emulator-test", Key="dir/object.bin")["Body"].read()
    assert body == b"\x00hello" * 1000


def _sqs_round_trip(endpoint: str) -> None:
    client = _client("sqs", endpoint)
    sent_to: list[str] = []
    client.meta.events.register("before-send.sqs.*", lambda request, **_: sent_to.append(request.url))
    queue_url = client.create_queue(QueueName="emulator-test")["QueueUrl"]
    client.send_message(QueueUrl=queue_url, MessageBody="hello")
    messages = client.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=1)["Messages"]
    assert [m["Body"] for m in messages] == ["hello"]
    # fauxqs names queues at sqs.<region>.localhost, which does not resolve: boto3's
    # JSON protocol sends every call to the endpoint and carries the URL in the body.
    assert sent_to and all(url.rstrip("/").startswith(endpoint) for url in sent_to), sent_to


def _kinesis_round_trip(endpoint: str) -> None:
    client = _client("kinesis", endpoint)
    client.create_stream(StreamName="emulator-test", ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName="emulator-test", WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    client.put_record(StreamName="emulator-test", Data=b"\x00hello", PartitionKey="k1")
    shard = client.list_shards(StreamName="emulator-test")["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(StreamName="emulator-test", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = client.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [(r["Data"], r["PartitionKey"]) for r in records] == [(b"\x00hello", "k1")]


ROUND_TRIPS: dict[str, Callable[[str], None]] = {
    "dynamodb": _dynamodb_round_trip,
    "kinesis": _kinesis_round_trip,
    "s3": _s3_round_trip,
    "sqs": _sqs_round_trip,
}


@pytest.mark.timeout(45)
@pytest.mark.parametrize(("service", "name"), COMBINATIONS, ids=[f"{s}-{n}" for s, n in COMBINATIONS])
def test_start_call_stop(service: str, name: str) -> None:
    _skip_unless_available(service, name)
    emulator = start_emulator(service, prefer=name, timeout=30)
    try:
        assert (emulator.service, emulator.name) == (service, name)
        assert emulator.endpoint == f"http://127.0.0.1:{emulator.port}"
        assert emulator.alive()
        _assert_loopback_only(emulator)
        ROUND_TRIPS[service](emulator.endpoint)
    finally:
        emulator.stop()
    _assert_stopped(emulator)
    emulator.stop()  # idempotent
    assert not emulator.alive()


@pytest.mark.timeout(30)
def test_seaweedfs_checks_signatures() -> None:
    _skip_unless_available("s3", "seaweedfs")
    emulator = start_emulator("s3", prefer="seaweedfs")
    try:
        good = _client("s3", emulator.endpoint)
        good.create_bucket(Bucket="signed-only")
        good.put_object(Bucket="signed-only", Key="k", Body=b"v")

        wrong = _client("s3", emulator.endpoint, secret=LOCAL_SECRET_KEY + "x")
        with pytest.raises(ClientError) as wrong_secret:
            wrong.get_object(Bucket="signed-only", Key="k")
        assert wrong_secret.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        with pytest.raises(ClientError) as wrong_put:
            wrong.put_object(Bucket="signed-only", Key="k2", Body=b"v")
        assert wrong_put.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

        anonymous = boto3.client(
            "s3", endpoint_url=emulator.endpoint, region_name=REGION, config=Config(signature_version=UNSIGNED)
        )
        with pytest.raises(ClientError) as unsigned:
            anonymous.get_object(Bucket="signed-only", Key="k")
        assert unsigned.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

        assert good.get_object(Bucket="signed-only", Key="k")["Body"].read() == b"v"
    finally:
        emulator.stop()
    _assert_stopped(emulator)


@pytest.mark.timeout(20)
def test_fauxqs_is_not_listening_on_all_interfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    # fauxqs 1.9.x hard-codes 0.0.0.0; our preload must turn that into 127.0.0.1.
    _skip_unless_available("sqs", "fauxqs")
    # The preload's address comes from the launcher, never from the caller's environment.
    monkeypatch.setenv(emulators.BIND_ENV, "127.0.0.2")
    emulator = start_emulator("sqs", prefer="fauxqs")
    try:
        assert _listening(emulator.port) == ["127.0.0.1"]
        assert "0.0.0.0" not in _listening(emulator.port)
    finally:
        emulator.stop()


def test_listen_table_parser_sees_wildcards() -> None:
    table = (
        "  sl  local_address rem_address   st\n"
        "   0: 0100007F:1F90 00000000:0000 0A\n"
        "   1: 00000000:1F91 00000000:0000 0A\n"
        "   2: 0100007F:1F92 0100007F:9999 01\n"
    )
    assert _listening_in(table, 0x1F90) == ["127.0.0.1"]
    assert _listening_in(table, 0x1F91) == ["0.0.0.0"]
    assert _listening_in(table, 0x1F92) == []  # established, not listening
    table6 = "  sl  local_address rem_address st\n   0: 00000000000000000000000000000000:1F93 0:0 0A\n"
    assert _listening_in(table6, 0x1F93) == ["::"]


def test_banner_names_every_service() -> None:
    running = [
        RunningEmulator("dynamodb", "dynalite", "http://127.0.0.1:45123"),
        RunningEmulator("s3", "seaweedfs", "http://127.0.0.1:45124"),
        RunningEmulator("sqs", "moto", "http://127.0.0.1:45125"),
    ]
    assert banner(running).splitlines() == [
        "DynamoDB -> dynalite at http://127.0.0.1:45123",
        "S3 -> seaweedfs at http://127.0.0.1:45124",
        "SQS -> moto at http://127.0.0.1:45125",
    ]
    for emulator in running:  # never started: stop and alive are harmless
        assert not emulator.alive()
        emulator.stop()


# --------------------------------------------------------------------------- bind address and fixed ports

ALT_LOOPBACK = "127.0.0.2"  # on lo with 127.0.0.1 (the whole 127.0.0.0/8 is local on Linux)
FAST_KINDS = [
    ("dynamodb", "dynalite"),
    ("sqs", "fauxqs"),
    ("kinesis", "kinesalite"),
    ("dynamodb", "moto"),
    ("s3", "seaweedfs"),
]
# SeaweedFS adds a 127.0.0.1 listener for its s3, master and filer ports whenever it
# binds a specific address other than 127.0.0.1 (weed's util.NewIpAndLocalListeners,
# no flag turns it off); every other emulator listens on the bind address alone.
EXTRA_LOCALHOST_LISTENERS = {"seaweedfs"}


@pytest.fixture
def alt_loopback() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((ALT_LOOPBACK, 0))
        except OSError as exc:
            pytest.skip(f"this kernel does not accept {ALT_LOOPBACK}: {exc}")
    return ALT_LOOPBACK


@pytest.mark.timeout(45)
@pytest.mark.parametrize(("service", "name"), FAST_KINDS, ids=[f"{s}-{n}" for s, n in FAST_KINDS])
def test_bind_listens_on_that_address_only(service: str, name: str, alt_loopback: str) -> None:
    _skip_unless_available(service, name)
    emulator = start_emulator(service, prefer=name, bind=alt_loopback)
    try:
        assert emulator.bind == alt_loopback
        assert emulator.endpoint == f"http://{alt_loopback}:{emulator.port}"
        assert emulator.ports
        for port in emulator.ports:
            addresses = _listening(port)
            if name in EXTRA_LOCALHOST_LISTENERS:
                assert alt_loopback in addresses, f"{name} port {port} listens on {addresses}"
                assert set(addresses) <= {alt_loopback, "127.0.0.1"}, f"{name} port {port} listens on {addresses}"
            else:
                assert addresses == [alt_loopback], f"{name} port {port} listens on {addresses}"
        if name not in EXTRA_LOCALHOST_LISTENERS:
            assert _refuses(emulator.port, "127.0.0.1")
        ROUND_TRIPS[service](emulator.endpoint)
    finally:
        emulator.stop()
    _assert_stopped(emulator)


def _free_base(count: int = 3) -> int:
    """A port N with N .. N+count-1 all free on 127.0.0.1."""
    for _ in range(200):
        (base,) = emulators.free_ports(1)
        if base + count - 1 > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise AssertionError(f"no {count} consecutive free ports")


@pytest.mark.timeout(60)
def test_port_base_puts_dynamodb_s3_sqs_on_n_n1_n2() -> None:
    base = _free_base()
    # Asked for out of order: each service's port comes from the service, not its position.
    running = registry.start_emulators(["sqs", "dynamodb", "s3"], port_base=base)
    try:
        ports = {e.service: e.port for e in running}
        assert ports == {"dynamodb": base, "s3": base + 1, "sqs": base + 2}
        for emulator in running:
            assert emulator.endpoint == f"http://127.0.0.1:{emulator.port}"
            _assert_loopback_only(emulator)
            ROUND_TRIPS[emulator.service](emulator.endpoint)
    finally:
        for emulator in running:
            emulator.stop()
    for emulator in running:
        _assert_stopped(emulator)


@pytest.mark.timeout(20)
def test_fixed_port_in_use_is_a_one_line_error_without_retries(caplog: pytest.LogCaptureFixture) -> None:
    names = available_emulators("dynamodb")
    if not names:
        pytest.skip("no DynamoDB emulator can run here")
    caplog.set_level(logging.INFO, logger="writers.emulators")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmulatorError) as error:
            start_emulator("dynamodb", prefer=names[0], port=port)
    assert str(error.value) == f"cannot listen on 127.0.0.1:{port}: that port is in use"
    assert "retrying" not in caplog.text


def test_fixed_s3_port_keeps_grpc_at_plus_10000_when_it_can() -> None:
    port = next(p for p in iter(lambda: emulators.free_ports(1)[0], None) if p + 10_000 <= 65535)
    assert s3_emulator._fixed_s3_pair("127.0.0.1", port) == (port, port + 10_000)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        try:
            taken.bind(("127.0.0.1", port + 10_000))
        except OSError:
            pytest.skip("port + 10000 was taken meanwhile")
        taken.listen()
        fixed, grpc = s3_emulator._fixed_s3_pair("127.0.0.1", port)
    assert fixed == port and grpc not in (port, port + 10_000)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"bind": "localhost"}, "bind must be an IPv4 address such as 127.0.0.1 or 0.0.0.0, got 'localhost'"),
        ({"bind": "::1"}, "bind must be an IPv4 address"),
        ({"bind": "127.0.0.256"}, "bind must be an IPv4 address"),
        ({"bind": ""}, "bind must be an IPv4 address"),
        ({"port": 0}, "port must be an integer from 1 to 65535, got 0"),
        ({"port": 65536}, "port must be an integer from 1 to 65535, got 65536"),
        ({"port": "4566"}, "port must be an integer from 1 to 65535, got '4566'"),
        ({"port": True}, "port must be an integer from 1 to 65535, got True"),
    ],
)
def test_bad_bind_and_port_are_rejected_before_anything_starts(
    kwargs: dict[str, Any], expected: str, private_tmp: Path
) -> None:
    with pytest.raises(EmulatorError) as error:
        start_emulator("dynamodb", **kwargs)
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)
    assert not list(private_tmp.iterdir()), "no temp dir was even created"


@pytest.mark.parametrize("port_base", [0, -1, registry.max_port_base() + 1, 65535, 4566.0, "4566", False])
def test_bad_port_base_is_rejected(port_base: Any) -> None:
    highest = 65535 - max(registry.port_offsets().values())
    with pytest.raises(EmulatorError, match=rf"port_base must be an integer from 1 to {highest}, got "):
        registry.start_emulators(["dynamodb"], port_base=port_base)


def test_address_helpers() -> None:
    assert emulators.check_bind(" 127.0.0.2 ") == "127.0.0.2"
    assert emulators.check_bind("0.0.0.0") == "0.0.0.0"
    assert emulators.connect_host("0.0.0.0") == "127.0.0.1"
    assert emulators.connect_host("127.0.0.2") == "127.0.0.2"
    assert emulators.connect_host("10.1.2.3") == "10.1.2.3"
    highest = registry.max_port_base()
    assert registry.check_port_base(1) == 1 and registry.check_port_base(highest) == highest
    offsets = registry.port_offsets()
    assert {s: offsets[s] for s in ("dynamodb", "s3", "sqs")} == {
        "dynamodb": 0,
        "s3": 1,
        "sqs": 2,
    }  # k8s relies on them
    assert sorted(offsets.values()) == list(range(len(offsets)))  # one port each, no gaps


def _no_probe_binds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Port probes that bind nothing, so a wildcard bind can be tested without one."""
    monkeypatch.setattr(emulator_ports, "free_ports", lambda count, host="127.0.0.1": [40001 + i for i in range(count)])
    monkeypatch.setattr(
        s3_emulator,
        "_free_port_pairs",
        lambda count, offset, host="127.0.0.1", avoid=(): [(41001 + i, 41001 + i + offset) for i in range(count)],
    )
    monkeypatch.setattr(emulator_ports, "ensure_free", lambda host, port: port)


EMULATORS = sorted(registry.all_emulators())


@pytest.mark.parametrize("name", EMULATORS)
def test_wildcard_bind_reaches_every_launcher(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--bind 0.0.0.0 (the k8s pod) goes to every server's own option; nothing is bound here.
    One case per launcher: one that cannot run here is a skip with its reason, not a pass."""
    # every emulator is checked below: a new one cannot pass without a check
    assert name in {"dynalite", "moto", "fauxqs", "seaweedfs", "kinesalite"}, name
    _no_probe_binds(monkeypatch)
    why = registry.why_unavailable(name)
    if why is not None:
        pytest.skip(f"{name} cannot run here: {why}")
    launch = registry.find_emulator(name).launch(tmp_path, "0.0.0.0", 4567 if name == "seaweedfs" else 4566)
    if name == "dynalite":
        argv = launch.argv
        assert argv[argv.index("--host") + 1] == "0.0.0.0" and argv[argv.index("--port") + 1] == "4566"
    elif name == "moto":
        argv = launch.argv
        assert argv[argv.index("-H") + 1] == "0.0.0.0" and argv[argv.index("-p") + 1] == "4566"
    elif name == "fauxqs":
        assert launch.env == {emulators.BIND_ENV: "0.0.0.0"}
        assert launch.argv[-1] == "4566"
    elif name == "seaweedfs":
        # listens everywhere, but its parts reach each other on a connectable address
        assert "-ip.bind=0.0.0.0" in launch.argv and "-ip=127.0.0.1" in launch.argv
        assert launch.port == 4567 and "-s3.port=4567" in launch.argv and "-s3.port.grpc=14567" in launch.argv
        others = [a for a in launch.argv if a.startswith(("-master.port=", "-volume.port=", "-filer.port="))]
        assert len(others) == 3 and all(int(a.split("=")[1]) > 40000 for a in others), "free picks"
    else:  # kinesalite: no host option: bound by the preload, told by its variable
        assert launch.env == {emulators.BIND_ENV: "0.0.0.0"} and "--require" in launch.argv
        assert launch.argv[launch.argv.index("--port") + 1] == "4566"


def test_start_functions_bind_loopback_by_default() -> None:
    """Never 0.0.0.0 unless asked."""
    import inspect

    for function in (start_emulator, registry.start_emulators):
        assert inspect.signature(function).parameters["bind"].default == "127.0.0.1"


@pytest.mark.parametrize("name", EMULATORS)
def test_default_bind_is_loopback_everywhere(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default reaches every launcher as 127.0.0.1; one that cannot run here is a skip."""
    monkeypatch.setenv(emulators.BIND_ENV, "0.0.0.0")  # ignored: the launcher sets it
    _no_probe_binds(monkeypatch)
    why = registry.why_unavailable(name)
    if why is not None:
        pytest.skip(f"{name} cannot run here: {why}")
    launch = registry.find_emulator(name).launch(tmp_path, emulators.LOOPBACK, None)
    assert not any("0.0.0.0" in arg for arg in launch.argv), launch.argv
    assert launch.env.get(emulators.BIND_ENV, "127.0.0.1") == "127.0.0.1"


WILDCARD_FAKE_SERVER = """
const fs = require('fs');
fs.writeFileSync(__filename + '.argv', JSON.stringify(process.argv.slice(2)));
const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
// Whatever --host says, this fake listens on 127.0.0.1 only (no wildcard in tests).
require('http').createServer((req, res) => res.end('ok')).listen(port, '127.0.0.1');
"""


@pytest.mark.timeout(20)
def test_wildcard_bind_gives_a_connectable_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if registry.why_unavailable("dynalite") == "node is not on PATH":
        pytest.skip("node is not on PATH")
    port = emulators.free_ports(1)[0]
    fake = _fake_dynalite(tmp_path, WILDCARD_FAKE_SERVER)
    monkeypatch.setenv(emulators.EMULATORS_DIR_ENV, str(fake))
    monkeypatch.setattr(emulator_ports, "ensure_free", lambda host, port: port)  # would bind 0.0.0.0
    emulator = start_emulator("dynamodb", prefer="dynalite", bind="0.0.0.0", port=port, timeout=10)
    try:
        assert emulator.endpoint == f"http://127.0.0.1:{port}"  # health-checked there
        assert emulator.bind == "0.0.0.0"
        argv = json.loads((fake / "dynalite" / "cli.js.argv").read_text())
        assert argv[argv.index("--host") + 1] == "0.0.0.0"
    finally:
        emulator.stop()
    _assert_stopped(emulator)


PRELOAD = emulators.SCRIPTS_DIR / "bind_loopback.cjs"
RECORDING_LISTEN = """
const net = require('node:net');
globalThis.calls = [];
net.Server.prototype.listen = function (...args) {
  globalThis.calls.push(args.map((a) => (typeof a === 'function' ? 'cb' : a)));
  return this;
};
"""
LISTEN_CALLS = """
const s = new (require('node:net').Server)();
s.listen({ port: 5, host: '0.0.0.0' });
s.listen({ port: 5, host: '::' });
s.listen({ port: 5 });
s.listen({ port: 5, host: '127.0.0.3' });
s.listen(5);
s.listen(5, '0.0.0.0');
s.listen('5', 10, () => {});
s.listen(() => {});
s.listen({ path: '/nonexistent/x.sock' });
s.listen('/nonexistent/x.sock');
console.log(JSON.stringify(globalThis.calls));
"""


def _preload_run(tmp_path: Path, bind: str | None, program: str, *, record: bool) -> subprocess.CompletedProcess[str]:
    if registry.why_unavailable("fauxqs") == "node is not on PATH":
        pytest.skip("node is not on PATH")
    recorder = tmp_path / "record_listen.cjs"
    recorder.write_text(RECORDING_LISTEN)
    env = {k: v for k, v in os.environ.items() if k != emulators.BIND_ENV}
    if bind is not None:
        env[emulators.BIND_ENV] = bind
    requires = ["--require", str(recorder)] if record else []
    return subprocess.run(
        ["node", *requires, "--require", str(PRELOAD), "-e", program],
        capture_output=True, text=True, timeout=15, env=env, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(("bind", "expected"), [(None, "127.0.0.1"), ("", "127.0.0.1"), ("127.0.0.2", "127.0.0.2"),
                                                ("0.0.0.0", "0.0.0.0")])  # fmt: skip
def test_preload_rewrites_wildcard_listens_to_its_address(tmp_path: Path, bind: str | None, expected: str) -> None:
    # The recorder replaces the real listen: nothing is bound, not even for 0.0.0.0.
    done = _preload_run(tmp_path, bind, LISTEN_CALLS, record=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        [{"port": 5, "host": expected}],
        [{"port": 5, "host": expected}],
        [{"port": 5, "host": expected}],
        [{"port": 5, "host": "127.0.0.3"}],  # a specific address is left alone (and checked once listening)
        [5, expected],
        [5, expected],
        ["5", expected, 10, "cb"],
        [0, expected, "cb"],
        [{"path": "/nonexistent/x.sock"}],
        ["/nonexistent/x.sock"],
    ]


@pytest.mark.parametrize("bind", ["localhost", "::", "::1", "127.0.0.1:80", "bogus"])
def test_preload_refuses_an_address_that_is_not_ipv4(tmp_path: Path, bind: str) -> None:
    done = _preload_run(tmp_path, bind, "console.log('started')", record=True)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "is not an IPv4 address; refusing to start" in done.stderr


@pytest.mark.timeout(20)
def test_preload_stops_a_server_listening_elsewhere(tmp_path: Path, alt_loopback: str) -> None:
    program = (
        f"require('node:net').createServer().listen(0, '{alt_loopback}', () => console.log('still running'));"
        "setTimeout(() => process.exit(0), 2000);"
    )
    done = _preload_run(tmp_path, None, program, record=False)
    assert done.returncode == 1
    assert "still running" not in done.stdout
    assert f"listens on {alt_loopback}:" in done.stderr and "not 127.0.0.1; exiting" in done.stderr


# --------------------------------------------------------------------------- choice and errors


def test_unknown_service_and_emulator_are_one_line_errors() -> None:
    with pytest.raises(EmulatorError, match="unknown service 'redshift'") as bad_service:
        start_emulator("redshift")
    with pytest.raises(EmulatorError, match="unknown emulator 'fauxqs' for dynamodb") as bad_name:
        start_emulator("dynamodb", prefer="fauxqs")
    with pytest.raises(EmulatorError, match="unknown service"):
        available_emulators("timestream")
    with pytest.raises(EmulatorError, match="unknown emulator"):
        registry.why_unavailable("localstack")
    for error in (bad_service, bad_name):
        assert "\n" not in str(error.value)


def test_preference_order() -> None:
    for service in registry.SERVICES:
        names = registry.emulator_names(service)
        available = available_emulators(service)
        assert available == [n for n in names if n in available], "kept in preference order"
        assert names[-1] == "moto"


@pytest.fixture
def no_npm_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    empty = tmp_path / "node_modules"
    empty.mkdir()
    monkeypatch.setenv(emulators.EMULATORS_DIR_ENV, str(empty))
    yield empty


def test_missing_npm_packages_fall_back_to_moto(no_npm_packages: Path) -> None:
    assert "dynalite" not in available_emulators("dynamodb")
    assert "fauxqs" not in available_emulators("sqs")
    reason = registry.why_unavailable("dynalite")
    assert reason is not None and "not found" in reason
    with pytest.raises(EmulatorError, match="dynalite cannot run for dynamodb: npm package dynalite not found"):
        start_emulator("dynamodb", prefer="dynalite")


def test_missing_node_and_weed_fall_back_to_moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node here
    monkeypatch.setattr(s3_emulator, "find_weed", lambda: None)
    assert registry.why_unavailable("dynalite") == "node is not on PATH"
    assert registry.why_unavailable("fauxqs") == "node is not on PATH"
    assert registry.why_unavailable("seaweedfs") is not None
    why_not_moto = registry.why_unavailable("moto")
    if why_not_moto is not None:
        pytest.skip(f"moto cannot run here: {why_not_moto}")
    assert available_emulators("dynamodb") == ["moto"]
    assert available_emulators("s3") == ["moto"]
    assert available_emulators("sqs") == ["moto"]


@pytest.mark.timeout(30)
def test_fallback_starts_moto_with_warnings(no_npm_packages: Path, caplog: pytest.LogCaptureFixture) -> None:
    _skip_unless_available("sqs", "moto")
    caplog.set_level(logging.INFO, logger="writers.emulators")
    emulator = start_emulator("sqs")
    try:
        assert emulator.name == "moto"
        _sqs_round_trip(emulator.endpoint)
    finally:
        emulator.stop()
    text = caplog.text
    assert "falling back to moto because fauxqs is unavailable" in text
    assert "slows down as queues grow" in text
    assert f"SQS -> moto at {emulator.endpoint}" in text
    _assert_stopped(emulator)


def _fake_dynalite(root: Path, script: str) -> Path:
    package = root / "dynalite"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "dynalite", "version": "0.0.0", "bin": "cli.js"}')
    (package / "cli.js").write_text(script)
    return root


@pytest.mark.timeout(20)
def test_server_that_dies_early_gives_its_last_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    if registry.why_unavailable("dynalite") == "node is not on PATH":
        pytest.skip("node is not on PATH")
    fake = _fake_dynalite(
        tmp_path, "console.log('starting');\nconsole.error('boom: disk on fire');\nprocess.exit(3);\n"
    )
    monkeypatch.setenv(emulators.EMULATORS_DIR_ENV, str(fake))
    with pytest.raises(EmulatorError) as error:
        start_emulator("dynamodb", prefer="dynalite", timeout=10)
    message = str(error.value)
    assert "\n" not in message
    assert "dynalite exited with code 3" in message
    assert message.endswith("boom: disk on fire")
    assert not list(private_tmp.glob("aws-load-emulator-*")), "the temp dir of a failed start is removed"


@pytest.mark.timeout(20)
def test_server_that_never_answers_times_out_and_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if registry.why_unavailable("dynalite") == "node is not on PATH":
        pytest.skip("node is not on PATH")
    fake = _fake_dynalite(
        tmp_path / "nm",
        "require('fs').writeFileSync(process.argv[1] + '.pid', String(process.pid));\n"
        "console.log('thinking very hard');\nsetInterval(() => {}, 1000);\n",
    )
    monkeypatch.setenv(emulators.EMULATORS_DIR_ENV, str(fake))
    started = time.monotonic()
    with pytest.raises(EmulatorError) as error:
        start_emulator("dynamodb", prefer="dynalite", timeout=1.5)
    assert time.monotonic() - started < 10
    message = str(error.value)
    assert "did not answer" in message and "within 1.5 s" in message
    assert message.endswith("thinking very hard")
    pid_file = fake / "dynalite" / "cli.js.pid"
    assert _gone(int(pid_file.read_text())), "the silent server was killed"


# --------------------------------------------------------------------------- process hygiene


STUBBORN_SERVER = """
const http = require('http');
const { spawn } = require('child_process');
const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
const helper = spawn('sleep', ['60'], { stdio: 'ignore' });
require('fs').writeFileSync(__filename + '.helper', String(helper.pid));
http.createServer((req, res) => res.end('ok')).listen(port, '127.0.0.1');
"""


@pytest.mark.timeout(20)
def test_stop_kills_the_whole_group_and_a_server_ignoring_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if registry.why_unavailable("dynalite") == "node is not on PATH":
        pytest.skip("node is not on PATH")
    fake = _fake_dynalite(tmp_path, STUBBORN_SERVER)
    monkeypatch.setenv(emulators.EMULATORS_DIR_ENV, str(fake))
    emulator = start_emulator("dynamodb", prefer="dynalite", timeout=10)
    helper = int((fake / "dynalite" / "cli.js.helper").read_text())
    assert not _gone(helper)
    emulator.stop_grace = 0.5
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 5
    assert "ignored SIGTERM for 0.5 s; killing it" in caplog.text
    assert emulator.process is not None and emulator.process.returncode == -signal.SIGKILL
    assert _wait_for(lambda: _gone(helper), 5), "the server's own child went with its group"
    _assert_stopped(emulator)


@pytest.mark.timeout(20)
def test_atexit_stops_a_forgotten_emulator(tmp_path: Path) -> None:
    _skip_unless_available("dynamodb", "dynalite")
    program = (
        "from writers.services import start_emulator\n"
        "e = start_emulator('dynamodb', prefer='dynalite')\n"
        "print(e.process.pid, e.port, flush=True)\n"  # exits without stop()
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=15, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    pid, port = map(int, done.stdout.split())
    assert _wait_for(lambda: _gone(pid), 5)
    assert _wait_for(lambda: _refuses(port), 5)


@pytest.mark.timeout(20)
def test_next_start_sweeps_up_after_a_killed_owner() -> None:
    """A server that outlived its killed owner is killed, and its temp files removed."""
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    survivor = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        workdir = Path(tempfile.mkdtemp(prefix="aws-load-emulator-test-"))
        leftover = workdir.with_name(workdir.name + ".sock")
        leftover.write_text("")
        record = {
            "owner": dead_owner.pid,
            "server": survivor.pid,
            "server_start": emulators._start_time(survivor.pid),
            "extra_paths": [str(leftover)],
        }
        (workdir / "owner.json").write_text(json.dumps(record))
        emulators._sweep_stale_workdirs()
        assert survivor.wait(timeout=5) == -signal.SIGKILL
        assert not workdir.exists()
        assert not leftover.exists()
    finally:
        if survivor.poll() is None:
            survivor.kill()
            survivor.wait()


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """stdout lines up to and including the first that starts with ``marker``."""
    assert process.stdout is not None
    stream = process.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if line.startswith(marker):
            return seen
    raise AssertionError(f"no {marker!r} line within {timeout} s; got {seen}")


def _start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CLI), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


@pytest.mark.timeout(45)
def test_cli_prints_banner_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    process = _start_cli(cwd=tmp_path)  # every service, from an unrelated directory
    services = [workload_class(name).service for name in registry.SERVICES]
    try:
        lines = _read_until(process, "# Ctrl-C", 35)
        banner_lines = [line for line in lines if " -> " in line]
        assert [line.split(" -> ")[0] for line in banner_lines] == [s.name for s in services]
        endpoints = {line.split(" at ")[1] for line in banner_lines}
        exports = dict(line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))
        assert {exports[f"AWS_ENDPOINT_URL_{s.endpoint_env}"] for s in services} == endpoints
        assert exports["AWS_ACCESS_KEY_ID"] == LOCAL_ACCESS_KEY
        assert exports["AWS_SECRET_ACCESS_KEY"] == LOCAL_SECRET_KEY
        children = _children(process.pid)
        assert len(children) == len(services), children
        ports = [int(endpoint.rsplit(":", 1)[1]) for endpoint in endpoints]
        assert all(not _refuses(port) for port in ports)
        _dynamodb_round_trip(exports["AWS_ENDPOINT_URL_DYNAMODB"])

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=25) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()
    for child in children:
        assert _gone(child), f"child {child} survived"
    assert _wait_for(lambda: all(_refuses(port) for port in ports), 5)


PR_SET_CHILD_SUBREAPER = 36


def _reap(pid: int, timeout: float) -> bool:
    """Wait for an orphan that was re-parented to us (we are its subreaper)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:  # not ours after all: fall back to /proc
            return _wait_for(lambda: _gone(pid), max(0.0, deadline - time.monotonic()))
        time.sleep(0.05)
    return False


@pytest.mark.timeout(20)
def test_cli_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    _skip_unless_available("dynamodb", "dynalite")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans come to us, so we can reap them
    process = _start_cli("dynamodb", cwd=tmp_path)
    try:
        lines = _read_until(process, "# Ctrl-C", 15)
        children = _children(process.pid)
        assert len(children) == 1
        process.kill()  # SIGKILL: no clean-up code runs in the parent
        process.wait(timeout=5)
        assert _reap(children[0], 5), "PR_SET_PDEATHSIG stops the orphan"
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        if process.poll() is None:
            process.kill()
            process.wait()
    port = int(next(line for line in lines if " -> " in line).rsplit(":", 1)[1])
    assert _wait_for(lambda: _refuses(port), 5)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["redshift"], "unknown service 'redshift'"),
        (["--prefer", "localstack"], "unknown emulator 'localstack'"),
        (["s3", "--prefer", "dynalite"], "dynalite serves none of: s3"),
        (["--timeout", "soon"], "invalid float value"),
        (["--bogus"], "unrecognized arguments"),
        (["--bind", "localhost"], "--bind must be an IPv4 address such as 127.0.0.1 or 0.0.0.0, got 'localhost'"),
        (["--bind", "::"], "--bind must be an IPv4 address"),
        (["--bind", "10.0.0"], "--bind must be an IPv4 address"),
        (["--bind"], "argument --bind: expected one argument"),
        (["--port-base", "0"], f"--port-base must be an integer from 1 to {MAX_PORT_BASE}, got 0"),
        (["--port-base", "65535"], f"--port-base must be an integer from 1 to {MAX_PORT_BASE}, got 65535"),
        (
            ["--port-base", str(MAX_PORT_BASE + 1)],
            f"--port-base must be an integer from 1 to {MAX_PORT_BASE}, got {MAX_PORT_BASE + 1}",
        ),
        (["--port-base", "4566.5"], f"--port-base must be an integer from 1 to {MAX_PORT_BASE}, got '4566.5'"),
        (["--port-base", "many"], f"--port-base must be an integer from 1 to {MAX_PORT_BASE}, got 'many'"),
    ],
)
@pytest.mark.timeout(20)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    done = subprocess.run([sys.executable, str(CLI), *args], cwd=tmp_path, capture_output=True, text=True, timeout=15)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert expected in done.stderr


@pytest.mark.timeout(30)
def test_cli_bind_and_port_base(tmp_path: Path, alt_loopback: str) -> None:
    _skip_unless_available("dynamodb", "dynalite")
    _skip_unless_available("sqs", "fauxqs")
    base = _free_base()
    process = _start_cli("sqs", "dynamodb", "--bind", alt_loopback, "--port-base", str(base), cwd=tmp_path)
    try:
        lines = _read_until(process, "# Ctrl-C", 20)
        assert f"DynamoDB -> dynalite at http://{alt_loopback}:{base}" in lines
        assert f"SQS -> fauxqs at http://{alt_loopback}:{base + 2}" in lines
        assert f"# every server listens on {alt_loopback}" in lines
        assert f"export AWS_ENDPOINT_URL_SQS=http://{alt_loopback}:{base + 2}" in lines
        assert _listening(base) == [alt_loopback]
        assert _listening(base + 2) == [alt_loopback]
        assert _listening(base + 1) == [], "no S3 asked for: its port stays free"
        _dynamodb_round_trip(f"http://{alt_loopback}:{base}")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert _wait_for(lambda: _refuses(base, alt_loopback) and _refuses(base + 2, alt_loopback), 5)
