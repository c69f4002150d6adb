"""The proxy itself: receive, classify, decide, then answer, drop, or forward (maybe cut) upstream."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from fault_proxy.buckets import Buckets, Partitions
from fault_proxy.classification import Classified, classify, credential_scope, dumps_json, faults_for, loads_json
from fault_proxy.config import FaultConfig
from fault_proxy.dice import Dice
from fault_proxy.resign import resign
from fault_proxy.stats import Stats
from writers.faults import Answer, BatchCut, ProxyRequest, ServiceFaults, crc32

log = logging.getLogger("fault_proxy")


CONTROL_PREFIX = "/__proxy/"


# Per-connection headers (RFC 9110 7.6.1) plus Expect, which the proxy answers itself.
# None of them is ever signed by botocore, so dropping them keeps signatures valid.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade", "expect"})


class _ConnectionTrackingServer(web.Server):
    """An aiohttp low-level server that remembers which connections are new.

    The first request on a new connection pays --connect-latency-ms, as a TCP/TLS
    handshake would; later keep-alive requests on it do not.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fresh: set[Any] = set()

    def connection_made(self, handler: Any, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self.fresh.add(handler)

    def connection_lost(self, handler: Any, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self.fresh.discard(handler)

    def first_request(self, handler: Any) -> bool:
        if handler in self.fresh:
            self.fresh.discard(handler)
            return True
        return False


@dataclass
class Exchange:
    """One request on its way through the proxy."""

    request: web.BaseRequest
    info: Classified
    body: bytes | None  # read whole when it names the resource (JSON services); other bodies stream
    continued: bool = False  # "100 Continue" sent to the client


class FaultProxy:
    """Forwards requests to one upstream, injecting the configured faults."""

    def __init__(self, upstream: str, config: FaultConfig, resign_keys: tuple[str, str]) -> None:
        self.upstream = upstream.rstrip("/")
        self.config = config
        self.resign_keys = resign_keys
        self.stats = Stats()
        self.dice = Dice(config.seed)
        self.buckets = self._new_buckets(config)
        self.partitions = self._new_partitions(config)
        self.server: _ConnectionTrackingServer | None = None
        self.session: aiohttp.ClientSession | None = None

    # -- lifecycle

    async def start(self, host: str, port: int) -> tuple[web.ServerRunner, int]:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True),
            auto_decompress=False,  # bodies pass through as sent, compressed or not
            cookie_jar=aiohttp.DummyCookieJar(),  # never add cookies the client did not send
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            trust_env=False,
        )
        self.server = _ConnectionTrackingServer(self.handle, access_log=None)
        # On SIGTERM, in-flight requests (an SQS long poll, say) get a few seconds, not 60.
        runner = web.ServerRunner(self.server, handle_signals=False, shutdown_timeout=3.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        sockets = runner.addresses
        return runner, int(sockets[0][1])

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    @staticmethod
    def _new_buckets(config: FaultConfig) -> Buckets | None:
        burst = config.effective_burst
        return Buckets(config.capacity, burst) if config.capacity and burst else None

    @staticmethod
    def _new_partitions(config: FaultConfig) -> Partitions | None:
        if not config.partitions:
            return None
        return Partitions(config.partitions, config.partition_write_units, config.partition_read_units)

    def reconfigure(self, changes: Mapping[str, Any]) -> None:
        new = self.config.updated(changes)
        limits = ("partitions", "partition_write_units", "partition_read_units")
        if any(getattr(new, name) != getattr(self.config, name) for name in limits):
            self.partitions = self._new_partitions(new)
        if (new.capacity, new.effective_burst) != (self.config.capacity, self.config.effective_burst):
            self.buckets = self._new_buckets(new)  # new limits: start again from full buckets
        if "seed" in changes:
            self.dice = Dice(new.seed)
        self.config = new

    # -- the request path

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.raw_path.startswith(CONTROL_PREFIX):
            return await self.control(request)
        config = self.config
        assert self.server is not None
        if self.server.first_request(request.protocol):
            await self.sleep(config.connect_latency_ms, config)
        exchange = await self.receive(request)
        keys = exchange.info.stats_keys
        self.stats.count("requests", keys)
        await self.sleep(config.latency_ms, config)

        roll = self.dice.roll(config)
        if roll.drop:
            self.stats.count("dropped", keys)
            return await self.drop(exchange)
        faults = exchange.info.faults
        if faults is None:  # no service claims it: no answer is made up in some service's format
            self.stats.count("forwarded", keys)
            return await self.forward(exchange)
        if roll.error_status is not None:
            self.stats.count("errors", keys)
            return await self.answer(exchange, faults.error(roll.error_status))
        if roll.throttle:
            self.stats.count("throttled", keys)
            return await self.answer(exchange, faults.throttle())
        if roll.lose:
            lost = await self.lost_write_answer(exchange, faults)
            if lost is not None:
                self.stats.count("lost", keys)
                return await self.answer(exchange, lost)
        return await self.admit(exchange, keys, faults)

    async def lost_write_answer(self, exchange: Exchange, faults: ServiceFaults) -> Answer | None:
        """Success for a write that is never forwarded, as the service would answer it (the
        service says which writes may be lost: never a conditional one, which it might have
        refused by its condition)."""
        request = self.proxy_request(exchange)
        if not faults.forgets(request):
            return None
        body = exchange.body
        if body is None:  # a streamed body: read it now
            await self.send_continue(exchange)  # a client sending Expect: 100-continue waits for it
            body = await exchange.request.read()
        return faults.forgotten(request, body)

    @staticmethod
    def proxy_request(exchange: Exchange) -> ProxyRequest:
        request, info = exchange.request, exchange.info
        return ProxyRequest(request.method, request.raw_path, request.headers, info.operation, info.document)

    async def receive(self, request: web.BaseRequest) -> Exchange:
        """Classify the request; bodies that name the resource (JSON services) are read whole."""
        exchange = Exchange(request, Classified(""), None)
        faults = faults_for(request.headers, request.raw_path)
        if faults is not None and faults.reads_body:
            await self.send_continue(exchange)
            exchange.body = await request.content.read()
        exchange.info = classify(request.raw_path, request.headers, exchange.body, request.method)
        return exchange

    async def admit(self, exchange: Exchange, keys: list[str], faults: ServiceFaults) -> web.StreamResponse:
        """Apply the partitions' limits and the capacity limit, then forward what fits."""
        buckets, info = self.buckets, exchange.info
        partitions = self.partitions
        if partitions is not None:
            keyed = faults.keyed_costs(self.proxy_request(exchange))
            if keyed:
                self.stats.count_partitions("requests", faults.service, partitions.names(keyed))
                short = partitions.short(faults, keyed)
                if short:
                    self.stats.count("throttled", keys)
                    self.stats.count_partitions("throttled", faults.service, short)
                    return await self.answer(exchange, faults.throttle())
                if buckets is not None and info.costs and not buckets.try_take(info.costs):
                    self.stats.count("throttled", keys)
                    return await self.answer(exchange, faults.throttle())
                partitions.take(faults, keyed)
                self.stats.count("forwarded", keys)
                return await self.forward(exchange)
        if buckets is None or not info.costs:
            self.stats.count("forwarded", keys)
            return await self.forward(exchange)
        if self.config.partial_batches and faults.can_cut(self.proxy_request(exchange)) and self.can_resign(exchange):
            granted = buckets.take_up_to(info.costs)
            if sum(granted.values()) == 0:
                self.stats.count("throttled", keys)
                return await self.answer(exchange, faults.throttle())
            self.stats.count("forwarded", keys)
            if granted == info.costs:
                return await self.forward(exchange)
            assert info.document is not None
            return await self.forward_partial(exchange, faults, faults.cut(info.document, granted))
        if not buckets.try_take(info.costs):
            self.stats.count("throttled", keys)
            return await self.answer(exchange, faults.throttle())
        self.stats.count("forwarded", keys)
        return await self.forward(exchange)

    def can_resign(self, exchange: Exchange) -> bool:
        """Signed with the key we can re-sign with."""
        scope = credential_scope(exchange.request.headers.get("Authorization", ""))
        return scope is not None and scope[0] == self.resign_keys[0]

    # -- answering without the upstream

    async def answer(self, exchange: Exchange, answer: Answer) -> web.StreamResponse:
        await self.sleep(self.config.latency_ms, self.config)
        response = web.Response(status=answer.status, body=answer.body, headers=answer.headers)
        if self._body_waits_for_continue(exchange):
            # The client holds its body back until "100 Continue": answering now is what
            # S3 does, but the connection cannot be reused with a body half-announced.
            response.force_close()
        return response

    async def drop(self, exchange: Exchange) -> web.StreamResponse:
        """Read the whole request, then close the connection without a word."""
        request = exchange.request
        if exchange.body is None and request.body_exists:
            await self.send_continue(exchange)
            while await request.content.readany():
                pass
        if request.transport is not None:
            request.transport.close()
        # Something must be returned; writing it to the closed transport fails quietly.
        response = web.Response(status=500)
        response.force_close()
        return response

    # -- forwarding

    async def forward(self, exchange: Exchange) -> web.StreamResponse:
        request = exchange.request
        headers = forward_headers(request.raw_headers)
        data: bytes | AsyncIterator[bytes] | None = exchange.body
        if data is None and request.body_exists:
            await self.send_continue(exchange)
            data = _stream(request.content)
        return await self.relay(request, request.method, headers, data)

    async def forward_partial(self, exchange: Exchange, faults: ServiceFaults, cut: BatchCut) -> web.StreamResponse:
        """Send the cut-down batch (re-signed) and hand back what was held."""
        request = exchange.request
        body = dumps_json(cut.forward)
        url = f"{self.upstream}{request.raw_path}"
        headers = resign(request.method, url, forward_headers(request.raw_headers), body, *self.resign_keys)
        if headers is None:  # can_resign said yes, so this is a malformed Authorization header
            return await self.answer(exchange, faults.throttle())
        return await self.relay(request, request.method, headers, body, held_back=(faults, cut))

    async def relay(
        self,
        request: web.BaseRequest,
        method: str,
        headers: CIMultiDict[str],
        data: bytes | AsyncIterator[bytes] | None,
        held_back: tuple[ServiceFaults, BatchCut] | None = None,
    ) -> web.StreamResponse:
        """Send to the upstream and stream its answer back (status, headers, body)."""
        assert self.session is not None
        url = URL(f"{self.upstream}{request.raw_path}", encoded=True)  # raw path: never re-encoded
        try:
            async with self.session.request(
                method, url, headers=headers, data=data, allow_redirects=False, compress=None
            ) as upstream:
                if held_back is not None:
                    return await self.merged_response(upstream, *held_back)
                return await self.stream_back(request, upstream)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.stats.totals["upstream_errors"] += 1
            log.warning("upstream %s failed: %s", self.upstream, exc)
            response = web.Response(status=502, text=f"fault-proxy: upstream {self.upstream} failed: {exc}\n")
            response.force_close()
            return response

    async def stream_back(self, request: web.BaseRequest, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(backward_headers(upstream.raw_headers))
        await self.sleep(self.config.latency_ms, self.config)
        try:
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass  # the client went away: nothing left to answer
        return response

    async def merged_response(
        self, upstream: aiohttp.ClientResponse, faults: ServiceFaults, cut: BatchCut
    ) -> web.StreamResponse:
        """The upstream's answer to the cut batch plus the held-back items, reported as not done."""
        body = await upstream.read()
        headers = CIMultiDict(backward_headers(upstream.raw_headers))
        encoding = headers.get("Content-Encoding", "identity").lower()
        if upstream.status == 200 and encoding in ("identity", "gzip"):
            try:
                plain = zlib.decompress(body, 16 + zlib.MAX_WBITS) if encoding == "gzip" else body
                body = faults.merge(plain, cut.held_back)
            except (ValueError, TypeError, AttributeError, zlib.error) as exc:  # not the service's JSON: as it came
                log.warning("cannot add the held-back items to the upstream's answer: %s", exc)
            else:
                self.stats.totals["held_back_items"] += cut.held_items
                headers.pop("Content-Encoding", None)
                headers.pop("Content-Length", None)
                if "x-amz-crc32" in headers:  # botocore checks it: it must match what we send
                    headers["x-amz-crc32"] = crc32(body)
        await self.sleep(self.config.latency_ms, self.config)
        return web.Response(status=upstream.status, reason=upstream.reason, body=body, headers=headers)

    # -- helpers

    async def sleep(self, base_ms: float, config: FaultConfig) -> None:
        delay = self.dice.delay(base_ms, config.jitter_ms)
        if delay > 0:
            await asyncio.sleep(delay)

    @staticmethod
    def _expects_continue(request: web.BaseRequest) -> bool:
        return request.headers.get("Expect", "").lower() == "100-continue" and request.version >= (1, 1)

    async def send_continue(self, exchange: Exchange) -> None:
        """Answer ``Expect: 100-continue`` once (aiohttp's low-level server does not)."""
        if exchange.continued or not self._expects_continue(exchange.request):
            return
        await exchange.request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        exchange.continued = True

    def _body_waits_for_continue(self, exchange: Exchange) -> bool:
        request = exchange.request
        return self._expects_continue(request) and request.body_exists and not exchange.continued

    # -- control endpoints

    async def control(self, request: web.BaseRequest) -> web.StreamResponse:
        path, _, query = request.raw_path[len(CONTROL_PREFIX) :].partition("?")
        if path == "stats" and request.method == "GET":
            body = self.stats.as_json()
            if parse_qs(query).get("reset", ["0"])[0] not in ("0", "", "false"):
                self.stats.reset()
            return web.json_response(body)
        if path == "config" and request.method == "GET":
            return web.json_response(self.config.as_json())
        if path == "config" and request.method == "POST":
            try:
                changes = loads_json(await request.content.read() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                self.reconfigure(changes)
            except ValueError as exc:  # orjson.JSONDecodeError is a ValueError too
                return web.json_response({"error": str(exc).splitlines()[0]}, status=400)
            log.info("config now %s", self.config.as_json())
            return web.json_response(self.config.as_json())
        return web.json_response(
            {"error": f"no such control endpoint: {request.method} {request.raw_path}"}, status=404
        )


def forward_headers(raw: Iterable[tuple[bytes, bytes]]) -> CIMultiDict[str]:
    """The client's headers in order, duplicates kept, minus hop-by-hop ones.

    A repeated header is spelled like its first occurrence: aiohttp's client keeps
    duplicates only when their names match case-sensitively (header names are
    case-insensitive, and SigV4 lower-cases them, so nothing signed changes).
    """
    out: CIMultiDict[str] = CIMultiDict()
    spelling: dict[str, str] = {}  # lower-case name -> first spelling seen
    for name, value in raw:
        key = name.decode("latin-1")
        lower = key.lower()
        if lower not in HOP_BY_HOP:
            out.add(spelling.setdefault(lower, key), value.decode("latin-1"))
    return out


def backward_headers(raw: Iterable[tuple[bytes, bytes]]) -> CIMultiDictProxy[str]:
    """The upstream's response headers minus hop-by-hop ones (the proxy frames its own)."""
    return CIMultiDictProxy(forward_headers(raw))


async def _stream(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    async for chunk in content.iter_any():
        yield chunk
