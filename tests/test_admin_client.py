"""The admin client (provisioning, look-ups, read-backs) gives up on an unreachable
endpoint within seconds, the same way for every service."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ConnectTimeoutError

from writers.services import SERVICES, workload_class
from writers.target import ADMIN_ATTEMPTS, ADMIN_CONNECT_TIMEOUT, Endpoint

BOTOCORE_DEFAULT_CONNECT_TIMEOUT = 60.0


@pytest.fixture
def unreachable_url() -> Iterator[str]:
    """A loopback port whose accept queue is full: connection attempts get no answer at all
    (their SYNs are dropped), as with a firewalled or unrouted endpoint."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):  # never accepted
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    probe = socket.create_connection  # the queue is full: a new connection must hang
    with pytest.raises(TimeoutError):
        probe(("127.0.0.1", port), timeout=0.5)
    yield f"http://127.0.0.1:{port}"
    for sock in [*fillers, server]:
        sock.close()


def test_every_service_gives_up_on_an_unreachable_endpoint_within_seconds(unreachable_url: str) -> None:
    outcomes: dict[str, tuple[float, BaseException | None]] = {}

    def provision(name: str) -> None:
        workload = workload_class(name)
        endpoint = Endpoint(workload.service, "us-east-1", unreachable_url, "AKIAEXAMPLE", "secret")
        started = time.monotonic()
        try:
            workload(workload.options_class(workload.default_resource)).provision(endpoint, timeout=5)
            outcomes[name] = (time.monotonic() - started, None)
        except Exception as exc:
            outcomes[name] = (time.monotonic() - started, exc)

    threads = [threading.Thread(target=provision, args=(name,)) for name in SERVICES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert set(outcomes) == set(SERVICES)
    # ADMIN_ATTEMPTS connect timeouts and botocore's backoff between them (at most 1 s, 2 s, 4 s, ...)
    bound = ADMIN_ATTEMPTS * ADMIN_CONNECT_TIMEOUT + 2 ** (ADMIN_ATTEMPTS - 1) - 1 + 2
    assert bound < BOTOCORE_DEFAULT_CONNECT_TIMEOUT
    for name, (seconds, error) in outcomes.items():
        assert isinstance(error, ConnectTimeoutError), (name, error)
        assert ADMIN_CONNECT_TIMEOUT <= seconds < bound, (name, seconds)
