"""The gevent strategy's HTTP/1.1 client against a real socket server that answers in
each of the framings HTTP allows (Content-Length, chunked, close-delimited, HEAD),
closes kept-alive connections, or breaks off mid-answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from writers.strategies.http11 import HttpClient, ProtocolError

ANSWERS = {
    b"/length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Amz-Id: a\r\n\r\nhello",
    b"/chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\nX-T: 1\r\n\r\n"
    ),
    b"/close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
    b"/head": b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
    b"/error": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\nx-amzn-query-error: Throttling\r\n\r\n{}",
    b"/broken": b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly part",
    b"/garbage": b"SSH-2.0-OpenSSH\r\n\r\n",
}


class Server:
    """Answers each request by its path; after /length, closes the connection when asked."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self.close_after_next = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                while len(data) < length:
                    data += conn.recv(65536)
                body, data = data[:length], data[length:]
                self.requests.append(head + b"\r\n\r\n" + body)
                path = head.split(b" ")[1].split(b"?")[0]
                conn.sendall(ANSWERS[path])
                if path in (b"/close", b"/broken", b"/garbage") or self.close_after_next:
                    self.close_after_next = False
                    return


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.listener.close()


def client(server: Server, keep_alive: bool = True) -> HttpClient:
    return HttpClient(f"http://127.0.0.1:{server.port}", timeout=5, keep_alive=keep_alive)


def test_every_framing_is_read(server: Server) -> None:
    http = client(server)
    answer = http.request("POST", "/length", {"Host": "x", "X-Amz-Target": "T"}, b'{"a":1}')
    assert (answer.status, answer.body, answer.headers["x-amz-id"]) == (200, b"hello", "a")
    assert http.request("GET", "/chunked", {}, b"").body == b"hello"
    assert http.request("HEAD", "/head", {}, b"").body == b""  # HEAD: no body whatever Content-Length says
    error = http.request("POST", "/error", {}, b"")
    assert (error.status, error.headers["x-amzn-query-error"]) == (400, "Throttling")
    assert server.connections == 1  # all of the above on one kept-alive connection
    assert http.request("GET", "/close", {}, b"").body == b"until the end"
    assert http.idle == []  # closed by the server: not kept


def test_the_request_is_sent_as_given(server: Server) -> None:
    client(server).request("PUT", "/length?x=1%2F", {"Host": "h:1", "Authorization": "AWS4 sig"}, b"body")
    sent = server.requests[0]
    assert sent.startswith(b"PUT /length?x=1%2F HTTP/1.1\r\n")
    assert b"\r\nHost: h:1\r\n" in sent and b"\r\nAuthorization: AWS4 sig\r\n" in sent
    assert b"\r\nContent-Length: 4\r\n" in sent and sent.endswith(b"\r\n\r\nbody")


def test_a_large_body_is_sent_whole(server: Server) -> None:
    body = memoryview(bytes(range(256)) * 4096)  # 1 MiB, as an S3 part would be
    client(server).request("PUT", "/length", {}, body)
    assert server.requests[0].endswith(bytes(body))


def test_a_connection_closed_while_idle_is_replaced(server: Server) -> None:
    http = client(server)
    server.close_after_next = True
    http.request("GET", "/length", {}, b"")
    assert http.request("GET", "/length", {}, b"").body == b"hello"  # stale socket: sent again on a new one
    assert server.connections == 2


def test_no_keep_alive_opens_a_connection_per_request(server: Server) -> None:
    http = client(server, keep_alive=False)
    for _ in range(3):
        http.request("GET", "/length", {}, b"")
    assert server.connections == 3 and http.idle == []


@pytest.mark.parametrize("path", ["/broken", "/garbage"])
def test_broken_answers_are_protocol_errors(server: Server, path: str) -> None:
    http = client(server)
    with pytest.raises(ProtocolError):
        http.request("GET", path, {}, b"")
    assert http.idle == []


def test_refused_connection_is_an_os_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        HttpClient(f"http://127.0.0.1:{port}", timeout=2).request("GET", "/", {}, b"")
