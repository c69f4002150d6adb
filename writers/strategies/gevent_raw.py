"""`gevent`: the raw AWS API signed by our signer, `concurrency` greenlets in flight per
user, on our minimal HTTP/1.1 client (http11.py). Locust-native: no thread, no loop,
no hand-over; the fast path."""

from __future__ import annotations

import time
from collections import deque

import gevent
import gevent.event
import gevent.pool

from writers.calls import Attempt, Call
from writers.strategies.base import Strategy, StrategyOptions
from writers.strategies.http11 import HttpClient
from writers.strategies.raw import network_failure, read_answer, sign_call, signer_for
from writers.target import Endpoint


class GeventStrategy(Strategy):
    name = "gevent"

    def __init__(self, endpoint: Endpoint, options: StrategyOptions) -> None:
        super().__init__(endpoint, options)
        self._signer = signer_for(endpoint)
        self._base_url = endpoint.raw_url
        # One client per origin (S3 virtual-hosted buckets have their own); each keeps at
        # most as many connections as this user has calls in flight (--concurrency).
        self._clients: dict[str, HttpClient] = {}
        self._client(self._base_url)
        self._greenlets = gevent.pool.Group()
        self._done: deque[Attempt] = deque()
        self._ready = gevent.event.Event()

    def _client(self, base_url: str) -> HttpClient:
        client = self._clients.get(base_url)
        if client is None:
            client = self._clients[base_url] = HttpClient(base_url, self.options.timeout, self.options.keep_alive)
        return client

    def start(self, call: Call) -> None:
        self._greenlets.spawn(self._send, call)

    def _send(self, call: Call) -> None:
        request = sign_call(self._signer, self._base_url, call, self.options.keep_alive)
        http = self._client(request.base_url)
        started = time.perf_counter()
        try:
            response = http.request(request.method, request.path_and_query, request.headers, request.body)
        except (OSError, gevent.Timeout) as exc:  # refused, reset, timed out, not HTTP
            attempt = network_failure(call, (time.perf_counter() - started) * 1000, exc)
        else:
            elapsed = (time.perf_counter() - started) * 1000
            attempt = read_answer(call, elapsed, response.status, response.headers, response.body)
        self._done.append(attempt)
        self._ready.set()

    def collect(self, timeout: float | None) -> list[Attempt]:
        if not self._done:
            if not self._greenlets:
                return []
            self._ready.wait(timeout)
        attempts = list(self._done)
        self._done.clear()
        self._ready.clear()
        return attempts

    def close(self) -> None:
        self._greenlets.kill(block=False)  # a killed call closes its socket (http11)
        for http in self._clients.values():
            http.close()
