"""`gevent`: the raw AWS API signed by our signer on geventhttpclient, `concurrency`
greenlets in flight per user. Locust-native: no thread, no loop, no hand-over."""

from __future__ import annotations

import time
from collections import deque
from http.client import HTTPException
from typing import Any, cast
from urllib.parse import urlsplit

import gevent
import gevent.event
import gevent.pool
from geventhttpclient import HTTPClient, HTTPParseError

from writers.calls import Attempt, Call
from writers.strategies.base import Strategy, StrategyOptions
from writers.strategies.raw import network_failure, read_answer, sign_call, signer_for
from writers.target import Endpoint


class GeventStrategy(Strategy):
    name = "gevent"

    def __init__(self, endpoint: Endpoint, options: StrategyOptions) -> None:
        super().__init__(endpoint, options)
        self._signer = signer_for(endpoint)
        self._base_url = endpoint.raw_url
        self._http = self._client_for(self._base_url)
        self._clients = {self._base_url: self._http}  # one per origin (S3 virtual-hosted buckets)
        self._greenlets = gevent.pool.Group()
        self._done: deque[Attempt] = deque()
        self._ready = gevent.event.Event()

    def _client_for(self, base_url: str) -> HTTPClient:
        parts = urlsplit(base_url)
        https = parts.scheme == "https"
        # One connection per greenlet in flight: the pool is sized to --concurrency.
        return HTTPClient(
            parts.hostname or "",
            parts.port or (443 if https else 80),
            ssl=https,
            concurrency=self.options.concurrency,
            connection_timeout=self.options.timeout,
            network_timeout=self.options.timeout,
        )

    def start(self, call: Call) -> None:
        self._greenlets.spawn(self._send, call)

    def _send(self, call: Call) -> None:
        request = sign_call(self._signer, self._base_url, call, self.options.keep_alive)
        http = self._clients.get(request.base_url)
        if http is None:
            http = self._clients[request.base_url] = self._client_for(request.base_url)
        payload = request.body
        if isinstance(payload, memoryview):  # an S3 body: geventhttpclient writes only bytes in one piece
            payload = payload.tobytes()
        started = time.perf_counter()
        try:
            response = http.request(request.method, request.path_and_query, payload, request.headers)
            try:
                body = response.read()
            finally:
                response.release()
        except (OSError, HTTPException, HTTPParseError, gevent.Timeout) as exc:
            attempt = network_failure(call, (time.perf_counter() - started) * 1000, exc)
        else:
            elapsed = (time.perf_counter() - started) * 1000
            attempt = read_answer(call, elapsed, response.status_code, cast(Any, response), body)
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
        self._greenlets.kill(block=False)
        for http in self._clients.values():
            http.close()
