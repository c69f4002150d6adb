"""A minimal HTTP/1.1 client for the gevent strategy's hot path, written as generators.

Why not geventhttpclient's HTTPClient (which Locust's FastHttpUser uses): its generic
header objects cost ~100 us of CPU per request, more than signing, the Locust event and
the socket calls together. Our requests are already fully formed and signed, so this
client only writes the bytes and reads the answer: status line, headers, a body framed
by Content-Length or chunked encoding, or up to the close.

Why generators on non-blocking sockets: one exchange is a generator that yields
`(connection, READ or WRITE)` whenever the socket would block, so one greenlet can keep
all of a user's exchanges in flight (multiplex.py) instead of a greenlet, a gevent socket
wrapper and a timer per request. That halves the system calls per request (no failed
`recv` before the answer is there, no `getsockopt` per `sendall`). TLS runs through an
`ssl.SSLObject` over memory buffers, so the same code serves http and https.
"""

from __future__ import annotations

import errno
import os
import socket as _stdlib_socket
import ssl
import time

# The C socket type: never patched by gevent, so these sockets stay plain and non-blocking
# and never block the hub (the multiplexer waits for them on the gevent loop instead).
from _socket import socket as RawSocket
from collections.abc import Generator, Iterator, Mapping
from select import POLLIN
from typing import Any
from urllib.parse import urlsplit

from gevent.monkey import get_original

READ, WRITE = 1, 2
_NO_BIO = ssl.MemoryBIO()  # a plain connection's (never used) TLS buffers
MAX_HEAD = 64 * 1024
SMALL_BODY = 16 * 1024  # a request body smaller than this leaves in the same write as its head
RECV_SIZE = 256 * 1024
ADDRESS_TTL = 30.0  # seconds a resolved address is reused for new connections
USER_AGENT = "aws-load-writers/0.1"
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)
# The C poll: gevent's patched one would switch to the hub even with a zero timeout.
_Poll: Any = get_original("select", "poll")

Wait = tuple["Connection", int]  # what an exchange yields: the socket and READ or WRITE
Steps = Generator[Wait, None, "Response"]


class ProtocolError(OSError):
    """The peer answered something that is not HTTP/1.1 as we know it."""


class Headers(Mapping[str, str]):
    """Answer headers, looked up in any case. Parsed on the first look: most answers are read
    by their status and body alone (the framing headers are found without it, `framing`)."""

    __slots__ = ("_head", "_parsed")

    def __init__(self, head: str | Mapping[str, str] = "") -> None:
        """`head`: the answer's head as text (status line, then the header lines), or a mapping."""
        if isinstance(head, str):
            self._parsed: dict[str, str] | None = None
            self._head = head
        else:
            self._parsed, self._head = {k.lower(): v for k, v in head.items()}, ""

    def _headers(self) -> dict[str, str]:
        parsed = self._parsed
        if parsed is None:
            parsed = self._parsed = {}
            for line in self._head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                parsed[name.strip().lower()] = value.strip()
            self._head = ""
        return parsed

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._headers().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return self._headers()[key.lower()]

    def __contains__(self, key: object) -> bool:
        return (key.lower() if isinstance(key, str) else key) in self._headers()

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def __repr__(self) -> str:
        return f"Headers({self._headers()!r})"


def framing(head: str) -> tuple[str | None, str, str]:
    """(Content-Length, Transfer-Encoding, Connection) of an answer head, lower case, without
    parsing every header: the last of each, as a parsed dict would keep it."""
    low = head.lower()
    found: list[str | None] = []
    for name in ("\r\ncontent-length:", "\r\ntransfer-encoding:", "\r\nconnection:"):
        at = low.rfind(name)
        if at < 0:
            found.append(None)
            continue
        start = at + len(name)
        end = low.find("\r\n", start)
        found.append(low[start : end if end >= 0 else len(low)].strip())
    length, encoding, connection = found
    return length, encoding or "", connection or ""


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers  # names in lower case
        self.body = body


