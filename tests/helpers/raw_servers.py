"""Servers on plain sockets whose behaviour is known by construction, each in threads of
the test process on a free port of 127.0.0.1:

- `DropEveryNth(n)`: reads every request in full and drops every n-th unanswered;
- `Blackhole()`: reads whatever comes and never answers (HEAD aside);
- `FramingServer()`: answers by path in each framing HTTP/1.1 allows, or breaks off;
- `ReadOnlyBucket()`: an S3 bucket that exists and refuses every write.

Only the standard library: nothing here depends on the project.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import ssl
import threading
import time
from typing import Any

# --------------------------------------------------------------------------- drops


class DropEveryNth:
    """Reads each request in full (Content-Length or chunked body, `Expect: 100-continue`
    honoured) on kept-alive connections; the Nth, 2Nth, ... request it reads is never
    answered: the connection is closed instead. Others get a minimal valid answer: `{}`
    to a POST (DynamoDB PutItem), an ETag to a PUT (S3 PutObject)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.requests = 0
        self.dropped = 0
        self.connections = 0
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        with conn, reader:
            while True:
                try:
                    request = self._read_request(conn, reader)
                except (OSError, ValueError):
                    return
                if request is None:
                    return
                method, body = request
                with self._lock:
                    self.requests += 1
                    drop = self.requests % self.every == 0
                    self.dropped += drop
                if drop:
                    return  # read in full, never answered
                if method == "PUT":
                    etag = hashlib.md5(body).hexdigest()
                    conn.sendall(f'HTTP/1.1 200 OK\r\nETag: "{etag}"\r\nContent-Length: 0\r\n\r\n'.encode())
                else:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\r\n{}"
                    )

    @staticmethod
    def _read_request(conn: socket.socket, reader: Any) -> tuple[str, bytes] | None:
        line = reader.readline()
        if not line:
            return None
        method = line.split(b" ", 1)[0].decode()
        headers: dict[str, str] = {}
        while (header := reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int(reader.readline().split(b";")[0], 16):
                chunks.append(reader.read(size))
                reader.readline()
            while reader.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return method, b"".join(chunks)
        return method, reader.read(int(headers.get("content-length", "0")))


# --------------------------------------------------------------------------- silence


class Blackhole:
    """Accepts connections and reads whatever comes, never answers (a stuck server), but for
    HEAD requests (the bucket check before the swarm), answered 200 at once."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self._drain, args=(connection,), daemon=True).start()

    @staticmethod
    def _drain(connection: socket.socket) -> None:
        try:
            while data := connection.recv(65536):
                if data.startswith(b"HEAD "):
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass

    def close(self) -> None:
        self.server.close()
        for connection in self.connections:
            connection.close()


# --------------------------------------------------------------------------- HTTP/1.1 framings

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
SPLIT_BODY = bytes(range(256)) * 400  # 100 KiB: more than a head may be, in the same read
SPLIT_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(SPLIT_BODY) + SPLIT_BODY


class FramingServer:
    """Answers each request by its path; after answering one, closes the connection when asked."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self.close_after_next = False
        self.closed = threading.Event()  # set each time the server closed a connection
        self.tls: ssl.SSLContext | None = None  # set: speak TLS on new connections
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):  # a client that refused our certificate
                    conn.close()
                    continue
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        try:
            self.serve_connection(conn)
        finally:
            conn.close()
            self.closed.set()

    def serve_connection(self, conn: socket.socket) -> None:
        data = b""
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
            # Read with the request: a test sets it before sending the request it is for,
            # maybe while this thread is still finishing the previous answer.
            close_after, self.close_after_next = self.close_after_next, False
            path = head.split(b" ")[1].split(b"?")[0]
            if path == b"/drop":  # read in full, never answered: the request may have been stored
                return
            if path == b"/split":  # the head in two writes, its end with a large body
                conn.sendall(SPLIT_ANSWER[:20])
                time.sleep(0.05)
                conn.sendall(SPLIT_ANSWER[20:])
            else:
                conn.sendall(ANSWERS[path])
            if path in (b"/close", b"/broken", b"/garbage") or close_after:
                return


# --------------------------------------------------------------------------- refused writes


class _ReadOnlyBucketServer(http.server.ThreadingHTTPServer):
    puts: list[str]


class _ReadOnlyBucketHandler(http.server.BaseHTTPRequestHandler):
    server: _ReadOnlyBucketServer

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.puts.append(self.path)
        body = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


class ReadOnlyBucket:
    """An S3 stand-in where the bucket exists (HeadBucket: 200) and every write is refused
    (PutObject: 403 AccessDenied): a role that may look at the bucket but not write to it.
    `puts` holds the paths of the writes it refused, in order."""

    def __init__(self) -> None:
        self.server = _ReadOnlyBucketServer(("127.0.0.1", 0), _ReadOnlyBucketHandler)
        self.server.puts = []
        self.puts = self.server.puts
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
