"""`aioboto3`: aiobotocore clients, `concurrency` tasks in flight per user.

The name stays what users know (the strategy `aioboto3`, the user class `Aioboto3User`),
but it runs on aiobotocore itself: aioboto3 (its last release pinned an older botocore)
only wrapped aiobotocore's session for resources and S3 transfers, which no call here uses.

One client per process loop; as with boto3, botocore's own retries are off so the
driver sees and times every attempt.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from writers.calls import Attempt, Call
from writers.errors import AwsCallError
from writers.strategies.asyncbase import AsyncStrategy, without_silent_retries
from writers.strategies.boto3_calls import (
    SHARED_POOL_CONNECTIONS,
    classify_botocore_error,
    client_config_options,
    close_connection,
    read_streams_async,
    response_bytes,
)


class VisibleRetriesSession(AIOHTTPSession):  # type: ignore[misc]
    """aiobotocore's HTTP session without aiohttp's silent second try of a PUT (S3 PutObject)."""

    async def _get_session(self, proxy_url: str | None) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession = await super()._get_session(proxy_url)  # made once, then looked up
        if getattr(session, "_retry_connection", True):
            without_silent_retries(session)
        return session


class Aioboto3Strategy(AsyncStrategy):
    name = "aioboto3"

    async def _client(self) -> Any:
        endpoint, options = self.endpoint, self.options

        async def make() -> tuple[Any, Any]:
            # botocore's credential chain (env, profile, SSO, IRSA, instance role), or the emulator's keys
            context = get_session().create_client(
                endpoint.service.boto3_name,
                endpoint_url=endpoint.url,
                **endpoint.session_kwargs(),
                config=AioConfig(
                    http_session_cls=VisibleRetriesSession,
                    **client_config_options(options, SHARED_POOL_CONNECTIONS, endpoint),
                ),
            )
            client = await context.__aenter__()
            endpoint.service.configure_client(client)
            if not options.keep_alive:
                client.meta.events.register("before-send", close_connection)
            return context, client

        async def close(made: Any) -> None:
            await made[0].__aexit__(None, None, None)

        key = ("aioboto3", endpoint, options.keep_alive, options.timeout)
        return (await self.process_loop.resource(key, make, close))[1]

    async def send(self, call: Call) -> Attempt:
        client = await self._client()
        method = getattr(client, call.api_method)
        started = time.perf_counter()
        try:
            # A bound on the whole call: aiohttp starts its read timer only once a body is
            # written, so a server that never answers an `Expect: 100-continue` would hang it.
            async with asyncio.timeout(2 * self.options.timeout):
                response = await method(**call.params)
                await read_streams_async(response)
        except (ClientError, BotoCoreError) as exc:
            error = classify_botocore_error(exc)
        except TimeoutError as exc:
            error = AwsCallError.network(exc)
        else:
            finished = time.perf_counter()
            return Attempt(
                call, (finished - started) * 1000, response=response, bytes_received=response_bytes(response),
                finished=finished,
            )  # fmt: skip
        finished = time.perf_counter()
        return Attempt(call, (finished - started) * 1000, error=error, finished=finished)
