"""The gevent strategy's HTTP/1.1 client against a real socket server that answers in
each of the framings HTTP allows (Content-Length, chunked, close-delimited, HEAD),
closes kept-alive connections while idle or after reading a request without answering
it, or breaks off mid-answer."""

from __future__ import annotations

import datetime
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
from helpers.raw_servers import SPLIT_BODY, FramingServer

from writers.strategies.http11 import HttpClient, ProtocolError, Response
from writers.strategies.multiplex import Exchange, Multiplexer


@pytest.fixture
def server() -> Iterator[FramingServer]:
    s = FramingServer()
    yield s
    s.listener.close()


def request(http: HttpClient, method: str, target: str, headers: dict[str, str], body: bytes | memoryview) -> Response:
    """One exchange, waiting for its answer (the strategy keeps many in flight instead)."""
    mux = Multiplexer(http.timeout)
    try:
        exchange = mux.start(http.exchange(method, target, headers, body), None)
        while not mux.collect(None):
            pass
        if exchange.error is not None:
            raise exchange.error
        assert exchange.response is not None
        return exchange.response
    finally:
        mux.close()


def client(server: FramingServer, keep_alive: bool = True) -> HttpClient:
    return HttpClient(f"http://127.0.0.1:{server.port}", timeout=5, keep_alive=keep_alive)


def test_every_framing_is_read(server: FramingServer) -> None:
    http = client(server)
    answer = request(http, "POST", "/length", {"Host": "x", "X-Amz-Target": "T"}, b'{"a":1}')
    assert (answer.status, answer.body, answer.headers["x-amz-id"]) == (200, b"hello", "a")
    assert request(http, "GET", "/chunked", {}, b"").body == b"hello"
    assert request(http, "HEAD", "/head", {}, b"").body == b""  # HEAD: no body whatever Content-Length says
    error = request(http, "POST", "/error", {}, b"")
    assert (error.status, error.headers["x-amzn-query-error"]) == (400, "Throttling")
    assert server.connections == 1  # all of the above on one kept-alive connection
    assert request(http, "GET", "/close", {}, b"").body == b"until the end"
    assert http.idle == []  # closed by the server: not kept


def test_a_head_split_across_reads_then_a_large_body_is_read(server: FramingServer) -> None:
    assert request(client(server), "GET", "/split", {}, b"").body == SPLIT_BODY


def test_the_request_is_sent_as_given(server: FramingServer) -> None:
    request(client(server), "PUT", "/length?x=1%2F", {"Host": "h:1", "Authorization": "AWS4 sig"}, b"body")
    sent = server.requests[0]
    assert sent.startswith(b"PUT /length?x=1%2F HTTP/1.1\r\n")
    assert b"\r\nHost: h:1\r\n" in sent and b"\r\nAuthorization: AWS4 sig\r\n" in sent
    assert b"\r\nContent-Length: 4\r\n" in sent and sent.endswith(b"\r\n\r\nbody")


def test_a_large_body_is_sent_whole(server: FramingServer) -> None:
    body = memoryview(bytes(range(256)) * 4096)  # 1 MiB, as an S3 part would be
    request(client(server), "PUT", "/length", {}, body)
    assert server.requests[0].endswith(bytes(body))


def closed_by_the_server(server: FramingServer) -> None:
    """Until the server has closed a connection and its FIN has reached us (loopback)."""
    assert server.closed.wait(5)
    time.sleep(0.05)


def test_a_connection_closed_while_idle_is_replaced_before_anything_is_sent(server: FramingServer) -> None:
    http = client(server)
    server.close_after_next = True
    request(http, "GET", "/length", {}, b"")
    closed_by_the_server(server)
    assert request(http, "GET", "/length", {}, b"").body == b"hello"  # found closed, so sent on a new one
    assert server.connections == 2 and len(server.requests) == 2


def test_a_request_dropped_after_it_was_sent_is_an_error_never_sent_again(server: FramingServer) -> None:
    """The server read the whole request on a kept-alive connection and closed it without
    answering: it may have done what was asked, so only the caller may decide to send it
    again (as a visible attempt of its own)."""
    http = client(server)
    request(http, "GET", "/length", {}, b"")  # a kept-alive connection, reused below
    with pytest.raises(OSError):  # the strategy reports it as a network failure
        request(http, "POST", "/drop", {}, b'{"a":1}')
    assert [sent.split(b" ", 2)[1] for sent in server.requests] == [b"/length", b"/drop"]  # sent once
    assert server.connections == 1 and http.idle == []


