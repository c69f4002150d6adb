"""Listen addresses and ports: checks, free ports, whether something accepts."""

from __future__ import annotations

import errno
import ipaddress
import shutil
import socket

from writers.emulators.common import LOOPBACK, EmulatorError


def check_bind(bind: object, what: str = "bind") -> str:
    """``bind`` as a normalised IPv4 address string; EmulatorError (one line) if it is not one."""
    try:
        return str(ipaddress.IPv4Address(str(bind).strip()))
    except ValueError:
        raise EmulatorError(f"{what} must be an IPv4 address such as 127.0.0.1 or 0.0.0.0, got {bind!r}") from None


def connect_host(bind: str) -> str:
    """Where a client on this machine reaches a server listening on ``bind``."""
    return LOOPBACK if ipaddress.IPv4Address(bind).is_unspecified else bind


def check_int(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EmulatorError(f"{what} must be an integer from {low} to {high}, got {value!r}")
    return value


def check_port(port: object, what: str = "port") -> int:
    """A TCP port, 1..65535."""
    return check_int(port, 1, 65535, what)


def ensure_free(host: str, port: int) -> int:
    """``port`` if a server could listen on host:port now, else EmulatorError.

    SO_REUSEADDR, as the servers set it: connections in TIME_WAIT do not count.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EmulatorError(f"cannot listen on {host}:{port}: that port is in use") from None
            raise EmulatorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return port


def api_port(host: str, port: int | None) -> int:
    """The client-facing port: ``port`` if given (and free), else a free pick on ``host``."""
    return free_ports(1, host)[0] if port is None else ensure_free(host, port)


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct free TCP ports on ``host`` (bound to port 0, then released)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def which(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise EmulatorError(f"{program} is not on PATH")
    return found


def accepts(host: str, port: int) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
