"""A minimal HTTP/1.1 client for the gevent strategy's hot path.

Why not geventhttpclient's HTTPClient (which Locust's FastHttpUser uses): its generic
header objects cost ~100 us of CPU per request, more than signing, the Locust event and
the socket calls together. Our requests are already fully formed and signed, so this
client only writes the bytes and reads the answer: status line, headers, a body framed
by Content-Length or chunked encoding, or up to the close. gevent sockets make it
cooperative; one connection carries one request at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

# gevent's own modules, not the standard ones: cooperative whether or not the program
# was monkey-patched (Locust patches; a plain Python program using writers does not).
from gevent import socket, ssl

MAX_HEAD = 64 * 1024
USER_AGENT = "aws-load-writers/0.1"


class ProtocolError(OSError):
    """The peer answered something that is not HTTP/1.1 as we know it."""


class StaleConnection(OSError):
    """A kept-alive connection closed before any byte of the answer: safe to send again."""


class Headers(dict[str, str]):
    """Answer headers, stored in lower case, looked up in any case."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers  # names in lower case
        self.body = body


class Connection:
    """One HTTP/1.1 connection; reused while the server keeps it open."""

    def __init__(self, host: str, port: int, timeout: float, tls: ssl.SSLContext | None) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = tls.wrap_socket(sock, server_hostname=host) if tls else sock
        self.buffer = bytearray()
        self.reused = False
        self.open = True

    def close(self) -> None:
        self.open = False
        self.sock.close()

    def exchange(self, head: bytes, body: bytes | memoryview, method: str) -> Response:
        try:
            self._send(head, body)
            status, headers = self._read_head()
        except (ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            if self.reused and not self.buffer:  # the server dropped it while idle: nothing was read
                raise StaleConnection(str(exc)) from exc
            raise
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            payload = b""
        elif "content-length" in headers:
            payload = self._read_exactly(int(headers["content-length"]))
        elif (headers.get("transfer-encoding") or "").lower().endswith("chunked"):
            payload = self._read_chunked()
        else:
            payload = self._read_to_close()
        if (headers.get("connection") or "").lower() == "close":
            self.close()
        self.reused = True
        return Response(status, headers, payload)

    def _send(self, head: bytes, body: bytes | memoryview) -> None:
        if body and len(body) < 16 * 1024:
            self.sock.sendall(head + bytes(body))  # one write, one packet for small requests
        else:
            self.sock.sendall(head)
            if body:
                self.sock.sendall(body)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buffer += data
        return True

    def _read_head(self) -> tuple[int, Headers]:
        buffer = self.buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if not self._fill():
                self.close()
                if self.reused and not buffer:
                    raise StaleConnection("connection closed by the server before answering")
                raise ProtocolError("connection closed in the middle of the answer's head")
            if len(buffer) > MAX_HEAD:
                raise ProtocolError("answer head too large")
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        del buffer[: end + 4]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            self.close()
            raise ProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
        headers = Headers()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            dict.__setitem__(headers, name.strip().lower(), value.strip())
        return int(parts[1]), headers

    def _read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                self.close()
                raise ProtocolError("connection closed in the middle of the answer's body")
        payload = bytes(self.buffer[:size])
        del self.buffer[:size]
        return payload

    def _read_line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if not self._fill():
                self.close()
                raise ProtocolError("connection closed in a chunked body")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self._read_line().split(b";", 1)[0], 16)
            if size == 0:
                while self._read_line():  # trailers, up to the empty line
                    pass
                return b"".join(chunks)
            chunks.append(self._read_exactly(size))
            self._read_line()

    def _read_to_close(self) -> bytes:
        while self._fill():
            pass
        payload = bytes(self.buffer)
        self.buffer.clear()
        self.close()
        return payload


class HttpClient:
    """Keep-alive connections to one origin, at most as many as requests in flight."""

    def __init__(self, base_url: str, timeout: float, keep_alive: bool = True) -> None:
        parts = urlsplit(base_url)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.tls else 80)
        self.timeout = timeout
        self.keep_alive = keep_alive
        self.idle: list[Connection] = []

    def request(self, method: str, target: str, headers: Mapping[str, str], body: bytes | memoryview) -> Response:
        head = "".join(
            [f"{method} {target} HTTP/1.1\r\n", *[f"{k}: {v}\r\n" for k, v in headers.items()],
             f"Content-Length: {len(body)}\r\nUser-Agent: {USER_AGENT}\r\n\r\n"]
        ).encode()  # fmt: skip
        connection = self.idle.pop() if self.idle else None
        if connection is None:
            connection = Connection(self.host, self.port, self.timeout, self.tls)
        try:
            try:
                response = connection.exchange(head, body, method)
            except StaleConnection:
                connection = Connection(self.host, self.port, self.timeout, self.tls)
                response = connection.exchange(head, body, method)
        except BaseException:  # errors, timeouts, a killed greenlet: never reuse this socket
            connection.close()
            raise
        if connection.open:
            if self.keep_alive:
                self.idle.append(connection)
            else:
                connection.close()
        return response

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()