def test_no_keep_alive_opens_a_connection_per_request(server: FramingServer) -> None:
    http = client(server, keep_alive=False)
    for _ in range(3):
        request(http, "GET", "/length", {}, b"")
    assert server.connections == 3 and http.idle == []


@pytest.mark.parametrize("path", ["/broken", "/garbage"])
def test_broken_answers_are_protocol_errors(server: FramingServer, path: str) -> None:
    http = client(server)
    with pytest.raises(ProtocolError):
        request(http, "GET", path, {}, b"")
    assert http.idle == []


def test_refused_connection_is_an_os_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        request(HttpClient(f"http://127.0.0.1:{port}", timeout=2), "GET", "/", {}, b"")


# -- the multiplexer: many exchanges from one greenlet, TLS, timeouts, abandoning ------------


def test_many_exchanges_in_flight_from_one_greenlet(server: FramingServer) -> None:
    http = client(server)
    mux = Multiplexer(timeout=5)
    started = [mux.start(http.exchange("GET", "/length", {}, b""), n) for n in range(20)]
    finished: list[Exchange] = []
    while len(finished) < 20:
        finished += mux.collect(5)
    assert {e.context for e in finished} == set(range(20)) and all(e.response for e in started)
    assert server.connections == 20 and len(http.idle) == 20  # one connection per exchange in flight
    mux.start(http.exchange("GET", "/chunked", {}, b""), "again")
    assert mux.collect(5)[0].response.body == b"hello"  # type: ignore[union-attr]
    assert server.connections == 20  # an idle one was reused
    mux.close()
    http.close()


def test_a_silent_server_times_out_and_its_socket_is_closed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        http = HttpClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        mux = Multiplexer(timeout=0.3)
        exchange = mux.start(http.exchange("GET", "/", {}, b""), None)
        began = time.monotonic()
        done: list[Exchange] = []
        while not done:
            done = mux.collect(None)
        waited = time.monotonic() - began
        assert isinstance(exchange.error, TimeoutError) and 0.25 < waited < 1.5
        assert http.idle == [] and len(mux) == 0


def test_collect_returns_empty_after_its_own_timeout(server: FramingServer) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        http = HttpClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=5)
        mux = Multiplexer(timeout=5)
        mux.start(http.exchange("GET", "/", {}, b""), None)
        began = time.monotonic()
        assert mux.collect(0.05) == []  # a retry's backoff ends before any answer
        assert time.monotonic() - began < 1.0 and len(mux) == 1
        mux.close()  # abandons the exchange: its socket is closed
        assert len(mux) == 0


def test_closing_the_multiplexer_closes_sockets_in_flight() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        http = HttpClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=5)
        mux = Multiplexer(timeout=5)
        mux.start(http.exchange("GET", "/", {}, b""), None)
        mux.collect(0.05)
        peer, _ = silent.accept()
        with peer:
            mux.close()
            peer.settimeout(2)
            assert peer.recv(65536).startswith(b"GET / HTTP/1.1")
            assert peer.recv(65536) == b""  # our side closed the connection


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


def test_https_is_spoken_over_the_same_client(server: FramingServer, tls_files: tuple[str, str]) -> None:
    cert_file, key_file = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server.tls = context
    http = HttpClient(f"https://localhost:{server.port}", timeout=5)
    http.tls = ssl.create_default_context(cafile=cert_file)  # trusts our own certificate only
    assert request(http, "POST", "/length", {"Host": "localhost"}, b"{}").body == b"hello"
    assert request(http, "GET", "/chunked", {}, b"").body == b"hello"
    body = memoryview(bytes(range(256)) * 4096)  # 1 MiB: many TLS records, partial writes
    assert request(http, "PUT", "/length", {}, body).status == 200
    assert server.requests[-1].endswith(bytes(body)) and server.connections == 1  # kept alive over TLS
    server.close_after_next = True
    request(http, "GET", "/length", {}, b"")
    closed_by_the_server(server)
    assert request(http, "GET", "/length", {}, b"").body == b"hello"  # found closed under TLS too
    assert server.connections == 2 and len(server.requests) == 5
    with pytest.raises(OSError):
        request(http, "POST", "/drop", {}, b"{}")
    assert len(server.requests) == 6 and server.connections == 2  # dropped over TLS: not sent again
    http.close()


def test_a_certificate_we_do_not_trust_is_refused(server: FramingServer, tls_files: tuple[str, str]) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    server.tls = context
    http = HttpClient(f"https://localhost:{server.port}", timeout=5)  # the system's CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        request(http, "GET", "/length", {}, b"")
    assert http.idle == []
