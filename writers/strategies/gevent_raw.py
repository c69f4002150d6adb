"""`gevent`: the raw AWS API signed by our signer, `concurrency` calls in flight per user,
on our minimal HTTP/1.1 client (http11.py), multiplexed in the user's own greenlet
(multiplex.py). Locust-native: no thread, no loop, no hand-over, no greenlet per call;
the fast path."""

from __future__ import annotations

from writers.calls import Attempt, Call
from writers.strategies.base import Strategy, StrategyOptions
from writers.strategies.http11 import HttpClient
from writers.strategies.multiplex import Multiplexer
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
        self._mux = Multiplexer(options.timeout)

    def _client(self, base_url: str) -> HttpClient:
        client = self._clients.get(base_url)
        if client is None:
            client = self._clients[base_url] = HttpClient(base_url, self.options.timeout, self.options.keep_alive)
        return client

    def prepare(self, call: Call) -> None:
        request = sign_call(self._signer, self._base_url, call, self.options.keep_alive)
        http = self._client(request.base_url)
        call.prepared = (http, http.head(request.method, request.path_and_query, request.headers, len(request.body)),
                         request)  # fmt: skip

    def start(self, call: Call) -> None:
        if call.prepared is None:
            self.prepare(call)
        http, head, request = call.prepared
        call.prepared = None  # sent once: a retry is signed again
        self._mux.start(http.send(head, request.body, request.method), call)

    def collect(self, timeout: float | None) -> list[Attempt]:
        attempts = []
        for exchange in self._mux.collect(timeout):
            call: Call = exchange.context
            started, finished = exchange.started, exchange.finished
            response = exchange.response
            if response is None:  # refused, reset, timed out, not HTTP
                attempts.append(network_failure(call, started, finished, exchange.error or OSError("no answer")))
            else:
                attempts.append(read_answer(call, started, finished, response.status, response.headers, response.body))
        return attempts

    def share_collect(self, other: Strategy) -> bool:
        """`other` (another gevent strategy, another service's endpoint) starts its exchanges
        on this strategy's multiplexer: one greenlet's sockets, one wait, whichever answers.
        An answer is read the same whichever strategy collects it (the call knows its service)."""
        if not isinstance(other, GeventStrategy) or len(self._mux) or len(other._mux):
            return False
        if other._mux.timeout != self._mux.timeout:
            return False
        other._mux.close()
        other._mux = self._mux
        return True

    def close(self) -> None:
        self._mux.close()  # each exchange in flight closes its socket
        for http in self._clients.values():
            http.close()