class Connection:
    """One non-blocking HTTP/1.1 connection; reused while the server keeps it open.

    `reader`/`writer` belong to whoever waits on this socket (the multiplexer's gevent
    watchers); they are closed with the connection, never left on a closed descriptor.
    """

    __slots__ = ("_poll", "buffer", "fd", "incoming", "open", "outgoing", "owner", "reader", "sock", "tls", "writer")

    def __init__(self, sock: RawSocket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self._poll = _Poll()
        self._poll.register(self.fd, POLLIN)  # errors and hang-ups are always reported too
        self.buffer = bytearray()
        self.open = True
        self.tls: ssl.SSLObject | None = None
        # TLS only: what the peer sent, not yet decrypted; what we encrypted, not yet sent.
        self.incoming: ssl.MemoryBIO = _NO_BIO
        self.outgoing: ssl.MemoryBIO = _NO_BIO
        self.owner: object = None
        self.reader: object = None
        self.writer: object = None

    def close(self) -> None:
        if not self.open:
            return
        self.open = False
        for watcher in (self.reader, self.writer):
            if watcher is not None:
                watcher.close()  # type: ignore[attr-defined]
        self.reader = self.writer = None
        self.sock.close()

    # -- bytes in and out ------------------------------------------------------------

    def send_all(self, data: bytes | memoryview) -> Generator[Wait, None, None]:
        if self.tls is not None:
            view = memoryview(data)
            while view:
                view = view[self.tls.write(view) :]
                yield from self._send_raw(self.outgoing.read())
        else:
            yield from self._send_raw(data)

    def _send_raw(self, data: bytes | memoryview) -> Generator[Wait, None, None]:
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                yield self, WRITE

    def receive(self) -> bool | None:
        """Append what has arrived to the buffer: True, or False at the end, or None if nothing yet."""
        if self.tls is not None:
            return self._receive_tls()
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return None
        if not data:
            return False
        self.buffer += data
        return True

    def _receive_tls(self) -> bool | None:
        assert self.tls is not None
        while True:
            try:
                data = self.tls.read(RECV_SIZE)
            except ssl.SSLWantReadError:
                try:
                    raw = self.sock.recv(RECV_SIZE)
                except BlockingIOError:
                    return None
                if not raw:
                    return False
                self.incoming.write(raw)
                continue
            except ssl.SSLZeroReturnError:  # the peer's close_notify
                return False
            if not data:
                return False
            self.buffer += data
            return True

    def still_open(self) -> bool:
        """Before reusing an idle kept-alive connection: the server has not closed or reset it,
        and sent nothing unasked for (a 408 before closing, say; TLS's close_notify too). An
        idle socket that is readable at all is not reused: one poll(2) with no timeout, as
        urllib3 checks before reusing a connection (~0.5 us; a recv(1, MSG_PEEK) that would
        block costs ~1.3 us, most of it raising BlockingIOError). Once a byte of the request
        is sent, whatever goes wrong is that request's failure: the server may have acted on it."""
        return not (self.buffer or self._poll.poll(0))

    def fill(self) -> Generator[Wait, None, bool]:
        """Wait for more of the answer: False if the peer closed instead."""
        while (got := self.receive()) is None:
            yield self, READ
        return got

    # -- TLS --------------------------------------------------------------------------

    def start_tls(self, context: ssl.SSLContext, host: str) -> Generator[Wait, None, None]:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=host)
        while True:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                yield from self._send_raw(self.outgoing.read())
                yield self, READ
                try:
                    raw = self.sock.recv(RECV_SIZE)
                except BlockingIOError:
                    continue
                if not raw:
                    raise ConnectionResetError("connection closed during the TLS handshake") from None
                self.incoming.write(raw)
            else:
                yield from self._send_raw(self.outgoing.read())
                return

    # -- one request and its answer -----------------------------------------------------

    def exchange(self, head: bytes, body: bytes | memoryview, method: str) -> Steps:
        # Errors (reset, closed before the answer) end the exchange: never sent again here.
        # The common case (a small request, an answer framed by Content-Length that arrives in
        # one piece) runs straight through: one send, one recv, no helper generators.
        if body and len(body) < SMALL_BODY:
            data = head + body  # one write, one packet for small requests
            body = b""
        else:
            data = head
        if self.tls is None:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            if sent < len(data):
                yield from self._send_raw(memoryview(data)[sent:])
        else:
            yield from self.send_all(data)
        if body:
            yield from self.send_all(body)
        yield self, READ  # the answer cannot be there yet: wait before the first recv
        buffer = self.buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > MAX_HEAD:  # checked only while no end is found: a body may follow at once
                self.close()
                raise ProtocolError("answer head too large")
            got = self.receive()
            if got is None:
                yield self, READ
            elif not got:
                self.close()
                if not buffer:
                    raise ProtocolError("connection closed by the server without an answer")
                raise ProtocolError("connection closed in the middle of the answer's head")
        status, answer_head = self._take_head(end)
        length, encoding, connection = framing(answer_head)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            payload = b""
        elif length is not None:
            size = int(length)
            if len(buffer) >= size:
                payload = bytes(buffer[:size])
                del buffer[:size]
            else:
                payload = yield from self._read_exactly(size)
        elif encoding.endswith("chunked"):
            payload = yield from self._read_chunked()
        else:
            payload = yield from self._read_to_close()
        if connection == "close":
            self.close()
        return Response(status, Headers(answer_head), payload)

    def _take_head(self, end: int) -> tuple[int, str]:
        """The status and the head (status line and headers, as text) at the buffer's start,
        taken off it (`end`: where its blank line starts)."""
        buffer = self.buffer
        head = buffer[:end].decode("latin-1")
        del buffer[: end + 4]
        code = head[9:12]
        if not (head.startswith("HTTP/1.") and head[8:9] == " " and code.isdigit() and head[12:13] in ("", " ", "\r")):
            status_line = head.split("\r\n", 1)[0]
            parts = status_line.split(" ", 2)  # not the usual "HTTP/1.1 200 OK": the general rule
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                self.close()
                raise ProtocolError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
            code = parts[1]
        return int(code), head

    def _read_exactly(self, size: int) -> Generator[Wait, None, bytes]:
        while len(self.buffer) < size:
            if not (yield from self.fill()):
                self.close()
                raise ProtocolError("connection closed in the middle of the answer's body")
        payload = bytes(self.buffer[:size])
        del self.buffer[:size]
        return payload

    def _read_line(self) -> Generator[Wait, None, bytes]:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if not (yield from self.fill()):
                self.close()
                raise ProtocolError("connection closed in a chunked body")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def _read_chunked(self) -> Generator[Wait, None, bytes]:
        chunks: list[bytes] = []
        while True:
            size = int((yield from self._read_line()).split(b";", 1)[0], 16)
            if size == 0:
                while (yield from self._read_line()):  # trailers, up to the empty line
                    pass
                return b"".join(chunks)
            chunks.append((yield from self._read_exactly(size)))
            yield from self._read_line()

    def _read_to_close(self) -> Generator[Wait, None, bytes]:
        while (yield from self.fill()):
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
        self._address: tuple[float, int, tuple[object, ...]] | None = None

    @staticmethod
    def head(method: str, target: str, headers: Mapping[str, str], body_size: int) -> bytes:
        return "".join(
            [f"{method} {target} HTTP/1.1\r\n", *[f"{k}: {v}\r\n" for k, v in headers.items()],
             f"Content-Length: {body_size}\r\nUser-Agent: {USER_AGENT}\r\n\r\n"]
        ).encode()  # fmt: skip

    def exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes | memoryview) -> Steps:
        """One request and its answer, on an idle connection or a new one."""
        return self.send(self.head(method, target, headers, len(body)), body, method)

    def send(self, head: bytes, body: bytes | memoryview, method: str) -> Steps:
        """`exchange` with the request's head already made (`head`)."""
        connection = None
        idle = self.idle
        while idle:
            connection = idle.pop()
            if connection.still_open():
                break
            connection.close()  # closed by the server while idle: nothing was sent on it
            connection = None
        if connection is None:
            connection = yield from self.connect()
        try:
            response = yield from connection.exchange(head, body, method)
        except BaseException:  # errors, timeouts, a closed exchange: never reuse this socket
            connection.close()
            raise
        if connection.open:
            if self.keep_alive:
                connection.owner = None
                self.idle.append(connection)
            else:
                connection.close()
        return response

    def connect(self) -> Generator[Wait, None, Connection]:
        family, address = self._resolve()
        sock = RawSocket(family, _stdlib_socket.SOCK_STREAM)
        sock.setblocking(False)
        connection = Connection(sock)
        try:
            error = sock.connect_ex(address)
            if error in _IN_PROGRESS:
                yield connection, WRITE
                error = sock.getsockopt(_stdlib_socket.SOL_SOCKET, _stdlib_socket.SO_ERROR)
            if error:
                raise OSError(error, f"{os.strerror(error)} ({self.host}:{self.port})")
            sock.setsockopt(_stdlib_socket.IPPROTO_TCP, _stdlib_socket.TCP_NODELAY, 1)
            if self.tls is not None:
                yield from connection.start_tls(self.tls, self.host)
        except BaseException:
            connection.close()
            raise
        return connection

    def _resolve(self) -> tuple[int, tuple[object, ...]]:
        """The origin's address, looked up again every ADDRESS_TTL seconds (gevent's resolver
        when the process is monkey-patched, so a lookup does not block other users)."""
        now = time.monotonic()
        if self._address is None or now - self._address[0] > ADDRESS_TTL:
            found = _stdlib_socket.getaddrinfo(self.host, self.port, 0, _stdlib_socket.SOCK_STREAM)
            family, _, _, _, address = found[0]
            self._address = (now, family, address)
        return self._address[1], self._address[2]

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()
