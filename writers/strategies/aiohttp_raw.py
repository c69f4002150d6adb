"""`aiohttp`: the raw AWS API signed by our SigV4 signer, on aiohttp, `concurrency` tasks per user.

The approach of the fastest published DynamoDB result: no botocore on the hot path,
one session per process loop (uvloop where installed).
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from yarl import URL

from writers.calls import Attempt, Call
from writers.strategies.asyncbase import AsyncStrategy, without_silent_retries
from writers.strategies.base import StrategyOptions
from writers.strategies.raw import SignedRequest, network_failure, read_answer, sign_call, signer_for
from writers.target import Endpoint


class AiohttpStrategy(AsyncStrategy):
    name = "aiohttp"

    def __init__(self, endpoint: Endpoint, options: StrategyOptions) -> None:
        super().__init__(endpoint, options)
        self._signer = signer_for(endpoint)
        self._base_url = endpoint.raw_url
        self._session_key = ("aiohttp", options.keep_alive, options.timeout)
        self._cached_session: aiohttp.ClientSession | None = None
        self._origins: dict[str, URL] = {}

    async def _session(self) -> aiohttp.ClientSession:
        options = self.options

        async def make() -> aiohttp.ClientSession:
            # No pool cap (limit=0): in-flight calls are already bounded by --concurrency per user.
            connector = aiohttp.TCPConnector(limit=0, force_close=not options.keep_alive)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=options.timeout, sock_read=options.timeout)
            # No cookie jar: AWS APIs set no cookies, and the jar costs a lookup per request.
            return without_silent_retries(
                aiohttp.ClientSession(
                    connector=connector, timeout=timeout, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
                )
            )

        async def close(session: Any) -> None:
            await session.close()

        session: aiohttp.ClientSession = await self.process_loop.resource(self._session_key, make, close)
        self._cached_session = session
        return session

    def _url(self, request: SignedRequest) -> URL:
        """The request's URL, already encoded as signed (yarl must not touch it). S3 names an
        object per call: its origin is parsed once and only the path set (~0.6 us, not ~2.5)."""
        path_and_query = request.path_and_query
        if "?" in path_and_query:
            return URL(request.url, encoded=True)
        origin = self._origins.get(request.base_url)
        if origin is None:
            origin = self._origins[request.base_url] = URL(request.base_url, encoded=True)
        return origin.with_path(path_and_query, encoded=True)

    async def send(self, call: Call) -> Attempt:
        session = self._cached_session or await self._session()
        request = sign_call(self._signer, self._base_url, call, self.options.keep_alive)
        started = time.perf_counter()
        try:
            # encoded=True: the path is already encoded as signed; yarl must not touch it.
            # Awaited, not `async with`: read() takes the whole body and gives the connection
            # back (or closes it if reading fails), which is all the context manager adds, for ~5% CPU.
            response = await session.request(
                request.method, self._url(request), data=request.body, headers=request.headers
            )
            body = await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return network_failure(call, started, time.perf_counter(), exc)
        return read_answer(call, started, time.perf_counter(), response.status, response.headers, body)
